"""Tests across the events of a group, on the CAR of each window.

With N event rows in a group (primary tickers only, those with a CAR), ``CAAR = (1/N) Σ CAR_i``:

``cross_sectional_t`` — Brown & Warner (1985); MacKinlay (1997, p. 28) with the cross-sectional
variance, robust to event-induced variance changes but not to cross-correlation::

    t = CAAR / (s / √N),   s² = Σ (CAR_i − CAAR)² / (N − 1),   t ~ Student t(N − 1)

``mackinlay_j1`` — MacKinlay (1997, eq. 21-22): the CAAR over the estimated variances of the
individual CARs, assuming independent events (no same-date clustering)::

    J1 = CAAR / √(Σ Var(CAR_i) / N²),   J1 ~ N(0, 1)

A test that cannot be computed (too few events, zero dispersion) has null statistic and
p-value, and says why in ``reason``.
"""

from __future__ import annotations

import polars as pl

from analysis import schema as S
from analysis.stats import t_pvalue, z_pvalue

CROSS_SECTIONAL_T = "cross_sectional_t"
MACKINLAY_J1 = "mackinlay_j1"


def group_tests(car: pl.DataFrame) -> pl.DataFrame:
    """Test the CAAR of every group and window.

    Parameters
    ----------
    car
        Per event row and window: ``group, role, window_start, window_end, car, car_se``.
        Rows of role ``related`` and rows without a CAR are left out.

    Returns
    -------
    pl.DataFrame
        ``group, window_start, window_end, test, statistic, p_value, n_events, mean, reason``
        ordered by group, window and test.
    """
    keys = [S.GROUP, S.WINDOW_START, S.WINDOW_END]
    stats = (
        car.lazy()
        .filter((pl.col(S.ROLE) == "primary") & pl.col(S.CAR).is_not_null() & pl.col(S.CAR_SE).is_not_null())
        .group_by(keys)
        .agg(
            pl.len().cast(pl.Int32).alias(S.N_EVENTS),
            pl.col(S.CAR).mean().alias(S.MEAN),
            pl.col(S.CAR).std(ddof=1).alias("_sd"),
            (pl.col(S.CAR_SE) ** 2).sum().alias("_sum_var"),
        )
        .collect(engine="in-memory")
    )
    n = pl.col(S.N_EVENTS)
    csect = stats.select(
        *keys,
        pl.lit(CROSS_SECTIONAL_T).alias(S.TEST),
        S.MEAN,
        pl.when((n >= 2) & (pl.col("_sd") > 0)).then(pl.col(S.MEAN) / (pl.col("_sd") / n.sqrt())).alias(S.STATISTIC),
        (n - 1).alias("_df"),
        n,
        pl.when(n < 2).then(pl.lit("needs at least 2 events"))
        .when(pl.col("_sd") <= 0).then(pl.lit("CARs have no cross-sectional dispersion"))
        .alias(S.REASON),
    ).with_columns(t_pvalue(pl.col(S.STATISTIC), pl.col("_df")).alias(S.P_VALUE)).drop("_df")
    j1 = stats.select(
        *keys,
        pl.lit(MACKINLAY_J1).alias(S.TEST),
        S.MEAN,
        (pl.col(S.MEAN) / (pl.col("_sum_var").sqrt() / n)).alias(S.STATISTIC),
        n,
        pl.lit(None, pl.String).alias(S.REASON),
    ).with_columns(z_pvalue(pl.col(S.STATISTIC)).alias(S.P_VALUE))
    cols = [*keys, S.TEST, S.STATISTIC, S.P_VALUE, S.N_EVENTS, S.MEAN, S.REASON]
    return pl.concat([csect.select(cols), j1.select(cols)]).sort(*keys, S.TEST)
