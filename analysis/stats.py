"""Distribution helpers as polars expressions (p-values), shared by every test."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import polars as pl
from scipy import special


def _series(values: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.Float64, nan_to_null=True)


def t_pvalues(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p-values of Student-t statistics: ``p = 2 · F_t(−|t|; df)`` (NumPy arrays of
    one shape; NaN where ``t`` or ``df`` is NaN, or ``df <= 0``)."""
    t, df = np.broadcast_arrays(np.asarray(t, dtype=np.float64), np.asarray(df, dtype=np.float64))
    out = np.full(t.shape, np.nan)
    with np.errstate(invalid="ignore"):
        ok = ~np.isnan(t) & (df > 0)  # only where there is a statistic
        out[ok] = 2.0 * special.stdtr(df[ok], -np.abs(t[ok]))
    return out


def z_pvalues(z: np.ndarray) -> np.ndarray:
    """Two-sided p-values of standard-normal statistics: ``p = 2 · Φ(−|z|) = erfc(|z|/√2)``."""
    return special.erfc(np.abs(np.asarray(z, dtype=np.float64)) / np.sqrt(2.0))


def t_pvalue(t: pl.Expr, df: pl.Expr) -> pl.Expr:
    """Two-sided p-value of a Student-t statistic (:func:`t_pvalues` as an expression).

    Null where ``t`` or ``df`` is null, or ``df <= 0``.
    """
    def fn(s: list[pl.Series]) -> pl.Series:
        t_, df_ = (x.cast(pl.Float64).fill_null(np.nan).to_numpy() for x in s)
        return _series(t_pvalues(t_, df_))

    return pl.map_batches([t, df], fn, return_dtype=pl.Float64, is_elementwise=True)


def z_pvalue(z: pl.Expr) -> pl.Expr:
    """Two-sided p-value of a standard-normal statistic: ``p = 2 · Φ(−|z|) = erfc(|z|/√2)``."""
    def fn(s: pl.Series) -> pl.Series:
        return _series(z_pvalues(s.cast(pl.Float64).fill_null(np.nan).to_numpy()))

    return z.map_batches(fn, return_dtype=pl.Float64, is_elementwise=True)


def binom_two_sided_pvalue(k: pl.Expr, n: pl.Expr) -> pl.Expr:
    """Exact two-sided p-value of ``k`` successes in ``n`` trials under ``Bin(n, 1/2)``.

    ``p = min(1, 2 · min(P(X ≤ k), P(X ≥ k)))``; for the symmetric binomial this equals
    ``scipy.stats.binomtest(k, n, 0.5).pvalue``. Null where ``n`` is null or 0.
    """
    def fn(s: list[pl.Series]) -> pl.Series:
        k_, n_ = (x.cast(pl.Float64).fill_null(-1.0).to_numpy() for x in s)
        ok = (n_ > 0) & (k_ >= 0) & (k_ <= n_)
        ki, ni = np.where(ok, k_, 0).astype(np.int64), np.where(ok, n_, 1).astype(np.int64)
        lower = special.bdtr(ki, ni, 0.5)  # P(X <= k)
        upper = np.where(ki > 0, special.bdtrc(np.maximum(ki - 1, 0), ni, 0.5), 1.0)  # P(X >= k)
        return _series(np.where(ok, np.minimum(1.0, 2.0 * np.minimum(lower, upper)), np.nan))

    return pl.map_batches([k, n], fn, return_dtype=pl.Float64, is_elementwise=True)


WILCOXON_EXACT_MAX_N = 50


@lru_cache(maxsize=1)
def _wilcoxon_cdf() -> np.ndarray:
    """``cdf[n, w] = P(W⁺ ≤ w)`` for ``n ≤ 50`` signed ranks without ties (NaN beyond ``n(n+1)/2``).

    The null distribution of the signed-rank sum: each rank 1..n enters with probability 1/2,
    so the counts obey ``c_n(w) = c_{n−1}(w) + c_{n−1}(w − n)`` (Wilcoxon 1945).
    """
    top = WILCOXON_EXACT_MAX_N * (WILCOXON_EXACT_MAX_N + 1) // 2
    out = np.full((WILCOXON_EXACT_MAX_N + 1, top + 1), np.nan)
    pmf = np.ones(1)
    out[0, 0] = 1.0
    for n in range(1, WILCOXON_EXACT_MAX_N + 1):  # a table built once, not a hot path
        nxt = np.zeros(n * (n + 1) // 2 + 1)
        nxt[: pmf.size] += 0.5 * pmf
        nxt[n:] += 0.5 * pmf
        pmf = nxt
        out[n, : pmf.size] = np.cumsum(pmf)
    return out


def wilcoxon_exact_pvalue(w_plus: pl.Expr, n: pl.Expr) -> pl.Expr:
    """Exact two-sided p-value of the signed-rank sum ``W⁺`` of ``n ≤ 50`` non-zero values
    without ties: ``p = min(1, 2 · min(P(W⁺ ≤ w), P(W⁺ ≥ w)))`` (as scipy.stats.wilcoxon's
    exact method). Null where ``n`` is 0, above 50 or ``W⁺`` is not an integer.
    """
    def fn(s: list[pl.Series]) -> pl.Series:
        w, n_ = (x.cast(pl.Float64).to_numpy() for x in s)
        cdf = _wilcoxon_cdf()
        ok = (n_ >= 1) & (n_ <= WILCOXON_EXACT_MAX_N) & (w == np.round(w)) & (w >= 0) & (w <= n_ * (n_ + 1) / 2)
        ni = np.where(ok, n_, 1).astype(np.int64)
        wi = np.where(ok, w, 0).astype(np.int64)
        lower = cdf[ni, wi]
        upper = cdf[ni, np.clip(ni * (ni + 1) // 2 - wi, 0, None)]  # P(W⁺ ≥ w) = P(W⁺ ≤ n(n+1)/2 − w): symmetry
        p = np.minimum(1.0, 2.0 * np.minimum(lower, upper))
        return _series(np.where(ok, p, np.nan))

    return pl.map_batches([w_plus, n], fn, return_dtype=pl.Float64, is_elementwise=True)
