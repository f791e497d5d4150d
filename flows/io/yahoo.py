"""Yahoo Finance through yfinance 1.7: the only module of the project that imports yfinance.

yfinance does not raise when Yahoo has nothing or cannot be reached: it returns empty or
all-NaN columns and writes the reason to the ``yfinance`` logger. The functions here turn
that into explicit failures with a reason a user can act on, and hand back long polars
frames keyed by the column names of :mod:`analysis.schema`.

A network that is absent (the host name does not resolve, the connection is refused) is
recognised on the first attempt and not retried: it will not come back within a run. Failures
that may pass (timeouts, rate limits, server errors and other answers that are not prices)
are retried with backoff; "Yahoo has no data" is not retried.

yfinance keeps its settings, log handlers and warning filters in process-wide state, so
calls into it are serialised by a lock.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import pandas as pd
import polars as pl
import yfinance as yf
from pandas.errors import Pandas4Warning
from yfinance.data import YfData

from analysis import schema
from analysis.errors import PriceSourceError

__all__ = ["EarningsResult", "FetchResult", "configure_cache", "fetch_earnings", "fetch_prices", "fetch_shares"]

_YAHOO_FIELDS = {
    "Open": schema.OPEN, "High": schema.HIGH, "Low": schema.LOW, "Close": schema.CLOSE,
    "Adj Close": schema.ADJ_CLOSE, "Volume": schema.VOLUME,
}
_PRICES_SCHEMA = {schema.TICKER: pl.String, schema.DATE: pl.Date} | dict.fromkeys(
    schema.PRICE_COLUMNS[1:], pl.Float64
)
# Network failures, as they appear in the exception reprs yfinance logs (curl's messages), what
# to call them, and whether they mean the network is absent (first match wins: a connection
# that timed out is transient, one that was refused is not).
_NETWORK_FAILURES = (
    (re.compile(r"DNSError|Could not resolve", re.I), "could not resolve host", True),
    (re.compile(r"Timeout|timed out", re.I), "timed out", False),
    (re.compile(r"Failed to connect|Could(?: not|n't) connect|Connection refused", re.I), "could not connect", True),
    (re.compile(r"ConnectionError|SSLError|ProxyError", re.I), "connection failed", False),
    (re.compile(r"RateLimit|Too Many Requests", re.I), "rate limited", False),
)
BUSY_RETRIES = 3
"""Times a ticker that met yfinance's busy timezone cache is asked again, at once."""
# What yfinance logs when its own timezone cache (SQLite, shared by its download threads) was busy:
# a local hiccup, not Yahoo's answer (seen 1 in ~15 offline runs), asked again at once.
_LOCAL = re.compile(r"database is locked", re.I)
# What yfinance logs when Yahoo has no data for a symbol (as opposed to an answer it could not read).
_NO_DATA = re.compile(r"HTTP Error 404|Not Found|delisted|PricesMissing|TzMissing|no price data|No data found", re.I)
# Yahoo's earnings calendar (the page yfinance's ``get_earnings_dates`` reads): its columns -> ours.
_EARNINGS_FIELDS = {
    "Event Name": schema.EARNINGS_NAME, "EPS Estimate": schema.EPS_ESTIMATE, "Reported EPS": schema.EPS_REPORTED,
    "Surprise(%)": schema.EPS_SURPRISE_PCT,
}
_EARNINGS_SCHEMA = {
    schema.TICKER: pl.String, schema.EARNINGS_AT: pl.Datetime("us", "UTC"), schema.EARNINGS_NAME: pl.String,
    schema.EPS_ESTIMATE: pl.Float64, schema.EPS_REPORTED: pl.Float64, schema.EPS_SURPRISE_PCT: pl.Float64,
}
EARNINGS_ROWS = 100
"""Rows asked of Yahoo's earnings calendar per ticker (its cap): about 25 years of quarters."""
_LOCK = threading.Lock()
_cache_dir: Path | None = None


@dataclass(frozen=True)
class FetchResult:
    """What one :func:`fetch_prices` call obtained.

    Attributes
    ----------
    prices
        Long frame: TICKER, DATE, OPEN, HIGH, LOW, CLOSE, ADJ_CLOSE, VOLUME, sorted by
        ticker and date, no row without a close.
    failures
        Upper-case ticker -> why Yahoo gave nothing for it. A ticker is either here or in
        ``prices``.
    offline
        Nothing came back because the network is absent (DNS failure, connection refused):
        asking Yahoo again in this run is pointless.
    """

    prices: pl.DataFrame
    failures: dict[str, str]
    offline: bool = False


