"""Exchange sessions, day 0 and event time.

Conventions (DESIGN.md)
-----------------------
*Day 0* is the first trading session in which the market could react to the news:

============================  ==================================================
announcement                  day 0
============================  ==================================================
``pre-open`` or ``intraday``  the session of the announcement's local date
``after-close``               the next session after that date
``unknown`` with a time       inferred from the time: before the close → that
                              session, at or after the close → the next one
                              (early closes come from the calendar)
``unknown``, date only        that date's session (assumed; flagged)
any, on a weekend / holiday   the next session
============================  ==================================================

When a stated timing disagrees with a stated time of day, the stated timing decides and
the disagreement is reported. *Event time* τ counts sessions of the exchange calendar
relative to day 0 (not calendar days, and not the rows a ticker happens to have), so a firm
with a missing day keeps the right τ for every other day.

The calendar comes from exchange-calendars (XNYS by default), built once per process with
explicit bounds (its default bounds move with today's date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.errors import InputError

OPEN_UTC = "open_utc"
CLOSE_UTC = "close_utc"
CALENDAR_START = date(1990, 1, 1)
CALENDAR_END = date(2030, 12, 31)


@dataclass(frozen=True, eq=False)
class SessionCalendar:
    """Trading sessions of one exchange.

    Attributes
    ----------
    name
        exchange-calendars code, e.g. ``XNYS``.
    start
        The first day the calendar covers (sessions before it are unknown, not absent).
    tz
        The exchange's IANA time zone.
    sessions
        One row per session: ``session`` (0, 1, 2, ... in date order), ``date``,
        ``open_utc``, ``close_utc``.
    """

    name: str
    tz: str
    sessions: pl.DataFrame
    start: date = CALENDAR_START

    @property
    def first(self) -> date:
        return self.sessions[S.DATE][0]

    @property
    def last(self) -> date:
        return self.sessions[S.DATE][-1]

    def last_closed(self, now: datetime) -> date | None:
        """The last session whose close is at or before ``now`` (timezone-aware)."""
        closed = self.sessions.filter(pl.col(CLOSE_UTC) <= now)
        return closed[S.DATE][-1] if closed.height else None

    def session_of(self, dates: pl.Expr) -> pl.Expr:
        """Session index of each date (null when the date is not a session)."""
        table = self.sessions.select(S.DATE, S.SESSION)
        return dates.replace_strict(table[S.DATE], table[S.SESSION], default=None, return_dtype=pl.Int32)

    def dates_of(self, sessions: pl.Expr) -> pl.Expr:
        """Date of each session index (null outside the calendar)."""
        table = self.sessions.select(S.SESSION, S.DATE)
        return sessions.replace_strict(table[S.SESSION], table[S.DATE], default=None, return_dtype=pl.Date)

    def dates_at(self, sessions: np.ndarray) -> pl.Series:
        """Date of each session index (a NumPy array) as a Series; null outside the calendar."""
        idx = np.asarray(sessions, dtype=np.int64)
        inside = (idx >= 0) & (idx < self.sessions.height)
        dates = self.sessions[S.DATE].gather(pl.Series(np.where(inside, idx, 0), dtype=pl.UInt32))
        return dates if inside.all() else dates.set(pl.Series(~inside), None)

    def session_numbers(self, dates: pl.Series) -> np.ndarray:
        """Session index of each date as a NumPy array (-1 where the date is no session or null):
        a lookup in a table of every calendar day, for millions of price rows."""
        days = self.sessions[S.DATE].cast(pl.Int32).to_numpy()
        first = int(days[0])
        table = np.full(int(days[-1]) - first + 1, -1, dtype=np.int32)
        table[days - first] = np.arange(days.size, dtype=np.int32)
        days = dates.cast(pl.Date).to_physical()
        idx = days.fill_null(first - 1).to_numpy().astype(np.int64) - first
        if idx.size and 0 <= idx.min() and idx.max() < table.size:
            return table[idx]
        out = table[np.clip(idx, 0, table.size - 1)]
        out[(idx < 0) | (idx >= table.size)] = -1
        return out


@lru_cache(maxsize=4)
def exchange_calendar(name: str = "XNYS") -> SessionCalendar:
    """The sessions of ``name`` between 1990-01-01 and 2030-12-31 (cached per process)."""
    import warnings

    import exchange_calendars as xcals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pandas4Warning from exchange-calendars under pandas 3
        try:
            cal = xcals.get_calendar(name, start=CALENDAR_START.isoformat(), end=CALENDAR_END.isoformat())
        except xcals.errors.InvalidCalendarName:
            raise InputError(f"unknown exchange calendar {name!r}; expected a code such as XNYS, XNAS, XLON", field="calendar") from None
        sched = cal.schedule
        frame = pl.DataFrame(
            {
                S.DATE: sched.index.tz_localize(None).to_numpy() if sched.index.tz else sched.index.to_numpy(),
                OPEN_UTC: sched["open"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
                CLOSE_UTC: sched["close"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
            }
        )
    frame = frame.select(
        pl.int_range(pl.len(), dtype=pl.Int32).alias(S.SESSION),
        pl.col(S.DATE).cast(pl.Date),
        pl.col(OPEN_UTC).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        pl.col(CLOSE_UTC).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
    )
    return SessionCalendar(name=name, tz=str(cal.tz), sessions=frame)


def stated_timing(events: pl.DataFrame, cal: SessionCalendar) -> pl.Series:
    """The timing an announcement's time of day says, by the rules of :func:`align_events`
    (vectorised over events).

    Parameters
    ----------
    events
        Frame with ``announced_utc`` (UTC datetime, null when only a date is known); the
        local date is that of this time on the exchange's clock.
    cal
        The exchange calendar (its sessions' opens and closes, early closes included).

    Returns
    -------
    pl.Series
        ``timing`` per row: ``pre-open`` before the open of the session of the local date,
        ``intraday`` from the open until the close, ``after-close`` from the close on;
        ``unknown`` without a time, or when the local date is no session (day 0 is then the
        next session whatever the time) or outside the calendar. Given as the stated timing,
        it places day 0 where the time alone would (:func:`align_events`).
    """
    utc = pl.col("announced_utc")
    local = utc.dt.convert_time_zone(cal.tz).dt.date()
    hours = events.select(local.alias(S.DATE), utc).join(
        cal.sessions.select(S.DATE, OPEN_UTC, CLOSE_UTC), on=S.DATE, how="left", maintain_order="left"
    )
    return hours.select(
        pl.when(utc.is_null() | pl.col(OPEN_UTC).is_null()).then(pl.lit("unknown"))
        .when(utc < pl.col(OPEN_UTC)).then(pl.lit("pre-open"))
        .when(utc < pl.col(CLOSE_UTC)).then(pl.lit("intraday"))
        .otherwise(pl.lit("after-close"))
        .alias(S.TIMING)
    ).to_series()


def align_events(events: pl.DataFrame, cal: SessionCalendar) -> pl.DataFrame:
    """Place day 0 of every event on the calendar (vectorised over events).

    Parameters
    ----------
    events
        Frame with ``announced_date`` (Date: the announcement's date in its own zone, or the
        date given), ``announced_utc`` (UTC datetime, null if only a date is known) and
        ``timing`` — as made by :func:`analysis.specs.events_frame`.
    cal
        The exchange calendar.

    Returns
    -------
    pl.DataFrame
        ``events`` with ``day0`` (Date), ``day0_session`` (Int32) and ``day0_rule`` (text
        saying which rule placed day 0), plus ``day0_warning`` (null or text). Events
        outside the calendar get null day 0 and the reason in ``day0_rule``.
    """
    sessions = cal.sessions.select(
        pl.col(S.DATE).alias("_next_date"), S.SESSION, OPEN_UTC, CLOSE_UTC
    ).sort("_next_date")
    local = (
        pl.when(pl.col("announced_utc").is_not_null())
        .then(pl.col("announced_utc").dt.convert_time_zone(cal.tz).dt.date())
        .otherwise(pl.col("announced_date"))
    )
    hhmm = pl.col("announced_utc").dt.convert_time_zone(cal.tz).dt.strftime("%H:%M")
    frame = (
        events.with_row_index("_order")
        .with_columns(local.alias("_local"))
        .sort("_local")
        .join_asof(sessions, left_on="_local", right_on="_next_date", strategy="forward", check_sortedness=False)
        .sort("_order")
    )
    has_time = pl.col("announced_utc").is_not_null()
    is_session = pl.col("_next_date") == pl.col("_local")
    after_close = has_time & is_session & (pl.col("announced_utc") >= pl.col(CLOSE_UTC))
    before_open = has_time & is_session & (pl.col("announced_utc") < pl.col(OPEN_UTC))
    timing = pl.col(S.TIMING)
    clock = pl.lit(" (") + hhmm + pl.lit(f" {cal.tz})")

    # Which session after the announcement date's (next-or-same) session is day 0: 0 or 1.
    shift = (
        pl.when(~is_session).then(0)
        .when(timing == "after-close").then(1)
        .when(timing == "unknown").then(after_close.cast(pl.Int32))
        .otherwise(0)
    )
    day0_session = (pl.col(S.SESSION) + shift).cast(pl.Int32)
    # null when the date is past the calendar; before its start, join_asof would find session 0
    in_calendar = (day0_session <= cal.sessions.height - 1) & (pl.col("_local") >= cal.start)
    rule = (
        pl.when(~in_calendar.fill_null(False))
        .then(pl.lit(f"outside the {cal.name} calendar ({cal.first}..{cal.last})"))
        .when(~is_session)
        .then(timing + pl.lit(": announced on a non-trading day -> next session"))
        .when(timing == "after-close").then(pl.lit("after-close: next session"))
        .when(timing != "unknown").then(timing + pl.lit(": same session"))
        .when(after_close).then(pl.lit("unknown timing, after the close") + clock + pl.lit(": next session"))
        .when(before_open).then(pl.lit("unknown timing, before the open") + clock + pl.lit(": same session"))
        .when(has_time).then(pl.lit("unknown timing, during the session") + clock + pl.lit(": same session"))
        .otherwise(pl.lit("unknown timing, date only: same session assumed (one session early if the news came after the close)"))
    )
    during = has_time & is_session & ~after_close & ~before_open
    warning = (
        pl.when(timing.is_in(["pre-open", "intraday"]) & after_close)
        .then(pl.lit("stated timing '") + timing + pl.lit("' but the time") + clock + pl.lit(" is after the close; the stated timing decides"))
        .when((timing == "after-close") & (before_open | during))
        .then(pl.lit("stated timing 'after-close' but the time") + clock + pl.lit(" is before the close; the stated timing decides"))
        .when((timing == "pre-open") & during)
        .then(pl.lit("stated timing 'pre-open' but the time") + clock + pl.lit(" is during the session; day 0 is the same either way"))
    )
    out = frame.with_columns(
        pl.when(in_calendar).then(day0_session).alias(S.DAY0_SESSION),
        rule.alias(S.DAY0_RULE),
        warning.alias("day0_warning"),
    ).with_columns(cal.dates_of(pl.col(S.DAY0_SESSION)).alias(S.DAY0))
    return out.select(*events.columns, S.DAY0, S.DAY0_SESSION, S.DAY0_RULE, "day0_warning")
