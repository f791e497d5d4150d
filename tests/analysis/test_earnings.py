"""Earnings-calendar entries as events and their day 0 against another source's
(analysis.earnings, analysis.calendar.stated_timing).

Expected day 0s come from a plain reference written here on exchange-calendars' own schedule
(sessions, opens, closes), not from the project's calendar frame: Amazon's Q3 2025 release
(2025-10-30 after the close) reacts on Friday 2025-10-31; Thanksgiving (2025-11-27) is no
session and Friday 2025-11-28 closes at 13:00.
"""

from __future__ import annotations

import time
import warnings
from datetime import date, datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from analysis import schema as S
from analysis.calendar import stated_timing
from analysis.earnings import COMPARE_COLUMNS, YAHOO_SOURCE, calendar_events, calendar_frame, compare_day0
from analysis.specs import EventSpec

NY = ZoneInfo("America/New_York")
UTC = timezone.utc


@cache
def schedule() -> dict[date, tuple[datetime, datetime]]:
    """Session date -> (open, close), aware, straight from exchange-calendars."""
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = xcals.get_calendar("XNYS", start="2024-01-01", end="2026-12-31").schedule
    return {ts.date(): (o.to_pydatetime(), c.to_pydatetime()) for ts, o, c in zip(frame.index, frame["open"], frame["close"])}


def reference_day0(announced: date | datetime, timing: str) -> date:
    """DESIGN.md's rule, one event at a time: the announcement date's session if it is one and
    the news came before its close (after-close: the next), else the next session."""
    day = announced.astimezone(NY).date() if isinstance(announced, datetime) else announced
    sessions = sorted(schedule())
    if day in schedule():
        if timing == "after-close" or (timing == "unknown" and isinstance(announced, datetime)
                                       and announced >= schedule()[day][1]):
            return next(s for s in sessions if s > day)
        return day
    return next(s for s in sessions if s > day)


def event(id: str, announced, timing="unknown", ticker="AMZN", source="8-K item 2.02") -> EventSpec:
    return EventSpec(id, (ticker,), announced, timing, group="earnings", source=source)


def entries(*rows) -> pl.DataFrame:
    """Calendar entries as flows.io.yahoo.fetch_earnings returns them: (ticker, aware time)."""
    return pl.DataFrame(
        {S.TICKER: [r[0] for r in rows], S.EARNINGS_AT: [r[1] for r in rows]},
        schema={S.TICKER: pl.String, S.EARNINGS_AT: pl.Datetime("us", "UTC")},
    ).with_columns(pl.lit(None, pl.String).alias(S.EARNINGS_NAME),
                   *(pl.lit(None, pl.Float64).alias(c) for c in (S.EPS_ESTIMATE, S.EPS_REPORTED, S.EPS_SURPRISE_PCT)))


# --- the timing a time of day says ----------------------------------------------------------
@pytest.mark.parametrize(("local", "want"), [
    ((2025, 10, 30, 9, 29), "pre-open"),
    ((2025, 10, 30, 9, 30), "intraday"),
    ((2025, 10, 30, 15, 59), "intraday"),
    ((2025, 10, 30, 16, 0), "after-close"),      # the close itself: no reaction that session
    ((2025, 11, 28, 13, 30), "after-close"),     # early close at 13:00
    ((2025, 11, 28, 12, 30), "intraday"),
    ((2025, 11, 27, 8, 0), "unknown"),           # Thanksgiving: the next session whatever the time
    ((2025, 11, 1, 8, 0), "unknown"),            # a Saturday
    ((2031, 1, 2, 8, 0), "unknown"),             # outside the calendar
])
def test_stated_timing_follows_the_sessions_open_and_close(cal, local, want):
    at = datetime(*local, tzinfo=NY)
    frame = pl.DataFrame({"announced_date": [at.date()], "announced_utc": [at.astimezone(UTC)]},
                         schema={"announced_date": pl.Date, "announced_utc": pl.Datetime("us", "UTC")})

    assert stated_timing(frame, cal).to_list() == [want]
    if at.date() in schedule():
        opens, closes = schedule()[at.date()]
        assert want == ("pre-open" if at < opens else "intraday" if at < closes else "after-close")


def test_stated_timing_without_a_time_is_unknown_and_keeps_the_row_order(cal):
    frame = pl.DataFrame({
        "announced_date": [date(2025, 10, 30), date(2025, 10, 29), date(2025, 10, 28)],
        "announced_utc": [None, datetime(2025, 10, 29, 12, tzinfo=UTC), datetime(2025, 10, 28, 21, tzinfo=UTC)],
    }, schema={"announced_date": pl.Date, "announced_utc": pl.Datetime("us", "UTC")})

    assert stated_timing(frame, cal).to_list() == ["unknown", "pre-open", "after-close"]


