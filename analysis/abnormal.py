"""Abnormal returns, their prediction-error variance, CARs, BHARs and abnormal volume.

For event row *i* on event day τ (MacKinlay 1997, section 4), with the linear model
``y = α + b'x + ε`` of :mod:`analysis.models` (``y`` = R or R − rf; ``x`` the benchmark or
the factors; ``T`` estimation days; ``x̄`` and ``C = Σ (x_t − x̄)(x_t − x̄)'`` over them)::

    AR_iτ = R_iτ − E[R_iτ],   E[R_iτ] = rf_τ + α̂ + b̂' x_τ   (rf = 0 on raw returns)
    Var(AR_iτ) = σ̂² (1 + x*_τ' (X'X)⁻¹ x*_τ) = σ̂² (1 + 1/T + (x_τ − x̄)' C⁻¹ (x_τ − x̄))

so for the market model ``σ̂² (1 + 1/T + (R_mτ − R̄_m)² / S_xx)``, for the constant mean
``σ̂² (1 + 1/T)``; market-adjusted (nothing estimated): ``E = R_mτ``, ``Var = σ̂²``.

The prediction errors of one event row are correlated across days through the estimation
error of the coefficients (``Cov(AR_iτ, AR_is) = σ̂² x*_τ'(X'X)⁻¹x*_s``), so over the L days of
a window that have an abnormal return, with ``s = Σ_τ x*_τ`` (MacKinlay 1997, eq. 19-20,
``γ'V_iγ`` with ``V_i = σ̂²(I + X*(X'X)⁻¹X*')``)::

    CAR_i = Σ_τ AR_iτ
    Var(CAR_i) = σ̂² (L + s'(X'X)⁻¹s) = σ̂² (L + L²/T + D' C⁻¹ D),   D = Σ_τ (x_τ − x̄)

(market model: ``σ̂² (L + L²/T + (Σ_τ (R_mτ − R̄_m))² / S_xx)``; constant mean
``σ̂² (L + L²/T)``; market-adjusted ``σ̂² L``). The test statistic ``t = CAR / √Var(CAR)`` is
compared with a Student t with the model's residual degrees of freedom ``T − k``, the exact
small-sample distribution under normal errors; MacKinlay's N(0, 1) is its large-T limit.

Buy-and-hold abnormal return (Barber & Lyon 1997)::

    BHAR_i = Π_τ (1 + R_iτ) − Π_τ (1 + E[R_iτ])

over the window days where both exist (with log returns: ``exp Σ r − exp Σ E[r]``).

Abnormal volume (Campbell & Wasley 1996) of the mean model of ``v = ln(1 + V)``, with the
prediction-error variance of a mean estimated on ``T_v`` days (as for the constant-mean
return model)::

    AV_iτ = v_iτ − v̄_i,       t = AV_iτ / (s_v √(1 + 1/T_v))
    window of L_v days with a volume:  MAV_i = (1/L_v) Σ_τ AV_iτ,   t = MAV_i / (s_v √(1/L_v + 1/T_v))
"""

from __future__ import annotations

import polars as pl

from analysis import schema as S
from analysis.models import cinv_column, design, variance_columns, xbar_column
from analysis.panel import ROW
from analysis.specs import StudySpec
from analysis.stats import t_pvalue


def _quadratic(devs: list[pl.Expr]) -> pl.Expr:
    """``d' C⁻¹ d`` from the models' ``C⁻¹`` columns (C⁻¹ is symmetric: upper triangle twice)."""
    terms = [
        pl.col(cinv_column(j, k)) * devs[j] * devs[k] * (1.0 if j == k else 2.0)
        for j in range(len(devs)) for k in range(j, len(devs))
    ]
    return pl.sum_horizontal(terms) if terms else pl.lit(0.0)


