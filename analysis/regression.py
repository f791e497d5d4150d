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

Across events of a group:

``cross_section`` — per window, OLS of the CARs on event characteristics from the catalog,
with HC3 heteroskedasticity-consistent errors (MacKinnon & White 1985)::

    CAR_i = c_0 + Σ_j c_j x_ij + u_i

``pooled_dummies`` — the pooled dummy-variable regression for multi-firm events: firm-specific
intercepts and market betas, and one common dummy per reported event day::

    R_it = a_i + b_i R_mt + Σ_k γ_k D_kt + e_it

so γ_k is the pooled abnormal return of day k and ``CAR[w] = Σ_{k∈w} γ_k`` (a linear
combination tested with the same covariance). Errors are clustered by calendar date (firms
reacting to the same news on the same day are correlated; Petersen 2009) or, with
``cov="hac"``, Newey–West within firm (``hac-panel``, 5 lags).

Regression tables in the summary_col layout (coefficients with stars, standard errors in
parentheses, R², N) come back as text (Markdown, HTML, LaTeX) in :class:`SummaryTable`, the
coefficients in percentage points (the tidy frames keep decimals, as every Parquet file).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.options import PooledCov
from analysis.panel import ROW
from analysis.specs import StudySpec

REGRESSION = "regression"
TERM = "term"
ESTIMATE = "estimate"
STD_ERROR = "std_error"
COV_TYPE = "cov_type"
MARKET_MODEL = "market_model"
EVENT_DUMMIES = "event_dummies"
CROSS_SECTION = "cross_section"
POOLED_DUMMIES = "pooled_dummies"
REGRESSOR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MIN_DF = 3  # residual degrees of freedom a cross-sectional regression needs
GROUP_TIDY_SCHEMA = {
    S.GROUP: pl.String, REGRESSION: pl.String, S.WINDOW_START: pl.Int32, S.WINDOW_END: pl.Int32,
    COV_TYPE: pl.String, TERM: pl.String, ESTIMATE: pl.Float64, STD_ERROR: pl.Float64, S.T_STAT: pl.Float64,
    S.P_VALUE: pl.Float64, S.N_OBS: pl.Int32, S.R_SQUARED: pl.Float64, S.REASON: pl.String,
}


@dataclass(frozen=True)
class SummaryTable:
    """A regression table in statsmodels' ``summary_col`` layout, rendered."""

    key: str
    title: str
    markdown: str
    html: str
    latex: str
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
    if usable.height:
        from statsmodels.regression.linear_model import OLS  # imported here: it pulls in pandas and scipy.stats (seconds)
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


def _window_label(start: int, end: int) -> str:
    return f"[{start:+d},{end:+d}]".replace("+0", "0")


class _PercentPoints(str):
    """The ``float_format`` of statsmodels' ``summary_col``, which formats each coefficient and
    standard error ``x`` as ``float_format % x``: here ``100 x`` with two decimals, so that a
    return (a CAR, a pooled abnormal return, or one per unit of a characteristic) reads in
    percentage points, as in every other table (:mod:`analysis.formats`)."""

    def __mod__(self, x: float) -> str:
        return f"{100 * x:.2f}"


PERCENT_POINTS = _PercentPoints("%.2f")
UNITS_NOTE = "Coefficients and standard errors in percentage points"


def _summary(key: str, title: str, results: list, names: list[str], order: list[str], drop_others: bool = False) -> SummaryTable:
    from statsmodels.iolib.summary2 import summary_col

    table = summary_col(
        results, stars=True, model_names=names, float_format=PERCENT_POINTS, regressor_order=order,
        drop_omitted=drop_others, include_r2=False,
        info_dict={"R-squared": lambda r: f"{r.rsquared:.2f}", "N": lambda r: f"{int(r.nobs)}"},
    )
    frame = table.tables[0]
    head = "| | " + " | ".join(str(c) for c in frame.columns) + " |"
    lines = [head, "|" + "---|" * (len(frame.columns) + 1)]
    for idx, row in frame.iterrows():
        cells = [str(v).replace("*", "\\*") for v in row]
        lines.append(f"| {idx} | " + " | ".join(cells) + " |")
    note = f"\n\n*{UNITS_NOTE}; standard errors in parentheses; \\*\\*\\* p<0.01, \\*\\* p<0.05, \\* p<0.10.*\n"
    markdown = f"## {title}\n\n" + "\n".join(lines) + note
    table.add_text(f"{UNITS_NOTE}.")
    return SummaryTable(key, title, markdown, table.as_html(), table.as_latex())


