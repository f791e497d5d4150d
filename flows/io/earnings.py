"""``market-reaction events discover TICKER... --source earnings``: earnings dates from Yahoo's
earnings calendar as catalog events, checked against the catalog's own earnings events.

:func:`discover_earnings` asks Yahoo (through :mod:`flows.io.yahoo`) for each ticker's past
and upcoming earnings dates, turns them into events (:mod:`analysis.earnings`), and compares
them with the catalog's events in group ``earnings`` from other sources (8-K item 2.02
filings, curated events): an entry that is the same release as one of them is not added
again, and where the two place day 0 on different sessions the disagreement is reported.
Entries already in the catalog (same id) are not added again either, so a discovery can be
repeated. Upcoming entries (day 0 not closed yet: Yahoo's estimate, which may move) are left
out unless asked for.

:func:`analysis.catalog.toml_events` writes events as ``[[events]]`` tables that
:func:`analysis.catalog.parse_catalog_toml` reads back unchanged; the command prints them,
so that ``>> catalog.toml`` appends them to a catalog (or :func:`flows.io.catalog.append_events`
appends them, idempotently).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl

from analysis import schema as S
from analysis.calendar import exchange_calendar
from analysis.earnings import EARNINGS_GROUP, YAHOO_SOURCE, calendar_events, calendar_frame, compare_day0
from analysis.errors import DataUnavailableError, InputError
from analysis.specs import EventSpec, check_ticker
from flows import progress, settings
from flows.io.catalog import load_catalog


@dataclass(frozen=True)
class EarningsDiscovery:
    """What :func:`discover_earnings` found.

    Attributes
    ----------
    events
        Calendar entries that are new to the catalog, by ticker and date (upcoming ones only
        when asked for).
    upcoming
        Upcoming entries left out.
    matched
        :func:`analysis.earnings.compare_day0` of the calendar entries against the catalog's
        earnings events of other sources: one row per entry that is the same release as a
        catalog event (and so not among ``events``), FINDING set where their day 0s differ.
    known
        Ids of entries already in the catalog.
    failures
        Ticker -> why Yahoo gave no earnings dates for it.
    """

    events: tuple[EventSpec, ...]
    upcoming: tuple[EventSpec, ...]
    matched: pl.DataFrame
    known: tuple[str, ...]
    failures: dict[str, str]

    @property
    def disagreements(self) -> list[str]:
        """One sentence per release whose day 0 differs between the calendar and the catalog."""
        return self.matched[S.FINDING].drop_nulls().to_list()


def discover_earnings(
    tickers: Sequence[str],
    since: date | None = None,
    until: date | None = None,
    *,
    catalog: Path | None = None,
    upcoming: bool = False,
    now: datetime | None = None,
    calendar: str = "XNYS",
    retries: int = 2,
) -> EarningsDiscovery:
    """Earnings dates of ``tickers`` from Yahoo's calendar, as events new to ``catalog``.

    Parameters
    ----------
    tickers
        Yahoo symbols.
    since, until
        First and last announcement date kept (inclusive; None: no bound).
    catalog
        The catalog to compare with and not to repeat; a path that does not exist yet is an
        empty catalog.
    upcoming
        Keep the entries whose day 0 has not closed yet (Yahoo's estimates).
    now
        The time that decides what is upcoming (default: now).
    calendar
        Exchange calendar of day 0.
    retries
        Extra attempts at Yahoo for failures that may pass.

    Raises
    ------
    InputError
        A bad ticker, ``since`` after ``until``, or a catalog that cannot be read.
    DataUnavailableError
        No ticker got any earnings date (Yahoo unreachable, unknown symbols): one line with
        the reason.
    """
    from flows.io import yahoo

    symbols = [check_ticker(t, field="TICKER") for t in tickers]
    if since and until and since > until:
        raise InputError(f"--since {since} is after --until {until}", field="since")
    known_events = load_catalog(catalog) if catalog is not None and catalog.exists() else ()
    cal = exchange_calendar(calendar)
    yahoo.configure_cache(settings.cache_dir())
    fetched = yahoo.fetch_earnings(symbols, retries=retries, backoff=settings.retry_backoff(settings.YAHOO_BACKOFF))
    if fetched.dates.is_empty():
        reasons = progress.grouped_notes([f"{t}: {why}" for t, why in fetched.failures.items()])
        raise DataUnavailableError("no earnings dates: " + "; ".join(reasons))

    frame = calendar_frame(fetched.dates, cal, now or datetime.now(timezone.utc)).filter(
        pl.col("announced_date").is_between(since or date.min, until or date.max)
    )
    later = calendar_events(frame.filter(pl.col(S.UPCOMING)), cal.tz)
    found = calendar_events(frame.filter(~pl.col(S.UPCOMING)), cal.tz) + (later if upcoming else ())
    ids = {ev.id for ev in known_events}
    others = [ev for ev in known_events if ev.group == EARNINGS_GROUP and ev.source != YAHOO_SOURCE]
    matched = compare_day0([ev for ev in found if ev.id not in ids], others, cal)
    paired = set(matched[S.CALENDAR_PREFIX + S.EVENT_ID])
    return EarningsDiscovery(
        events=tuple(ev for ev in found if ev.id not in ids and ev.id not in paired),
        upcoming=() if upcoming else tuple(ev for ev in later if ev.id not in ids),
        matched=matched,
        known=tuple(ev.id for ev in found if ev.id in ids),
        failures=fetched.failures,
    )
