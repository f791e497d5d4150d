"""When a newly found event can be studied: the close of its first event window.

An event announced at time *a* reaches the market on day 0 (:func:`analysis.calendar.align_events`);
its reaction over the window ``[.., +k]`` is known once session ``day0 + k`` has closed. The
watch (:mod:`flows.orchestration.watch`) asks for the study of an event at

    ready_at = close(session(day 0) + k) + settle

where ``k`` is the last event day the study waits for (default +1: the end of the ``[-1,+1]``
window) and ``settle`` the time the data vendors take to publish that session's bar (default
30 minutes). Sessions and closes come from the exchange calendar: a weekend, a holiday or an
early close (13:00 New York) moves ``ready_at`` as it moves the session.

Pure: polars frames and values in, polars frames out; no clock (``now`` is an argument).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from analysis import schema as S
from analysis.calendar import CLOSE_UTC, SessionCalendar, align_events
from analysis.specs import EventSpec, events_frame

READY_DATE = "ready_date"
"""The session whose close makes the event ready (day ``k``)."""
READY_AT = "ready_at"
"""UTC time from which the event can be studied (that close plus the settling time)."""
DEFAULT_READY_DAY = 1
DEFAULT_SETTLE = timedelta(minutes=30)


def ready_times(
    events: Sequence[EventSpec], cal: SessionCalendar, ready_day: int = DEFAULT_READY_DAY,
    settle: timedelta = DEFAULT_SETTLE,
) -> pl.DataFrame:
    """Day 0 and the time from which each event can be studied (module docstring), vectorised
    over the events.

    Parameters
    ----------
    events
        The events (their first primary ticker places day 0; all share the announcement).
    cal
        The exchange calendar.
    ready_day
        ``k``: the event day whose close the study waits for (``>= 0``).
    settle
        Time after that close before the study starts.

    Returns
    -------
    pl.DataFrame
        ``event_id, day0, ready_date, ready_at`` (UTC datetime), one row per event in the
        given order; null day 0 and times for an event outside the calendar.

    Raises
    ------
    ValueError
        A negative ``ready_day`` (the study cannot start before day 0 is over).
    """
    if ready_day < 0:
        raise ValueError(f"ready_day: expected an event day >= 0, got {ready_day}")
    schema = {S.EVENT_ID: pl.String, S.DAY0: pl.Date, READY_DATE: pl.Date, READY_AT: pl.Datetime("us", "UTC")}
    if not events:
        return pl.DataFrame(schema=schema)
    frame = events_frame(list(events)).filter(pl.col(S.ROLE) == "primary").unique(S.EVENT_ID, keep="first",
                                                                                 maintain_order=True)
    closes = cal.sessions.select(pl.col(S.SESSION).alias("_ready"), pl.col(S.DATE).alias(READY_DATE), CLOSE_UTC)
    return (
        align_events(frame, cal)
        .with_columns((pl.col(S.DAY0_SESSION) + ready_day).alias("_ready"))
        .join(closes, on="_ready", how="left", maintain_order="left")
        .select(S.EVENT_ID, S.DAY0, READY_DATE, (pl.col(CLOSE_UTC) + settle).alias(READY_AT))
        .cast(schema)
    )


def is_session(cal: SessionCalendar, day: date) -> bool:
    """Whether ``day`` is a session of ``cal`` (a market day)."""
    return bool((cal.sessions[S.DATE] == day).any())
