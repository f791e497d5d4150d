"""Day 0 and event time on the XNYS calendar (analysis.calendar + analysis.specs.events_frame).

The expected days are written out by hand from the NYSE calendar of 2025 (weekends, the
national day of mourning for President Carter on Thursday 2025-01-09, Thanksgiving on
Thursday 2025-11-27 and the 13:00 early close on Friday 2025-11-28). Event time is checked
against positions in the session list of exchange-calendars itself, not the project's frame.
"""

from __future__ import annotations

import warnings
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from analysis.calendar import align_events
from analysis.specs import EventSpec, events_frame
from reference import event_time

NY = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def xnys_sessions() -> list[date]:
    """The 2024-2026 sessions straight from exchange-calendars (independent of analysis)."""
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xnys = xcals.get_calendar("XNYS", start="2024-01-01", end="2026-12-31")
        return [ts.date() for ts in xnys.sessions]


def ny(y: int, m: int, d: int, hh: int, mm: int) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=NY)


def aligned(cal, announced, timing="unknown") -> dict:
    """Align one event and return its row as a dict."""
    ev = EventSpec(id="ev", tickers=("AMZN",), announced=announced, timing=timing)
    out = align_events(events_frame([ev]), cal)
    assert out.height == 1
    return out.row(0, named=True)


# --- the session table -------------------------------------------------------------------


def test_sessions_are_those_of_exchange_calendars(cal, xnys_sessions):
    s = cal.sessions
    assert s["session"].to_list() == list(range(s.height))
    in_range = s.filter(pl.col("date").is_between(date(2024, 1, 1), date(2026, 12, 31)))["date"].to_list()
    assert in_range == xnys_sessions
    assert cal.tz == "America/New_York"
    assert len([d for d in xnys_sessions if d.year == 2025]) == 250
    for closed in (date(2025, 1, 9), date(2025, 11, 27), date(2025, 11, 1), date(2025, 12, 25)):
        assert closed not in in_range


def test_session_open_and_close_times_in_utc(cal):
    s = cal.sessions.filter(pl.col("date").is_in([date(2025, 10, 30), date(2025, 11, 28), date(2025, 12, 1)]))
    rows = {r["date"]: r for r in s.iter_rows(named=True)}
    utc = timezone.utc
    # 2025-10-30 is EDT (UTC-4): 09:30-16:00 local = 13:30-20:00 UTC.
    assert rows[date(2025, 10, 30)]["open_utc"] == datetime(2025, 10, 30, 13, 30, tzinfo=utc)
    assert rows[date(2025, 10, 30)]["close_utc"] == datetime(2025, 10, 30, 20, 0, tzinfo=utc)
    # Day after Thanksgiving, EST (UTC-5): early close 13:00 local = 18:00 UTC.
    assert rows[date(2025, 11, 28)]["close_utc"] == datetime(2025, 11, 28, 18, 0, tzinfo=utc)
    assert rows[date(2025, 12, 1)]["close_utc"] == datetime(2025, 12, 1, 21, 0, tzinfo=utc)