def abnormal_returns(panel: pl.DataFrame, models: pl.DataFrame, spec: StudySpec) -> pl.DataFrame:
    """Abnormal returns (and abnormal volume) of every event row on every day of the panel.

    Parameters
    ----------
    panel
        ``row, event_day, ret, benchmark_ret`` and the factor / ``log_volume`` columns of
        :func:`analysis.panel.event_panel`.
    models
        Output of :func:`analysis.models.fit_models`.
    spec
        Study parameters; the reported days are ``spec.report_days``.

    Returns
    -------
    pl.DataFrame
        ``row, event_day, ret, benchmark_ret, normal_ret, abnormal_ret, cum_abnormal_ret,
        ar_var, ar_se, ar_t, ar_p, abnormal_volume, abnormal_volume_t`` ordered by row and
        event day, for all days of the panel, then the factor columns the model reads. On
        estimation-window days ``abnormal_ret`` and ``abnormal_volume`` are the models'
        residuals (the rank and sign tests use them); ``ar_var`` and the columns after it,
        ``abnormal_volume_t``, and ``cum_abnormal_ret`` (cumulated from the first reported
        day, skipping missing days) are set on the reported days only.
    """
    d = design(spec)
    days = spec.report_days
    reported = pl.col(S.EVENT_DAY).is_between(days.start, days.end)
    sigma2 = pl.col(S.SIGMA) ** 2
    n = pl.col(S.N_OBS)
    if d is None:  # market-adjusted
        normal = pl.when(pl.col(S.SIGMA).is_not_null()).then(pl.col(S.BENCHMARK_RET))
        var = sigma2
        inputs: tuple[str, ...] = ()
    else:
        normal = d.offset + pl.col(S.ALPHA)  # null wherever a regressor (or rf) is missing
        for b, x in zip(d.loadings, d.regressors, strict=True):
            normal = normal + pl.col(b) * x
        devs = [x - pl.col(xbar_column(j)) for j, x in enumerate(d.regressors)]
        var = sigma2 * (1.0 + 1.0 / n + _quadratic(devs))
        inputs = d.inputs
    if S.LOG_VOLUME in panel.columns:
        av = pl.col(S.LOG_VOLUME) - pl.col(S.LOG_VOLUME_MEAN)
        av_se = pl.col(S.LOG_VOLUME_SD) * (1.0 + 1.0 / pl.col(S.VOLUME_N_OBS)).sqrt()
    else:
        av = av_se = pl.lit(None, pl.Float64)
    ar = pl.col(S.RET) - pl.col(S.NORMAL_RET)
    return (
        panel.lazy()
        .join(models.lazy(), on=ROW, how="left")
        .with_columns(normal.alias(S.NORMAL_RET), av.alias(S.ABNORMAL_VOLUME))
        .with_columns(
            ar.alias(S.ABNORMAL_RET),
            pl.when(ar.is_not_null() & reported).then(var).alias(S.AR_VAR),
            pl.when(reported).then(pl.col(S.ABNORMAL_VOLUME) / av_se).alias(S.ABNORMAL_VOLUME_T),
        )
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
            S.AR_VAR, S.AR_SE, S.AR_T, S.AR_P, S.ABNORMAL_VOLUME, S.ABNORMAL_VOLUME_T, *inputs,
        )
        .sort(ROW, S.EVENT_DAY)
        .collect(engine="in-memory")
    )


