"""The inputs of a run: the choices of the command line and the flows, the study spec built
from their text, and the catalog (parsed once per process).

This module imports nothing heavy at import time (no polars, Prefect or statsmodels), so the
command line can build its argument parser and reject a bad option before any of them loads.
The study's options come from :mod:`analysis.options` (plain Python); the names of the
French library's factor sets are repeated from :mod:`flows.io.factors` (which imports polars),
and ``tests/flows/cli/test_cli.py`` checks that they stay equal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from analysis.options import BATCH_ROWS, MODELS, PLAIN_MODELS, POOLED_COVS, RETURN_KINDS  # noqa: F401 (the parser's choices)

if TYPE_CHECKING:
    import polars as pl

    from analysis.specs import EventSpec, StudySpec

Source = Literal["auto", "store", "yfinance"]
SOURCES: tuple[str, ...] = get_args(Source)
TaskRunnerName = Literal["threads", "dask"]
TASK_RUNNERS: tuple[TaskRunnerName, ...] = get_args(TaskRunnerName)

DateFormat = Literal["M/D/YYYY", "D/M/YYYY"]
DATE_FORMATS: tuple[str, ...] = get_args(DateFormat)
"""The orders of a slashed date a user can name (``prices import --date-format``)."""
Units = Literal["percent", "decimal"]
FACTOR_UNITS: tuple[str, ...] = get_args(Units)
FRENCH_SETS = ("ff3", "ff5", "mom")

DEFAULT_ESTIMATION = "-260:-11"
DEFAULT_WINDOWS = ["0:0", "-1:1", "-5:5"]
DEFAULT_REPORTS = "reports"
DEFAULT_SIMULATIONS = "simulations"
"""The folder of ``market-reaction demo``'s report and of the simulations by default, apart
from :data:`DEFAULT_REPORTS`: its own index never mixes the simulated market's fictional events
(or the pseudo-events) with real ones."""


def study_spec(
    estimation: str = DEFAULT_ESTIMATION, windows: list[str] | None = None, model: str | None = None,
    returns: str = "simple", min_estimation_obs: int = 120, factors: str | None = None,
    risk_free: str | None = None, drop_confounded: bool = False, regressors: list[str] | None = None,
    pooled_cov: str = "cluster", batch_rows: int = BATCH_ROWS,
) -> StudySpec:
    """Build the :class:`~analysis.specs.StudySpec` from the flow's / CLI's text parameters
    (the one place a run's options become a spec: ``event-study``, ``refresh-catalog`` and
    the command line call it).

    ``model`` defaults to ``factors`` when ``factors`` (``NAME:col1,col2``) is given, else to
    ``market``; ``risk_free="none"`` asks the ``factors`` model for raw returns explicitly.
    """
    from analysis.errors import InputError
    from analysis.specs import StudySpec, Window, parse_factors_option

    model = model or ("factors" if factors else "market")
    if factors and model != "factors":
        raise InputError(f"--factors NAME:COLUMNS goes with --model factors, not {model}", field="--factors")
    factor_set, columns = parse_factors_option(factors, field="--factors") if factors else (None, ())
    if risk_free == "none":
        if model != "factors":
            raise InputError(f"the {model} model needs a risk-free rate; 'none' is only for --model factors",
                             field="--risk-free")
        risk_free = None
    return StudySpec(
        estimation=Window.parse(estimation, field="estimation"),
        windows=tuple(Window.parse(w) for w in (windows or DEFAULT_WINDOWS)),
        model=model,  # type: ignore[arg-type]
        returns=returns,  # type: ignore[arg-type]
        min_estimation_obs=min_estimation_obs,
        factor_set=factor_set,
        factors=columns,
        risk_free=risk_free,
        drop_confounded=drop_confounded,
        regressors=None if regressors is None else tuple(regressors),
        pooled_cov=pooled_cov,  # type: ignore[arg-type]
        batch_rows=batch_rows,
    )


@dataclass(frozen=True)
class StudyInputs:
    """A study's inputs, checked once (:func:`chosen_inputs`): the spec, the catalog file, the
    events studied, the other catalog events (not studied, but they may confound these) and
    the stored factor sets the model reads."""

    spec: StudySpec
    catalog: Path
    events: tuple[EventSpec, ...]
    context: tuple[EventSpec, ...]
    factors: dict[str, pl.DataFrame]


def chosen_inputs(
    spec: StudySpec, catalog: Path, everything: tuple[EventSpec, ...], event_ids: list[str] | None,
    load_factors: Callable[[], dict[str, pl.DataFrame]],
) -> StudyInputs:
    """Choose the events of ``everything`` (the catalog's events; all for no ``event_ids``),
    check the spec's regressors against their characteristics, then load the factor sets
    (before any download: a missing set stops the run at once)."""
    from analysis.catalog import almost_numeric, check_regressors
    from analysis.specs import events_frame, numeric_characteristics
    from flows import progress
    from flows.io.catalog import select_events

    events = select_events(everything, event_ids or [])
    for note in almost_numeric(events):
        progress.warn(f"{catalog}: {note}")
    if spec.regressors:  # now, as the engine would after the downloads
        check_regressors(numeric_characteristics(events_frame(events)), spec.regressors)
    chosen = {e.id for e in events}
    return StudyInputs(spec, catalog, events, tuple(e for e in everything if e.id not in chosen), load_factors())


def read_catalog(path: Path | str) -> tuple[EventSpec, ...]:
    """:func:`flows.io.catalog.load_catalog`, parsed once per process for the same file content:
    the command line checks the catalog before the run, and the run reads it again (a 10^5-row
    catalog takes seconds to parse)."""
    from flows.io.catalog import load_catalog

    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return load_catalog(path)  # says what is wrong with the file
    return _parsed_catalog(str(path), digest)


@lru_cache(maxsize=4)
def _parsed_catalog(path: str, digest: str) -> tuple[EventSpec, ...]:
    from flows.io.catalog import load_catalog

    return load_catalog(path)