def configure_cache(path: Path) -> None:
    """Keep yfinance's sqlite caches (ticker timezones, cookies) under ``path``.

    Call it before the first request: yfinance keeps using a cache it has already opened.

    Parameters
    ----------
    path
        Directory; created if missing. Calling again with the same path does nothing.
    """
    global _cache_dir
    if path == _cache_dir:
        return
    path.mkdir(parents=True, exist_ok=True)
    yf.set_tz_cache_location(str(path))
    _cache_dir = path


def fetch_prices(
    tickers: Sequence[str],
    start: date,
    end: date,
    *,
    retries: int = 2,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """Download daily bars (raw OHLC, Yahoo's adjusted close, volume) for ``tickers``.

    One ``yf.download`` per attempt covers every ticker still missing; tickers whose failure
    may pass (timeout, rate limit, an answer that is not prices) are retried up to ``retries``
    times, waiting ``backoff * 2**k`` seconds before the k-th retry (k = 0, 1, ...); those that
    only met yfinance's busy timezone cache are asked again at once, up to :data:`BUSY_RETRIES`
    times whatever ``retries`` says (a local hiccup, not Yahoo's answer). Tickers that Yahoo
    has no data for, or that failed because the network is absent, are not.

    Parameters
    ----------
    tickers
        Yahoo symbols; upper-cased and de-duplicated, as yfinance does.
    start, end
        First and last calendar day wanted, both inclusive.
    retries
        Extra attempts for the tickers that failed.
    backoff
        Seconds before the first retry; doubled for each further one.
    sleep
        How to wait (injected so tests do not).

    Returns
    -------
    FetchResult
        The bars that came back, and a reason for every ticker that got none (unknown,
        delisted, no session in the range, or Yahoo unreachable). Callers decide whether
        an empty range is an error.
    """
    pending = list(dict.fromkeys(t.upper() for t in tickers))
    frames = [pl.DataFrame(schema=_PRICES_SCHEMA)]
    failures: dict[str, str] = {}
    absent = False
    retried, busy_left = 0, BUSY_RETRIES
    while pending:
        prices, log = _download(pending, start, end)
        frames.append(prices)
        got = set(prices[schema.TICKER])
        why = {ticker: _price_failure(ticker, log, start, end) for ticker in pending if ticker not in got}
        for ticker in got:
            failures.pop(ticker, None)  # came back on a retry
        failures |= {ticker: reason for ticker, (reason, _) in why.items()}
        absent = absent or any(kind == "absent" for _, kind in why.values())
        pending = []
        may_pass = [ticker for ticker, (_, kind) in why.items() if kind == "may pass"]
        if may_pass and retried < retries:
            sleep(backoff * 2 ** retried)
            retried, pending = retried + 1, may_pass
        busy = [ticker for ticker, (_, kind) in why.items() if kind == "local"]
        if busy and busy_left:
            busy_left, pending = busy_left - 1, pending + busy
        if pending:
            YfData.cache_get.cache_clear()  # yfinance memoises answers for past ranges, failures too
    prices = pl.concat(frames).sort(schema.TICKER, schema.DATE)
    return FetchResult(prices, failures, offline=absent and prices.is_empty())


def fetch_shares(ticker: str, start: date, end: date) -> pl.DataFrame:
    """Shares outstanding reported by Yahoo between ``start`` and ``end`` (inclusive).

    Parameters
    ----------
    ticker
        Yahoo symbol; upper-cased.
    start, end
        First and last calendar day wanted.

    Returns
    -------
    pl.DataFrame
        TICKER, AS_OF_DATE (Date), SHARES (Int64), one row per date (the last report of a
        day wins), sorted by date. When Yahoo has no history for the range, the one current
        figure (``fast_info["shares"]``) dated ``end``.

    Raises
    ------
    PriceSourceError
        Yahoo gave no share count at all (or could not be reached).
    """
    ticker = ticker.upper()
    errors: list[str] = []
    with _yfinance_quietly() as log:
        source = yf.Ticker(ticker)
        try:
            history = source.get_shares_full(start=start, end=end + timedelta(days=1))
        except Exception as error:  # yfinance raises whatever its transport raised
            errors.append(repr(error))
            history = None
        if history is not None and not history.empty:
            return _shares_frame(ticker, history)
        try:
            current = source.fast_info["shares"]
        except Exception as error:
            errors.append(repr(error))
            current = None
    if current:
        return pl.DataFrame(
            {schema.TICKER: [ticker], schema.AS_OF_DATE: [end], schema.SHARES: [int(current)]},
            schema={schema.TICKER: pl.String, schema.AS_OF_DATE: pl.Date, schema.SHARES: pl.Int64},
        )
    cause, _ = _network_failure(" ".join(errors + log))
    reason = f"Yahoo Finance is unreachable ({cause})" if cause else "no shares outstanding from Yahoo"
    raise PriceSourceError(ticker, f"{reason}; import them with `market-reaction shares import FILE`")


@dataclass(frozen=True)
class EarningsResult:
    """What one :func:`fetch_earnings` call obtained.

    Attributes
    ----------
    dates
        One row per ticker and calendar entry: TICKER, EARNINGS_AT (UTC; Yahoo gives US
        Eastern wall times to the hour, midnight when it has no time of day), EARNINGS_NAME,
        EPS_ESTIMATE, EPS_REPORTED, EPS_SURPRISE_PCT (nulls where Yahoo shows "-"), sorted by
        ticker and time. Past and upcoming entries alike.
    failures
        Upper-case ticker -> why Yahoo gave no earnings dates for it.
    offline
        Nothing came back because the network is absent.
    """

    dates: pl.DataFrame
    failures: dict[str, str]
    offline: bool = False


def fetch_earnings(
    tickers: Sequence[str],
    *,
    retries: int = 2,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> EarningsResult:
    """Past and upcoming earnings dates of ``tickers`` from Yahoo's earnings calendar.

    One ``Ticker.get_earnings_dates(limit=EARNINGS_ROWS)`` per ticker (yfinance reads the
    calendar page's table: one request each). Failures that may pass (timeouts, rate limits,
    a page yfinance could not read) are retried up to ``retries`` times after ``backoff *
    2**k`` seconds; "no earnings dates" is not retried; once the network is found absent
    (DNS failure, connection refused) no further ticker is asked.

    Parameters
    ----------
    tickers
        Yahoo symbols; upper-cased and de-duplicated.
    retries, backoff, sleep
        As for :func:`fetch_prices`.

    Returns
    -------
    EarningsResult
        The calendar entries that came back, and a reason for every ticker that got none.
    """
    pending = list(dict.fromkeys(t.upper() for t in tickers))
    frames = [pl.DataFrame(schema=_EARNINGS_SCHEMA)]
    failures: dict[str, str] = {}
    unreachable: str | None = None  # the reason, once the network is found absent
    for attempt in range(retries + 1):
        if not pending:
            break
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
            YfData.cache_get.cache_clear()  # yfinance memoises the pages it read, unreadable ones too
        retry = []
        for ticker in pending:
            dates, (reason, kind) = (None, (unreachable, "absent")) if unreachable else _earnings_of(ticker)
            if dates is not None:
                frames.append(dates)
                failures.pop(ticker, None)
                continue
            failures[ticker] = reason
            if kind == "absent":
                unreachable = reason
            elif kind == "may pass":
                retry.append(ticker)
        pending = [] if unreachable else retry
    dates = pl.concat(frames).sort(schema.TICKER, schema.EARNINGS_AT)
    return EarningsResult(dates, failures, offline=unreachable is not None and dates.is_empty())


def _earnings_of(ticker: str) -> tuple[pl.DataFrame | None, tuple[str, FailureKind]]:
    """One ticker's calendar entries; or None, why, and whether to ask again."""
    error = None
    with _yfinance_quietly() as log:
        try:
            table = yf.Ticker(ticker).get_earnings_dates(limit=EARNINGS_ROWS)
        except Exception as raised:  # yfinance raises whatever its transport or pandas raised
            error, table = raised, None
    if table is not None and not table.empty:
        dates = _earnings_frame(ticker, table)
        if not dates.is_empty():
            return dates, ("", "no data")
    cause, absent = _network_failure(" ".join([repr(error), *log]))
    if cause:
        return None, (f"Yahoo Finance is unreachable ({cause})", "absent" if absent else "may pass")
    if error is not None:
        answer = f"{type(error).__name__}: {error}"[:200]
        return None, (f"Yahoo's earnings calendar could not be read ({answer}); try again later", "may pass")
    return None, ("Yahoo has no earnings dates for it (unknown or delisted symbol, or none reported yet)", "no data")


def _earnings_frame(ticker: str, table: pd.DataFrame) -> pl.DataFrame:
    """``get_earnings_dates``'s frame (aware "Earnings Date" index) -> our columns, in UTC."""
    frame = pl.from_pandas(table.rename_axis(index=schema.EARNINGS_AT).reset_index(), nan_to_null=True)
    return frame.select(
        pl.lit(ticker, pl.String).alias(schema.TICKER),
        pl.col(schema.EARNINGS_AT).dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        *(
            (pl.col(yahoo) if yahoo in frame.columns else pl.lit(None))
            .cast(_EARNINGS_SCHEMA[ours], strict=False).alias(ours)
            for yahoo, ours in _EARNINGS_FIELDS.items()
        ),
    ).drop_nulls(schema.EARNINGS_AT)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _yfinance_quietly() -> Iterator[list[str]]:
    """Run yfinance with its log captured (the yielded list), its warnings silenced, and
    its exceptions raised instead of swallowed (``download`` still catches them per ticker
    and logs their repr, which is what tells "unreachable" from "no data")."""
    logger = logging.getLogger("yfinance")
    capture = _Capture()
    with _LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Pandas4Warning)
        warnings.simplefilter("ignore", DeprecationWarning)
        propagate, level, hide_exceptions = logger.propagate, logger.level, yf.config.debug.hide_exceptions
        logger.addHandler(capture)
        logger.propagate = False
        logger.setLevel(logging.INFO)  # its failures are read from the log, whatever level the root logger has
        yf.config.debug.hide_exceptions = False
        try:
            yield capture.messages
        finally:
            logger.removeHandler(capture)
            logger.propagate = propagate
            logger.setLevel(level)
            yf.config.debug.hide_exceptions = hide_exceptions


def _download(tickers: list[str], start: date, end: date) -> tuple[pl.DataFrame, list[str]]:
    """One ``yf.download`` for all ``tickers``: the long frame and the captured log."""
    with _yfinance_quietly() as log:
        wide = yf.download(
            tickers, start=start, end=end + timedelta(days=1),  # yfinance's end is exclusive
            auto_adjust=False, actions=False, progress=False,
            group_by="column", multi_level_index=True, threads=True,
        )
    return _long_prices(wide), log


def _long_prices(wide: pd.DataFrame) -> pl.DataFrame:
    """yfinance's (field, ticker) column MultiIndex -> one row per ticker and date with a close."""
    if wide.empty:
        return pl.DataFrame(schema=_PRICES_SCHEMA)
    long = wide.rename_axis(index=schema.DATE).stack(level="Ticker", future_stack=True).reset_index()
    frame = pl.from_pandas(long.rename(columns={"Ticker": schema.TICKER, **_YAHOO_FIELDS}), nan_to_null=True)
    return frame.select(
        pl.col(schema.TICKER).cast(pl.String),
        pl.col(schema.DATE).dt.date(),
        *(pl.col(column).cast(pl.Float64) for column in schema.PRICE_COLUMNS[1:]),
    ).drop_nulls(schema.CLOSE)


def _shares_frame(ticker: str, history: pd.Series) -> pl.DataFrame:
    """``get_shares_full``'s series (tz-aware stamps, dates may repeat) -> last value per date."""
    frame = pl.from_pandas(history.rename(schema.SHARES).rename_axis(schema.AS_OF_DATE).reset_index())
    return (
        frame.select(
            pl.lit(ticker, pl.String).alias(schema.TICKER),
            pl.col(schema.AS_OF_DATE).dt.date(),
            pl.col(schema.SHARES).cast(pl.Int64),
        )
        .drop_nulls(schema.SHARES)
        .unique(schema.AS_OF_DATE, keep="last", maintain_order=True)
        .sort(schema.AS_OF_DATE)
    )


def _network_failure(text: str) -> tuple[str | None, bool]:
    """What kind of network failure ``text`` reports, if any, and whether it means the network
    is absent."""
    return next(((cause, absent) for pattern, cause, absent in _NETWORK_FAILURES if pattern.search(text)), (None, False))


FailureKind = Literal["absent", "no data", "may pass", "local"]
"""Why a ticker got nothing: the network is absent, Yahoo has no data, a failure that may pass
(retried after the backoff), or yfinance's own cache was busy (retried at once)."""


def _price_failure(ticker: str, log: list[str], start: date, end: date) -> tuple[str, FailureKind]:
    """Why ``ticker`` got no prices, from the log lines that name it (yfinance quotes symbols):
    Yahoo unreachable, Yahoo has nothing, or Yahoo answered something yfinance could not read
    (an error page, a server error, JSON of another shape); and whether to ask again."""
    lines = [line for line in log if f"'{ticker}'" in line]
    cause, absent = _network_failure(" ".join(lines))
    fix = f"import prices with `market-reaction prices import FILE --ticker {ticker}`"
    if cause:
        return f"Yahoo Finance is unreachable ({cause}); {fix}", "absent" if absent else "may pass"
    if any(_LOCAL.search(line) for line in lines):
        return f"yfinance's timezone cache was busy ({lines[-1].split(': ', 1)[-1].strip()[:200]}); try again", "local"
    if lines and not any(_NO_DATA.search(line) for line in lines):
        answer = lines[0].split(": ", 1)[-1].strip()
        return f"Yahoo's answer could not be read ({answer[:200]}); try again later, or {fix}", "may pass"
    return f"Yahoo returned no prices for {start}..{end} (unknown, delisted, or no trading in that range)", "no data"
