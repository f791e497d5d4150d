"""The named options of a study, as ``Literal`` types and their values.

Plain Python only (no polars, NumPy or statsmodels), so the command line can offer and check
these choices before it imports anything heavy; :mod:`analysis.specs` and
:mod:`analysis.regression` validate against the same definitions.
"""

from __future__ import annotations

from typing import Literal, get_args

ModelName = Literal["market", "constant-mean", "market-adjusted", "capm", "ff3", "carhart4", "ff5", "factors"]
MODELS: tuple[str, ...] = get_args(ModelName)
PLAIN_MODELS = ("market", "constant-mean", "market-adjusted")  # the models that read no factor data
ReturnKind = Literal["simple", "log"]
RETURN_KINDS: tuple[str, ...] = get_args(ReturnKind)
PooledCov = Literal["cluster", "hac"]
POOLED_COVS: tuple[str, ...] = get_args(PooledCov)
BATCH_ROWS = 25_000
"""Event rows per batch by default (the engine's unit of work, and a task of the batched flows)."""