def cross_sectional_regressions(
    car: pl.DataFrame, regressors: Sequence[str]
) -> tuple[pl.DataFrame, list[SummaryTable]]:
    """OLS of CARs on event characteristics, per group and window, with HC3 errors.

    Parameters
    ----------
    car
        One row per event row and window (primary tickers): ``group, window_start,
        window_end, car`` and the regressor columns.
    regressors
        Column names of numeric characteristics. Names that are not plain identifiers are
        ignored (they come from user catalogs and end up in rendered tables).

    Returns
    -------
    (pl.DataFrame, list[SummaryTable])
        Tidy coefficients (:data:`GROUP_TIDY_SCHEMA`; a group/window that cannot be fitted
        has one row with null terms and the ``reason``), and one summary table per group
        with a column per window.
    """
    names = [r for r in regressors if REGRESSOR_NAME.match(r.removeprefix("char.")) and r in car.columns]
    out: list[tuple] = []
    tables: list[SummaryTable] = []
    if not names:
        return pl.DataFrame(schema=GROUP_TIDY_SCHEMA), tables
    from statsmodels.regression.linear_model import OLS  # imported here: it pulls in pandas and scipy.stats (seconds)

    keys = [S.GROUP, S.WINDOW_START, S.WINDOW_END]
    data = car.filter(pl.col(S.CAR).is_not_null()).drop_nulls(names).sort(keys)
    terms = ["const", *(n.removeprefix("char.") for n in names)]
    for (group,), g in data.group_by(S.GROUP, maintain_order=True):  # one regression per group x window
        fitted, labels = [], []
        for (start, end), w in g.group_by(S.WINDOW_START, S.WINDOW_END, maintain_order=True):
            x = w.select(pl.lit(1.0).alias("const"), *(pl.col(n).cast(pl.Float64).alias(t) for n, t in zip(names, terms[1:])))
            y = w[S.CAR]
            reason = None
            if w.height - x.shape[1] < MIN_DF:
                reason = f"{w.height} events for {x.shape[1]} coefficients; needs {MIN_DF} residual degrees of freedom"
            elif np.linalg.matrix_rank(x.to_numpy()) < x.shape[1]:
                reason = "regressors are collinear or constant across events"
            if reason:
                out.append((group, CROSS_SECTION, start, end, "HC3", None, None, None, None, None, w.height, None, reason))
                continue
            res = OLS(y, x).fit(cov_type="HC3")
            out += [
                (group, CROSS_SECTION, start, end, "HC3", term, float(b), float(se), float(t), float(p), int(res.nobs), float(res.rsquared), None)
                for term, b, se, t, p in zip(terms, res.params, res.bse, res.tvalues, res.pvalues, strict=True)
            ]
            fitted.append(res)
            labels.append(f"CAR {_window_label(start, end)}")
        if fitted:
            tables.append(_summary(f"cross_section_{group}", f"Cross-sectional regressions of CARs, group {group} (HC3)", fitted, labels, terms))
    return pl.DataFrame(out, schema=GROUP_TIDY_SCHEMA, orient="row"), tables


