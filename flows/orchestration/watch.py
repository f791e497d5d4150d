"""The watch: new SEC filings of a watchlist appended to a catalog, announced as Prefect
events, and studied once their first event window has closed (the flow ``watch-events`` of
:mod:`flows.orchestration.tracked`; plain steps here, no Prefect import).

Each run of :func:`watch_events`:

1. asks EDGAR for the watchlist's filings since ``since`` (default: ``lookback_days`` ago)
   (:func:`flows.io.edgar.discover`) and appends the new ones to the catalog
   (:func:`flows.io.catalog.append_events`, keyed on the accession number: atomic, idempotent,
   under the catalog's ``flock``). On a day that is no session of the exchange (a weekend,
   a market holiday) EDGAR is not asked, unless ``since`` is given;
2. records each new event in the watch's state (``<reports>/watch/state.json``): its day 0 and
   the time from which it can be studied (:func:`analysis.watch.ready_times`: the close of
   day ``ready_day``, default +1, plus ``settle_minutes``);
3. emits one Prefect event per new catalog event, :data:`DISCOVERED`;
4. emits :data:`READY` for every recorded event whose time has come and that was not
   announced ready before (a later run, usually: the one after day +1's close), and records
   that it did: the deployment trigger on :data:`READY` (``deployments/prefect.yaml``,
   :func:`flows.orchestration.serve.study_when_ready`) runs ``event-study`` on that event;
5. rewrites the watch page ``<reports>/watch/index.html`` (:mod:`flows.reporting.watchpage`):
   the newest events with their day-0 reaction, t and dollar value, from their reports.

Both events concern the resource ``market-reaction.event.<event id>`` labelled
``market-reaction.watch`` = the name of the watch's deployment (``none`` outside one), so the
trigger of each watch deployment runs its own studies only; their payload holds the event id,
its tickers, announcement, day 0, ``ready_at``, and the catalog and reports folder the study
must use. Steps 2 to 5 hold the lock of ``<reports>/watch`` (:func:`flows.io.atomic.locked`);
a run stopped between emitting :data:`READY` and recording it emits it again next time (at
least once: a second study of an event writes a second report).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from analysis import schema as S
from analysis.errors import InputError
from analysis.filings import accession_of
from analysis.specs import EventSpec
from analysis.watch import DEFAULT_READY_DAY, READY_AT, is_session, ready_times
from flows import progress
from flows.io.atomic import locked, replace_file
from flows.io.calendars import exchange_calendar
from flows.io.catalog import append_events
from flows.io.edgar import DEFAULT_FORMS, discover
from flows.orchestration.study import runner
from flows.reporting.watchpage import write_watch_page
from flows.settings import home

DISCOVERED = "market-reaction.event.discovered"
"""The Prefect event of a filing new to the catalog."""
READY = "market-reaction.event.ready"
"""The Prefect event of an event whose first window has closed: the trigger studies it."""
RESOURCE = "market-reaction.event."
"""Prefix of the resource id of an event (``market-reaction.event.<event id>``)."""
WATCH_LABEL = "market-reaction.watch"
"""The resource label naming the watch deployment that emitted the event."""
FOLDER = "watch"
STATE = "state.json"
CATALOG = "filings.toml"
LOOKBACK_DAYS = 7


@dataclass(frozen=True)
class Watched:
    """What a watch run did: the events it appended, those it announced ready, the page."""

    added: tuple[str, ...]
    ready: tuple[str, ...]
    page: str
    message: str


def watch_folder(reports: str | Path) -> Path:
    """``<reports>/watch``: the watch's state, page and default catalog."""
    return Path(reports) / FOLDER


