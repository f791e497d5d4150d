"""Exchange calendars cached on disk.

Building a calendar with exchange-calendars (:func:`analysis.calendar.exchange_calendar`)
costs 0.5–0.7 s per process, most of it importing the library: a fifth of a one-event run.
The sessions (dates, opens and closes in UTC) are written once to
``$MARKET_REACTION_HOME/cache/calendar-<code>-<exchange-calendars version>.parquet`` and read
from there (milliseconds) by every later process; a new exchange-calendars version (new
holidays) builds a new file. An unreadable or missing file is rebuilt; a home that cannot be
written only loses the cache.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import polars as pl

from analysis.calendar import CALENDAR_END, CALENDAR_START, SessionCalendar
from analysis.calendar import exchange_calendar as build_calendar
from flows.io.atomic import replace_file
from flows.settings import home

CODE = re.compile(r"[A-Z0-9]{2,10}")  # exchange codes such as XNYS, XLON (a safe file name)


def cache_file(name: str) -> Path | None:
    """Where the sessions of calendar ``name`` are cached (None for a name that is no plain code)."""
    if not CODE.fullmatch(name):
        return None
    version = metadata.version("exchange-calendars")
    return home() / "cache" / f"calendar-{name}-{version}-{CALENDAR_START}-{CALENDAR_END}.parquet"


@lru_cache(maxsize=4)
def exchange_calendar(name: str = "XNYS") -> SessionCalendar:
    """:func:`analysis.calendar.exchange_calendar`, read from the cache file when there is one
    (module docstring); cached per process too."""
    path = cache_file(name)
    if path is not None and path.is_file():
        try:
            tz = pl.read_parquet_metadata(path)["tz"]
            return SessionCalendar(name=name, tz=tz, sessions=pl.read_parquet(path))
        except (OSError, KeyError, pl.exceptions.PolarsError):
            pass  # rebuilt below
    cal = build_calendar(name)
    if path is not None:
        try:
            replace_file(path, lambda f: cal.sessions.write_parquet(f, metadata={"tz": cal.tz}))
        except OSError:
            pass  # a home that cannot be written: no cache
    return cal