# --- day 0 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("announced", "timing", "day0", "rule_fragments"),
    [
        pytest.param(ny(2025, 10, 30, 16, 1), "after-close", date(2025, 10, 31), ["after-close", "next session"],
                     id="amazon-q3-after-close"),
        pytest.param(ny(2025, 10, 30, 16, 1), "unknown", date(2025, 10, 31),
                     ["unknown timing", "after the close", "16:01", "next session"], id="amazon-q3-time-inferred"),
        pytest.param(date(2025, 11, 3), "unknown", date(2025, 11, 3), ["date only", "same session"],
                     id="amazon-openai-date-only"),
        pytest.param(date(2025, 11, 1), "unknown", date(2025, 11, 3), ["non-trading day", "next session"],
                     id="saturday"),
        pytest.param(date(2025, 11, 2), "after-close", date(2025, 11, 3), ["non-trading day", "next session"],
                     id="sunday-after-close"),
        pytest.param(date(2025, 11, 27), "unknown", date(2025, 11, 28), ["non-trading day", "next session"],
                     id="thanksgiving"),
        pytest.param(ny(2025, 11, 27, 10, 0), "intraday", date(2025, 11, 28), ["non-trading day"],
                     id="thanksgiving-with-time"),
        pytest.param(ny(2025, 11, 28, 13, 30), "unknown", date(2025, 12, 1), ["after the close", "13:30", "next session"],
                     id="early-close-13:30-is-after-13:00"),
        pytest.param(ny(2025, 11, 28, 13, 0), "unknown", date(2025, 12, 1), ["after the close", "13:00"],
                     id="early-close-at-the-close"),
        pytest.param(ny(2025, 11, 28, 12, 59), "unknown", date(2025, 11, 28), ["during the session", "same session"],
                     id="early-close-12:59-is-during"),
        pytest.param(ny(2025, 11, 28, 13, 30), "after-close", date(2025, 12, 1), ["after-close"],
                     id="early-close-stated-after-close"),
        pytest.param(ny(2025, 10, 6, 7, 0), "pre-open", date(2025, 10, 6), ["pre-open", "same session"],
                     id="pre-open-07:00"),
        pytest.param(ny(2025, 10, 6, 7, 0), "unknown", date(2025, 10, 6), ["before the open", "07:00", "same session"],
                     id="07:00-inferred-before-open"),
        pytest.param(ny(2025, 10, 30, 11, 0), "unknown", date(2025, 10, 30), ["during the session", "11:00"],
                     id="11:00-inferred-intraday"),
        pytest.param(ny(2025, 10, 30, 11, 0), "intraday", date(2025, 10, 30), ["intraday", "same session"],
                     id="intraday"),
        pytest.param(ny(2025, 10, 30, 16, 0), "unknown", date(2025, 10, 31), ["after the close", "16:00"],
                     id="exactly-16:00-is-after-the-close"),
        pytest.param(date(2025, 1, 9), "unknown", date(2025, 1, 10), ["non-trading day"], id="carter-mourning-day"),
        pytest.param(ny(2025, 1, 9, 10, 0), "intraday", date(2025, 1, 10), ["non-trading day"],
                     id="carter-mourning-day-with-time"),
        pytest.param(ny(2025, 10, 31, 16, 5), "after-close", date(2025, 11, 3), ["after-close", "next session"],
                     id="friday-after-close-to-monday"),
        pytest.param(date(2025, 10, 31), "after-close", date(2025, 11, 3), ["after-close"],
                     id="friday-date-only-after-close"),
        pytest.param(ny(2025, 12, 31, 16, 30), "unknown", date(2026, 1, 2), ["after the close"],
                     id="new-year"),
        # daylight saving: the close is 21:00 UTC in winter time, 20:00 UTC in summer time
        pytest.param(ny(2025, 3, 7, 15, 30), "unknown", date(2025, 3, 7), ["during the session", "15:30"],
                     id="friday-before-dst-15:30"),
        pytest.param(ny(2025, 3, 10, 15, 59), "unknown", date(2025, 3, 10), ["during the session", "15:59"],
                     id="monday-after-dst-15:59"),
        pytest.param(ny(2025, 3, 10, 16, 0), "unknown", date(2025, 3, 11), ["after the close", "16:00"],
                     id="monday-after-dst-16:00"),
        pytest.param(ny(2025, 11, 3, 15, 30), "unknown", date(2025, 11, 3), ["during the session", "15:30"],
                     id="monday-after-dst-end-15:30"),
        # 05:00 in Tokyo on 10-31 is 16:00 in New York on 10-30: after the close of 10-30.
        pytest.param(datetime(2025, 10, 31, 5, 0, tzinfo=ZoneInfo("Asia/Tokyo")), "unknown", date(2025, 10, 31),
                     ["after the close", "16:00 America/New_York"], id="foreign-zone"),
        # 2025-10-31 02:00 UTC is still 2025-10-30 (22:00) in New York.
        pytest.param(datetime(2025, 10, 31, 2, 0, tzinfo=timezone.utc), "unknown", date(2025, 10, 31),
                     ["after the close", "22:00"], id="utc-evening-new-york"),
    ],
)
def test_day0(cal, announced, timing, day0, rule_fragments):
    row = aligned(cal, announced, timing)
    assert row["day0"] == day0
    assert cal.sessions.filter(pl.col("date") == day0)["session"].item() == row["day0_session"]
    for fragment in rule_fragments:
        assert fragment in row["day0_rule"], (fragment, row["day0_rule"])
    assert row["day0_warning"] is None


def test_outside_the_calendar_is_null_with_reason(cal):
    for announced, timing in ((date(2031, 1, 2), "unknown"), (date(2030, 12, 31), "after-close")):
        row = aligned(cal, announced, timing)
        assert row["day0"] is None and row["day0_session"] is None
        assert "outside the XNYS calendar" in row["day0_rule"]
    # the last session itself is still inside
    assert aligned(cal, date(2030, 12, 31), "intraday")["day0"] == cal.last


def test_before_the_calendar_is_null_with_reason(cal):
    row = aligned(cal, date(1985, 6, 3), "intraday")
    assert row["day0"] is None
    assert "outside the XNYS calendar" in row["day0_rule"]
    # a holiday on the calendar's first day still maps to the first session
    assert aligned(cal, date(1990, 1, 1), "unknown")["day0"] == date(1990, 1, 2)


@pytest.mark.parametrize(
    ("announced", "timing", "day0", "warning_fragments"),
    [
        # stated pre-open, time after the close: the stated timing decides (same session)
        (ny(2025, 10, 30, 16, 30), "pre-open", date(2025, 10, 30), ["'pre-open'", "16:30", "after the close", "stated timing decides"]),
        (ny(2025, 10, 30, 16, 30), "intraday", date(2025, 10, 30), ["'intraday'", "after the close"]),
        # stated after-close, time during the session: next session anyway
        (ny(2025, 10, 30, 11, 0), "after-close", date(2025, 10, 31), ["'after-close'", "11:00", "before the close"]),
        (ny(2025, 10, 30, 7, 0), "after-close", date(2025, 10, 31), ["'after-close'", "07:00"]),
        # stated pre-open, time during the session: same day 0 either way, but reported
        (ny(2025, 10, 30, 11, 0), "pre-open", date(2025, 10, 30), ["'pre-open'", "during the session"]),
    ],
)
def test_disagreement_between_timing_and_time_is_reported(cal, announced, timing, day0, warning_fragments):
    row = aligned(cal, announced, timing)
    assert row["day0"] == day0
    assert row["day0_warning"] is not None
    for fragment in warning_fragments:
        assert fragment in row["day0_warning"], (fragment, row["day0_warning"])


