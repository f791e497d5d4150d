"""Event-study regressions with statsmodels — the only module that imports it.

Two regressions per event row, reported as tidy frames (statsmodels objects never leave
this module):

``market_model`` — OLS of the market model on the estimation window::

    R_t = α + β R_mt + ε_t,   t ∈ estimation window

Its α̂, β̂ and σ̂ = √(SSR/(T−2)) equal the vectorised estimates of
:func:`analysis.models.fit_models`; the test suite checks this to 1e-10.

``event_dummies`` — the dummy-variable event regression (Karafiath 1988; Thompson 1985)
over the estimation window plus the reported event days, with one dummy per event day k::

    R_t = a + b R_mt + Σ_k γ_k D_kt + e_t,   D_kt = 1 if t is event day k

Each dummy fits its day exactly, so (a, b) are the estimation-window OLS estimates and
``γ̂_k = R_k − â − b̂ R_mk = AR_k``; the OLS standard error of γ̂_k is the prediction-error
standard error of MacKinlay (1997), so its t equals the AR's t.

These loop over event rows (statsmodels fits one model at a time): they serve the reports of
a handful of events; the batch statistics come from the vectorised engine.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.panel import ROW
from analysis.specs import StudySpec

REGRESSION = "regression"
TERM = "term"
ESTIMATE = "estimate"
STD_ERROR = "std_error"
MARKET_MODEL = "market_model"
EVENT_DUMMIES = "event_dummies"
TIDY_SCHEMA = {
    ROW: pl.UInt32, REGRESSION: pl.String, TERM: pl.String, ESTIMATE: pl.Float64, STD_ERROR: pl.Float64,
    S.T_STAT: pl.Float64, S.P_VALUE: pl.Float64, S.N_OBS: pl.Int32, S.R_SQUARED: pl.Float64, S.SIGMA: pl.Float64,
}


def dummy_term(day: int) -> str:
    """Name of the dummy of event day ``day``: ``d[-1]``, ``d[0]``, ``d[+1]``."""
    return f"d[{day:+d}]" if day else "d[0]"


def _tidy(row: int, name: str, res, terms: list[str]) -> list[tuple]:
    sigma = float(np.sqrt(res.scale))
    return [
        (row, name, term, float(b), float(se), float(t), float(p), int(res.nobs), float(res.rsquared), sigma)
        for term, b, se, t, p in zip(terms, res.params, res.bse, res.tvalues, res.pvalues, strict=True)
    ]


def event_regressions(panel: pl.DataFrame, spec: StudySpec, rows: list[int] | None = None) -> pl.DataFrame:
    """Market-model and dummy-variable event regressions of each event row.

    Parameters
    ----------
    panel
        ``row, event_day, ret, benchmark_ret`` (see :func:`analysis.panel.event_panel`).
    spec
        Study parameters: estimation window and reported event days.
    rows
        The event rows to fit (default: all). Rows without enough data are left out.

    Returns
    -------
    pl.DataFrame
        ``row, regression, term, estimate, std_error, t_stat, p_value, n_obs, r_squared,
        sigma`` — terms ``alpha``, ``beta`` and ``d[k]`` for each reported event day k that has
        returns.
    """
    from statsmodels.regression.linear_model import OLS  # imported here: it pulls in pandas and scipy.stats (seconds)

    est, days = spec.estimation, spec.report_days
    usable = (
        panel.filter(
            (pl.col(S.EVENT_DAY).is_between(est.start, est.end) | pl.col(S.EVENT_DAY).is_between(days.start, days.end))
            & pl.col(S.RET).is_not_null()
            & pl.col(S.BENCHMARK_RET).is_not_null()
        )
        .filter(pl.col(ROW).is_in(rows) if rows is not None else pl.lit(True))
        .sort(ROW, S.EVENT_DAY)
    )
    out: list[tuple] = []
    for (row,), g in usable.group_by(ROW, maintain_order=True):
        in_est = g[S.EVENT_DAY].is_between(est.start, est.end).to_numpy()
        if in_est.sum() < max(3, spec.min_estimation_obs):
            continue
        y = g[S.RET].to_numpy()
        x = np.column_stack([np.ones(g.height), g[S.BENCHMARK_RET].to_numpy()])
        out += _tidy(row, MARKET_MODEL, OLS(y[in_est], x[in_est]).fit(), ["alpha", "beta"])
        event_days = g[S.EVENT_DAY].to_numpy()[~in_est]
        dummies = (g[S.EVENT_DAY].to_numpy()[:, None] == event_days[None, :]).astype(float)
        res = OLS(y, np.column_stack([x, dummies])).fit()
        out += _tidy(row, EVENT_DUMMIES, res, ["alpha", "beta", *(dummy_term(int(k)) for k in event_days)])
    return pl.DataFrame(out, schema=TIDY_SCHEMA, orient="row")