def cumulative_abnormal_returns(ar: pl.DataFrame, models: pl.DataFrame, spec: StudySpec) -> pl.DataFrame:
    """CAR, its standard error, t, p, BHAR, the raw return and the mean abnormal volume of
    every event row and window.

    Parameters
    ----------
    ar
        Output of :func:`abnormal_returns` (all days, or the reported days only).
    models
        Output of :func:`analysis.models.fit_models`.
    spec
        Study parameters (windows, model, return kind).

    Returns
    -------
    pl.DataFrame
        ``row, window_start, window_end, n_days, car, car_se, t_stat, p_value, bhar,
        raw_return, abnormal_volume, abnormal_volume_t``; one row per event row and window,
        ordered by row and window. ``n_days`` counts the window's days with an abnormal
        return; a window without any has null statistics. ``abnormal_volume`` is the mean
        abnormal log volume over the window's days with a volume.
    """
    d = design(spec)
    windows = pl.DataFrame(
        {S.WINDOW_START: [w.start for w in spec.windows], S.WINDOW_END: [w.end for w in spec.windows]},
        schema={S.WINDOW_START: pl.Int32, S.WINDOW_END: pl.Int32},
    ).with_row_index("_w")
    has_ar = pl.col(S.ABNORMAL_RET).is_not_null()
    growth = pl.col(S.RET).exp() if spec.returns == "log" else 1.0 + pl.col(S.RET)
    normal_growth = pl.col(S.NORMAL_RET).exp() if spec.returns == "log" else 1.0 + pl.col(S.NORMAL_RET)
    regressors = d.regressors if d is not None else ()
    agg = (
        ar.lazy()
        .join(windows.lazy(), how="cross")
        .filter(pl.col(S.EVENT_DAY).is_between(pl.col(S.WINDOW_START), pl.col(S.WINDOW_END)))
        .group_by(ROW, "_w")
        .agg(
            has_ar.sum().cast(pl.Int32).alias(S.N_DAYS),
            pl.col(S.ABNORMAL_RET).sum().alias(S.CAR),
            *(x.filter(has_ar).sum().alias(f"_sx{j}") for j, x in enumerate(regressors)),
            (growth.filter(has_ar).product() - normal_growth.filter(has_ar).product()).alias(S.BHAR),
            pl.when(pl.col(S.RET).is_not_null().any())
            .then(growth.filter(pl.col(S.RET).is_not_null()).product() - 1.0)
            .alias(S.RAW_RETURN),
            pl.col(S.ABNORMAL_VOLUME).count().alias("_nv"),
            pl.col(S.ABNORMAL_VOLUME).mean().alias(S.ABNORMAL_VOLUME),
        )
    )
    L = pl.col(S.N_DAYS).cast(pl.Float64)
    sigma2, n = pl.col(S.SIGMA) ** 2, pl.col(S.N_OBS)
    if d is None:
        car_var = sigma2 * L
    else:
        devs = [pl.col(f"_sx{j}") - L * pl.col(xbar_column(j)) for j in range(len(regressors))]
        car_var = sigma2 * (L + L**2 / n + _quadratic(devs))
    av_se = pl.col(S.LOG_VOLUME_SD) * (1.0 / pl.col("_nv") + 1.0 / pl.col(S.VOLUME_N_OBS)).sqrt()
    ok = (pl.col(S.N_DAYS) > 0) & pl.col(S.SIGMA).is_not_null()
    grid = models.lazy().select(ROW).join(windows.lazy(), how="cross")
    return (
        grid.join(agg, on=[ROW, "_w"], how="left")
        .join(
            models.lazy().select(
                ROW, S.SIGMA, S.N_OBS, S.DF_RESID, S.LOG_VOLUME_SD, S.VOLUME_N_OBS, *variance_columns(len(regressors))
            ),
            on=ROW, how="left",
        )
        .with_columns(pl.col(S.N_DAYS).fill_null(0))
        .with_columns(
            pl.when(ok).then(pl.col(S.CAR)).alias(S.CAR),
            pl.when(ok).then(car_var.sqrt()).alias(S.CAR_SE),
            pl.when(ok).then(pl.col(S.BHAR)).alias(S.BHAR),
            pl.when(pl.col("_nv") > 0).then(pl.col(S.ABNORMAL_VOLUME) / av_se).alias(S.ABNORMAL_VOLUME_T),
        )
        .with_columns((pl.col(S.CAR) / pl.col(S.CAR_SE)).alias(S.T_STAT))
        .with_columns(t_pvalue(pl.col(S.T_STAT), pl.col(S.DF_RESID)).alias(S.P_VALUE))
        .sort(ROW, "_w")
        .select(
            ROW, S.WINDOW_START, S.WINDOW_END, S.N_DAYS, S.CAR, S.CAR_SE, S.T_STAT, S.P_VALUE, S.BHAR, S.RAW_RETURN,
            S.ABNORMAL_VOLUME, S.ABNORMAL_VOLUME_T,
        )
        .collect(engine="in-memory")
    )
