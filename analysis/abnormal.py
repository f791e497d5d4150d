"""Abnormal returns, their prediction-error variance, CARs and BHARs.

For event row *i* on event day τ (MacKinlay 1997, section 4)::

    AR_iτ = R_iτ − E[R_iτ | model]
    market:           E = α̂ + β̂ R_mτ,   Var(AR_iτ) = σ̂² (1 + 1/T + (R_mτ − R̄_m)² / S_xx)
    constant-mean:    E = μ̂,            Var(AR_iτ) = σ̂² (1 + 1/T)
    market-adjusted:  E = R_mτ,         Var(AR_iτ) = σ̂²

The prediction errors of one event row are correlated across days through the estimation
error of α̂, β̂ (``Cov(AR_iτ, AR_is) = σ̂² (1/T + (R_mτ − R̄_m)(R_ms − R̄_m)/S_xx)`` for the
market model), so over a window of the L days with an abnormal return::

    CAR_i = Σ_τ AR_iτ
    market:          Var(CAR_i) = σ̂² (L + L²/T + (Σ_τ (R_mτ − R̄_m))² / S_xx)
    constant-mean:   Var(CAR_i) = σ̂² (L + L²/T)
    market-adjusted: Var(CAR_i) = σ̂² L

which is ``γ' V_i γ`` of MacKinlay (1997, eq. 19-20) with ``V_i = σ̂²(I + X*(X'X)⁻¹X*')``.
The test statistic ``t = CAR / √Var(CAR)`` is compared with a Student t with the model's
residual degrees of freedom (``T − 2`` for the market model), the exact small-sample
distribution under normal errors; MacKinlay's asymptotic N(0, 1) is its large-T limit.

Buy-and-hold abnormal return (Barber & Lyon 1997)::

    BHAR_i = Π_τ (1 + R_iτ) − Π_τ (1 + E[R_iτ])

over the window days where both exist (with log returns: ``exp Σ r − exp Σ E[r]``).
"""

from __future__ import annotations

import polars as pl

from analysis import schema as S
from analysis.panel import ROW
from analysis.specs import StudySpec
from analysis.stats import t_pvalue


def abnormal_returns(panel: pl.DataFrame, models: pl.DataFrame, spec: StudySpec) -> pl.DataFrame:
    """Abnormal returns of every event row on every day of the panel.

    Parameters
    ----------
    panel
        ``row, event_day, ret, benchmark_ret``.
    models
        Output of :func:`analysis.models.fit_models`.
    spec
        Study parameters; the reported days are ``spec.report_days``.

    Returns
    -------
    pl.DataFrame
        ``row, event_day, ret, benchmark_ret, normal_ret, abnormal_ret, cum_abnormal_ret,
        ar_var, ar_se, ar_t, ar_p`` ordered by row and event day, for all days of the panel:
        on estimation-window days ``abnormal_ret`` is the model's residual (the rank and
        sign tests use them); ``ar_var`` and the columns after it, and
        ``cum_abnormal_ret`` (cumulated from the first reported day, skipping missing days),
        are set on the reported days only.
    """
    days = spec.report_days
    reported = pl.col(S.EVENT_DAY).is_between(days.start, days.end)
    rm = pl.col(S.BENCHMARK_RET)
    sigma2 = pl.col(S.SIGMA) ** 2
    n = pl.col(S.N_OBS)
    if spec.model == "market":
        normal = pl.col(S.ALPHA) + pl.col(S.BETA) * rm
        var = sigma2 * (1.0 + 1.0 / n + (rm - pl.col(S.MKT_MEAN)) ** 2 / pl.col(S.MKT_SXX))
    elif spec.model == "constant-mean":
        normal = pl.col(S.ALPHA)
        var = sigma2 * (1.0 + 1.0 / n)
    else:
        normal = rm
        var = sigma2
    if spec.model == "market-adjusted":
        normal = pl.when(pl.col(S.SIGMA).is_not_null()).then(normal)
    ar = pl.col(S.RET) - pl.col(S.NORMAL_RET)
    return (
        panel.lazy()
        .join(models.lazy(), on=ROW, how="left")
        .with_columns(normal.alias(S.NORMAL_RET))
        .with_columns(ar.alias(S.ABNORMAL_RET), pl.when(ar.is_not_null() & reported).then(var).alias(S.AR_VAR))
        .with_columns(
            pl.when(reported)
            .then(pl.col(S.ABNORMAL_RET))
            .cum_sum()
            .over(ROW, order_by=S.EVENT_DAY)
            .alias(S.CUM_ABNORMAL_RET),
            pl.col(S.AR_VAR).sqrt().alias(S.AR_SE),
        )
        .with_columns((pl.col(S.ABNORMAL_RET) / pl.col(S.AR_SE)).alias(S.AR_T))
        .with_columns(t_pvalue(pl.col(S.AR_T), pl.col(S.DF_RESID)).alias(S.AR_P))
        .select(
            ROW, S.EVENT_DAY, S.RET, S.BENCHMARK_RET, S.NORMAL_RET, S.ABNORMAL_RET, S.CUM_ABNORMAL_RET,
            S.AR_VAR, S.AR_SE, S.AR_T, S.AR_P,
        )
        .sort(ROW, S.EVENT_DAY)
        .collect(engine="in-memory")
    )


