"""The spine on real data: Amazon around the OpenAI-AWS deal (2025-11-03), end to end.

``analysis.engine.run_study`` on the shared AMZN and S&P 500 prices is compared with

* statsmodels OLS on the same 250 estimation returns (read from the CSV files with the
  ``csv`` module, not polars);
* ``reference.py`` for every abnormal return, CAR, t and p;
* the dummy-variable event regression of ``analysis.regression`` (γ_k = AR_k, same t);
* the numbers quoted in DESIGN.md and the data README (closes 244.22 → 254.00, +4.0%;
  shares outstanding 10,690,216,011 as of 2025-10-22; the +9.6% earnings reaction on 10-31).
"""

from __future__ import annotations

import csv
import math
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm

import reference as ref
from analysis.calendar import align_events, exchange_calendar
from analysis.engine import run_study
from analysis.panel import event_panel
from analysis.regression import event_regressions
from analysis.returns import session_grid
from analysis.specs import EventSpec, StudySpec, Window, events_frame

REL, ABS = 1e-10, 1e-13
AWS = "amzn-openai-aws-2025"
Q3 = "amzn-q3-2025"
SHARES = 10_690_216_011


def near(got, want, what="", rel=REL, abs_=ABS) -> None:
    assert got is not None and want is not None, (what, got, want)
    assert abs(got - want) <= max(abs_, rel * abs(want)), (what, got, want, got - want)


def read_prices_csv(path: Path, column: str) -> dict[date, float]:
    """One price column of a shared price file, as ``{date: price}`` (the plain csv module)."""
    with path.open(newline="") as f:
        return {date.fromisoformat(r["date"]): float(r[column]) for r in csv.DictReader(f) if r[column]}


def polars_prices(path: Path, ticker: str) -> pl.DataFrame:
    """``ticker, date, close, adj_close``; the index files have no adj_close: use the close."""
    return pl.read_csv(path, try_parse_dates=True, schema_overrides={"adj_close": pl.Float64}).select(
        pl.lit(ticker).alias("ticker"),
        pl.col("date").cast(pl.Date),
        pl.col("close"),
        pl.col("adj_close").fill_null(pl.col("close")),
    )


@pytest.fixture(scope="module")
def sessions() -> list[date]:
    return ref.xnys_sessions("2015-01-01")


@pytest.fixture(scope="module")
def data(shared_data):
    prices = pl.concat([
        polars_prices(shared_data / "prices" / "AMZN.csv", "AMZN"),
        polars_prices(shared_data / "prices" / "GSPC.csv", "^GSPC"),
    ])
    amzn = read_prices_csv(shared_data / "prices" / "AMZN.csv", "adj_close")
    amzn_close = read_prices_csv(shared_data / "prices" / "AMZN.csv", "close")
    gspc = read_prices_csv(shared_data / "prices" / "GSPC.csv", "close")
    return prices, amzn, amzn_close, gspc


def events() -> list[EventSpec]:
    return [
        EventSpec(AWS, ("AMZN",), date(2025, 11, 3), "unknown"),
        EventSpec(Q3, ("AMZN",), datetime(2025, 10, 30, 16, 1, tzinfo=ZoneInfo("America/New_York")), "after-close"),
    ]


@pytest.fixture(scope="module")
def study(data):
    prices = data[0]
    shares = pl.DataFrame(
        {"ticker": ["AMZN"], "as_of_date": [date(2025, 10, 22)], "shares_outstanding": [SHARES]},
        schema={"ticker": pl.String, "as_of_date": pl.Date, "shares_outstanding": pl.Int64},
    )
    return run_study(events_frame(events()), prices, StudySpec(), exchange_calendar("XNYS"), shares)


@pytest.fixture(scope="module")
def references(data, sessions) -> dict[str, ref.Event]:
    _, amzn, _, gspc = data
    r, m = ref.session_returns(amzn, sessions), ref.session_returns(gspc, sessions)
    return {AWS: ref.event_study(r, m, sessions, date(2025, 11, 3)), Q3: ref.event_study(r, m, sessions, date(2025, 10, 31))}


