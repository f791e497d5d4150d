"""Factor models (capm, ff3, carhart4, ff5, user factors) and abnormal volume.

* real AMZN returns with the shared Fama-French factors: every estimate of
  ``analysis.engine.run_study`` equals statsmodels OLS on the same 250 days (data read with
  the ``csv`` module, not polars) to 1e-10;
* every abnormal return, CAR and variance equals ``reference.linear_event_study`` (lstsq,
  explicit ``(X'X)⁻¹``, ``γ'Vγ``) with holes in the prices and in the factors;
* the 3-month T-bill conversion and the abnormal volume by hand;
* null estimates with reasons (missing factor days counted exactly, constant or collinear
  factors) and the errors of a missing factor set or column.
"""

from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from scipy import stats

import reference as ref
from analysis.abnormal import abnormal_returns, cumulative_abnormal_returns
from analysis.calendar import exchange_calendar
from analysis.engine import run_study
from analysis.errors import DataUnavailableError, InputError
from analysis.factors import study_factors, tbill_daily_rate
from analysis.models import fit_models
from analysis.specs import EventSpec, StudySpec, Window, events_frame
from dense import panel_of

LOADINGS = {
    "capm": ["beta"],
    "ff3": ["beta", "beta_smb", "beta_hml"],
    "carhart4": ["beta", "beta_smb", "beta_hml", "beta_mom"],
    "ff5": ["beta", "beta_smb", "beta_hml", "beta_rmw", "beta_cma"],
}
FACTORS = {  # model: (factor set, column) of each regressor
    "ff3": [("ff3", "mkt_rf"), ("ff3", "smb"), ("ff3", "hml")],
    "carhart4": [("ff3", "mkt_rf"), ("ff3", "smb"), ("ff3", "hml"), ("mom", "mom")],
    "ff5": [("ff5", "mkt_rf"), ("ff5", "smb"), ("ff5", "hml"), ("ff5", "rmw"), ("ff5", "cma")],
}
DAYS0 = [date(2025, 11, 3), date(2020, 3, 16), date(2016, 6, 24)]


