"""Normal-return models, abnormal returns, CARs and group tests against independent computations.

* a hand-checked five-day market model (numbers verifiable with pencil and paper);
* a seeded synthetic market run through ``analysis.engine.run_study`` and compared, event by
  event and day by day, with ``reference.py`` (lstsq, explicit ``(X'X)⁻¹``, ``γ'Vγ``) and with
  statsmodels OLS (``params``, ``scale``, ``get_prediction().se_obs``, ``cov_params()``);
* exact observation counts with missing days in the estimation and event windows;
* ``min_estimation_obs``: null statistics with a reason;
* the two classic group tests end to end (the whole battery: ``test_inference.py``).
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from scipy import stats

import reference as ref
from analysis.abnormal import abnormal_returns, cumulative_abnormal_returns
from analysis.engine import run_study
from analysis.models import fit_models
from analysis.specs import EventSpec, StudySpec, Window, events_frame
from dense import panel_of

REL, ABS = 1e-10, 1e-13  # tolerances of ref.near, for the array comparisons


# --- a hand-checked tiny case ----------------------------------------------------------------
#
# Estimation window [-5, -1], T = 5, benchmark R_m = -.02, -.01, 0, .01, .02 (mean 0,
# S_xx = .0004 + .0001 + 0 + .0001 + .0004 = .001). The firm is R = .001 + 2 R_m + e with
# e = .001, -.002, .002, -.002, .001 (Σe = 0 and Σ R_m e = 0, so OLS recovers α = .001, β = 2
# exactly and the residuals are e):  R = -.038, -.021, .003, .019, .042.
#   SSR = (1 + 4 + 4 + 4 + 1)e-6 = 14e-6,  σ² = SSR / (T - 2) = 14e-6 / 3
#   S_yy = β² S_xx + SSR = .004 + .000014 = .004014,  R² = 1 - 14e-6 / .004014
# Day 0: R_m = .03, R = .08: normal .001 + .06 = .061, AR = .019,
#        Var = σ² (1 + 1/5 + .03²/.001) = 2.1 σ² = 9.8e-6
# Day 1: R_m = -.01, R = -.015: normal -.019, AR = .004, Var = σ² (1 + .2 + .1) = 1.3 σ²
# Cov(AR_0, AR_1) = σ² (1/5 + (.03)(-.01)/.001) = -0.1 σ², so
# Var(CAR[0,1]) = (2.1 + 1.3 - 2 · 0.1) σ² = 3.2 σ²  (= σ² (L + L²/T + (ΣR_m)²/S_xx) = σ² (2 + .8 + .4))
# BHAR[0,1] = 1.08 · .985 - 1.061 · .981 = 1.0638 - 1.040841 = .022959;  raw = 1.0638 - 1 = .0638

TINY_SPEC = StudySpec(estimation=Window(-5, -1), windows=(Window(0, 0), Window(0, 1)), min_estimation_obs=3)
TINY_PANEL = pl.DataFrame(
    {
        "row": [0] * 7,
        "event_day": list(range(-5, 2)),
        "ret": [-0.038, -0.021, 0.003, 0.019, 0.042, 0.08, -0.015],
        "benchmark_ret": [-0.02, -0.01, 0.0, 0.01, 0.02, 0.03, -0.01],
    },
    schema={"row": pl.UInt32, "event_day": pl.Int32, "ret": pl.Float64, "benchmark_ret": pl.Float64},
)


def test_hand_checked_five_day_market_model():
    sigma2 = 14e-6 / 3
    panel = panel_of(TINY_PANEL)
    models = fit_models(panel, TINY_SPEC)
    m = models.frame.row(0, named=True)
    ref.near(m["alpha"], 0.001, "alpha", rel=1e-12)
    ref.near(m["beta"], 2.0, "beta", rel=1e-12)
    ref.near(m["sigma"], math.sqrt(sigma2), "sigma", rel=1e-10)
    ref.near(m["r_squared"], 1 - 14e-6 / 0.004014, "r2", rel=1e-12)
    assert (m["n_obs"], m["df_resid"], m["reason"]) == (5, 3, None)
    ref.near(m["mkt_mean"], 0.0, "mean")
    ref.near(m["mkt_sxx"], 0.001, "sxx", rel=1e-12)

    full = abnormal_returns(panel, models, TINY_SPEC, days=Window(-5, 1)).to_frame()
    est = full.filter(pl.col("event_day") < 0)
    # estimation days carry the OLS residuals (they sum to zero), with no prediction variance
    ref.near(est["abnormal_ret"].sum(), 0.0, "sum of residuals")
    assert est["ar_var"].is_null().all() and est["cum_abnormal_ret"].is_null().all()
    ar = full.filter(pl.col("event_day") >= 0)
    assert ar["event_day"].to_list() == [0, 1]
    d0, d1 = ar.row(0, named=True), ar.row(1, named=True)
    ref.near(d0["normal_ret"], 0.061, "normal0", rel=1e-12)
    ref.near(d0["abnormal_ret"], 0.019, "ar0", rel=1e-10)
    ref.near(d0["ar_var"], 2.1 * sigma2, "var0", rel=1e-10)
    ref.near(d0["ar_t"], 0.019 / math.sqrt(9.8e-6), "t0", rel=1e-10)
    ref.near(d0["ar_p"], 2 * stats.t.sf(0.019 / math.sqrt(9.8e-6), 3), "p0", rel=1e-9)
    ref.near(d1["abnormal_ret"], 0.004, "ar1", rel=1e-10)
    ref.near(d1["ar_var"], 1.3 * sigma2, "var1", rel=1e-10)
    ref.near(d1["cum_abnormal_ret"], 0.023, "cum1", rel=1e-10)

    car = cumulative_abnormal_returns(abnormal_returns(panel, models, TINY_SPEC), models, TINY_SPEC)
    w01 = car.filter(pl.col("window_start") == 0, pl.col("window_end") == 1).row(0, named=True)
    ref.near(w01["car"], 0.023, "car", rel=1e-10)
    ref.near(w01["car_se"], math.sqrt(3.2 * sigma2), "car_se", rel=1e-10)
    t = 0.023 / math.sqrt(3.2 * sigma2)
    ref.near(w01["t_stat"], t, "t", rel=1e-10)
    ref.near(w01["p_value"], 2 * stats.t.sf(t, 3), "p", rel=1e-9)
    ref.near(w01["bhar"], 0.022959, "bhar", rel=1e-10)
    ref.near(w01["raw_return"], 0.0638, "raw", rel=1e-10)
    assert w01["n_days"] == 2
    # ... and the independent implementation gets the same numbers
    rets = dict(enumerate(TINY_PANEL["ret"].to_list(), start=-5))
    mkts = dict(enumerate(TINY_PANEL["benchmark_ret"].to_list(), start=-5))
    fit = ref.fit_model("market", [rets[t] for t in range(-5, 0)], [mkts[t] for t in range(-5, 0)], 3)
    days = []
    for tau in (0, 1):
        x = np.array([1.0, mkts[tau]])
        normal = fit.alpha + fit.beta * mkts[tau]
        days.append(ref.Day(tau=tau, date=None, ret=rets[tau], mkt=mkts[tau], x=x, normal=normal, ar=rets[tau] - normal))
    w = ref.window_stats(days, fit, 0, 1)
    ref.near(w.var, 3.2 * sigma2, "ref var", rel=1e-10)
    ref.near(w.bhar, 0.022959, "ref bhar", rel=1e-10)


def test_hand_checked_constant_mean_and_market_adjusted():
    # constant mean: μ = mean(R) = .001, σ² = S_yy / (T - 1) = .004014 / 4
    spec = StudySpec(estimation=Window(-5, -1), windows=(Window(0, 1),), min_estimation_obs=3, model="constant-mean")
    models = fit_models(panel_of(TINY_PANEL), spec)
    m = models.frame.row(0, named=True)
    ref.near(m["alpha"], 0.001, rel=1e-12)
    assert m["beta"] is None and m["df_resid"] == 4
    ref.near(m["sigma"], math.sqrt(0.004014 / 4), rel=1e-10)
    car = cumulative_abnormal_returns(abnormal_returns(panel_of(TINY_PANEL), models, spec), models, spec).row(0, named=True)
    ref.near(car["car"], 0.079 + -0.016, rel=1e-10)
    ref.near(car["car_se"], math.sqrt(0.004014 / 4 * (2 + 4 / 5)), rel=1e-10)  # σ² (L + L²/T)
    # market-adjusted: d = R - R_m = -.018, -.011, .003, .009, .022, mean .001,
    # Σ(d - d̄)² = .000361 + .000144 + .000004 + .000064 + .000441 = .001014, σ² = .001014 / 4
    spec = StudySpec(estimation=Window(-5, -1), windows=(Window(0, 1),), min_estimation_obs=3, model="market-adjusted")
    models = fit_models(panel_of(TINY_PANEL), spec)
    m = models.frame.row(0, named=True)
    assert (m["alpha"], m["beta"], m["df_resid"]) == (0.0, 1.0, 4)
    ref.near(m["sigma"], math.sqrt(0.001014 / 4), rel=1e-10)
    car = cumulative_abnormal_returns(abnormal_returns(panel_of(TINY_PANEL), models, spec), models, spec).row(0, named=True)
    ref.near(car["car"], 0.05 + -0.005, rel=1e-10)
    ref.near(car["car_se"], math.sqrt(0.001014 / 4 * 2), rel=1e-10)  # σ² L


# --- a synthetic market ----------------------------------------------------------------------

MKT = "^MKT"
EVENTS = (
    # id, ticker, day 0, group
    ("aaa-nov", "AAA", date(2025, 11, 3), "g"),
    ("bbb-nov", "BBB", date(2025, 11, 3), "g"),  # late listing: T = 140 estimation returns
    ("ccc-nov", "CCC", date(2025, 11, 3), "g"),  # later listing: too few estimation returns
    ("aaa-jun", "AAA", date(2025, 6, 2), "g"),
    ("ddd-jun", "DDD", date(2025, 6, 2), "solo"),
)


@pytest.fixture(scope="module")
def market(sessions):
    """Seeded prices of a market index and four firms, with deliberate holes.

    * ``^MKT`` has no price on 2025-04-15 (a benchmark gap: returns of 04-15 and 04-16 missing)
      nor on 2025-10-29 (τ = -4 of the November events: benchmark returns of τ = -4, -3 missing);
    * ``AAA`` (β 1.3) has no price on 2025-02-10 (estimation of aaa-nov) nor on 2025-11-05
      (τ = +2 of aaa-nov: the returns of τ = +2 and +3 are missing);
    * ``BBB`` is listed on 2025-04-17, ``CCC`` on 2025-07-01; ``DDD`` is complete.
    """
    rng = np.random.default_rng(20251103)
    span = [d for d in sessions if date(2024, 1, 2) <= d <= date(2025, 12, 31)]
    n = len(span)
    rm = rng.normal(0.0004, 0.009, n)
    series: dict[str, dict[date, float]] = {MKT: dict(zip(span, 5000 * np.cumprod(1 + rm), strict=True))}
    for ticker, beta, listed in (("AAA", 1.3, span[0]), ("BBB", 0.7, date(2025, 4, 17)),
                                 ("CCC", 1.0, date(2025, 7, 1)), ("DDD", 0.4, span[0])):
        r = 0.0003 + beta * rm + rng.normal(0, 0.014, n)
        r[span.index(date(2025, 11, 3))] += 0.05  # a reaction on day 0 of the November events
        prices = dict(zip(span, 80 * np.cumprod(1 + r), strict=True))
        series[ticker] = {d: p for d, p in prices.items() if d >= listed}
    del series[MKT][date(2025, 4, 15)]
    del series[MKT][date(2025, 10, 29)]
    del series["AAA"][date(2025, 2, 10)]
    del series["AAA"][date(2025, 11, 5)]
    frame = pl.DataFrame(
        [(t, d, p, p) for t, ps in series.items() for d, p in ps.items()],
        schema={"ticker": pl.String, "date": pl.Date, "close": pl.Float64, "adj_close": pl.Float64},
        orient="row",
    )
    return series, frame


def event_specs() -> list[EventSpec]:
    return [EventSpec(i, (t,), d, "intraday", benchmark=MKT, group=g) for i, t, d, g in EVENTS]


def references(series, sessions, spec: StudySpec) -> dict[str, ref.Event]:
    rets = {t: ref.session_returns(p, sessions, spec.returns) for t, p in series.items()}
    return {
        i: ref.event_study(
            rets[t], rets[MKT], sessions, d,
            estimation=(spec.estimation.start, spec.estimation.end),
            windows=tuple((w.start, w.end) for w in spec.windows),
            model=spec.model, min_obs=spec.min_estimation_obs, kind=spec.returns,
        )
        for i, t, d, _ in EVENTS
    }


MODEL_KINDS = [("market", "simple"), ("constant-mean", "simple"), ("market-adjusted", "simple"), ("market", "log")]


@pytest.fixture(scope="module", params=MODEL_KINDS, ids=[f"{m}-{k}" for m, k in MODEL_KINDS])
def study(request, market, sessions, cal):
    model, kind = request.param
    series, frame = market
    spec = StudySpec(model=model, returns=kind)
    result = run_study(events_frame(event_specs()), frame, spec, cal, max_regressions=0)
    return spec, result, references(series, sessions, spec)


def test_models_match_reference(study):
    spec, res, refs = study
    assert res.models.height == len(EVENTS)
    for row in res.models.iter_rows(named=True):
        fit = refs[row["event_id"]].fit
        what = (spec.model, row["event_id"])
        assert row["model"] == spec.model
        assert row["n_obs"] == fit.n_obs, what
        if fit.reason is not None:
            assert row["alpha"] is None and row["sigma"] is None and row["beta"] is None, what
            assert f"fewer than the minimum {spec.min_estimation_obs}" in row["reason"], what
            continue
        assert row["reason"] is None and row["df_resid"] == fit.df_resid, what
        ref.near(row["alpha"], fit.alpha, ("alpha", *what))
        ref.near(row["beta"], fit.beta, ("beta", *what))
        ref.near(row["sigma"], fit.sigma, ("sigma", *what))
        ref.near(row["r_squared"], fit.r_squared, ("r2", *what))
        assert (row["estimation_start"], row["estimation_end"]) == (fit.estimation_start, fit.estimation_end), what


def test_abnormal_returns_match_reference(study):
    spec, res, refs = study
    ar = res.abnormal_returns
    assert ar.height == len(EVENTS) * spec.report_days.length
    for row in ar.iter_rows(named=True):
        day = refs[row["event_id"]].days[row["event_day"]]
        what = (spec.model, row["event_id"], row["event_day"])
        assert row["date"] == day.date, what
        ref.near(row["ret"], day.ret, ("ret", *what))
        ref.near(row["benchmark_ret"], day.mkt, ("benchmark_ret", *what))
        ref.near(row["normal_ret"], day.normal, ("normal", *what))
        ref.near(row["abnormal_ret"], day.ar, ("ar", *what))
        ref.near(row["cum_abnormal_ret"], day.cum_ar, ("cum", *what))
        ref.near(row["ar_se"], None if day.var is None else math.sqrt(day.var), ("se", *what))
        ref.near(row["ar_t"], day.t, ("t", *what))
        ref.near(row["ar_p"], day.p, ("p", *what))


def test_car_matches_reference_gamma_v_gamma(study):
    spec, res, refs = study
    car = res.car
    assert car.height == len(EVENTS) * len(spec.windows)
    for row in car.iter_rows(named=True):
        w = refs[row["event_id"]].windows[(row["window_start"], row["window_end"])]
        what = (spec.model, spec.returns, row["event_id"], row["window_start"], row["window_end"])
        assert row["n_days"] == w.n_days, what
        ref.near(row["car"], w.car, ("car", *what))
        ref.near(row["car_se"], w.se, ("car_se", *what))
        ref.near(row["t_stat"], w.t, ("t", *what))
        ref.near(row["p_value"], w.p, ("p", *what))
        ref.near(row["bhar"], w.bhar, ("bhar", *what))
        ref.near(row["raw_return"], w.raw_return, ("raw", *what))


def test_exact_counts_with_missing_days(study, sessions):
    spec, res, _ = study
    n = {r["event_id"]: r["n_obs"] for r in res.models.iter_rows(named=True)}
    market_based = spec.model != "constant-mean"
    # aaa-nov: 250 days; AAA has no price on 2025-02-10 (loses 02-10, 02-11) and ^MKT none on
    # 2025-04-15 (loses 04-15, 04-16 where the benchmark is needed).
    assert n["aaa-nov"] == 250 - 2 - (2 if market_based else 0)
    # aaa-jun: estimation [-260, -11] of 2025-06-02 ends 2025-05-16, so both gaps are inside.
    assert n["aaa-jun"] == 250 - 2 - (2 if market_based else 0)
    assert n["ddd-jun"] == 250 - (2 if market_based else 0)
    # Late listings: returns from the session after the listing day to τ = -11 (2025-10-17).
    # BBB listed Thursday 2025-04-17 (04-18 is Good Friday): 2025-04-21 .. 10-17 = 126 sessions;
    # CCC listed 2025-07-01: 2025-07-02 .. 10-17 = 76 sessions.
    def sessions_in(first: date, last: date) -> int:
        return sum(first <= d <= last for d in sessions)

    assert n["bbb-nov"] == sessions_in(date(2025, 4, 21), date(2025, 10, 17)) == 126
    assert n["ccc-nov"] == sessions_in(date(2025, 7, 2), date(2025, 10, 17)) == 76
    nd = {(r["event_id"], r["window_start"]): r["n_days"] for r in res.car.iter_rows(named=True)}
    # aaa-nov: τ = +2, +3 missing (no AAA price on 2025-11-05); τ = -4, -3 have no benchmark
    # return (no ^MKT price on 10-29), which only the market-based models need.
    lost = 2 if market_based else 0
    assert (nd[("aaa-nov", 0)], nd[("aaa-nov", -1)], nd[("aaa-nov", -5)]) == (1, 3, 9 - lost)
    assert nd[("bbb-nov", -5)] == 11 - lost and nd[("ddd-jun", -5)] == 11
    reasons = {(r["event_id"], r["window_start"]): r["reason"] for r in res.car.iter_rows(named=True)}
    assert reasons[("aaa-nov", -5)] == f"{2 + lost} of 11 window days without an abnormal return"
    assert reasons[("aaa-nov", -1)] is None and reasons[("ddd-jun", -5)] is None
    # the raw return still covers every day the firm has a return, benchmark or not
    raw = res.car.filter(pl.col("event_id") == "bbb-nov", pl.col("window_start") == -5)["raw_return"].item()
    rets = res.abnormal_returns.filter(pl.col("event_id") == "bbb-nov")["ret"].to_numpy()
    assert len(rets) == 11 and not np.isnan(rets).any()
    ref.near(raw, float(np.exp(rets.sum())) - 1 if spec.returns == "log" else float(np.prod(1 + rets)) - 1)


def test_too_few_estimation_returns_gives_null_statistics_with_reason(study):
    spec, res, _ = study
    ccc = res.car.filter(pl.col("event_id") == "ccc-nov")
    for col in ("car", "car_se", "t_stat", "p_value", "bhar"):
        assert ccc[col].null_count() == ccc.height, col
    assert ccc["raw_return"].null_count() == 0  # the raw move is still known
    assert all("76 usable estimation returns in [-260, -11], fewer than the minimum 120" in r for r in ccc["reason"])
    assert res.abnormal_returns.filter(pl.col("event_id") == "ccc-nov")["abnormal_ret"].null_count() == 11
    ev = res.events.filter(pl.col("event_id") == "ccc-nov").row(0, named=True)
    assert ev["status"] == "skipped" and "fewer than the minimum 120" in ev["reason"]
    assert any(w.startswith("ccc-nov CCC: skipped") for w in res.warnings)


def test_lowering_min_estimation_obs_computes_the_late_listing(market, sessions, cal):
    series, frame = market
    spec = StudySpec(min_estimation_obs=76)
    res = run_study(events_frame(event_specs()), frame, spec, cal, max_regressions=0)
    want = references(series, sessions, spec)["ccc-nov"]
    got = res.car.filter(pl.col("event_id") == "ccc-nov", pl.col("window_start") == -1).row(0, named=True)
    ref.near(got["car"], want.windows[(-1, 1)].car)
    ref.near(got["car_se"], want.windows[(-1, 1)].se)
    assert res.models.filter(pl.col("event_id") == "ccc-nov")["df_resid"].item() == 74
    spec = StudySpec(min_estimation_obs=77)
    res = run_study(events_frame(event_specs()), frame, spec, cal, max_regressions=0)
    assert res.models.filter(pl.col("event_id") == "ccc-nov")["alpha"].item() is None


# --- statsmodels on the same estimation window --------------------------------------------


def estimation_data(series, sessions, ticker: str, day0: date, model: str):
    """y and the benchmark over the estimation window [-260, -11] (days where both needed exist)."""
    rets = ref.session_returns(series[ticker], sessions)
    mkt = ref.session_returns(series[MKT], sessions)
    i0 = sessions.index(day0)
    days = [sessions[i0 + t] for t in range(-260, -10)]
    keep = [d for d in days if d in rets and (d in mkt or model == "constant-mean")]
    return np.array([rets[d] for d in keep]), np.array([mkt.get(d, np.nan) for d in keep]), rets, mkt


@pytest.mark.parametrize("model", ["market", "constant-mean"])
def test_models_and_variances_match_statsmodels_ols(market, sessions, cal, model):
    series, frame = market
    spec = StudySpec(model=model)
    res = run_study(events_frame(event_specs()), frame, spec, cal, max_regressions=0)
    for event_id, ticker, day0, _ in EVENTS:
        if ticker == "CCC":
            continue
        y, x, rets, mkt = estimation_data(series, sessions, ticker, day0, model)
        X = sm.add_constant(x) if model == "market" else np.ones((len(y), 1))
        ols = sm.OLS(y, X).fit()
        m = res.models.filter(pl.col("event_id") == event_id).row(0, named=True)
        assert m["n_obs"] == int(ols.nobs) and m["df_resid"] == int(ols.df_resid)
        ref.near(m["alpha"], ols.params[0], ("alpha", event_id))
        if model == "market":
            ref.near(m["beta"], ols.params[1], ("beta", event_id))
            ref.near(m["r_squared"], ols.rsquared, ("r2", event_id))
        ref.near(m["sigma"], math.sqrt(ols.scale), ("sigma", event_id))  # √(SSR / (T − k))

        ar = res.abnormal_returns.filter(pl.col("event_id") == event_id, pl.col("abnormal_ret").is_not_null())
        xs = ar["benchmark_ret"].to_numpy()
        Xs = np.column_stack([np.ones(len(xs)), xs]) if model == "market" else np.ones((len(xs), 1))
        pred = ols.get_prediction(Xs)
        near_all(ar["ar_se"].to_numpy(), pred.se_obs, ("ar_se", event_id))  # σ²(1 + x*'(X'X)⁻¹x*)
        near_all(ar["abnormal_ret"].to_numpy(), ar["ret"].to_numpy() - pred.predicted_mean, ("ar", event_id))
        near_all(ar["ar_p"].to_numpy(), 2 * stats.t.sf(np.abs(ar["ar_t"].to_numpy()), ols.df_resid), ("p", event_id))

        for w in spec.windows:
            inside = ((ar["event_day"] >= w.start) & (ar["event_day"] <= w.end)).to_numpy()
            Xw = Xs[inside]
            # Var(CAR) = L σ² + 1' X* Cov(b) X*' 1 with statsmodels' own Cov(b) = σ² (X'X)⁻¹
            var = inside.sum() * ols.scale + float(np.ones(len(Xw)) @ Xw @ ols.cov_params() @ Xw.T @ np.ones(len(Xw)))
            c = res.car.filter(pl.col("event_id") == event_id, pl.col("window_start") == w.start).row(0, named=True)
            ref.near(c["car_se"], math.sqrt(var), ("car_se", event_id, w.start))
            ref.near(c["p_value"], 2 * stats.t.sf(abs(c["car"] / math.sqrt(var)), ols.df_resid), ("p", event_id, w.start))


def near_all(got: np.ndarray, want: np.ndarray, what) -> None:
    np.testing.assert_allclose(got, want, rtol=REL, atol=ABS, err_msg=str(what))


# --- group tests ---------------------------------------------------------------------------


def test_group_tests_end_to_end_match_reference(study):
    spec, res, refs = study
    tests = {(r["group"], r["window_start"], r["window_end"], r["test"]): r for r in res.tests.iter_rows(named=True)}
    for w in spec.windows:
        # group "g": aaa-nov, bbb-nov, aaa-jun (ccc-nov has no CAR)
        members = [refs[e].windows[(w.start, w.end)] for e in ("aaa-nov", "bbb-nov", "aaa-jun")]
        cars, ses = [m.car for m in members], [m.se for m in members]
        t, p = ref.cross_sectional_t(cars)
        z, pz = ref.mackinlay_j1(cars, ses)
        cs, j1 = tests[("g", w.start, w.end, "cross_sectional_t")], tests[("g", w.start, w.end, "mackinlay_j1")]
        assert cs["n_events"] == 3 and j1["n_events"] == 3
        ref.near(cs["statistic"], t, ("cs", w.start))
        ref.near(cs["p_value"], p, ("cs p", w.start))
        ref.near(j1["statistic"], z, ("j1", w.start))
        ref.near(j1["p_value"], pz, ("j1 p", w.start))
        assert tests[("solo", w.start, w.end, "cross_sectional_t")]["statistic"] is None