def car_row(study, event_id: str, start: int, end: int) -> dict:
    return study.car.filter(
        pl.col("event_id") == event_id, pl.col("window_start") == start, pl.col("window_end") == end
    ).row(0, named=True)


def ar_row(study, event_id: str, day: int) -> dict:
    return study.abnormal_returns.filter(pl.col("event_id") == event_id, pl.col("event_day") == day).row(0, named=True)


# --- day 0 -----------------------------------------------------------------------------------


def test_day0_of_both_events(study):
    ev = {r["event_id"]: r for r in study.events.iter_rows(named=True)}
    assert ev[AWS]["day0"] == date(2025, 11, 3)
    assert "date only" in ev[AWS]["day0_rule"]
    assert ev[Q3]["day0"] == date(2025, 10, 31)  # after the close of Thursday 10-30
    assert ev[Q3]["day0_rule"] == "after-close: next session"
    # each is the other's confounder (one session apart), and AMZN's own earnings of 2024-11-01 and 2025-08-01 are
    # estimation-window outliers: flagged, with the reasons
    assert ev[AWS]["status"] == ev[Q3]["status"] == "flagged"
    assert ev[AWS]["reason"].startswith("confounding events: amzn-q3-2025 (day 0 2025-10-31 = day -1, in [-1,+1], [-5,+5])")
    assert ev[Q3]["reason"].startswith("confounding events: amzn-openai-aws-2025 (day 0 2025-11-03 = day +1, in [-1,+1], [-5,+5])")
    assert "2 estimation-window outlier(s) beyond 4σ: 2024-11-01 (+4.1σ); 2025-08-01 (-4.4σ)" in ev[AWS]["reason"]
    assert len(study.warnings) == 2


# --- the market model ---------------------------------------------------------------------------


@pytest.mark.parametrize(("event_id", "day0"), [(AWS, date(2025, 11, 3)), (Q3, date(2025, 10, 31))], ids=["aws", "q3"])
def test_market_model_equals_statsmodels_on_the_same_250_returns(study, data, sessions, event_id, day0):
    _, amzn, _, gspc = data
    i0 = sessions.index(day0)
    window = sessions[i0 - 260 : i0 - 10]  # τ = -260 .. -11
    assert len(window) == 250
    y = np.array([amzn[d] / amzn[sessions[sessions.index(d) - 1]] - 1 for d in window])
    x = np.array([gspc[d] / gspc[sessions[sessions.index(d) - 1]] - 1 for d in window])
    ols = sm.OLS(y, sm.add_constant(x)).fit()
    m = study.models.filter(pl.col("event_id") == event_id).row(0, named=True)
    assert m["n_obs"] == 250 and m["df_resid"] == 248 and m["reason"] is None
    assert m["estimation_start"] == sessions[i0 - 260] and m["estimation_end"] == sessions[i0 - 11]
    near(m["alpha"], ols.params[0], "alpha")
    near(m["beta"], ols.params[1], "beta")
    near(m["sigma"], math.sqrt(ols.ssr / 248), "sigma")
    near(m["r_squared"], ols.rsquared, "r2")


def test_estimation_dates_of_the_aws_event(study):
    m = study.models.filter(pl.col("event_id") == AWS).row(0, named=True)
    # τ = -11 of 2025-11-03 is 2025-10-17; τ = -260 is 2024-10-18 (250 sessions later is 10-17).
    assert (m["estimation_start"], m["estimation_end"]) == (date(2024, 10, 18), date(2025, 10, 17))


# --- abnormal returns and CARs ------------------------------------------------------------------


