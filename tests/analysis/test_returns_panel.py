"""Session returns (analysis.returns) and the dense returns panel (analysis.panel).

Small hand cases first, then seeded random price histories with gaps, late listings and
early ends, checked cell by cell against ``reference.py`` (a loop over the session list of
exchange-calendars).
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import reference as ref
from analysis import schema as S
from analysis.panel import event_panel
from analysis.returns import off_calendar_rows, session_grid, session_returns
from analysis.specs import Window

PRICE_SCHEMA = {"ticker": pl.String, "date": pl.Date, "close": pl.Float64, "adj_close": pl.Float64}


def price_frame(series: dict[str, dict[date, float]], close_factor: float = 1.0) -> pl.DataFrame:
    """Long price frame; ``close = adj_close * close_factor`` so the two columns differ."""
    rows = [(t, d, p * close_factor, p) for t, prices in series.items() for d, p in prices.items()]
    return pl.DataFrame(rows, schema=PRICE_SCHEMA, orient="row")


def random_prices(rng: np.random.Generator, days: list[date], start: float = 100.0) -> dict[date, float]:
    steps = rng.normal(0.0005, 0.02, len(days))
    return dict(zip(days, (start * np.cumprod(1.0 + steps)).tolist(), strict=True))


def session_index(cal, d: date) -> int:
    return cal.sessions.filter(pl.col("date") == d)["session"].item()


# --- returns -----------------------------------------------------------------------------


def test_simple_and_log_returns_come_from_adjusted_closes(cal):
    days = [date(2025, 10, 27), date(2025, 10, 28), date(2025, 10, 29), date(2025, 10, 30)]
    adj = [100.0, 110.0, 99.0, 99.0]
    prices = pl.DataFrame(
        {"ticker": "X", "date": days, "close": [200.0, 200.0, 200.0, 200.0], "adj_close": adj},
        schema=PRICE_SCHEMA,
    )
    simple = session_returns(prices, cal, "simple")
    assert simple.columns == ["ticker", "session", "date", "ret", "close"]
    assert simple["date"].to_list() == days
    assert simple["ret"].to_list()[0] is None  # first row: no previous price
    np.testing.assert_allclose(simple["ret"].to_list()[1:], [0.1, -0.1, 0.0], rtol=0, atol=1e-15)
    assert simple["close"].to_list() == [200.0] * 4  # the raw close is passed through untouched
    log = session_returns(prices, cal, "log")
    np.testing.assert_allclose(
        log["ret"].to_list()[1:], [math.log(1.1), math.log(0.9), 0.0], rtol=0, atol=1e-15
    )
    assert simple["session"].to_list() == [session_index(cal, d) for d in days]


def test_a_missing_session_nulls_the_next_return(cal):
    # 2025-10-29 is missing: 10-30 must not get the two-day return 12/10 - 1.
    prices = pl.DataFrame(
        {"ticker": "X", "date": [date(2025, 10, 27), date(2025, 10, 28), date(2025, 10, 30), date(2025, 10, 31)],
         "close": [9.0, 10.0, 12.0, 13.0], "adj_close": [9.0, 10.0, 12.0, 13.0]},
        schema=PRICE_SCHEMA,
    )
    r = session_returns(prices, cal)
    got = dict(zip(r["date"].to_list(), r["ret"].to_list(), strict=True))
    assert got[date(2025, 10, 30)] is None
    assert got[date(2025, 10, 31)] == pytest.approx(13.0 / 12.0 - 1.0, abs=1e-15)
    assert got[date(2025, 10, 28)] == pytest.approx(10.0 / 9.0 - 1.0, abs=1e-15)


def test_rows_on_non_sessions_are_dropped_and_listed(cal):
    # Friday 10-31, Saturday 11-01 (bad row), Monday 11-03; Thanksgiving 11-27 (bad row), 11-28.
    d = [date(2025, 10, 31), date(2025, 11, 1), date(2025, 11, 3), date(2025, 11, 26), date(2025, 11, 27), date(2025, 11, 28)]
    p = [100.0, 500.0, 104.0, 50.0, 999.0, 51.0]
    prices = pl.DataFrame({"ticker": "X", "date": d, "close": p, "adj_close": p}, schema=PRICE_SCHEMA)
    r = session_returns(prices, cal)
    assert r["date"].to_list() == [date(2025, 10, 31), date(2025, 11, 3), date(2025, 11, 26), date(2025, 11, 28)]
    got = dict(zip(r["date"].to_list(), r["ret"].to_list(), strict=True))
    assert got[date(2025, 11, 3)] == pytest.approx(0.04, abs=1e-15)  # Friday to Monday, Saturday ignored
    assert got[date(2025, 11, 28)] == pytest.approx(0.02, abs=1e-15)  # over Thanksgiving
    assert off_calendar_rows(prices, cal).rows() == [("X", date(2025, 11, 1)), ("X", date(2025, 11, 27))]


def test_returns_match_reference_for_many_tickers_with_gaps(cal, sessions):
    rng = np.random.default_rng(11)
    span = [d for d in sessions if date(2024, 1, 2) <= d <= date(2025, 6, 30)]
    series = {}
    for t in ("AAA", "BBB", "^IDX"):
        prices = random_prices(rng, span)
        for i in rng.choice(len(span), size=12, replace=False):
            prices.pop(span[i])
        series[t] = prices
    series["BBB"][date(2024, 7, 4)] = 1.0  # a holiday row, to be dropped
    frame = price_frame(series, close_factor=1.5).sample(fraction=1.0, shuffle=True, seed=3)  # any row order
    for kind in ("simple", "log"):
        got = session_returns(frame, cal, kind)
        for t, prices in series.items():
            expect = ref.session_returns(prices, sessions, kind)
            mine = got.filter(pl.col("ticker") == t)
            assert mine["date"].to_list() == sorted(d for d in prices if d in set(sessions))
            for d, r in zip(mine["date"].to_list(), mine["ret"].to_list(), strict=True):
                if d in expect:
                    assert r == pytest.approx(expect[d], rel=1e-13, abs=1e-16), (t, d)
                else:
                    assert r is None, (t, d)


# --- panel -------------------------------------------------------------------------------


def panel_rows(cal, specs: list[tuple[str, str, date]]) -> pl.DataFrame:
    """Event rows ``ticker, benchmark, day0_session`` from (ticker, benchmark, day 0) triples."""
    return pl.DataFrame(
        {
            "ticker": [t for t, _, _ in specs],
            "benchmark": [b for _, b, _ in specs],
            "day0_session": [session_index(cal, d) for _, _, d in specs],
        },
        schema={"ticker": pl.String, "benchmark": pl.String, "day0_session": pl.Int32},
    )


def reference_cells(returns: dict[date, float], sessions: list[date], day0: date, days: Window) -> list[float | None]:
    i0 = sessions.index(day0)
    out = []
    for tau in range(days.start, days.end + 1):
        i = i0 + tau
        out.append(returns.get(sessions[i]) if 0 <= i < len(sessions) else None)
    return out


def assert_cells(got: list, expect: list, what: str) -> None:
    assert len(got) == len(expect)
    for k, (g, e) in enumerate(zip(got, expect, strict=True)):
        if e is None:
            assert g is None, (what, k, g)
        else:
            assert g == pytest.approx(e, rel=1e-13, abs=1e-16), (what, k)


def test_panel_hand_case_with_gap_late_listing_and_unknown_ticker(cal):
    # A: 10-27..10-31 but 10-29 missing; B (the benchmark) 10-29..10-31 (late listing).
    prices = pl.DataFrame(
        {"ticker": ["A"] * 4 + ["B"] * 3,
         "date": [date(2025, 10, 27), date(2025, 10, 28), date(2025, 10, 30), date(2025, 10, 31),
                  date(2025, 10, 29), date(2025, 10, 30), date(2025, 10, 31)],
         "close": [10.0, 11.0, 12.0, 13.0, 5.0, 6.0, 7.0],
         "adj_close": [10.0, 11.0, 12.0, 13.0, 5.0, 6.0, 7.0]},
        schema=PRICE_SCHEMA,
    )
    rows = panel_rows(cal, [("A", "B", date(2025, 10, 31)), ("ZZZ", "A", date(2025, 10, 31))])
    p = event_panel(rows, session_grid(prices, cal), Window(-5, 1)).to_frame()
    assert p.columns == ["row", "event_day", "ret", "benchmark_ret"]
    assert p.schema["row"] == pl.UInt32 and p.schema["event_day"] == pl.Int32
    assert p["row"].to_list() == [0] * 7 + [1] * 7
    assert p["event_day"].to_list() == list(range(-5, 2)) * 2
    # τ:        -5 (10-24)  -4 (10-27)  -3 (10-28)  -2 (10-29)  -1 (10-30)  0 (10-31)  +1 (11-03)
    a = [None, None, 0.1, None, None, 13 / 12 - 1, None]
    b = [None, None, None, None, 0.2, 7 / 6 - 1, None]
    assert_cells(p["ret"].to_list()[:7], a, "A")
    assert_cells(p["benchmark_ret"].to_list()[:7], b, "B")
    assert p["ret"].to_list()[7:] == [None] * 7  # unknown ticker: all null
    assert_cells(p["benchmark_ret"].to_list()[7:], a, "A as benchmark")


def test_panel_matches_reference_cell_by_cell(cal, sessions):
    rng = np.random.default_rng(2025)
    span = [d for d in sessions if date(2023, 6, 1) <= d <= date(2025, 12, 31)]
    series = {
        "^MKT": random_prices(rng, span),
        "GAPPY": random_prices(rng, span),
        # listed 2025-03-03: later than the estimation start of every event below
        "LATE": random_prices(rng, [d for d in span if d >= date(2025, 3, 3)]),
        # data ends 2025-11-05: event windows of the November events run past it
        "ENDS": random_prices(rng, [d for d in span if d <= date(2025, 11, 5)]),
    }
    for i in rng.choice(len(span), size=40, replace=False):  # gaps in the ticker ...
        series["GAPPY"].pop(span[i], None)
    for d in (date(2025, 10, 30), date(2025, 6, 2)):  # ... and days where only the benchmark is missing
        series["^MKT"].pop(d)
    grid = session_grid(price_frame(series), cal)
    rets = {t: ref.session_returns(p, sessions) for t, p in series.items()}
    events = [
        ("GAPPY", "^MKT", date(2025, 11, 3)),
        ("GAPPY", "^MKT", date(2025, 11, 3)),  # the same ticker and date twice
        ("LATE", "^MKT", date(2025, 11, 3)),
        ("ENDS", "^MKT", date(2025, 11, 3)),
        ("ENDS", "^MKT", date(2025, 11, 7)),
        ("GAPPY", "ENDS", date(2025, 6, 2)),
        ("NOPE", "^MKT", date(2025, 6, 2)),  # unknown ticker
        ("GAPPY", "NOPE", date(2025, 6, 2)),  # unknown benchmark
        ("^MKT", "GAPPY", date(2024, 1, 2)),  # estimation window starts before all data
    ]
    days = Window(-260, 5)
    p = event_panel(panel_rows(cal, events), grid, days).to_frame()
    assert p.height == len(events) * days.length
    for row, (ticker, bench, day0) in enumerate(events):
        cells = p.filter(pl.col("row") == row)
        assert cells["event_day"].to_list() == list(range(-260, 6))
        assert_cells(cells["ret"].to_list(), reference_cells(rets.get(ticker, {}), sessions, day0, days), (row, ticker))
        assert_cells(
            cells["benchmark_ret"].to_list(), reference_cells(rets.get(bench, {}), sessions, day0, days), (row, bench)
        )
    both = p.filter(pl.col("row").is_in([0, 1])).partition_by("row", maintain_order=True)
    assert both[0].drop("row").equals(both[1].drop("row"))
    # the grid of some tickers (what a Dask batch gets) gathers the same cells for them, and none of the others
    assert grid.only(pl.Series([*series, "NOPE"])) is grid  # every ticker: nothing copied
    for some in (["GAPPY", "ENDS", "NOPE"], ["LATE"], []):
        part = grid.only(pl.Series(some, dtype=pl.String))
        assert part.tickers[S.TICKER].to_list() == [t for t in grid.tickers[S.TICKER].to_list() if t in some]
        assert part.ret.size == part.tickers["_span"].sum()
        for ticker in grid.tickers[S.TICKER]:
            rows = panel_rows(cal, [(ticker, ticker, date(2025, 11, 3)), (ticker, ticker, date(2024, 1, 2))])
            want = event_panel(rows, grid if ticker in some else session_grid(pl.DataFrame(schema=PRICE_SCHEMA), cal), days).to_frame()
            assert_frame_equal(event_panel(rows, part, days).to_frame(), want, check_exact=True)


def test_panel_specific_cells(cal, sessions):
    """Spot checks of the cases the random test covers, stated in words."""
    rng = np.random.default_rng(5)
    span = [d for d in sessions if date(2024, 6, 3) <= d <= date(2025, 11, 5)]
    series = {"^MKT": random_prices(rng, span), "LATE": random_prices(rng, [d for d in span if d >= date(2025, 3, 3)])}
    series["LATE"].pop(date(2025, 10, 30))
    grid = session_grid(price_frame(series), cal)
    p = event_panel(panel_rows(cal, [("LATE", "^MKT", date(2025, 11, 3))]), grid, Window(-260, 5)).to_frame()
    by_tau = {r["event_day"]: r for r in p.iter_rows(named=True)}
    tau_listing = ref.event_time(sessions, date(2025, 3, 3), date(2025, 11, 3))
    assert by_tau[tau_listing]["ret"] is None  # listing day: no previous price
    assert by_tau[tau_listing + 1]["ret"] is not None
    assert all(by_tau[t]["ret"] is None for t in range(-260, tau_listing))
    assert all(by_tau[t]["benchmark_ret"] is not None for t in range(-260, 0))  # benchmark unaffected
    assert by_tau[-2]["ret"] is None and by_tau[-1]["ret"] is None  # 10-30 missing: 10-30 and 10-31 null
    assert by_tau[-1]["benchmark_ret"] is not None
    assert by_tau[2]["ret"] is not None and by_tau[2]["benchmark_ret"] is not None  # 11-05, last day of data
    assert by_tau[3]["ret"] is None and by_tau[3]["benchmark_ret"] is None  # past the data
    expected = series["LATE"][date(2025, 11, 5)] / series["LATE"][date(2025, 11, 4)] - 1.0
    assert by_tau[2]["ret"] == pytest.approx(expected, rel=1e-13)


def test_panel_of_no_returns_is_all_null(cal):
    empty = session_grid(pl.DataFrame(schema=PRICE_SCHEMA), cal)
    p = event_panel(panel_rows(cal, [("A", "B", date(2025, 11, 3))]), empty, Window(-3, 1)).to_frame()
    assert p.height == 5
    assert p["ret"].null_count() == 5 and p["benchmark_ret"].null_count() == 5
