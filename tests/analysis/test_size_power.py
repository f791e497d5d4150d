"""Size and power by simulation (``analysis.size_power``): drawing, planting, tallying, and the
size of every test on the shared real returns (Brown & Warner 1985's experiment)."""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import polars as pl
import pytest

from analysis.engine import run_study
from analysis.inference import TESTS
from flows.devtools.market import DEMO_BENCHMARK, simulate_market
from analysis.size_power import (
    SimulationSpec, draw_pseudo_events, eligible_days, plant_abnormal_returns, rejection_rates, simulate_tests,
)
from analysis.specs import StudySpec, Window

TICKERS = ["AMZN", "AAPL", "GOOGL", "META", "MSFT", "NVDA"]
PARAMETRIC = [t.name for t in TESTS if t.family == "parametric"]


def shared_prices(data) -> pl.DataFrame:
    files = [(t, f"{t}.csv") for t in TICKERS] + [("^GSPC", "GSPC.csv")]
    return pl.concat([
        pl.read_csv(data / "prices" / f, try_parse_dates=True, schema_overrides={"adj_close": pl.Float64}).select(
            pl.lit(t).alias("ticker"), pl.col("date").cast(pl.Date), "close", pl.col("adj_close").fill_null(pl.col("close"))
        )
        for t, f in files
    ])


def test_eligible_days_leave_room_for_the_estimation_window(cal):
    sessions = cal.sessions.filter(pl.col("date").is_between(date(2025, 1, 2), date(2025, 3, 31)))
    s = sessions["session"].to_list()
    d = sessions["date"].to_list()

    def prices(ticker, lo, hi):
        return pl.DataFrame({"ticker": ticker, "date": d[lo : hi + 1], "close": 1.0, "adj_close": 1.0})

    frame = pl.concat([prices("^B", 2, 50), prices("AAA", 0, 40), prices("BBB", 10, 58), prices("CCC", 30, 36)])
    spec = StudySpec(estimation=Window(-20, -6), windows=(Window(0, 0), Window(-1, 2)), min_estimation_obs=10)
    got = eligible_days(frame, ["AAA", "BBB", "CCC"], "^B", spec, cal)
    # day 0 needs prices from day -21 (base of the first return) to day +2, of the firm and the benchmark
    assert got.rows() == [("AAA", s[2] + 21, s[40] - 2), ("BBB", s[10] + 21, s[50] - 2)]  # CCC is too short


def test_draws_are_seeded_unique_within_groups_and_in_range(cal):
    eligible = pl.DataFrame({"ticker": ["A", "B"], "first": [1000, 5000], "last": [1002, 5001]})  # 5 pairs only
    sim = SimulationSpec(events=40, group_size=5, seed=7)
    ev = draw_pseudo_events(eligible, sim, "^B", cal)
    assert ev.height == 40 and ev["group"].n_unique() == 8
    assert ev.group_by("group").agg(pl.struct("ticker", "day0_session").n_unique().alias("n"))["n"].to_list() == [5] * 8
    ok = ((ev["ticker"] == "A") & ev["day0_session"].is_between(1000, 1002)) | (
        (ev["ticker"] == "B") & ev["day0_session"].is_between(5000, 5001))
    assert ok.all()
    assert ev.equals(draw_pseudo_events(eligible, sim, "^B", cal))
    assert not ev.equals(draw_pseudo_events(eligible, SimulationSpec(events=40, group_size=5, seed=8), "^B", cal))
    # the firm is uniform, whatever the length of its history
    wide = pl.DataFrame({"ticker": ["A", "B", "C"], "first": [100, 100, 100], "last": [3000, 1000, 700]})
    many = draw_pseudo_events(wide, SimulationSpec(events=30_000, group_size=50, seed=1), "^B", cal)
    share = many["ticker"].value_counts(normalize=True).sort("ticker")["proportion"].to_numpy()
    assert np.abs(share - 1 / 3).max() < 0.015
    c = many.filter(pl.col("ticker") == "C")["day0_session"]
    assert (c.min(), c.max()) == (100, 700) and abs(c.mean() - 400) < 5