def cumulative_abnormal_returns(ar: pl.DataFrame, models: pl.DataFrame, spec: StudySpec) -> pl.DataFrame:
    """CAR, its standard error, t, p, BHAR and the raw return of every event row and window.

    Parameters
    ----------
    ar
        Output of :func:`abnormal_returns`.
    models
        Output of :func:`analysis.models.fit_models`.
    spec
        Study parameters (windows, model, return kind).

    Returns
    -------
    pl.DataFrame
        ``row, window_start, window_end, n_days, car, car_se, t_stat, p_value, bhar,
        raw_return``; one row per event row and window, ordered by row and window.
        ``n_days`` counts the window's days with an abnormal return; a window without any has
        null statistics.
    """
    windows = pl.DataFrame(
        {S.WINDOW_START: [w.start for w in spec.windows], S.WINDOW_END: [w.end for w in spec.windows]},
        schema={S.WINDOW_START: pl.Int32, S.WINDOW_END: pl.Int32},
    ).with_row_index("_w")
    has_ar = pl.col(S.ABNORMAL_RET).is_not_null()
    growth = pl.col(S.RET).exp() if spec.returns == "log" else 1.0 + pl.col(S.RET)
    normal_growth = pl.col(S.NORMAL_RET).exp() if spec.returns == "log" else 1.0 + pl.col(S.NORMAL_RET)
    agg = (
        ar.lazy()
        .join(windows.lazy(), how="cross")
        .filter(pl.col(S.EVENT_DAY).is_between(pl.col(S.WINDOW_START), pl.col(S.WINDOW_END)))
        .group_by(ROW, "_w")
        .agg(
            has_ar.sum().cast(pl.Int32).alias(S.N_DAYS),
            pl.col(S.ABNORMAL_RET).sum().alias(S.CAR),
            pl.col(S.BENCHMARK_RET).filter(has_ar).sum().alias("_sum_rm"),
            (growth.filter(has_ar).product() - normal_growth.filter(has_ar).product()).alias(S.BHAR),
            pl.when(pl.col(S.RET).is_not_null().any())
            .then(growth.filter(pl.col(S.RET).is_not_null()).product() - 1.0)
            .alias(S.RAW_RETURN),
        )
    )
    L = pl.col(S.N_DAYS).cast(pl.Float64)
    sigma2, n = pl.col(S.SIGMA) ** 2, pl.col(S.N_OBS)
    if spec.model == "market":
        car_var = sigma2 * (L + L**2 / n + (pl.col("_sum_rm") - L * pl.col(S.MKT_MEAN)) ** 2 / pl.col(S.MKT_SXX))
    elif spec.model == "constant-mean":
        car_var = sigma2 * (L + L**2 / n)
    else:
        car_var = sigma2 * L
    ok = (pl.col(S.N_DAYS) > 0) & pl.col(S.SIGMA).is_not_null()
    grid = models.lazy().select(ROW).join(windows.lazy(), how="cross")
    return (
        grid.join(agg, on=[ROW, "_w"], how="left")
        .join(models.lazy().select(ROW, S.SIGMA, S.N_OBS, S.MKT_MEAN, S.MKT_SXX, S.DF_RESID), on=ROW, how="left")
        .with_columns(pl.col(S.N_DAYS).fill_null(0))
        .with_columns(
            pl.when(ok).then(pl.col(S.CAR)).alias(S.CAR),
            pl.when(ok).then(car_var.sqrt()).alias(S.CAR_SE),
            pl.when(ok).then(pl.col(S.BHAR)).alias(S.BHAR),
        )
        .with_columns((pl.col(S.CAR) / pl.col(S.CAR_SE)).alias(S.T_STAT))
        .with_columns(t_pvalue(pl.col(S.T_STAT), pl.col(S.DF_RESID)).alias(S.P_VALUE))
        .sort(ROW, "_w")
        .select(ROW, S.WINDOW_START, S.WINDOW_END, S.N_DAYS, S.CAR, S.CAR_SE, S.T_STAT, S.P_VALUE, S.BHAR, S.RAW_RETURN)
        .collect(engine="in-memory")
    )