@pytest.mark.parametrize("event_id", [AWS, Q3])
def test_every_ar_and_car_equals_the_reference(study, references, event_id):
    want = references[event_id]
    ar = study.abnormal_returns.filter(pl.col("event_id") == event_id)
    assert ar["event_day"].to_list() == list(range(-5, 6))
    for row in ar.iter_rows(named=True):
        day = want.days[row["event_day"]]
        assert row["date"] == day.date
        for col, value in (("abnormal_ret", day.ar), ("normal_ret", day.normal), ("cum_abnormal_ret", day.cum_ar),
                           ("ar_se", math.sqrt(day.var)), ("ar_t", day.t), ("ar_p", day.p)):
            near(row[col], value, (event_id, row["event_day"], col))
    for (start, end), w in want.windows.items():
        row = car_row(study, event_id, start, end)
        assert row["n_days"] == end - start + 1
        for col, value in (("car", w.car), ("car_se", w.se), ("t_stat", w.t), ("p_value", w.p),
                           ("bhar", w.bhar), ("raw_return", w.raw_return)):
            assert row[col] is not None, (event_id, start, col)
            near(row[col], value, (event_id, start, end, col))


def test_the_must_show_numbers(study):
    ar0 = ar_row(study, AWS, 0)
    assert ar0["date"] == date(2025, 11, 3)
    assert 0.03 < ar0["abnormal_ret"] < 0.045  # +4.0% raw, the market +0.17%
    for start, end in ((0, 0), (-1, 1), (-5, 5)):
        row = car_row(study, AWS, start, end)
        assert row["t_stat"] is not None and row["p_value"] is not None and row["car_se"] > 0
    # day -1 is Amazon's earnings reaction (Q3 results after the close of 10-30): +9.6%
    before = ar_row(study, AWS, -1)
    assert before["date"] == date(2025, 10, 31)
    assert before["ret"] == pytest.approx(244.220001 / 222.860001 - 1, rel=1e-12)
    assert before["abnormal_ret"] > 0.08 and before["ar_t"] > 3 and before["ar_p"] < 0.001
    # and as its own event (after-close → day 0 = 10-31) the same day is significant
    q3 = ar_row(study, Q3, 0)
    assert q3["date"] == date(2025, 10, 31) and q3["ar_t"] > 3


def test_dollar_values(study, data):
    close = data[2]
    assert close[date(2025, 10, 31)] == 244.22 and close[date(2025, 11, 3)] == 254.00
    cap = SHARES * 244.22
    ev = study.events.filter(pl.col("event_id") == AWS).row(0, named=True)
    assert ev["cap_date"] == date(2025, 10, 31) and ev["close"] == 244.22
    assert ev["shares_outstanding"] == SHARES and ev["as_of_date"] == date(2025, 10, 22)
    near(ev["market_cap"], cap, "cap", rel=1e-15)
    for start, end in ((0, 0), (-1, 1), (-5, 5)):
        row = car_row(study, AWS, start, end)
        near(row["market_cap"], cap, "cap", rel=1e-15)
        near(row["dollar_abnormal"], row["car"] * cap, ("dollar_abnormal", start), rel=1e-15)
        near(row["dollar_raw"], row["raw_return"] * cap, ("dollar_raw", start), rel=1e-15)
    day0 = car_row(study, AWS, 0, 0)
    # The return comes from adjusted closes (244.220001 -> 254 in the file), the cap from the raw
    # close 244.22: the raw dollar move is 0.040046... × cap up to the 1e-6 adj-close rounding.
    near(day0["raw_return"], 254 / 244.220001 - 1, "raw", rel=1e-12)
    assert f"{day0['raw_return']:.6f}" == "0.040046"
    near(day0["dollar_raw"], (254.00 / 244.22 - 1) * cap, "dollar_raw", rel=1e-6)
    assert 104e9 < day0["dollar_raw"] < 105e9
    q3 = study.events.filter(pl.col("event_id") == Q3).row(0, named=True)
    near(q3["market_cap"], SHARES * 222.86, "q3 cap", rel=1e-15)  # close of 10-30, day -1 of Q3