@pytest.mark.parametrize("kind", ["simple", "log"])
def test_planting_adds_exactly_the_effect_to_day_zero(cal, kind):
    market = simulate_market(cal, seed=3, start=date(2023, 1, 3), end=date(2025, 12, 31), events=())
    spec = StudySpec(returns=kind)
    eligible = eligible_days(market.prices, ["ACME", "BOLT", "CRUX", "DYNA"], DEMO_BENCHMARK, spec, cal)
    ev = draw_pseudo_events(eligible, SimulationSpec(events=12, group_size=4, seed=2), DEMO_BENCHMARK, cal)
    base = run_study(ev.drop("day0_session"), market.prices, spec, cal, max_regressions=0)
    pev, pprices = plant_abnormal_returns(ev, market.prices, 0.013, spec, cal)
    assert pev["ticker"].str.contains("~e").all() and pev["ticker"].n_unique() == 12
    planted = run_study(pev.drop("day0_session"), pprices, spec, cal, max_regressions=0)
    a, b = base.abnormal_returns.sort("event_id", "event_day"), planted.abnormal_returns.sort("event_id", "event_day")
    diff = (b["abnormal_ret"] - a["abnormal_ret"]).to_numpy()
    day0 = (a["event_day"] == 0).to_numpy()
    np.testing.assert_allclose(diff[day0], 0.013, rtol=0, atol=1e-12)
    np.testing.assert_allclose(diff[~day0], 0.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b["ar_se"].to_numpy(), a["ar_se"].to_numpy(), rtol=1e-12)
    for col in ("alpha", "beta", "sigma"):
        np.testing.assert_allclose(planted.models.sort("event_id")[col].to_numpy(), base.models.sort("event_id")[col].to_numpy(),
                                   rtol=1e-10)
    car = planted.car.sort("event_id", "window_start")["car"] - base.car.sort("event_id", "window_start")["car"]
    np.testing.assert_allclose(car.to_numpy(), 0.013, atol=1e-12)  # every default window contains day 0


def test_rejection_rates_by_hand():
    tests = pl.DataFrame({
        "effect": [0.0] * 5, "group": list("abcde"), "window_start": [0] * 5, "window_end": [0] * 5,
        "test": ["t"] * 5, "statistic": [2.7, -2.1, 0.3, 1.0, None], "p_value": [0.007, 0.036, 0.76, 0.32, None],
    })
    r = {x["level"]: x for x in rejection_rates(tests, (0.01, 0.05)).iter_rows(named=True)}
    assert r[0.01]["groups"] == 4 and r[0.01]["rejected"] == 0.25 and r[0.05]["rejected"] == 0.5
    assert r[0.05]["mc_se"] == pytest.approx((0.25 / 4) ** 0.5)
    assert r[0.05]["stat_mean"] == pytest.approx(0.475) and r[0.05]["stat_sd"] == pytest.approx(np.std([2.7, -2.1, 0.3, 1.0], ddof=1))


def test_default_simulation_is_fast_and_has_power(shared_data, cal):
    prices = shared_prices(shared_data)
    t0 = time.perf_counter()
    res = simulate_tests(prices, TICKERS, "^GSPC", StudySpec(), cal, SimulationSpec())
    seconds = time.perf_counter() - t0
    assert seconds < 60, seconds  # 1,000 pseudo-events x 4 runs x every test (about 3-6 s here)
    assert res.pseudo_events.height == 1000 and res.tests["effect"].unique().sort().to_list() == [0.0, 0.005, 0.01, 0.02]
    # every day 0 leaves room for the estimation window: the ticker (most start in 2023) and ^GSPC have a
    # price 261 sessions before it, and 5 sessions after it
    idx = cal.sessions.select("date", "session")
    first = prices.group_by("ticker").agg(pl.col("date").min().alias("first"), pl.col("date").max().alias("last"))
    gspc = first.filter(pl.col("ticker") == "^GSPC").row(0, named=True)
    room = (
        res.pseudo_events.join(first, on="ticker")
        .join(idx.rename({"date": "day0", "session": "s0"}), on="day0")
        .join(idx.rename({"date": "first", "session": "s_first"}), on="first")
        .join(idx.rename({"date": "last", "session": "s_last"}), on="last")
    )
    assert (room["s0"] - room["s_first"]).min() >= 261 and (room["s_last"] - room["s0"]).min() >= 5
    assert room["day0"].max() <= date(2026, 1, 5) and gspc["last"] == date(2026, 1, 12)  # ^GSPC ends first
    assert set(res.pseudo_events["ticker"]) == set(TICKERS)
    day0 = res.rates.filter(pl.col("window_start") == 0, pl.col("window_end") == 0, pl.col("level") == 0.05)
    assert set(day0["groups"]) == {20}
    power = {r["test"]: r["rejected"] for r in day0.filter(pl.col("effect") == 0.02).iter_rows(named=True)}
    assert all(power[t] == 1.0 for t in PARAMETRIC), power


@pytest.mark.simulation
def test_size_of_the_parametric_tests_on_real_returns(shared_data, cal):
    """1,000 groups of 50 pseudo-events (50,000 draws) with no planted effect: every parametric
    test rejects at the 5% level in 3%-7% of the groups on day 0 (Monte Carlo s.e. 0.7 points)."""
    res = simulate_tests(shared_prices(shared_data), TICKERS, "^GSPC", StudySpec(), cal,
                         SimulationSpec(events=50_000, effects=()))
    day0 = res.rates.filter(pl.col("window_start") == 0, pl.col("window_end") == 0)
    at5 = {r["test"]: r["rejected"] for r in day0.filter(pl.col("level") == 0.05).iter_rows(named=True)}
    assert set(day0["groups"]) == {1000}
    for test in PARAMETRIC:
        assert 0.03 <= at5[test] <= 0.07, (test, at5)
    for test, rate in at5.items():  # the non-parametric ones too, more loosely (discreteness, skewness)
        assert 0.02 <= rate <= 0.08, (test, at5)