def test_consistent_timing_has_no_warning(cal):
    for announced, timing in (
        (ny(2025, 10, 30, 16, 1), "after-close"),
        (ny(2025, 10, 30, 7, 0), "pre-open"),
        (ny(2025, 10, 30, 11, 0), "intraday"),
        (ny(2025, 10, 30, 7, 0), "intraday"),  # before the open: same session either way
    ):
        assert aligned(cal, announced, timing)["day0_warning"] is None


def test_align_keeps_order_and_columns_of_many_events(cal):
    evs = [
        EventSpec("late", ("AMZN",), ny(2025, 11, 28, 13, 30), "unknown", related=("MSFT",)),
        EventSpec("early", ("NVDA",), date(2025, 1, 9)),
        EventSpec("mid", ("AAPL", "GOOGL"), date(2025, 11, 3)),
        EventSpec("out", ("AAPL",), date(2031, 1, 1)),
    ]
    frame = events_frame(evs)
    out = align_events(frame, cal)
    assert out.columns == [*frame.columns, "day0", "day0_session", "day0_rule", "day0_warning"]
    assert out.select("event_id", "ticker").rows() == frame.select("event_id", "ticker").rows()
    assert out["day0"].to_list() == [
        date(2025, 12, 1), date(2025, 12, 1), date(2025, 1, 10), date(2025, 11, 3), date(2025, 11, 3), None,
    ]


# --- events_frame ------------------------------------------------------------------------


def test_events_frame_rows_and_times():
    ev = EventSpec(
        "amzn-q3", ("amzn",), ny(2025, 10, 30, 16, 1), "after-close", related=("MSFT", "NVDA", "AMZN"),
        group="earnings",
    )
    f = events_frame([ev, EventSpec("aws", ("AMZN",), date(2025, 11, 3))])
    assert f.select("event_id", "ticker", "role").rows() == [
        ("amzn-q3", "AMZN", "primary"), ("amzn-q3", "MSFT", "related"), ("amzn-q3", "NVDA", "related"),
        ("aws", "AMZN", "primary"),
    ]
    first, last = f.row(0, named=True), f.row(3, named=True)
    assert first["announced"] == "2025-10-30T16:01:00-04:00"
    assert first["announced_date"] == date(2025, 10, 30)
    assert first["announced_utc"] == datetime(2025, 10, 30, 20, 1, tzinfo=timezone.utc)
    assert first["timing"] == "after-close" and first["group"] == "earnings" and first["benchmark"] == "^GSPC"
    assert last["announced_utc"] is None and last["announced_date"] == date(2025, 11, 3)
    assert last["timing"] == "unknown" and last["group"] == "all"


# --- event time --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "day0", "tau"),
    [
        (date(2025, 10, 31), date(2025, 11, 3), -1),  # over a weekend
        (date(2025, 11, 28), date(2025, 12, 1), -1),  # early close day, weekend
        (date(2025, 11, 26), date(2025, 11, 28), -1),  # over Thanksgiving
        (date(2025, 1, 8), date(2025, 1, 10), -1),  # over the day of mourning
        (date(2025, 10, 30), date(2025, 11, 3), -2),
        (date(2025, 11, 10), date(2025, 11, 3), 5),
        (date(2024, 12, 31), date(2025, 12, 31), -250),  # 250 sessions in 2025
    ],
)
def test_event_time_counts_sessions(cal, xnys_sessions, day, day0, tau):
    assert event_time(xnys_sessions, day, day0) == tau  # the reference agrees with the hand count
    got = pl.select(
        (cal.session_of(pl.lit(day)) - cal.session_of(pl.lit(day0))).alias("tau"),
    ).item()
    assert got == tau
    back = pl.select(cal.dates_of(cal.session_of(pl.lit(day0)) + tau)).item()
    assert back == day


def test_session_of_non_session_is_null(cal):
    got = pl.select(cal.session_of(pl.lit(date(2025, 11, 27))).alias("s"), cal.dates_of(pl.lit(-1)).alias("d"))
    assert got.row(0) == (None, None)


def test_event_time_of_every_2025_session_matches_exchange_calendars(cal, xnys_sessions):
    day0 = date(2025, 11, 3)
    days = [d for d in xnys_sessions if d.year == 2025]
    got = pl.DataFrame({"d": days}).select(cal.session_of(pl.col("d")) - cal.session_of(pl.lit(day0)))
    assert got.to_series().to_list() == [event_time(xnys_sessions, d, day0) for d in days]