# --- calendar entries as events -----------------------------------------------------------
def test_entries_become_events_with_ids_times_timings_and_the_upcoming_flag(cal):
    dates = entries(
        ("AMZN", datetime(2025, 10, 30, 16, tzinfo=NY)),
        ("AMZN", datetime(2025, 7, 31, 0, tzinfo=NY)),    # Yahoo's "12 AM": no time of day
        ("AMZN", datetime(2025, 7, 31, 16, tzinfo=NY)),   # the same date again: the first one is kept
        ("BRK.B", datetime(2025, 11, 1, 8, tzinfo=NY)),   # a Saturday
        ("AMZN", datetime(2026, 2, 5, 16, tzinfo=NY)),
        ("AMZN", datetime(2025, 11, 20, 8, tzinfo=NY)),   # day 0 today: not closed yet
    )
    now = datetime(2025, 11, 20, 15, tzinfo=UTC)  # 10:00 in New York

    frame = calendar_frame(dates, cal, now)
    events = calendar_events(frame, cal.tz)

    assert frame.select(S.EVENT_ID, S.TIMING, S.DAY0, S.UPCOMING).rows() == [
        ("amzn-earnings-2025-07-31", "unknown", date(2025, 7, 31), False),
        ("amzn-earnings-2025-10-30", "after-close", date(2025, 10, 31), False),
        ("amzn-earnings-2025-11-20", "pre-open", date(2025, 11, 20), True),
        ("amzn-earnings-2026-02-05", "after-close", date(2026, 2, 6), True),
        ("brk-b-earnings-2025-11-01", "unknown", date(2025, 11, 3), False),
    ]
    assert [ev.announced for ev in events] == [
        date(2025, 7, 31), datetime(2025, 10, 30, 16, tzinfo=NY), datetime(2025, 11, 20, 8, tzinfo=NY),
        datetime(2026, 2, 5, 16, tzinfo=NY), datetime(2025, 11, 1, 8, tzinfo=NY),
    ]
    assert all(ev.source == YAHOO_SOURCE and ev.group == "earnings" for ev in events)
    assert [ev.tickers for ev in events][-1] == ("BRK.B",)
    for ev, day0 in zip(events, frame[S.DAY0]):
        assert reference_day0(ev.announced, ev.timing) == day0


def test_descriptions_say_what_yahoo_gave(cal):
    dates = entries(("AMZN", datetime(2025, 7, 31, tzinfo=NY)), ("AMZN", datetime(2025, 10, 30, 16, tzinfo=NY)),
                    ("AMZN", datetime(2026, 2, 5, 16, tzinfo=NY))).with_columns(
        pl.Series(S.EARNINGS_NAME, [None, "Q3 2025 Earnings Release", None]),
        pl.Series(S.EPS_ESTIMATE, [1.32, 1.57, 1.97]),
        pl.Series(S.EPS_REPORTED, [1.68, 1.95, None]),
        pl.Series(S.EPS_SURPRISE_PCT, [27.27, 24.2, None]),
    )

    frame = calendar_frame(dates, cal, datetime(2025, 11, 20, tzinfo=UTC))

    assert frame["description"].to_list() == [
        "AMZN earnings release: EPS estimate 1.32, reported 1.68, surprise +27.27% (no time of day on Yahoo)",
        "AMZN Q3 2025 Earnings Release: EPS estimate 1.57, reported 1.95, surprise +24.2%",
        "AMZN earnings release: EPS estimate 1.97 (upcoming: Yahoo's date as of 2025-11-20, may move)",
    ]


# --- day 0 against another source ---------------------------------------------------------
def test_amzn_q3_date_only_entry_disagrees_with_the_filing_after_the_close(cal):
    """AMZN released Q3 2025 on 2025-10-30 after the close: day 0 is 2025-10-31. A calendar entry
    saying 2025-10-30 without a time puts day 0 on 2025-10-30: reported, one session apart."""
    calendar = [event("amzn-earnings-2025-10-30", date(2025, 10, 30), source=YAHOO_SOURCE)]
    filing = [event("amzn-8k-q3", datetime(2025, 10, 30, 16, 2, tzinfo=NY))]

    out = compare_day0(calendar, filing, cal)

    assert out.columns == list(COMPARE_COLUMNS)
    row = out.row(0, named=True)
    assert reference_day0(date(2025, 10, 30), "unknown") == row["calendar_day0"] == date(2025, 10, 30)
    assert reference_day0(filing[0].announced, "unknown") == row["filing_day0"] == date(2025, 10, 31)
    assert row[S.SESSIONS_APART] == 1
    assert row[S.FINDING] == (
        "AMZN: the earnings calendar says 2025-10-30 (day 0 2025-10-30: unknown timing, date only: same session "
        "assumed (one session early if the news came after the close)), but event amzn-8k-q3 says "
        "2025-10-30T16:02:00-04:00 (day 0 2025-10-31: unknown timing, after the close (16:02 America/New_York): "
        "next session); the event's day 0 is 1 session(s) later"
    )