def read_csv(path: Path) -> dict[date, dict[str, str]]:
    with path.open(newline="") as f:
        return {date.fromisoformat(r["date"]): r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def sessions() -> list[date]:
    return ref.xnys_sessions("2014-01-01")


@pytest.fixture(scope="module")
def raw(shared_data):
    """The shared files as plain dicts: prices, volumes, factor sets in decimals (value / 100)."""
    amzn, gspc = read_csv(shared_data / "prices" / "AMZN.csv"), read_csv(shared_data / "prices" / "GSPC.csv")
    sets = {}
    for name, file in (("ff3", "ff3_daily"), ("ff5", "ff5_daily"), ("mom", "mom_daily")):
        sets[name] = {d: {k: float(v) / 100 for k, v in r.items() if k != "date"}
                      for d, r in read_csv(shared_data / "factors" / f"{file}.csv").items()}
    return {
        "AMZN": {d: float(r["adj_close"]) for d, r in amzn.items()},
        "AMZN_volume": {d: float(r["volume"]) for d, r in amzn.items()},
        "^GSPC": {d: float(r["close"]) for d, r in gspc.items()},
        "sets": sets,
    }


def engine_inputs(raw, drop_prices=(), drop_factors=()) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Polars frames of the same numbers (minus the dropped days) for ``run_study``."""
    rows = [("AMZN", d, p, p, raw["AMZN_volume"][d]) for d, p in raw["AMZN"].items() if d not in drop_prices]
    rows += [("^GSPC", d, p, p, None) for d, p in raw["^GSPC"].items()]
    prices = pl.DataFrame(rows, schema={"ticker": pl.String, "date": pl.Date, "close": pl.Float64,
                                        "adj_close": pl.Float64, "volume": pl.Float64}, orient="row")
    sets = {}
    for name, by_date in raw["sets"].items():
        cols = list(next(iter(by_date.values())))
        sets[name] = pl.DataFrame(
            [(d, *(v[c] for c in cols)) for d, v in by_date.items() if (name, d) not in drop_factors and d not in drop_factors],
            schema={"date": pl.Date} | dict.fromkeys(cols, pl.Float64), orient="row",
        )
    return prices, sets


def study(raw, model: str, days0=DAYS0, drop_prices=(), drop_factors=(), **spec_kw):
    prices, sets = engine_inputs(raw, drop_prices, drop_factors)
    spec = StudySpec(model=model, **spec_kw)
    events = [EventSpec(f"e{i}", ("AMZN",), d) for i, d in enumerate(days0)]
    return spec, run_study(events_frame(events), prices, spec, exchange_calendar("XNYS"), factors=sets, max_regressions=0)


def regressor_map(raw, sessions, model: str, drop_factors=(), rf_set: str | None = None, columns=None):
    """``{date: [x_1..x_p]}`` and ``{date: rf}`` of a model, from the plain dicts."""
    sets = {n: {d: v for d, v in s.items() if (n, d) not in drop_factors and d not in drop_factors}
            for n, s in raw["sets"].items()}
    rf_set = rf_set or ("ff5" if model == "ff5" else "ff3")
    rf = {d: v["rf"] for d, v in sets[rf_set].items()}
    if model == "capm":
        mkt = ref.session_returns(raw["^GSPC"], sessions)
        return {d: [m - rf[d]] for d, m in mkt.items() if d in rf}, rf
    cols = columns or FACTORS[model]
    common = set.intersection(*(set(sets[s]) for s, _ in cols))
    return {d: [sets[s][d][c] for s, c in cols] for d in common}, rf


# --- estimates = statsmodels on the same days -------------------------------------------------


@pytest.mark.parametrize("model", ["capm", "ff3", "carhart4", "ff5"])
def test_factor_models_equal_statsmodels_on_real_amzn(raw, sessions, model):
    spec, res = study(raw, model)
    amzn = ref.session_returns(raw["AMZN"], sessions)
    x, rf = regressor_map(raw, sessions, model)
    for i, day0 in enumerate(DAYS0):
        i0 = sessions.index(day0)
        window = sessions[i0 - 260 : i0 - 10]
        y = np.array([amzn[d] - rf[d] for d in window])
        X = np.column_stack([np.ones(len(window)), np.array([x[d] for d in window])])
        ols = sm.OLS(y, X).fit()
        m = res.models.filter(pl.col("event_id") == f"e{i}").row(0, named=True)
        what = (model, str(day0))
        assert (m["n_obs"], m["df_resid"], m["reason"]) == (250, 250 - X.shape[1], None), what
        assert m["model"] == model and m["estimation_start"] == window[0] and m["estimation_end"] == window[-1]
        ref.near(m["alpha"], ols.params[0], ("alpha", *what))
        for name, b in zip(LOADINGS[model], ols.params[1:], strict=True):
            ref.near(m[name], b, (name, *what))
        ref.near(m["sigma"], math.sqrt(ols.scale), ("sigma", *what))
        ref.near(m["r_squared"], ols.rsquared, ("r2", *what))
    assert [c for c in res.models.columns if c.startswith("beta")] == LOADINGS[model]


def test_user_factors_on_raw_and_on_excess_returns(raw, sessions, shared_data):
    """``factors``: the chosen columns of a set; raw returns unless a risk-free set is named."""
    cols = [("ff5", "rmw"), ("ff5", "mkt_rf")]
    amzn = ref.session_returns(raw["AMZN"], sessions)
    x, _ = regressor_map(raw, sessions, "ff5", columns=cols)
    quotes = pl.read_csv(shared_data / "rates" / "DTB3.csv", try_parse_dates=True, schema_overrides={"dtb3": pl.Float64})
    dtb3 = tbill_daily_rate(quotes, exchange_calendar("XNYS"))
    rf = dict(zip(dtb3["date"].to_list(), dtb3["rf"].to_list(), strict=True))
    prices, sets = engine_inputs(raw)
    sets["dtb3"] = dtb3
    events = events_frame([EventSpec("e", ("AMZN",), DAYS0[0])])
    i0 = sessions.index(DAYS0[0])
    window = sessions[i0 - 260 : i0 - 10]
    X = np.column_stack([np.ones(250), np.array([x[d] for d in window])])
    for risk_free in (None, "dtb3"):
        spec = StudySpec(model="factors", factor_set="ff5", factors=("rmw", "mkt_rf"), risk_free=risk_free)
        m = run_study(events, prices, spec, exchange_calendar("XNYS"), factors=sets, max_regressions=0).models.row(0, named=True)
        y = np.array([amzn[d] - (rf[d] if risk_free else 0.0) for d in window])
        ols = sm.OLS(y, X).fit()
        ref.near(m["alpha"], ols.params[0], ("alpha", risk_free))
        ref.near(m["beta_rmw"], ols.params[1], ("rmw", risk_free))
        ref.near(m["beta"], ols.params[2], ("mkt_rf is reported as beta", risk_free))
        ref.near(m["sigma"], math.sqrt(ols.scale), ("sigma", risk_free))
        ref.near(m["r_squared"], ols.rsquared, ("r2", risk_free))


# --- abnormal returns and CARs = the plain-loop reference, with holes ---------------------------

# AMZN prices missing on two estimation days and on day +2 of the 2025 event (each hole also
# kills the next day's return); factor rows missing on estimation days and on day -1 / +4.
DROP_PRICES = (date(2025, 3, 12), date(2025, 7, 1), date(2025, 11, 5))
DROP_FACTORS = (date(2025, 1, 15), date(2025, 6, 9), date(2025, 6, 10), date(2025, 10, 31), ("mom", date(2025, 11, 7)),
                ("mom", date(2025, 2, 3)))


@pytest.mark.parametrize("model", ["capm", "ff3", "carhart4", "ff5"])
def test_abnormal_returns_and_cars_equal_the_reference_with_missing_days(raw, sessions, model):
    spec, res = study(raw, model, days0=DAYS0[:1], drop_prices=DROP_PRICES, drop_factors=DROP_FACTORS)
    amzn = ref.session_returns({d: p for d, p in raw["AMZN"].items() if d not in DROP_PRICES}, sessions)
    x, rf = regressor_map(raw, sessions, model, drop_factors=DROP_FACTORS)
    want = ref.linear_event_study(amzn, x, sessions, DAYS0[0], rf=rf)
    m = res.models.row(0, named=True)
    # estimation: -4 days for the price holes (2 x 2); 3 factor days (all models: ff3/ff5 rows
    # and for capm the rf); carhart4 also loses 2025-02-03 (no momentum)
    assert m["n_obs"] == want.fit.n_obs == 250 - 4 - 3 - (model == "carhart4"), model
    ref.near(m["alpha"], want.fit.alpha, "alpha")
    for name, b in zip(LOADINGS[model], want.fit.loadings, strict=True):
        ref.near(m[name], b, name)
    ref.near(m["sigma"], want.fit.sigma, "sigma")
    ref.near(m["r_squared"], want.fit.r_squared, "r2")
    ar = res.abnormal_returns
    assert ar["event_day"].to_list() == list(range(-5, 6))
    missing = {r["event_day"] for r in ar.iter_rows(named=True) if r["abnormal_ret"] is None}
    # day -1 (10-31: no factors), +2 and +3 (11-05 hole), carhart4 also +4 (11-07: no momentum)
    assert missing == {-1, 2, 3} | ({4} if model == "carhart4" else set()), missing
    for row in ar.iter_rows(named=True):
        day = want.days[row["event_day"]]
        what = (model, row["event_day"])
        assert row["date"] == day.date
        for col, value in (("ret", day.ret), ("normal_ret", day.normal), ("abnormal_ret", day.ar),
                           ("cum_abnormal_ret", day.cum_ar), ("ar_se", None if day.var is None else math.sqrt(day.var)),
                           ("ar_t", day.t), ("ar_p", day.p)):
            ref.near(row[col], value, (col, *what))
    for w in res.car.iter_rows(named=True):
        r = want.windows[(w["window_start"], w["window_end"])]
        what = (model, w["window_start"], w["window_end"])
        assert w["n_days"] == r.n_days, what
        for col, value in (("car", r.car), ("car_se", r.se), ("t_stat", r.t), ("p_value", r.p), ("bhar", r.bhar),
                           ("raw_return", r.raw_return)):
            ref.near(w[col], value, (col, *what))


def test_missing_factor_days_are_counted_and_named(raw):
    drop = tuple(d for d in raw["sets"]["ff3"] if date(2024, 11, 1) <= d <= date(2025, 6, 30))
    _, res = study(raw, "ff3", days0=DAYS0[:1], drop_factors=drop)
    m = res.models.row(0, named=True)
    lost = 163  # sessions 2024-11-01 .. 2025-06-30
    assert m["n_obs"] == 250 - lost and m["alpha"] is None
    assert m["reason"] == (f"{250 - lost} usable estimation returns in [-260, -11], fewer than the minimum 120 "
                           f"({lost} days with a return lack factor data)")
    assert res.events["status"].to_list() == ["skipped"]


def test_constant_and_collinear_factors_give_reasons(raw):
    prices, sets = engine_inputs(raw)
    own = sets["ff3"].with_columns(pl.lit(0.0001).alias("flat"), (2 * pl.col("smb")).alias("smb2"))
    events = events_frame([EventSpec("e", ("AMZN",), DAYS0[0])])
    cal = exchange_calendar("XNYS")
    for cols, why in ((("mkt_rf", "flat"), "factor flat is constant over the estimation window"),
                      (("smb", "mkt_rf", "smb2"), "the factors are collinear over the estimation window")):
        spec = StudySpec(model="factors", factor_set="own", factors=cols)
        res = run_study(events, prices, spec, cal, factors={"own": own}, max_regressions=0)
        m = res.models.row(0, named=True)
        assert (m["alpha"], m["sigma"], m["reason"]) == (None, None, why)
        assert res.car["car"].null_count() == 3


def test_missing_factor_set_or_column():
    spec = StudySpec(model="carhart4")
    ff3 = pl.DataFrame({"date": [date(2025, 1, 2)], "mkt_rf": [0.01], "smb": [0.0], "hml": [0.0], "rf": [0.0001]})
    with pytest.raises(DataUnavailableError, match="needs the factor set.* mom"):
        study_factors({"ff3": ff3}, spec)
    with pytest.raises(InputError, match="factor set 'mom' has no column mom \\(it has: umd\\)") as info:
        study_factors({"ff3": ff3, "mom": pl.DataFrame({"date": [date(2025, 1, 2)], "umd": [0.0]})}, spec)
    assert info.value.field == "factors"
    assert study_factors({}, StudySpec()) is None


# --- the risk-free rate from T-bill quotes, by hand ------------------------------------------------


def test_tbill_daily_rate_by_hand():
    """DTB3 3.60 on Thu 2025-11-06, 3.90 Fri 11-07, 3.80 Mon 11-10, none on Tue 11-11 (Veterans
    Day: bond market closed, NYSE open), 3.70 Wed 11-12.

    rf of a session = (1 - d·91/360)^(-n/91) - 1 with d the previous session's quote and n the
    calendar days since it:
      11-07: d = .036, n = 1:  P = 1 - .036·91/360 = .9909
      11-10: d = .039, n = 3:  P = 1 - .039·91/360 = .99014166...  (Fri -> Mon accrues 3 days)
      11-11: d = .038, n = 1:  P = 1 - .038·91/360 = .99039444...
      11-12: d = .038 (11-11 has no quote: 11-10's is carried), n = 1
      11-06: its previous session (11-05) has no quote -> null
    """
    quotes = pl.DataFrame(
        {"date": [date(2025, 11, 6), date(2025, 11, 7), date(2025, 11, 10), date(2025, 11, 11), date(2025, 11, 12)],
         "dtb3": [3.60, 3.90, 3.80, None, 3.70]},
    )
    got = tbill_daily_rate(quotes, exchange_calendar("XNYS"))
    assert got["date"].to_list() == [date(2025, 11, d) for d in (6, 7, 10, 11, 12)]
    rf = got["rf"].to_list()
    assert rf[0] is None
    ref.near(rf[1], 0.9909 ** (-1 / 91) - 1, "11-07")
    ref.near(rf[2], (1 - 0.039 * 91 / 360) ** (-3 / 91) - 1, "11-10")
    ref.near(rf[3], (1 - 0.038 * 91 / 360) ** (-1 / 91) - 1, "11-11")
    ref.near(rf[4], rf[3], "11-12")
    # close to the simple-interest rule of thumb d/360 per calendar day (investment vs discount yield)
    assert 0.036 / 360 < rf[1] < 1.006 * 0.036 / 360
    assert 3 * 0.039 / 360 < rf[2] < 1.006 * 3 * 0.039 / 360


def test_tbill_quotes_older_than_a_week_are_not_carried():
    quotes = pl.DataFrame({"date": [date(2025, 11, 3), date(2025, 11, 12)], "dtb3": [3.8, 3.7]})
    rf = dict(zip(*tbill_daily_rate(quotes, exchange_calendar("XNYS")).to_dict(as_series=False).values(), strict=True))
    assert rf[date(2025, 11, 4)] is not None and rf[date(2025, 11, 11)] is not None  # 11-10 uses 11-03's (7 days)
    assert rf[date(2025, 11, 12)] is None  # its previous session 11-11 is 8 days after the last quote


# --- abnormal volume, by hand --------------------------------------------------------------------

# log volumes v = ln(1 + V) of 10, 11, 12, 11, 11 on the estimation days [-5, -1]: mean 11,
# Σ(v - 11)² = 2, s² = 2/4 = .5. Day 0: v = 13, AV = 2, t = 2 / √(.5 (1 + 1/5)) = 2/√.6;
# day 1: v = 11.5, AV = .5, t = .5/√.6. Window [0, 1]: mean AV = 1.25, t = 1.25 / √(.5 (1/2 + 1/5)).
VOLUME_PANEL = pl.DataFrame(
    {"row": [0] * 7, "event_day": list(range(-5, 2)), "ret": [0.01, -0.01, 0.02, 0.0, 0.01, 0.03, -0.02],
     "benchmark_ret": [0.0] * 7, "log_volume": [10.0, 11.0, 12.0, 11.0, 11.0, 13.0, 11.5]},
    schema={"row": pl.UInt32, "event_day": pl.Int32, "ret": pl.Float64, "benchmark_ret": pl.Float64, "log_volume": pl.Float64},
)
TINY = StudySpec(estimation=Window(-5, -1), windows=(Window(0, 0), Window(0, 1)), min_estimation_obs=3, model="constant-mean")


def test_abnormal_volume_by_hand():
    panel = panel_of(VOLUME_PANEL)
    models = fit_models(panel, TINY)
    m = models.frame.row(0, named=True)
    ref.near(m["log_volume_mean"], 11.0, "mean")
    ref.near(m["log_volume_sd"], math.sqrt(0.5), "sd")
    assert (m["volume_n_obs"], m["volume_reason"]) == (5, None)
    full = abnormal_returns(panel, models, TINY, days=Window(-5, 1))
    ar = full.to_frame()
    ref.near(ar.filter(pl.col("event_day") < 0)["abnormal_volume"].sum(), 0.0, "estimation residuals sum to 0")
    assert ar.filter(pl.col("event_day") < 0)["abnormal_volume_t"].is_null().all()
    d0, d1 = ar.filter(pl.col("event_day") >= 0).iter_rows(named=True)
    ref.near(d0["abnormal_volume"], 2.0)
    ref.near(d0["abnormal_volume_t"], 2 / math.sqrt(0.6))
    ref.near(d1["abnormal_volume"], 0.5)
    ref.near(d1["abnormal_volume_t"], 0.5 / math.sqrt(0.6))
    car = cumulative_abnormal_returns(abnormal_returns(panel, models, TINY), models, TINY)
    w = car.filter(pl.col("window_end") == 1).row(0, named=True)
    ref.near(w["abnormal_volume"], 1.25)
    ref.near(w["abnormal_volume_t"], 1.25 / math.sqrt(0.5 * (1 / 2 + 1 / 5)))
    # a missing volume on day 1: the window mean is over day 0 alone
    holed = VOLUME_PANEL.with_columns(pl.when(pl.col("event_day") == 1).then(None).otherwise(pl.col("log_volume")).alias("log_volume"))
    holed = panel_of(holed)
    w = cumulative_abnormal_returns(abnormal_returns(holed, models, TINY), models, TINY).filter(pl.col("window_end") == 1).row(0, named=True)
    ref.near(w["abnormal_volume"], 2.0)
    ref.near(w["abnormal_volume_t"], 2.0 / math.sqrt(0.5 * (1 + 1 / 5)))


def test_abnormal_volume_on_real_amzn_equals_the_reference(raw, sessions):
    _, res = study(raw, "ff3", drop_prices=DROP_PRICES)
    volume = {d: v for d, v in raw["AMZN_volume"].items() if d not in DROP_PRICES}
    for i, day0 in enumerate(DAYS0):
        want = ref.abnormal_volume(volume, sessions, day0)
        m = res.models.filter(pl.col("event_id") == f"e{i}").row(0, named=True)
        assert m["volume_n_obs"] == want.n_obs
        ref.near(m["log_volume_mean"], want.mean)
        ref.near(m["log_volume_sd"], want.sd)
        for r in res.abnormal_returns.filter(pl.col("event_id") == f"e{i}").iter_rows(named=True):
            av, t = want.days[r["event_day"]]
            ref.near(r["abnormal_volume"], av, (day0, r["event_day"]))
            ref.near(r["abnormal_volume_t"], t, (day0, r["event_day"]))
        for w in res.car.filter(pl.col("event_id") == f"e{i}").iter_rows(named=True):
            mav, t = want.windows[(w["window_start"], w["window_end"])]
            ref.near(w["abnormal_volume"], mav, (day0, w["window_start"]))
            ref.near(w["abnormal_volume_t"], t, (day0, w["window_start"]))
    # the 2025 deal day: AMZN traded e^0.86 ≈ 2.4x its normal volume, t ≈ 2.4
    day0 = res.car.filter(pl.col("event_id") == "e0", pl.col("window_end") == 0).row(0, named=True)
    assert 0.8 < day0["abnormal_volume"] < 0.95 and day0["abnormal_volume_t"] > 2


def test_no_volume_gives_null_with_reason(raw):
    prices, sets = engine_inputs(raw)
    events = events_frame([EventSpec("e", ("AMZN",), DAYS0[0]), EventSpec("idx", ("^GSPC",), DAYS0[0], benchmark="AMZN")])
    res = run_study(events, prices, StudySpec(model="market"), exchange_calendar("XNYS"), max_regressions=0)
    idx = res.car.filter(pl.col("event_id") == "idx")
    assert idx["abnormal_volume"].null_count() == 3 and idx["abnormal_volume_t"].null_count() == 3
    assert set(idx["volume_reason"]) == {"no volume in the estimation window"}
    assert idx["car"].null_count() == 0  # the returns are unaffected
    assert res.car.filter(pl.col("event_id") == "e")["volume_reason"].null_count() == 3
    # prices without a volume column at all
    res = run_study(events, prices.drop("volume"), StudySpec(), exchange_calendar("XNYS"), max_regressions=0)
    assert res.abnormal_returns["abnormal_volume"].null_count() == res.abnormal_returns.height
    assert set(res.models["volume_reason"]) == {"no volume in the estimation window"}


def test_p_values_use_the_models_degrees_of_freedom(raw):
    _, res = study(raw, "ff5", days0=DAYS0[:1])
    row = res.car.filter(pl.col("window_end") == 0).row(0, named=True)
    assert row["df_resid"] == 244
    ref.near(row["p_value"], 2 * stats.t.sf(abs(row["t_stat"]), 244), rel=1e-9)


@pytest.mark.parametrize("model", ["market", "constant-mean", "market-adjusted", "capm"])
def test_rows_without_any_usable_day(model):
    """No estimation data at all (an unknown ticker): counts are 0, estimates null, no crash."""
    panel = pl.DataFrame(
        {"row": [0, 0, 0, 0], "event_day": [-3, -2, -1, 0], "ret": [None] * 4, "benchmark_ret": [0.01, 0.02, 0.0, 0.01],
         "factor_rf": [0.0001] * 4},
        schema={"row": pl.UInt32, "event_day": pl.Int32, "ret": pl.Float64, "benchmark_ret": pl.Float64, "factor_rf": pl.Float64},
    )
    spec = StudySpec(estimation=Window(-3, -1), windows=(Window(0, 0),), min_estimation_obs=3, model=model)
    panel = panel_of(panel, 2)
    fitted = fit_models(panel, spec)
    m = fitted.frame
    assert m["n_obs"].to_list() == [0, 0] and m["df_resid"].to_list() == [None, None]
    assert m["alpha"].null_count() == 2 and m["reason"].str.starts_with("0 usable estimation returns").all()
    car = cumulative_abnormal_returns(abnormal_returns(panel, fitted, spec), fitted, spec)
    assert car["car"].null_count() == 2 and car["n_days"].to_list() == [0, 0]
