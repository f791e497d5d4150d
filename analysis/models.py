"""Normal-return models fitted on the estimation window, vectorised over event rows.

For event row *i* with estimation returns ``R_it`` and benchmark returns ``R_mt``,
``t = 1..T`` (the days of the estimation window on which the needed returns exist):

``market`` — the market model (MacKinlay 1997, eq. 7), OLS::

    R_it = α_i + β_i R_mt + ε_it
    β̂ = S_xy / S_xx,  α̂ = R̄_i − β̂ R̄_m,  σ̂² = SSR / (T − 2),  R² = 1 − SSR / S_yy
    S_xx = Σ (R_mt − R̄_m)²,  S_xy = Σ (R_mt − R̄_m)(R_it − R̄_i),  SSR = S_yy − S_xy² / S_xx

``constant-mean`` — the constant-mean-return model (MacKinlay 1997, eq. 6)::

    R_it = μ_i + ε_it,   μ̂ = R̄_i,  σ̂² = Σ (R_it − R̄_i)² / (T − 1)

``market-adjusted`` — α = 0, β = 1, no estimation of the mean (Brown & Warner 1985); σ̂ is the
standard deviation of ``R_it − R_mt`` over the estimation window with ``T − 1`` degrees of
freedom.

The sums are centred (computed around the group means) for numerical accuracy. An event row
with fewer than ``min_estimation_obs`` usable days, or a constant benchmark, gets null
estimates and a ``reason``.
"""

from __future__ import annotations

import polars as pl

from analysis import schema as S
from analysis.panel import ROW
from analysis.specs import StudySpec

EST_FIRST_DAY = "est_first_day"
EST_LAST_DAY = "est_last_day"
USES_MARKET = {"market": True, "constant-mean": False, "market-adjusted": True}
N_PARAMS = {"market": 2, "constant-mean": 1, "market-adjusted": 1}


def fit_models(panel: pl.DataFrame, n_rows: int, spec: StudySpec) -> pl.DataFrame:
    """Fit ``spec.model`` for every event row.

    Parameters
    ----------
    panel
        ``row, event_day, ret, benchmark_ret`` (see :func:`analysis.panel.event_panel`).
    n_rows
        Number of event rows ``E``; the result has one row for each ``row = 0..E-1``.
    spec
        Study parameters (estimation window, model, minimum observations).

    Returns
    -------
    pl.DataFrame
        ``row, model, alpha, beta, sigma, r_squared, n_obs, df_resid, mkt_mean, mkt_sxx,
        est_first_day, est_last_day, reason``.
    """
    model = spec.model
    est = spec.estimation
    usable = pl.col(S.EVENT_DAY).is_between(est.start, est.end) & pl.col(S.RET).is_not_null()
    if USES_MARKET[model]:
        usable = usable & pl.col(S.BENCHMARK_RET).is_not_null()
    x, y = pl.col(S.BENCHMARK_RET), pl.col(S.RET)
    dx, dy = x - x.mean(), y - y.mean()
    if model == "market-adjusted":
        d = y - x
        resid_ss = ((d - d.mean()) ** 2).sum()
    else:
        resid_ss = (dy**2).sum()
    sums = (
        panel.lazy()
        .filter(usable)
        .group_by(ROW)
        .agg(
            pl.len().alias(S.N_OBS),
            y.mean().alias("_ybar"),
            x.mean().alias(S.MKT_MEAN),
            (dx**2).sum().alias(S.MKT_SXX),
            (dx * dy).sum().alias("_sxy"),
            (dy**2).sum().alias("_syy"),
            resid_ss.alias("_rss"),
            pl.col(S.EVENT_DAY).min().alias(EST_FIRST_DAY),
            pl.col(S.EVENT_DAY).max().alias(EST_LAST_DAY),
        )
        .collect(engine="in-memory")
    )
    n = pl.col(S.N_OBS)
    dof = n - N_PARAMS[model]
    sxx, sxy, syy = pl.col(S.MKT_SXX), pl.col("_sxy"), pl.col("_syy")
    if model == "market":
        beta = sxy / sxx
        alpha = pl.col("_ybar") - beta * pl.col(S.MKT_MEAN)
        ssr = (syy - sxy * sxy / sxx).clip(lower_bound=0.0)
        r2 = 1.0 - ssr / syy
    elif model == "constant-mean":
        beta, alpha, ssr, r2 = pl.lit(None, pl.Float64), pl.col("_ybar"), syy, pl.lit(None, pl.Float64)
    else:
        beta, alpha, ssr, r2 = pl.lit(1.0), pl.lit(0.0), pl.col("_rss"), pl.lit(None, pl.Float64)
    reason = pl.when(n.fill_null(0) < spec.min_estimation_obs).then(
        pl.format(
            "{} usable estimation returns in [{}, {}], fewer than the minimum {}",
            n.fill_null(0), pl.lit(est.start), pl.lit(est.end), pl.lit(spec.min_estimation_obs),
        )
    )
    if model == "market":
        reason = reason.when(sxx <= 0).then(pl.lit("benchmark returns are constant over the estimation window"))
    reason = reason.when(ssr <= 0).then(pl.lit("zero residual variance over the estimation window"))
    ok = reason.is_null()
    all_rows = pl.DataFrame({ROW: pl.arange(0, n_rows, dtype=pl.UInt32, eager=True)})
    return (
        all_rows.join(sums, on=ROW, how="left")
        .with_columns(reason.alias(S.REASON))
        .select(
            ROW,
            pl.lit(model).alias(S.MODEL),
            pl.when(ok).then(alpha).alias(S.ALPHA),
            pl.when(ok).then(beta).cast(pl.Float64).alias(S.BETA),
            pl.when(ok).then((ssr / dof).sqrt()).alias(S.SIGMA),
            pl.when(ok).then(r2).cast(pl.Float64).alias(S.R_SQUARED),
            n.fill_null(0).cast(pl.Int32).alias(S.N_OBS),
            dof.cast(pl.Int32).alias(S.DF_RESID),
            S.MKT_MEAN,
            S.MKT_SXX,
            EST_FIRST_DAY,
            EST_LAST_DAY,
            S.REASON,
        )
    )
