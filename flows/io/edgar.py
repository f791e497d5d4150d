"""SEC EDGAR: the filings of tickers found, timed to the second from their SEC headers, and
kept in the store (``market-reaction events discover``).

:func:`discover` is the library function: tickers → CIKs (``company_tickers.json``) → each
company's submissions file (``filings.recent``, and the older pages it links when ``since``
reaches back before them) → the filings of the chosen forms filed in ``[since, until]`` →
each one's SEC header (the true acceptance time, US/Eastern: the submissions JSON's
``acceptanceDateTime`` is not always UTC, :mod:`analysis.filings`) → catalog events. Every
filing it times, whatever its items, is also appended to the store's catalog of its ticker
(:func:`discovered_path`), where a study finds the candidate confounders of that ticker
without the network (:func:`discovered_events`).

EDGAR's fair-access rules are kept by :class:`EdgarClient`: a User-Agent naming the user and
an email (``$MARKET_REACTION_SEC_USER_AGENT``; :class:`InputError` when missing, before any
request), at most :data:`RATE` requests per second (a token bucket per process), bounded
retries with backoff on 429 and 503 (``Retry-After`` when EDGAR gives one, capped at
:data:`MAX_WAIT` seconds; else ``$MARKET_REACTION_RETRY_BACKOFF`` seconds, default 1, doubled
per retry; :data:`ATTEMPTS` attempts in all). Answers are cached under
``<home>/edgar/cache/``: a filing's header never changes (kept for good), a submissions file is
asked again when older than ``max_age`` (default :data:`SUBMISSIONS_MAX_AGE`), the ticker map
after a day. An answer is cached only once it has been read (a garbled one is not kept).

The base URLs are ``$MARKET_REACTION_SEC_DATA_URL`` (default ``https://data.sec.gov``) and
``$MARKET_REACTION_SEC_WWW_URL`` (default ``https://www.sec.gov``), so a mirror or a fake
EDGAR on loopback (the tests) serves the same paths.
"""

from __future__ import annotations

import difflib
import gzip
import os
import re
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from analysis.errors import DataUnavailableError, InputError
from analysis.filings import (
    Filing, FilingHeader, Submissions, accession_of, filing_events, header_url, json_clock, parse_header,
    parse_submissions, parse_submissions_page, parse_ticker_map, split_items, wanted,
)
from analysis.specs import EventSpec, check_ticker
from flows import progress, settings
from flows.io.atomic import replace_file
from flows.io.catalog import Appended, append_events, load_catalog

T = TypeVar("T")

USER_AGENT_ENV = "MARKET_REACTION_SEC_USER_AGENT"
DATA_URL_ENV = "MARKET_REACTION_SEC_DATA_URL"
WWW_URL_ENV = "MARKET_REACTION_SEC_WWW_URL"
DATA_URL = "https://data.sec.gov"
WWW_URL = "https://www.sec.gov"
RATE = 10.0
"""Requests per second at most (EDGAR's fair-access limit)."""
ATTEMPTS = 4
"""Requests per URL at most (the first and three retries on 429 or 503)."""
MAX_WAIT = 10.0
"""Seconds a ``Retry-After`` is honoured up to."""
TIMEOUT = 30.0
"""Seconds per request."""
SUBMISSIONS_MAX_AGE = 600.0
"""Seconds a cached submissions file is used before it is asked again (10 minutes)."""
TICKERS_MAX_AGE = 86_400.0
PAGE_MAX_AGE = 30 * 86_400.0
"""An older page of a submissions file changes seldom: asked again after 30 days."""
DEFAULT_FORMS = ("8-K", "6-K")
RETRIED = (429, 503)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def edgar_home(root: Path | str) -> Path:
    """EDGAR's folder in the store ``root`` (the home, :func:`flows.settings.home`)."""
    return Path(root) / "edgar"


def discovered_path(root: Path | str, ticker: str) -> Path:
    """The store's catalog of the filings discovered for ``ticker``: ``<root>/edgar/events/<TICKER>.csv``."""
    return edgar_home(root) / "events" / f"{quote(check_ticker(ticker), safe='')}.csv"