def read_state(path: Path) -> dict[str, dict[str, Any]]:
    """Event id -> its record in the watch's state file (empty when there is none yet).

    Raises
    ------
    InputError
        A state file that cannot be read or is not the watch's JSON (named; nothing is written).
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise InputError(f"the watch's state cannot be read ({e}); move it away to start the watch afresh "
                         "(events already discovered are then not announced ready again)", file=str(path)) from None
    events = doc.get("events") if isinstance(doc, dict) else None
    if not isinstance(events, dict) or not all(isinstance(r, dict) for r in events.values()):
        raise InputError('expected {"events": {"<event id>": {...}}}: not the watch\'s state file', file=str(path))
    return events


def write_state(path: Path, events: dict[str, dict[str, Any]]) -> None:
    """Replace the state file atomically (sorted keys: the same state gives the same bytes)."""
    replace_file(path, (json.dumps({"format": 1, "events": events}, indent=1, sort_keys=True) + "\n").encode("utf-8"))


def records(events: tuple[EventSpec, ...], ready: pl.DataFrame, catalog: Path, now: datetime) -> dict[str, dict[str, Any]]:
    """The state's record of each new event (JSON values)."""
    timed = {r[S.EVENT_ID]: r for r in ready.iter_rows(named=True)}
    out = {}
    for e in events:
        r = timed.get(e.id, {})
        out[e.id] = {
            "id": e.id, "tickers": list(e.tickers), "announced": e.announced_text, "timing": e.timing,
            "description": e.description, "source": e.source, "catalog": str(catalog),
            "day0": r[S.DAY0].isoformat() if r.get(S.DAY0) else None,
            "ready_at": r[READY_AT].isoformat() if r.get(READY_AT) else None,
            "discovered_at": now.isoformat(timespec="seconds"), "study_requested_at": None,
        }
    return out