def pooled_event_regressions(
    panel: pl.DataFrame, rows: pl.DataFrame, spec: StudySpec, cov: PooledCov = "cluster", max_rows: int = 50
) -> tuple[pl.DataFrame, list[SummaryTable]]:
    """Pooled dummy-variable event regression per group (see the module docstring).

    Parameters
    ----------
    panel
        ``row, event_day, ret, benchmark_ret``.
    rows
        The event rows to pool: ``row, group, day0_session`` (primary tickers whose model
        could be fitted).
    spec
        Estimation window, reported days and windows.
    cov
        ``cluster`` (by calendar date) or ``hac`` (Newey–West within firm, 5 lags).
    max_rows
        Groups with more event rows are left out (the design has two columns per firm).

    Returns
    -------
    (pl.DataFrame, list[SummaryTable])
        Tidy terms ``d[k]`` (pooled AR of day k) and ``CAR[w]`` (window sums), with
        ``window_start = window_end = k`` for days; firm intercepts and betas are not
        reported. One summary table per group.
    """
    est, days = spec.estimation, spec.report_days
    cov_name = "cluster(date)" if cov == "cluster" else "HAC(firm, 5 lags)"
    sizes = rows.group_by(S.GROUP).len().sort(S.GROUP)
    out: list[tuple] = [
        (group, POOLED_DUMMIES, None, None, cov_name, None, None, None, None, None, None, None,
         f"{n} event rows; pooling needs 2 to {max_rows}")
        for group, n in sizes.filter(~pl.col("len").is_between(2, max_rows)).iter_rows()
    ]
    rows = rows.join(sizes.filter(pl.col("len").is_between(2, max_rows)), on=S.GROUP, how="semi")
    usable = (
        panel.join(rows.select(ROW, S.GROUP, S.DAY0_SESSION), on=ROW)
        .filter(
            (pl.col(S.EVENT_DAY).is_between(est.start, est.end) | pl.col(S.EVENT_DAY).is_between(days.start, days.end))
            & pl.col(S.RET).is_not_null() & pl.col(S.BENCHMARK_RET).is_not_null()
        )
        .sort(S.GROUP, ROW, S.EVENT_DAY)
    )
    tables: list[SummaryTable] = []
    day_list = list(range(days.start, days.end + 1))
    if usable.height:
        from statsmodels.regression.linear_model import OLS  # imported here: it pulls in pandas and scipy.stats (seconds)
    for (group,), g in usable.group_by(S.GROUP, maintain_order=True):
        firms = g[ROW].unique(maintain_order=True).to_list()
        firm = g[ROW].to_numpy()
        tau = g[S.EVENT_DAY].to_numpy()
        own = (firm[:, None] == np.asarray(firms)[None, :]).astype(float)
        dummies = (tau[:, None] == np.asarray(day_list)[None, :]).astype(float)
        names = [f"a[{i}]" for i in range(len(firms))] + [f"b[{i}]" for i in range(len(firms))] + [dummy_term(k) for k in day_list]
        x = pl.DataFrame(np.column_stack([own, own * g[S.BENCHMARK_RET].to_numpy()[:, None], dummies]), schema=names)
        if cov == "cluster":
            dates = (g[S.DAY0_SESSION] + g[S.EVENT_DAY]).to_numpy()
            res = OLS(g[S.RET], x).fit(cov_type="cluster", cov_kwds={"groups": dates})
        else:
            res = OLS(g[S.RET], x).fit(cov_type="hac-panel", cov_kwds={"groups": firm, "maxlags": 5})
        base = 2 * len(firms)
        combos = [(dummy_term(k), k, k, np.eye(x.shape[1])[base + i]) for i, k in enumerate(day_list)]
        for w in spec.windows:
            r = np.zeros(x.shape[1])
            r[[base + day_list.index(k) for k in range(w.start, w.end + 1)]] = 1.0
            combos.append((f"CAR{_window_label(w.start, w.end)}", w.start, w.end, r))
        for term, start, end, r in combos:
            tt = res.t_test(r)
            est_, se = float(np.squeeze(tt.effect)), float(np.squeeze(tt.sd))
            out.append((group, POOLED_DUMMIES, start, end, cov_name, term, est_, se, float(np.squeeze(tt.tvalue)),
                        float(np.squeeze(tt.pvalue)), int(res.nobs), float(res.rsquared), None))
        tables.append(_summary(f"pooled_{group}", f"Pooled dummy-variable event regression, group {group} ({cov_name})",
                               [res], [f"{len(firms)} firms"], [dummy_term(k) for k in day_list], drop_others=True))
    return pl.DataFrame(out, schema=GROUP_TIDY_SCHEMA, orient="row"), tables


def market_model_loop(ret: np.ndarray, market: np.ndarray, estimation: slice, windows: Sequence[slice]) -> dict[str, np.ndarray]:
    """The straightforward way: one statsmodels OLS per event row (the benchmark's baseline).

    ``ret`` and ``market`` are ``E x L`` returns (NaN where missing) of the event rows and their
    benchmark; per row, the market model is fitted on the ``estimation`` columns with a
    return on both, and each window's CAR gets its prediction-error variance
    ``σ̂² (L + s'(X'X)⁻¹s)`` from ``cov_params()`` (MacKinlay 1997). Returns ``alpha, beta``
    (E) and ``car, car_t`` (E x windows).
    """
    from statsmodels.regression.linear_model import OLS

    e = ret.shape[0]
    alpha, beta = np.full(e, np.nan), np.full(e, np.nan)
    car, car_t = np.full((e, len(windows)), np.nan), np.full((e, len(windows)), np.nan)
    for i in range(e):  # the loop the vectorised engine avoids
        y, x = ret[i, estimation], market[i, estimation]
        ok = ~(np.isnan(y) | np.isnan(x))
        res = OLS(y[ok], np.column_stack([np.ones(ok.sum()), x[ok]])).fit()
        alpha[i], beta[i] = res.params
        cov = res.cov_params()
        for j, w in enumerate(windows):
            yw, xw = ret[i, w], market[i, w]
            has = ~(np.isnan(yw) | np.isnan(xw))
            xs = np.column_stack([np.ones(has.sum()), xw[has]])
            s = xs.sum(axis=0)
            car[i, j] = (yw[has] - xs @ res.params).sum()
            car_t[i, j] = car[i, j] / np.sqrt(res.scale * has.sum() + s @ cov @ s)
    return {"alpha": alpha, "beta": beta, "car": car, "car_t": car_t}
