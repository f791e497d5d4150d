"""Distribution helpers as polars expressions (p-values), shared by every test."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import special


def _series(values: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.Float64, nan_to_null=True)


def t_pvalue(t: pl.Expr, df: pl.Expr) -> pl.Expr:
    """Two-sided p-value of a Student-t statistic: ``p = 2 · F_t(−|t|; df)``.

    Null where ``t`` or ``df`` is null, or ``df <= 0``.
    """
    def fn(s: list[pl.Series]) -> pl.Series:
        t_, df_ = (x.cast(pl.Float64).to_numpy() for x in s)
        out = np.full(t_.shape, np.nan)
        with np.errstate(invalid="ignore"):
            ok = ~np.isnan(t_) & (df_ > 0)  # only where there is a statistic (most AR rows have none)
            out[ok] = 2.0 * special.stdtr(df_[ok], -np.abs(t_[ok]))
        return _series(out)

    return pl.map_batches([t, df], fn, return_dtype=pl.Float64, is_elementwise=True)


def z_pvalue(z: pl.Expr) -> pl.Expr:
    """Two-sided p-value of a standard-normal statistic: ``p = 2 · Φ(−|z|) = erfc(|z|/√2)``."""
    def fn(s: pl.Series) -> pl.Series:
        return _series(special.erfc(np.abs(s.cast(pl.Float64).to_numpy()) / np.sqrt(2.0)))

    return z.map_batches(fn, return_dtype=pl.Float64, is_elementwise=True)