class TokenBucket:
    """At most ``rate`` requests per second: each :meth:`take` waits (at most ``1/rate``
    seconds, the refill of one token) until a token is there. Thread-safe."""

    def __init__(self, rate: float = RATE, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.tokens, self.stamp = 1.0, clock()
        self.lock = threading.Lock()

    def take(self) -> None:
        with self.lock:
            now = self.clock()
            self.tokens = min(1.0, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens < 1.0:
                wait = (1.0 - self.tokens) / self.rate
                self.sleep(wait)
                self.stamp += wait
                self.tokens = 1.0
            self.tokens -= 1.0


_BUCKET = TokenBucket()  # one per process: every client shares the limit


def user_agent() -> str:
    """``$MARKET_REACTION_SEC_USER_AGENT``, checked: EDGAR asks for a name and an email.

    Raises
    ------
    InputError
        When it is missing or holds no email address.
    """
    value = os.environ.get(USER_AGENT_ENV, "").strip()
    if not value or not _EMAIL.search(value):
        got = f" (got {value!r})" if value else ""
        raise InputError(f"SEC EDGAR asks every client to say who it is: set {USER_AGENT_ENV} to your name and email, "
                         f"e.g. export {USER_AGENT_ENV}='Jane Doe jane.doe@example.com'{got}", field=USER_AGENT_ENV)
    return value


class EdgarClient:
    """EDGAR's answers, from the cache under ``cache`` or asked for (module docstring).

    Parameters
    ----------
    cache
        The cache folder (``<home>/edgar/cache``).
    bucket
        The rate limit (default: the process's, :data:`RATE` per second).
    backoff
        Seconds before the first retry of a 429 or 503 without ``Retry-After`` (doubled per
        retry); default ``$MARKET_REACTION_RETRY_BACKOFF``, else 1.
    sleep
        Waits between retries (tests pass a recorder).
    """

    def __init__(self, cache: Path, bucket: TokenBucket | None = None, backoff: float | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.cache = Path(cache)
        self.bucket = bucket or _BUCKET
        self.backoff = settings.retry_backoff(settings.EDGAR_BACKOFF) if backoff is None else backoff
        self.sleep = sleep
        self.data_url = os.environ.get(DATA_URL_ENV, "").strip().rstrip("/") or DATA_URL
        self.www_url = os.environ.get(WWW_URL_ENV, "").strip().rstrip("/") or WWW_URL
        self.requests = 0

    # --- the answers ------------------------------------------------------------------------

    def ticker_map(self) -> dict[str, int]:
        url = f"{self.www_url}/files/company_tickers.json"
        return self.get(url, self.cache / "company_tickers.json", TICKERS_MAX_AGE, parse_ticker_map)

    def submissions(self, cik: int, max_age: float = SUBMISSIONS_MAX_AGE) -> Submissions:
        name = f"CIK{cik:010d}.json"
        return self.get(f"{self.data_url}/submissions/{name}", self.cache / "submissions" / name, max_age,
                        parse_submissions)

    def page(self, name: str, cik: int, company: str) -> tuple[Filing, ...]:
        return self.get(f"{self.data_url}/submissions/{name}", self.cache / "submissions" / name, PAGE_MAX_AGE,
                        lambda text, url: parse_submissions_page(text, url, cik, company))

    def header(self, cik: int, accession: str) -> FilingHeader:
        url = header_url(cik, accession, self.www_url)

        def parse(text: str, where: str) -> FilingHeader:
            found = parse_header(text, where)
            if found.accession != accession:
                raise DataUnavailableError(f"{where}: EDGAR's answer could not be read (the header is that of "
                                           f"{found.accession}, not {accession})")
            return found

        return self.get(url, self.cache / "headers" / f"{cik:010d}" / f"{accession}.hdr.sgml", None, parse)

    # --- the cache and the requests ---------------------------------------------------------

    def get(self, url: str, path: Path, max_age: float | None, parse: Callable[[str, str], T]) -> T:
        """``parse(text, url)`` of the cached answer when it is younger than ``max_age``
        seconds (None: forever) and reads, else of a fresh answer, cached once it has read."""
        try:
            fresh = max_age is None or time.time() - path.stat().st_mtime < max_age
            if fresh:
                return parse(path.read_text(encoding="utf-8", errors="replace"), url)
        except (OSError, DataUnavailableError):
            pass  # not cached, unreadable or garbled: ask again
        body = self.fetch(url)
        value = parse(body.decode("utf-8", errors="replace"), url)
        replace_file(path, body)
        return value

    def fetch(self, url: str) -> bytes:
        """The body of ``url`` (see the module docstring for the rules it keeps).

        Raises
        ------
        InputError
            No User-Agent (before any request).
        DataUnavailableError
            One line naming ``url``: unreachable, an HTTP error, or still 429/503 after
            :data:`ATTEMPTS` attempts.
        """
        request = urllib.request.Request(url, headers={
            "User-Agent": user_agent(), "Accept-Encoding": "gzip, deflate", "Accept": "application/json, text/plain, */*",
        })
        for attempt in range(1, ATTEMPTS + 1):
            self.bucket.take()
            self.requests += 1
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                    return _decoded(response.read(), response.headers.get("Content-Encoding", ""), url)
            except urllib.error.HTTPError as e:
                if e.code not in RETRIED or attempt == ATTEMPTS:
                    what = "rate limited" if e.code == 429 else "not found" if e.code == 404 else e.reason
                    tries = f" after {attempt} attempts" if e.code in RETRIED else ""
                    raise DataUnavailableError(f"{url}: EDGAR answered HTTP {e.code} ({what}){tries}") from None
                self.sleep(_wait(e.headers.get("Retry-After"), self.backoff * 2 ** (attempt - 1)))
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                reason = getattr(e, "reason", e)
                raise DataUnavailableError(f"{url}: EDGAR unreachable ({reason})") from None
        raise AssertionError("unreachable")  # the loop returns or raises


def _wait(retry_after: str | None, default: float) -> float:
    """Seconds to wait before a retry: ``Retry-After`` (seconds) capped at :data:`MAX_WAIT`, else ``default``."""
    try:
        return min(max(float(retry_after), 0.0), MAX_WAIT) if retry_after is not None else min(default, MAX_WAIT)
    except ValueError:
        return min(default, MAX_WAIT)


def _decoded(body: bytes, encoding: str, url: str) -> bytes:
    try:
        if encoding.lower() == "gzip":
            return gzip.decompress(body)
        if encoding.lower() == "deflate":
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError) as e:
        raise DataUnavailableError(f"{url}: EDGAR's answer could not be read ({encoding} body: {e})") from None
    return body


# --- discovery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover` found.

    Attributes
    ----------
    events
        The events of the filings asked for (the chosen forms, dates and items), by ticker
        and acceptance time.
    timed
        Every filing of the chosen forms and dates it timed (all items): what the store keeps
        as candidate confounders.
    stored
        What the store's catalog of each ticker gained (:func:`discovered_path`).
    notes
        One line per company: filings timed, and which clock its JSON times were on.
    """

    events: tuple[EventSpec, ...]
    timed: tuple[EventSpec, ...]
    stored: tuple[Appended, ...]
    notes: tuple[str, ...]


def discover(
    tickers: Sequence[str], since: date | None = None, until: date | None = None,
    forms: Iterable[str] = DEFAULT_FORMS, items: Iterable[str] | None = None, *, root: Path | str,
    client: EdgarClient | None = None, calendar: str = "XNYS", max_age: float = SUBMISSIONS_MAX_AGE,
) -> Discovery:
    """Find the filings of ``tickers`` on EDGAR and make them catalog events (module docstring).

    Parameters
    ----------
    tickers
        Ticker symbols (``AMZN``; ``BRK-B`` or ``BRK.B``).
    since, until
        Filing dates (EDGAR's ``filingDate``) to keep, inclusive; None: no bound. The
        submissions file lists the recent filings (at least a year's, or the last 1,000);
        older ones are read from the older pages it links when ``since`` reaches them.
    forms
        Forms to keep, exactly as EDGAR names them (default ``8-K`` and ``6-K``; amendments
        are ``8-K/A``).
    items
        8-K items (``2.02``, ``1.01``): the events are the filings with at least one of them;
        None: all. Every filing of ``forms`` in the dates is timed and stored regardless.
    root
        The store (the home): the cache and the store's catalogs of discovered filings.
    client
        The EDGAR client (default: one caching under ``root``).
    calendar
        The exchange calendar of the timing (default XNYS).
    max_age
        Seconds a cached submissions file is used before it is asked again.

    Raises
    ------
    InputError
        An unknown ticker (with close matches), no User-Agent.
    DataUnavailableError
        EDGAR unreachable, rate limiting that did not pass, an answer that could not be read:
        one line naming the URL.
    """
    from analysis.calendar import exchange_calendar

    client = client or EdgarClient(edgar_home(root) / "cache")
    forms = tuple(dict.fromkeys(f.strip().upper() for f in forms if f.strip()))
    wanted_items = None if items is None else set(split_items(",".join(items)))
    names = list(dict.fromkeys(check_ticker(t, field="tickers") for t in tickers))
    known = client.ticker_map()
    unknown = [t for t in names if t not in known]
    if unknown:
        hints = [f"{t!r}" + (f" (did you mean {', '.join(close)}?)" if (close := difflib.get_close_matches(t, known, n=3)) else "")
                 for t in unknown]
        raise InputError(f"not in SEC EDGAR's ticker list ({client.www_url}/files/company_tickers.json): "
                         + "; ".join(hints), field="tickers")
    by_cik: dict[int, list[str]] = {}
    for t in names:
        by_cik.setdefault(known[t], []).append(t)
    pairs: list[tuple[Filing, FilingHeader]] = []
    notes = []
    for cik, its in by_cik.items():
        subs = client.submissions(cik, max_age)
        filings = list(subs.filings)
        earliest = min((f.filed for f in filings), default=None)
        if since is not None and (earliest is None or since < earliest):
            for name, start, end in subs.pages:
                if (end is None or end >= since) and (start is None or until is None or start <= until):
                    filings += client.page(name, cik, subs.company)
        chosen = list({f.accession: f for f in filings if wanted(f, forms, since, until)}.values())
        timed = [(f, client.header(cik, f.accession)) for f in chosen]
        pairs += timed
        clocks = sorted({json_clock(f.accepted_json, h.accepted) for f, h in timed})
        notes.append(f"{', '.join(its)} (CIK {cik}, {subs.company}): {len(timed)} filing(s) of {', '.join(forms)} "
                     "timed from their SEC headers" + (f"; the submissions JSON's times were on the {' and '.join(clocks)} "
                                                       "clock" if timed else ""))
    pairs.sort(key=lambda p: (p[1].accepted, p[0].accession))
    timed_events = filing_events(pairs, by_cik, exchange_calendar(calendar))
    stored = tuple(
        append_events(discovered_path(root, t), [e for e in timed_events if t in e.tickers], key=accession_of)
        for t in names
    )
    chosen_events = tuple(
        e for e, (f, h) in zip(timed_events, pairs, strict=True)
        if wanted_items is None or wanted_items & set(h.items or f.items)
    )
    return Discovery(chosen_events, timed_events, stored, tuple(notes))


def discovered_events(root: Path | str, tickers: Iterable[str], known: Iterable[EventSpec] = ()) -> tuple[EventSpec, ...]:
    """The filings discovered earlier for ``tickers`` (the store's catalogs,
    :func:`discovered_path`; no network), less those already among ``known`` (same id, or same
    accession number in the id or source). A ticker never discovered has none."""
    known = list(known)
    ids = {e.id for e in known}
    accessions = {a for e in known if (a := accession_of(e))}
    out: dict[str, EventSpec] = {}
    for t in dict.fromkeys(tickers):
        path = discovered_path(root, t)
        if not path.is_file():
            continue
        for e in load_catalog(path):
            if e.id not in ids and accession_of(e) not in accessions:
                out.setdefault(e.id, e)
    if out:
        progress.say(f"{len(out)} filing(s) discovered on EDGAR for {', '.join(sorted({t for e in out.values() for t in e.tickers}))} "
                     "taken as possible confounders (from the store; --no-discovered leaves them out)")
    return tuple(out.values())