def test_the_same_day0_by_different_routes_is_no_finding(cal):
    calendar = [
        event("c1", datetime(2025, 10, 30, 16, tzinfo=NY), "after-close"),        # day 0 10-31
        event("c2", datetime(2025, 5, 1, 8, tzinfo=NY), "pre-open", ticker="MSFT"),  # day 0 05-01
    ]
    filings = [
        event("f1", datetime(2025, 10, 30, 16, 5, tzinfo=NY)),                    # after the close: 10-31
        event("f2", datetime(2025, 4, 30, 16, 5, tzinfo=NY), ticker="MSFT"),      # the evening before: 05-01
    ]

    out = compare_day0(calendar, filings, cal)

    assert out.select(S.TICKER, "calendar_event_id", "filing_event_id", S.SESSIONS_APART, S.FINDING).rows() == [
        ("AMZN", "c1", "f1", 0, None), ("MSFT", "c2", "f2", 0, None),
    ]


def test_pairs_need_the_same_ticker_and_at_most_three_days_and_take_the_nearest(cal):
    calendar = [event("c", date(2025, 10, 30))]
    filings = [
        event("other-ticker", date(2025, 10, 30), ticker="MSFT"),
        event("far", date(2025, 10, 26)),       # 4 days before
        event("near", date(2025, 10, 31)),      # 1 day after
        event("nearer-not", date(2025, 11, 3)),  # 4 days after
    ]

    out = compare_day0(calendar, filings, cal)
    assert out["filing_event_id"].to_list() == ["near"]
    assert out[S.SESSIONS_APART].to_list() == [1]
    assert compare_day0(calendar, filings[:2], cal).is_empty()
    assert compare_day0(calendar, filings[:2], cal, within_days=4)["filing_event_id"].to_list() == ["far"]
    assert compare_day0([], filings, cal).columns == list(COMPARE_COLUMNS)
    assert compare_day0(calendar, [], cal).is_empty()


def test_the_filing_earlier_than_the_calendar_says_earlier(cal):
    calendar = [event("c", datetime(2025, 10, 30, 16, tzinfo=NY), "after-close")]
    filings = [event("f", datetime(2025, 10, 30, 7, tzinfo=NY))]

    finding = compare_day0(calendar, filings, cal)[S.FINDING].item()

    assert finding.endswith("the event's day 0 is 1 session(s) earlier")


def test_many_releases_against_a_reference(cal):
    """2,000 tickers x 8 quarters of random release times and filings 0-30 minutes later (or,
    one in five, a calendar entry without a time): every pair found, every day 0 as the
    reference places it, in well under a second."""
    rng = np.random.default_rng(7)
    n_tickers, quarters = 2_000, 8
    calendar, filings = [], []
    for k in range(n_tickers * quarters):
        ticker = f"T{k // quarters}"
        day = date(2024, 2, 1) + timedelta(days=int(91 * (k % quarters) + rng.integers(0, 20)))
        at = datetime(day.year, day.month, day.day, int(rng.choice([7, 8, 12, 16, 17])), tzinfo=NY)
        timed = rng.random() > 0.2
        calendar.append(event(f"c{k}", at if timed else day, ticker=ticker, source=YAHOO_SOURCE))
        filings.append(event(f"f{k}", at + timedelta(minutes=int(rng.integers(0, 31))), ticker=ticker))

    started = time.perf_counter()
    out = compare_day0(calendar, filings, cal)
    seconds = time.perf_counter() - started

    assert out.height == len(calendar)
    assert out["filing_event_id"].to_list() == ["f" + c[1:] for c in out["calendar_event_id"]]
    by_id = {ev.id: ev for ev in calendar + filings}
    for c, c0, f, f0, finding in out.select("calendar_event_id", "calendar_day0", "filing_event_id", "filing_day0",
                                            S.FINDING).rows():
        assert c0 == reference_day0(by_id[c].announced, "unknown")
        assert f0 == reference_day0(by_id[f].announced, "unknown")
        assert (finding is None) == (c0 == f0)
    assert out[S.FINDING].is_not_null().sum() > 0
    assert seconds < 2.0, f"{seconds:.2f}s"
