"""Price-data checks (analysis.quality) and how the engine reports them on event rows.

Hand cases first; then seeded random histories with planted gaps, holidays, off-calendar rows,
bad prices, jumps and splits, checked against a plain loop over the session list of
exchange-calendars; then ``run_study``: every event row is ok, flagged or skipped, with a
reason naming the ticker, the date and the ratio.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest

from analysis.calendar import exchange_calendar
from analysis.engine import run_study
from analysis.quality import CHECKS, QUALITY_SCHEMA, event_quality, price_quality, quality_notes
from analysis.specs import EventSpec, StudySpec, events_frame

SCHEMA = {"ticker": pl.String, "date": pl.Date, "close": pl.Float64, "adj_close": pl.Float64}


def frame(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def found(q: pl.DataFrame) -> list[tuple]:
    return q.select("ticker", "date", "check").rows()


# --- hand cases -----------------------------------------------------------------------------


def test_clean_prices_have_no_findings(cal, sessions):
    days = [d for d in sessions if date(2025, 1, 1) <= d <= date(2025, 12, 31)]
    prices = frame([("A", d, 100.0 + i % 7, 99.0 + i % 7) for i, d in enumerate(days)])
    q = price_quality(prices, cal)
    assert q.is_empty() and q.schema == QUALITY_SCHEMA


def test_holidays_are_not_gaps_and_missing_sessions_are(cal):
    # Thanksgiving 2025-11-27 is no session: no gap. 2025-11-25 is one: a gap.
    days = [date(2025, 11, 21), date(2025, 11, 24), date(2025, 11, 26), date(2025, 11, 28), date(2025, 12, 1)]
    q = price_quality(frame([("A", d, 10.0, 10.0) for d in days]), cal)
    assert found(q) == [("A", date(2025, 11, 25), "gap")]
    assert q["detail"].to_list() == ["2025-11-25"]


def test_off_calendar_and_bad_prices(cal):
    prices = frame([
        ("A", date(2025, 11, 3), 10.0, 10.0),
        ("A", date(2025, 11, 1), 10.0, 10.0),  # a Saturday
        ("A", date(2025, 11, 4), 0.0, 10.0),
        ("A", date(2025, 11, 5), 10.0, None),
        ("A", date(2025, 11, 6), float("nan"), 10.0),
        ("A", date(2025, 11, 7), 10.0, -1.0),
        ("A", date(2025, 11, 10), 10.0, float("inf")),
    ])
    q = price_quality(prices, cal)
    assert found(q) == [("A", date(2025, 11, 1), "off-calendar")] + [
        ("A", d, "bad-price") for d in (date(2025, 11, 4), date(2025, 11, 5), date(2025, 11, 6), date(2025, 11, 7), date(2025, 11, 10))
    ]
    details = dict(zip(q["date"], q["detail"]))
    assert details[date(2025, 11, 5)] == "2025-11-05 (close 10.0, adj_close missing)"
    assert details[date(2025, 11, 4)] == "2025-11-04 (close 0.0, adj_close 10.0)"


@pytest.mark.parametrize(
    ("close", "adj", "checks"),
    [
        ((100.0, 50.0), (100.0, 100.5), ["split-like"]),  # 2:1 split in the raw close only
        ((90.0, 30.0), (90.0, 89.0), ["split-like"]),  # 3:1
        ((30.0, 45.0), (30.0, 30.2), ["split-like"]),  # 2:3 reverse split near 1.5
        ((100.0, 67.0), (100.0, 99.0), ["split-like"]),  # 3:2 within 3 %
        ((100.0, 70.0), (100.0, 99.0), []),  # 0.70: neither beyond 1:1.8 nor near 2/3
        ((100.0, 50.0), (100.0, 50.0), ["jump"]),  # the adjusted close halves too
        ((100.0, 190.0), (100.0, 190.0), ["jump"]),  # +90 % in both
        ((100.0, 160.0), (100.0, 160.0), []),  # +60 %: a big day, not beyond 1:1.8
        ((100.0, 101.0), (100.0, 40.0), ["jump"]),  # adj_close alone collapses
        ((100.0, 50.0), (100.0, 70.0), []),  # the adjusted close moved 30 %: not steady, not a jump
    ],
)
def test_jumps_and_split_like_moves(cal, close, adj, checks):
    days = (date(2025, 6, 9), date(2025, 6, 10))
    q = price_quality(frame([("A", d, c, a) for d, c, a in zip(days, close, adj)]), cal)
    assert q["check"].to_list() == checks
    if checks:
        row = q.row(0, named=True)
        ratio = (adj[1] / adj[0]) if checks == ["jump"] else close[1] / close[0]
        assert row["date"] == days[1] and row["ratio"] == pytest.approx(ratio)
        assert row["detail"] == f"2025-06-10 ×{round(ratio, 3)}"


@pytest.mark.parametrize(
    ("close", "adj", "seam"),
    [
        ((100.0, 101.0), (100.0, 100.596), 0.996),  # raw closes, then adjusted ones: q falls 1 -> 0.996
        ((100.0, 101.0), (99.6, 100.596), None),  # the same day in one adjusted history
        ((100.0, 101.0), (99.6, 101.0), None),  # adjusted, then raw: q rises, like an ex-dividend day
        ((5.12, 5.13), (5.1043, 5.1043 * 5.13 / 5.12 * 0.999), None),  # within a cent's rounding of $5 closes
        ((100.0, 101.0), (100.0, 100.9), None),  # 0.1 %: within the tolerance
    ],
)
def test_seams_where_adjusted_closes_fall_against_close(cal, close, adj, seam):
    days = (date(2025, 11, 3), date(2025, 11, 4))
    q = price_quality(frame([("A", d, c, a) for d, c, a in zip(days, close, adj)]), cal)
    assert found(q) == ([] if seam is None else [("A", days[1], "seam")])
    if seam is not None:
        assert q["ratio"][0] == pytest.approx(seam) and q["detail"][0] == f"2025-11-04 ×{seam}"


def test_ratios_skip_bad_rows_and_cross_gaps(cal):
    # 06-10 is a bad row and 06-12 is missing: the ratios are 06-09 -> 06-11 and 06-11 -> 06-13.
    prices = frame([
        ("A", date(2025, 6, 9), 100.0, 100.0), ("A", date(2025, 6, 10), 0.0, 0.0),
        ("A", date(2025, 6, 11), 40.0, 40.0), ("A", date(2025, 6, 13), 41.0, 41.0),
    ])
    q = price_quality(prices, cal)
    assert found(q) == [
        ("A", date(2025, 6, 10), "bad-price"), ("A", date(2025, 6, 11), "jump"), ("A", date(2025, 6, 12), "gap"),
    ]


def test_quality_notes_count_and_list_the_first_dates(cal, sessions):
    days = [d for d in sessions if date(2025, 3, 3) <= d <= date(2025, 3, 31)]
    missing = {days[2], days[3], days[5], days[8], days[13]}
    prices = frame([("B", d, 10.0, 10.0) for d in days if d not in missing] + [("A", days[0], 5.0, 5.0)])
    notes = quality_notes(price_quality(prices, cal), cal)
    assert notes.rows() == [(
        "B", "gap",
        "B: 5 XNYS sessions without a price (their returns and the next are missing): "
        f"{days[2]}, {days[3]}, {days[5]}, ...",
    )]


# --- against a plain loop ------------------------------------------------------------------------


def reference_quality(rows: list[tuple], sessions: list[date]) -> set[tuple]:
    """The checks of the module docstring, written as loops over rows and sessions."""
    index = {d: i for i, d in enumerate(sessions)}
    ok = lambda x: x is not None and math.isfinite(x) and x > 0  # noqa: E731
    out = set()
    for ticker in {r[0] for r in rows}:
        mine = sorted((r for r in rows if r[0] == ticker), key=lambda r: r[1])
        on = []
        for _, d, c, a in mine:
            if d not in index:
                out.add((ticker, d, "off-calendar"))
                continue
            on.append((d, c, a))
            if not (ok(c) and ok(a)):
                out.add((ticker, d, "bad-price"))
        for (d0, *_), (d1, *_) in zip(on, on[1:]):
            for k in range(index[d0] + 1, index[d1]):
                out.add((ticker, sessions[k], "gap"))
        good = [(d, c, a) for d, c, a in on if ok(c) and ok(a)]
        for (_, c0, a0), (d1, c1, a1) in zip(good, good[1:]):
            rc, ra = c1 / c0, a1 / a0
            if max(ra, 1 / ra) > 1.8:
                out.add((ticker, d1, "jump"))
            near = any(abs(rc / f - 1) <= 0.03 for f in (1.5, 1 / 1.5))
            split_like = (max(rc, 1 / rc) > 1.8 or near) and max(ra, 1 / ra) <= 1.25
            if split_like:
                out.add((ticker, d1, "split-like"))
            rounding = 0.005 * (1 / a0 + 1 / a1 + 1 / c0 + 1 / c1)
            if ra / rc < 1 - 0.001 - rounding and max(ra, 1 / ra) <= 1.8 and not split_like:
                out.add((ticker, d1, "seam"))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_random_histories_match_the_loop(cal, sessions, seed):
    rng = np.random.default_rng(seed)
    days = [d for d in sessions if date(2024, 1, 1) <= d <= date(2025, 12, 31)]
    rows = []
    for ticker in ("A", "B", "^M"):
        adj = 100 * np.cumprod(1 + rng.normal(0, 0.02, len(days)))
        factor = np.ones(len(days))
        for k in rng.integers(1, len(days), 3):  # raw-close splits
            factor[k:] *= rng.choice([2.0, 3.0, 1 / 2, 1.5, 1 / 1.5])
        close = adj * factor * 1.01
        for k in rng.integers(1, len(days), 2):  # unadjusted jumps
            adj[k:] *= rng.choice([0.5, 2.5])
        for k in rng.integers(1, len(days), 2):  # seams: adjusted on another basis from day k
            adj[k:] *= rng.choice([0.996, 0.98, 0.9995])
        keep = rng.random(len(days)) > 0.03
        for i, d in enumerate(days):
            if not keep[i]:
                continue
            c, a = float(close[i]), float(adj[i])
            u = rng.random()
            if u < 0.005:
                a = rng.choice([0.0, -1.0, float("nan"), None])
            elif u < 0.01:
                c = None
            rows.append((ticker, d, c, a))
        for d in (date(2024, 7, 4), date(2025, 3, 8)):  # a holiday and a Saturday
            rows.append((ticker, d, 100.0, 100.0))
    q = price_quality(frame(rows), cal)
    assert set(found(q)) == reference_quality(rows, sessions)
    assert len(found(q)) == len(set(found(q)))
    assert q.select("ticker", "date").rows() == sorted(q.select("ticker", "date").rows())
    assert set(q["check"]) <= set(CHECKS)
    assert "seam" in set(q["check"])


# --- on event rows --------------------------------------------------------------------------------


def market(days: list[date], tickers=("A", "B", "^GSPC"), seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for t in tickers:
        p = 100 * np.cumprod(1 + rng.normal(0, 0.01, len(days)))
        parts.append(pl.DataFrame({"ticker": t, "date": days, "close": p, "adj_close": p}, schema=SCHEMA))
    return pl.concat(parts)


@pytest.fixture(scope="module")
def days(sessions) -> list[date]:
    return [d for d in sessions if date(2024, 1, 2) <= d <= date(2025, 12, 31)]


def study(prices, events, spec=StudySpec()):
    return run_study(events_frame(events), prices, spec, exchange_calendar("XNYS"), max_regressions=0)


def status(result) -> dict[str, tuple[str, str | None]]:
    return {(r["event_id"]): (r["status"], r["reason"]) for r in result.events.iter_rows(named=True)}


SHARES = pl.DataFrame({"ticker": ["A", "B"], "as_of_date": [date(2024, 1, 2)] * 2, "shares_outstanding": [10, 10]})


def test_findings_flag_only_the_events_whose_range_they_touch(days):
    prices = market(days)
    split_day = date(2025, 6, 10)
    prices = prices.with_columns(  # a 2:1 split in A's raw close on 2025-06-10
        pl.when((pl.col("ticker") == "A") & (pl.col("date") >= split_day)).then(pl.col("close") / 2)
        .otherwise(pl.col("close")).alias("close")
    )
    prices = prices.filter(~((pl.col("ticker") == "^GSPC") & (pl.col("date") == date(2025, 3, 4))))
    events = [
        EventSpec("jul", ("A",), date(2025, 7, 1)),  # the split and ^GSPC's gap are in its estimation window
        EventSpec("feb", ("A",), date(2025, 2, 20)),  # its range ends on day +5 = 2025-02-27, before both
        EventSpec("b-jul", ("B",), date(2025, 7, 1)),  # B is clean; ^GSPC's gap concerns it
    ]
    result = run_study(events_frame(events), prices, StudySpec(), exchange_calendar("XNYS"), SHARES, max_regressions=0)
    got = status(result)
    assert got["feb"] == ("ok", None)
    assert got["jul"][0] == "flagged" and got["b-jul"][0] == "flagged"
    assert "A: 1 split-like close jump with a steady adj_close" in got["jul"][1]
    assert "2025-06-10 ×0.49" in got["jul"][1]  # the split times that day's move
    gap = "^GSPC: 1 XNYS session without a price (its return and the next are missing): 2025-03-04"
    assert gap in got["jul"][1] and gap in got["b-jul"][1]
    assert got["jul"][1].index("A:") < got["jul"][1].index("^GSPC:")  # own ticker first
    assert "248 of 250 estimation returns" in got["b-jul"][1]  # the gap costs two returns
    assert set(result.quality["check"]) == {"split-like", "gap"}
    assert any(w.startswith("jul A: flagged: ") for w in result.warnings)


def test_a_seam_flags_every_event_whose_range_crosses_it(days):
    # A's adjusted closes from 2025-11-03 on were fetched later (0.4 % lower basis), spliced
    # onto the older history: the adjusted return of 2025-11-03 is off by -0.4 %.
    seam_day = date(2025, 11, 3)
    prices = market(days).with_columns(
        pl.when((pl.col("ticker") == "A") & (pl.col("date") >= seam_day)).then(pl.col("adj_close") * 0.996)
        .otherwise(pl.col("adj_close")).alias("adj_close")
    )
    events = [
        EventSpec("on", ("A",), seam_day),  # day 0 is the seam
        EventSpec("after", ("A",), date(2025, 12, 1)),  # the seam is in its estimation window
        EventSpec("before", ("A",), date(2025, 10, 1)),  # its range ends on day +5, before the seam
        EventSpec("b", ("B",), seam_day),  # B has no seam
    ]
    got = status(run_study(events_frame(events), prices, StudySpec(), exchange_calendar("XNYS"), SHARES,
                           max_regressions=0))
    for event in ("on", "after"):
        assert got[event][0] == "flagged"
        assert "A: 1 seam: adj_close falls against close" in got[event][1] and "2025-11-03 ×0.996" in got[event][1]
    assert got["before"] == ("ok", None) and got["b"] == ("ok", None)


def test_a_bad_adjusted_close_is_a_missing_price_not_an_infinite_return(days):
    prices = market(days).with_columns(
        pl.when((pl.col("ticker") == "A") & (pl.col("date") == date(2025, 6, 2))).then(0.0)
        .otherwise(pl.col("adj_close")).alias("adj_close")
    )
    result = study(prices, [EventSpec("ev", ("A",), date(2025, 6, 4))])
    ar = result.abnormal_returns.filter(pl.col("event_day").is_between(-2, -1))
    assert ar["ret"].to_list() == [None, None]  # 06-02 itself and 06-03 (whose base is 06-02)
    assert result.car["car"].is_finite().all()
    st, reason = status(result)["ev"]
    assert st == "flagged" and "A: 1 row with a missing, zero or negative price" in reason
    assert "2025-06-02 (close" in reason and "adj_close 0.0)" in reason
    assert "window -5:5: 2 of 11 days without an abnormal return" in reason


def test_every_event_row_is_reported_whatever_happens_to_its_data(days):
    """Before, after and around the available data, unknown tickers, outside the calendar:
    nothing is dropped; each row says what happened."""
    prices = market(days)
    events = [
        EventSpec("fine", ("A",), date(2025, 6, 2)),
        EventSpec("before-data", ("A",), date(2024, 2, 1)),  # 21 estimation returns
        EventSpec("after-data", ("A",), date(2026, 3, 2)),  # prices end 2025-12-31
        EventSpec("at-the-end", ("A",), date(2025, 12, 30)),  # window -5:5 runs past the data
        EventSpec("unknown-ticker", ("ZZZZ",), date(2025, 6, 2)),
        EventSpec("unknown-benchmark", ("B",), date(2025, 6, 2), benchmark="^NOPE"),  # B: not a confounder of "fine"
        EventSpec("past-the-calendar", ("A",), date(2031, 1, 6)),
    ]
    result = run_study(events_frame(events), prices, StudySpec(), exchange_calendar("XNYS"), SHARES, max_regressions=0)
    got = status(result)
    assert list(got) == [e.id for e in events]
    assert got["fine"] == ("ok", None)
    assert got["before-data"][0] == "skipped" and "fewer than the minimum 120" in got["before-data"][1]
    assert got["after-data"][0] == "skipped"
    assert "no abnormal return on any event-window day (-5..+5)" in got["after-data"][1]
    assert got["after-data"][1].startswith("day 0 (2026-03-02) is after the data: the last price of A is on 2025-12-31")
    assert "usable estimation returns" not in got["after-data"][1]  # it used to say how few there were
    assert got["at-the-end"][0] == "flagged" and "window -5:5: 4 of 11 days without an abnormal return" in got["at-the-end"][1]  # +2..+5 in 2026
    assert got["unknown-ticker"] == ("skipped", "no prices for ZZZZ; no close on day -1")
    assert got["unknown-benchmark"][0] == "skipped" and "no prices for benchmark ^NOPE" in got["unknown-benchmark"][1]
    assert got["past-the-calendar"][0] == "skipped" and "outside the XNYS calendar" in got["past-the-calendar"][1]
    assert len(result.warnings) == 6
    # the car and models tables give the same cause, not the count of estimation returns it left (issue 14)
    car_why = dict(result.car.select("event_id", "reason").unique("event_id", keep="first").iter_rows())
    model_why = dict(result.models.select("event_id", "reason").iter_rows())
    for why in (car_why, model_why):
        assert why["unknown-ticker"] == "no prices for ZZZZ"
        assert why["unknown-benchmark"] == "no prices for benchmark ^NOPE"
        assert "fewer than the minimum 120" in why["before-data"]
    assert car_why["after-data"] == "day 0 (2026-03-02) is after the data: the last price of A is on 2025-12-31"
    # the event with data keeps its numbers whatever the others lack
    alone = run_study(events_frame(events[:1]), prices, StudySpec(), exchange_calendar("XNYS"), SHARES, max_regressions=0)
    assert result.car.filter(pl.col("event_id") == "fine")["car"].to_list() == alone.car["car"].to_list()


def test_a_shorter_history_is_flagged_with_the_count(days):
    """A late listing, or Yahoo answering only the last months: no gap inside the data, but
    fewer estimation returns than the window has days."""
    prices = market(days).filter(~((pl.col("ticker") == "A") & (pl.col("date") < date(2024, 11, 1))))
    result = run_study(events_frame([EventSpec("ev", ("A",), date(2025, 6, 2))]), prices, StudySpec(),
                       exchange_calendar("XNYS"), SHARES, max_regressions=0)
    day0 = days.index(date(2025, 6, 2))
    n = len([d for d in days[day0 - 260: day0 - 10] if d > date(2024, 11, 1)])  # first return: the session after
    assert result.models["n_obs"].item() == n
    assert status(result)["ev"] == ("flagged", f"{n} of 250 estimation returns")


def test_event_quality_uses_the_session_before_the_estimation_window(cal):
    findings = pl.DataFrame(
        {"ticker": ["A", "A"], "date": [date(2025, 5, 30), date(2025, 6, 2)], "check": ["gap", "gap"],
         "ratio": [None, None], "detail": ["2025-05-30", "2025-06-02"]},
        schema=dict(QUALITY_SCHEMA),
    )
    day0 = cal.sessions.filter(pl.col("date") == date(2025, 6, 5))["session"].item()
    rows = pl.DataFrame({"row": [0], "ticker": ["A"], "benchmark": ["^GSPC"], "day0_session": [day0]},
                        schema={"row": pl.UInt32, "ticker": pl.String, "benchmark": pl.String, "day0_session": pl.Int32})
    # days -3..+1: the base of day -3's return is day -4 = 2025-05-30
    assert event_quality(findings, rows, -3, 1, cal)["reason"].to_list() == [
        "A: 2 XNYS sessions without a price (their returns and the next are missing): 2025-05-30, 2025-06-02"
    ]
    assert event_quality(findings, rows, -2, 1, cal)["reason"].to_list() == [
        "A: 1 XNYS session without a price (its return and the next are missing): 2025-06-02"
    ]