def test_shares_outstanding_as_of_day_minus_1(data, shared_data):
    """The latest count dated on or before day -1; only later counts → the earliest, flagged."""
    shares = pl.read_csv(shared_data / "shares_outstanding.csv", try_parse_dates=True).select(
        "ticker", pl.col("as_of_date").cast(pl.Date), "shares_outstanding"
    )
    evs = [EventSpec("nov", ("AMZN",), date(2025, 11, 3)), EventSpec("aug", ("AMZN",), date(2025, 8, 4)),
           EventSpec("mar", ("AMZN",), date(2025, 3, 3))]
    res = run_study(events_frame(evs), data[0], StudySpec(), exchange_calendar("XNYS"), shares, max_regressions=0)
    got = {r["event_id"]: r for r in res.events.iter_rows(named=True)}
    # AMZN counts: 2025-06-30 10,660,000,000; 2025-09-30 10,687,000,000; 2025-10-22 10,690,216,011
    assert (got["nov"]["as_of_date"], got["nov"]["shares_outstanding"]) == (date(2025, 10, 22), SHARES)
    assert (got["aug"]["as_of_date"], got["aug"]["shares_outstanding"]) == (date(2025, 6, 30), 10_660_000_000)
    assert got["aug"]["cap_date"] == date(2025, 8, 1) and "shares outstanding" not in got["aug"]["reason"]  # flagged: mar, outliers
    near(got["aug"]["market_cap"], 10_660_000_000 * got["aug"]["close"], rel=1e-15)
    assert (got["mar"]["as_of_date"], got["mar"]["status"]) == (date(2025, 6, 30), "flagged")
    assert "shares outstanding dated 2025-06-30 (after day -1" in got["mar"]["reason"]


# --- the dummy-variable event regression ----------------------------------------------------------


def test_event_dummy_regression_equals_engine_on_real_data(data, study):
    prices = data[0]
    spec = StudySpec()
    cal = exchange_calendar("XNYS")
    rows = align_events(events_frame(events()[:1]), cal).with_row_index("row")
    panel = event_panel(rows, session_grid(prices, cal), Window(spec.first_day, spec.report_days.end)).to_frame()
    reg = event_regressions(panel, spec)
    dummies = reg.filter(pl.col("regression") == "event_dummies", pl.col("term").str.starts_with("d["))
    ar = study.abnormal_returns.filter(pl.col("event_id") == AWS)
    terms = ["d[-5]", "d[-4]", "d[-3]", "d[-2]", "d[-1]", "d[0]", "d[+1]", "d[+2]", "d[+3]", "d[+4]", "d[+5]"]
    assert dummies["term"].to_list() == terms  # every reported day
    for g, a in zip(dummies.iter_rows(named=True), ar.iter_rows(named=True), strict=True):
        near(g["estimate"], a["abnormal_ret"], ("gamma", g["term"]))
        near(g["std_error"], a["ar_se"], ("se", g["term"]))
        near(g["t_stat"], a["ar_t"], ("t", g["term"]))
        near(g["p_value"], a["ar_p"], ("p", g["term"]))
    full = reg.filter(pl.col("regression") == "event_dummies")
    assert set(full["n_obs"].to_list()) == {261}
    m = study.models.filter(pl.col("event_id") == AWS).row(0, named=True)
    mm = {r["term"]: r for r in reg.filter(pl.col("regression") == "market_model").iter_rows(named=True)}
    near(mm["alpha"]["estimate"], m["alpha"], "alpha")
    near(mm["beta"]["estimate"], m["beta"], "beta")
    near(mm["alpha"]["sigma"], m["sigma"], "sigma")
    near(mm["alpha"]["r_squared"], m["r_squared"], "r2")
    assert mm["alpha"]["n_obs"] == 250
    # (a, b) of the dummy regression are the estimation-window estimates too
    dm = {r["term"]: r for r in full.iter_rows(named=True)}
    near(dm["alpha"]["estimate"], m["alpha"], "dummy alpha")
    near(dm["beta"]["estimate"], m["beta"], "dummy beta")
    near(dm["alpha"]["sigma"], m["sigma"], "dummy sigma")
    # the engine runs the same regressions
    eng = study.regressions.filter(pl.col("event_id") == AWS).select(reg.drop("row").columns)
    assert eng.equals(reg.drop("row"))