def due_records(state: dict[str, dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The recorded events that can be studied at ``now`` and were not announced ready yet, by
    ``ready_at`` (UTC ISO text, so in time order) and id."""
    due = [r for r in state.values()
           if r.get("ready_at") and not r.get("study_requested_at") and datetime.fromisoformat(r["ready_at"]) <= now]
    return sorted(due, key=lambda r: (r["ready_at"], r["id"]))


def payload(record: dict[str, Any], reports: Path) -> dict[str, Any]:
    """What an event's Prefect events carry: the event and where the study reads and writes."""
    keys = ("tickers", "announced", "timing", "day0", "ready_at", "description", "source", "catalog")
    return {"event_id": record["id"], **{k: record.get(k) for k in keys}, "reports": str(reports)}


def resource(event_id: str, watch: str) -> dict[str, str]:
    return {"prefect.resource.id": RESOURCE + event_id, "prefect.resource.name": event_id, WATCH_LABEL: watch}


def _since(since: str | None, lookback_days: int, today: date) -> date:
    if since is None:
        if lookback_days < 0:
            raise InputError(f"expected a number of days >= 0, got {lookback_days}", field="lookback_days")
        return today - timedelta(days=lookback_days)
    try:
        return date.fromisoformat(since.strip())
    except ValueError:
        raise InputError(f"expected a date YYYY-MM-DD, got {since!r}", field="since") from None


def watch_events(
    watchlist: list[str],
    reports: str = "reports",
    catalog: str | None = None,
    since: str | None = None,
    lookback_days: int = LOOKBACK_DAYS,
    forms: list[str] | None = None,
    items: list[str] | None = None,
    ready_day: int = DEFAULT_READY_DAY,
    settle_minutes: int = 30,
    store: str | None = None,
    calendar: str = "XNYS",
) -> Watched:
    """Append the watchlist's new SEC filings to a catalog, announce each as a Prefect event, and
    announce those whose first event window has closed, for the trigger that studies them;
    rewrite the watch page.

    Parameters
    ----------
    watchlist
        Ticker symbols whose filings are watched, e.g. ``["AMZN", "MSFT"]``.
    reports
        Reports folder: the watch keeps its state and page in ``<reports>/watch/``, and the
        studies it asks for write their reports here.
    catalog
        TOML or CSV catalog the new filings are appended to (default
        ``<reports>/watch/filings.toml``); the studies read it.
    since
        First filing date to look at, ``YYYY-MM-DD`` (default ``lookback_days`` ago). Given,
        EDGAR is asked even on a day without a session.
    lookback_days
        Days back the default ``since`` reaches (default 7).
    forms
        Forms to watch (default ``["8-K", "6-K"]``).
    items
        8-K items to keep, e.g. ``["2.02", "1.01"]`` (default: all).
    ready_day
        The event day whose close makes an event ready for its study (default 1: day +1's
        close, the end of the ``[-1,+1]`` window; 5 for ``[-5,+5]``).
    settle_minutes
        Minutes after that close before the study is asked for (the vendors' end-of-day bars).
    store
        Price store and EDGAR cache folder (default ``$MARKET_REACTION_HOME``).
    calendar
        Exchange calendar of day 0 and the market days (default XNYS).

    Returns
    -------
    Watched
        The events appended and announced ready, the page, and a summary.
    """
    return watch(watchlist, reports, catalog, since, lookback_days, forms, items, ready_day, settle_minutes, store,
                 calendar, now=datetime.now(timezone.utc))


def watch(
    watchlist: list[str], reports: str = "reports", catalog: str | None = None, since: str | None = None,
    lookback_days: int = LOOKBACK_DAYS, forms: list[str] | None = None, items: list[str] | None = None,
    ready_day: int = DEFAULT_READY_DAY, settle_minutes: int = 30, store: str | None = None, calendar: str = "XNYS",
    *, now: datetime,
) -> Watched:
    """:func:`watch_events` at the time ``now`` (timezone-aware)."""
    if isinstance(watchlist, str):
        watchlist = [watchlist]
    if not [t for t in watchlist if t.strip()]:
        raise InputError("expected at least one ticker to watch", field="watchlist")
    if ready_day < 0 or settle_minutes < 0:
        raise InputError(f"expected ready_day >= 0 and settle_minutes >= 0, got {ready_day} and {settle_minutes}",
                         field="ready_day")
    folder = watch_folder(reports)
    catalog_path = (Path(catalog) if catalog else folder / CATALOG).resolve()
    cal = exchange_calendar(calendar)
    today = now.astimezone(ZoneInfo(cal.tz)).date()
    start = _since(since, lookback_days, today)
    run = runner()
    watch_name = run.deployment_name() or "none"
    where = Path(reports).resolve()
    notes = []
    with locked(folder):
        state_path = folder / STATE
        state = read_state(state_path)  # before EDGAR: a broken state file stops the run before the catalog changes
        added: tuple[EventSpec, ...] = ()
        if since is not None or is_session(cal, today):
            found = discover(watchlist, start, None, forms or DEFAULT_FORMS, items, root=store or home(), calendar=calendar)
            added = append_events(catalog_path, found.events, key=accession_of).added
            notes.append(f"{len(added)} new filing(s) of {len(found.events)} since {start}")
            progress.say(f"{catalog_path}: {notes[-1]}" + (f": {', '.join(e.id for e in added)}" if added else ""))
        else:
            notes.append(f"no {cal.name} session on {today}: EDGAR not asked")
            progress.say(notes[-1])
        new = records(added, ready_times(added, cal, ready_day, timedelta(minutes=settle_minutes)), catalog_path, now)
        state.update(new)
        if new:
            write_state(state_path, state)
        for r in new.values():
            run.announce(DISCOVERED, resource(r["id"], watch_name), payload(r, where))
        requested = []
        for r in due_records(state, now):
            if run.announce(READY, resource(r["id"], watch_name), payload(r, where)):
                r["study_requested_at"] = now.isoformat(timespec="seconds")
                requested.append(r["id"])
            else:
                progress.say(f"{r['id']}: its first window closed ({r['ready_at']}); a tracked run (Prefect) asks "
                             f"for its study, or study it now: market-reaction run {r['id']} --catalog {r['catalog']}")
        if requested:
            write_state(state_path, state)
        page = write_watch_page(folder, Path(reports), state, now, ZoneInfo(cal.tz))
    notes.append(f"{len(requested)} ready for study" + (f" ({', '.join(requested)})" if requested else ""))
    return Watched(tuple(new), tuple(requested), str(page), f"{', '.join(watchlist)}: " + "; ".join(notes))
