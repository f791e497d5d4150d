"""Earnings calendars as events, and their day 0 checked against another source.

Pure: takes the calendar entries that :func:`flows.io.yahoo.fetch_earnings` read from Yahoo
and the catalog's events, returns frames and :class:`~analysis.specs.EventSpec` s.

Calendar entries become catalog events (:func:`calendar_events`):

* ``id`` ``<ticker>-earnings-<date>`` (``amzn-earnings-2025-10-30``): one per ticker and
  local date, so a second discovery finds the same ids;
* ``announced`` the time Yahoo gives (US Eastern, to the hour) in the exchange's zone, or the
  date alone when Yahoo gives none: Yahoo shows an entry without a time of day at midnight
  (``12 AM``), so midnight is read as "no time";
* ``timing`` from the time and the exchange's session of that date (:func:`analysis.calendar.stated_timing`):
  before the open ``pre-open``, until the close ``intraday``, from the close on
  ``after-close``; ``unknown`` without a time or on a day that is no session;
* ``group`` ``earnings``, ``source`` :data:`YAHOO_SOURCE`, the description with Yahoo's
  event name and EPS estimate, reported EPS and surprise where given.

An entry is *upcoming* when its day 0 (by :func:`analysis.calendar.align_events`) has not
closed yet at ``now``: its date is Yahoo's estimate and may move, and no reaction can be
measured. Callers leave such entries out of a catalog unless asked.

The cross-check (:func:`compare_day0`) pairs each calendar event with the nearest other
event of the same ticker (an 8-K item 2.02 filing, a curated catalog event) within a few
calendar days — the same release — and places both day 0s with the project's rules. Where
they differ, it says so in a sentence: a calendar entry without a time puts day 0 on the
release date, while an 8-K accepted after the close puts it on the next session.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from analysis import schema as S
from analysis.calendar import SessionCalendar, align_events, stated_timing
from analysis.specs import EventSpec, events_frame

YAHOO_SOURCE = "Yahoo Finance earnings calendar"
EARNINGS_GROUP = "earnings"
SAME_RELEASE_DAYS = 3
"""Calendar days within which a calendar entry and another event of its ticker are taken
for the same release (a quarter apart there is no other)."""

_DATE, _UTC = "announced_date", "announced_utc"  # as analysis.specs.events_frame names them
_COMPARED = (S.EVENT_ID, S.ANNOUNCED, S.DAY0, S.DAY0_RULE)
COMPARE_COLUMNS = (
    S.TICKER,
    *(S.CALENDAR_PREFIX + c for c in _COMPARED),
    *(S.FILING_PREFIX + c for c in _COMPARED),
    S.SESSIONS_APART, S.FINDING,
)


def calendar_frame(dates: pl.DataFrame, cal: SessionCalendar, now: datetime) -> pl.DataFrame:
    """Calendar entries as catalog events, one row per ticker and local date (vectorised).

    Parameters
    ----------
    dates
        TICKER, EARNINGS_AT (aware), EARNINGS_NAME, EPS_ESTIMATE, EPS_REPORTED,
        EPS_SURPRISE_PCT, as :func:`flows.io.yahoo.fetch_earnings` returns them.
    cal
        The exchange calendar (its zone reads Yahoo's times; its sessions place day 0).
    now
        Aware; entries whose day 0 has not closed by then are ``upcoming``.

    Returns
    -------
    pl.DataFrame
        EVENT_ID, TICKER, ``announced_date`` (Date), ``announced_utc`` (null without a time),
        TIMING, DAY0, DAY0_RULE, UPCOMING, ``description``; sorted by ticker and date. Of two
        entries of one ticker on one date (Yahoo lists some twice) the first is kept.
    """
    local = pl.col(S.EARNINGS_AT).dt.convert_time_zone(cal.tz)
    timed = local.dt.time() != pl.time(0)
    ticker = pl.col(S.TICKER).str.to_lowercase().str.replace_all(r"[^a-z0-9_-]+", "-").str.strip_chars("-_")
    frame = (
        dates.sort(S.TICKER, S.EARNINGS_AT)
        .with_columns(
            local.dt.date().alias(_DATE),
            pl.when(timed).then(pl.col(S.EARNINGS_AT).dt.convert_time_zone("UTC")).alias(_UTC),
        )
        .with_columns(pl.format("{}-earnings-{}", ticker, pl.col(_DATE)).alias(S.EVENT_ID))
        .unique(S.EVENT_ID, keep="first", maintain_order=True)
    )
    frame = frame.with_columns(stated_timing(frame, cal).alias(S.TIMING))
    last_closed = cal.last_closed(now)
    aligned = align_events(frame, cal).with_columns(
        (pl.col(S.DAY0).is_null() | (pl.col(S.DAY0) > last_closed) if last_closed else pl.lit(True)).alias(S.UPCOMING)
    )
    return aligned.select(
        S.EVENT_ID, S.TICKER, _DATE, _UTC, S.TIMING, S.DAY0, S.DAY0_RULE, S.UPCOMING,
        _description(now).alias("description"),
    )


def _description(now: datetime) -> pl.Expr:
    """"AMZN Q3 2025 Earnings Release: EPS estimate 1.57, reported 1.95, surprise +24.2%"."""
    def number(column: str, label: str, unit: str = "") -> pl.Expr:
        value = pl.col(column).round(2)
        sign = pl.when(value >= 0).then(pl.lit("+" if unit else "")).otherwise(pl.lit(""))
        return pl.concat_str(pl.lit(label), sign, value.cast(pl.String), pl.lit(unit))

    eps = pl.concat_str(
        number(S.EPS_ESTIMATE, "EPS estimate "), number(S.EPS_REPORTED, "reported "),
        number(S.EPS_SURPRISE_PCT, "surprise ", "%"), separator=", ", ignore_nulls=True,
    )
    notes = pl.concat_str(
        pl.when(pl.col(_UTC).is_null()).then(pl.lit("no time of day on Yahoo")),
        pl.when(pl.col(S.UPCOMING)).then(pl.lit(f"upcoming: Yahoo's date as of {now.date()}, may move")),
        separator="; ", ignore_nulls=True,
    )
    name = pl.concat_str(pl.col(S.TICKER), pl.col(S.EARNINGS_NAME).fill_null("earnings release"), separator=" ")
    text = pl.concat_str(name, pl.when(eps != "").then(pl.lit(": ") + eps), ignore_nulls=True)
    return pl.concat_str(text, pl.when(notes != "").then(pl.lit(" (") + notes + pl.lit(")")), ignore_nulls=True)


def calendar_events(frame: pl.DataFrame, tz: str) -> tuple[EventSpec, ...]:
    """The rows of :func:`calendar_frame` as catalog events (``announced`` in zone ``tz``)."""
    announced = pl.col(_UTC).dt.convert_time_zone(tz)
    rows = frame.select(S.EVENT_ID, S.TICKER, announced.alias(_UTC), _DATE, S.TIMING, "description").rows()
    return tuple(
        EventSpec(
            id=event_id, tickers=(ticker,), announced=at or day, timing=timing, group=EARNINGS_GROUP,
            description=description, source=YAHOO_SOURCE,
        )
        for event_id, ticker, at, day, timing, description in rows
    )


def compare_day0(
    calendar: Sequence[EventSpec],
    filings: Sequence[EventSpec],
    cal: SessionCalendar,
    within_days: int = SAME_RELEASE_DAYS,
) -> pl.DataFrame:
    """Pair calendar events with the other source's events of the same release; compare day 0.

    Each calendar event is paired with the event of ``filings`` whose announcement date is
    nearest to its own, on the same (primary) ticker, at most ``within_days`` calendar days
    apart; calendar events without one are left out. Both day 0s come from
    :func:`analysis.calendar.align_events` (the stated timing, else the time of day, else the
    date's session).

    Parameters
    ----------
    calendar
        Events from an earnings calendar (:func:`calendar_events`).
    filings
        Events of another source: 8-K item 2.02 filings, curated catalog events.
    cal
        The exchange calendar.
    within_days
        Largest distance in calendar days between the two announcement dates.

    Returns
    -------
    pl.DataFrame
        :data:`COMPARE_COLUMNS`: the ticker; each side's event id, announcement (ISO text),
        day 0 and the rule that placed it; SESSIONS_APART (the filing's day-0 session minus
        the calendar's); FINDING, a sentence where the two day 0s differ, else null. One row
        per paired calendar event, by ticker and date.
    """
    calendar_side = _aligned(calendar, cal, S.CALENDAR_PREFIX)
    filing_side = _aligned(filings, cal, S.FILING_PREFIX)
    pairs = calendar_side.join_asof(
        filing_side, on=_DATE, by=S.TICKER, strategy="nearest", tolerance=timedelta(days=within_days),
        check_sortedness=False,
    ).filter(pl.col(S.FILING_PREFIX + S.EVENT_ID).is_not_null())

    def col(side: str, name: str) -> pl.Expr:
        return pl.col(side + name)

    apart = col(S.FILING_PREFIX, S.DAY0_SESSION) - col(S.CALENDAR_PREFIX, S.DAY0_SESSION)
    later = pl.when(apart > 0).then(pl.lit("later")).otherwise(pl.lit("earlier"))

    def said(side: str, who: pl.Expr) -> pl.Expr:
        return pl.format(
            "{} says {} (day 0 {}: {})", who, col(side, S.ANNOUNCED),
            col(side, S.DAY0).cast(pl.String).fill_null("none"), col(side, S.DAY0_RULE),
        )

    finding = pl.format(
        "{}: {}, but {}; {}",
        pl.col(S.TICKER),
        said(S.CALENDAR_PREFIX, pl.lit("the earnings calendar")),
        said(S.FILING_PREFIX, pl.lit("event ") + col(S.FILING_PREFIX, S.EVENT_ID)),
        pl.when(apart.is_null()).then(pl.lit("one day 0 is outside the calendar"))
        .otherwise(pl.format("the event's day 0 is {} session(s) {}", apart.abs(), later)),
    )
    differ = col(S.CALENDAR_PREFIX, S.DAY0).ne_missing(col(S.FILING_PREFIX, S.DAY0))
    return pairs.sort(S.TICKER, _DATE).select(
        S.TICKER,
        *(col(S.CALENDAR_PREFIX, c) for c in _COMPARED),
        *(col(S.FILING_PREFIX, c) for c in _COMPARED),
        apart.alias(S.SESSIONS_APART),
        pl.when(differ).then(finding).alias(S.FINDING),
    )


def _aligned(events: Sequence[EventSpec], cal: SessionCalendar, prefix: str) -> pl.DataFrame:
    """One row per event and primary ticker: the join key (ticker, announcement date) and the
    event's id, announcement, day 0, its session and rule, prefixed."""
    columns = (S.EVENT_ID, S.ANNOUNCED, S.DAY0, S.DAY0_SESSION, S.DAY0_RULE)
    if not events:
        frame = pl.DataFrame(schema={
            S.TICKER: pl.String, _DATE: pl.Date, S.EVENT_ID: pl.String, S.ANNOUNCED: pl.String,
            S.DAY0: pl.Date, S.DAY0_SESSION: pl.Int32, S.DAY0_RULE: pl.String,
        })
    else:
        frame = align_events(events_frame(events).filter(pl.col(S.ROLE) == "primary"), cal)
    return frame.select(S.TICKER, _DATE, *(pl.col(c).alias(prefix + c) for c in columns)).sort(_DATE)
