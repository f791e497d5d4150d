"""A fake Yahoo Finance for offline tests of the yfinance adapter and everything above it.

The fixture :func:`fake_yahoo` replaces yfinance's transport (``yfinance.data.YfData.get``)
with answers built here, so yfinance's own parsing, timezone handling and MultiIndex assembly
still run. Usage::

    def test_something(fake_yahoo):
        fake_yahoo.add("AMZN", prices)      # columns DATE, OPEN, HIGH, LOW, CLOSE, ADJ_CLOSE, VOLUME
        fake_yahoo.add_shares("AMZN", shares)  # columns AS_OF_DATE (Date or Datetime), SHARES
        fake_yahoo.add_earnings("AMZN", entries)  # EARNINGS_AT (aware Datetime, or Date: no time), EPS_...
        fake_yahoo.nan_ticker("DEAD")       # every quote value null
        fake_yahoo.fail("AMZN", times=1)    # the next request for AMZN times out (a failure that may pass)
        fake_yahoo.fail("AMZN", dns=True)   # ... or cannot resolve Yahoo's host (an absent network)
        fake_yahoo.offline()                # every request fails like a missing network
        fake_yahoo.garble("AMZN", 500, b"oops")  # AMZN's price and earnings requests get this answer
        ...
        assert fake_yahoo.requests["AMZN"] == 2

Endpoints answered:

* ``/v8/finance/chart/{SYM}`` with ``period1``/``period2`` (unix seconds; bars whose session
  open lies in ``[period1, period2)``) or ``range=1d`` (yfinance's timezone probe: metadata
  only). Bars are stamped at the XNYS session open, as Yahoo does. Unregistered symbols get
  Yahoo's 404 ``{"chart": {"result": None, "error": {...}}}``.
* ``/ws/fundamentals-timeseries/v1/finance/timeseries/{SYM}`` (``Ticker.get_shares_full``
  and ``fast_info["shares"]``): ``shares_out`` points from the UTC day of ``period1`` to
  ``period2`` (exclusive). yfinance reads the stamps' UTC wall time as exchange time.
* ``/calendar/earnings?symbol={SYM}`` (``Ticker.get_earnings_dates``): the calendar page's
  table, as yfinance reads it (``Symbol, Company, Event Name, Earnings Date, EPS Estimate,
  Reported EPS, Surprise (%)``; dates as ``October 30, 2025 at 4 PM EDT``: US Eastern, the
  hour only, ``12 AM`` for an entry without a time; ``-`` for a missing number), the
  ``offset`` and ``size`` rows of them, latest first. A symbol without entries gets the page
  without a table.
* ``/v10/finance/quoteSummary/{SYM}`` and ``/v7/finance/quote`` for unregistered symbols only
  (yfinance asks them when the timezone probe fails): Yahoo's "not found" answers.

Any other request fails the test, even if yfinance swallows the exception. No request leaves
the process: ``YfData.get`` is replaced, and ``post``/``_make_request`` (the only other paths
to the HTTP session) raise. Each test gets a fresh ``YfData`` singleton, an empty
in-process response memo (``YfData.cache_get``) and yfinance caches in ``tmp_path``.
"""

from __future__ import annotations

import collections
import html
import json
import re
import warnings
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import exchange_calendars as xcals
import pandas as pd
import polars as pl
import pytest
import yfinance as yf
import yfinance.base
import yfinance.cache
import yfinance.data
from curl_cffi.requests import Response
from curl_cffi.requests.exceptions import DNSError, Timeout
from yfinance.exceptions import YFRateLimitError
from pandas.errors import Pandas4Warning

from analysis import schema

__all__ = ["FakeYahoo", "fake_yahoo", "point_caches_at", "xnys"]

_TS = "ts"  # unix seconds of the bar (session open) or shares point
_QUOTE_FIELDS = {
    "open": schema.OPEN, "high": schema.HIGH, "low": schema.LOW, "close": schema.CLOSE, "volume": schema.VOLUME,
}
_NOT_FOUND = {"code": "Not Found", "description": "No data found, symbol may be delisted"}


@cache
def xnys() -> xcals.ExchangeCalendar:
    """The NYSE calendar, built once (it is slow to build and its default bounds move with today)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Pandas4Warning)  # exchange_calendars under pandas 3.1
        return xcals.get_calendar("XNYS", start="1990-01-01", end="2030-12-31")


def _session_opens(dates: pl.Series) -> pl.Series:
    """Unix seconds of the XNYS open of each date; ``KeyError`` for a date that is no session."""
    opens = xnys().schedule["open"].loc[pd.DatetimeIndex(dates.to_numpy())]
    return pl.from_pandas(opens.reset_index(drop=True)).dt.epoch("s").alias(_TS)


def _response(url: str, status: int, payload: dict) -> Response:
    response = Response()
    response.url, response.status_code, response.ok = url, status, status < 400
    response.reason = "OK" if response.ok else "Not Found"
    response.content = json.dumps(payload).encode()
    return response


class UnexpectedRequest(AssertionError):
    """yfinance asked for something the fake does not serve."""


class FakeYahoo:
    """Yahoo's answers, registered per ticker. Create through the :func:`fake_yahoo` fixture.

    Attributes
    ----------
    requests
        Requests received per upper-case symbol (all endpoints, including failed ones).
        yfinance memoises GETs for past ranges within a process, so an identical repeated
        request may not reach the fake.
    unexpected
        Requests the fake could not answer; the fixture fails the test if any.
    """

    def __init__(self) -> None:
        self.requests: collections.Counter[str] = collections.Counter()
        self.unexpected: list[str] = []
        self._bars: dict[str, pl.DataFrame] = {}
        self._shares: dict[str, pl.DataFrame] = {}
        self._earnings: dict[str, pl.DataFrame] = {}
        self._flaps: dict[str, list[bool]] = collections.defaultdict(list)  # per symbol: the next failures (dns?)
        self._garbled: dict[str, tuple[int, bytes]] = {}
        self._offline = False

    # --- registration -----------------------------------------------------------------
    def add(self, ticker: str, prices: pl.DataFrame) -> None:
        """Serve ``prices`` (DATE, OPEN, HIGH, LOW, CLOSE, ADJ_CLOSE, VOLUME; DATE must be XNYS sessions)."""
        bars = prices.select(schema.PRICE_COLUMNS).sort(schema.DATE)
        self._bars[ticker.upper()] = bars.with_columns(_session_opens(bars[schema.DATE]))

    def nan_ticker(self, ticker: str) -> None:
        """Serve every XNYS session for ``ticker`` with all quote values null."""
        sessions = pl.Series(schema.DATE, xnys().sessions.to_numpy()).dt.date()
        nulls = [pl.lit(None, pl.Float64).alias(c) for c in schema.PRICE_COLUMNS[1:]]
        self.add(ticker, pl.DataFrame(sessions).with_columns(nulls))

    def add_shares(self, ticker: str, shares: pl.DataFrame) -> None:
        """Serve shares outstanding: AS_OF_DATE (a Date is taken as midnight UTC, or a Datetime) and SHARES."""
        instant = pl.col(schema.AS_OF_DATE).cast(pl.Datetime("ms"))
        self._shares[ticker.upper()] = shares.select(instant.dt.epoch("s").alias(_TS), schema.SHARES).sort(_TS)

    def add_earnings(self, ticker: str, entries: pl.DataFrame) -> None:
        """Serve earnings calendar entries: EARNINGS_AT (an aware Datetime, shown in US Eastern
        time to the hour as Yahoo does; a Date is shown as ``12 AM``, Yahoo's "no time"), and
        optionally EARNINGS_NAME, EPS_ESTIMATE, EPS_REPORTED, EPS_SURPRISE_PCT."""
        at = entries[schema.EARNINGS_AT]
        if at.dtype == pl.Date:
            at = at.cast(pl.Datetime("us")).dt.replace_time_zone(_EASTERN)
        optional = [pl.col(c) if c in entries.columns else pl.lit(None).alias(c) for c in _EARNINGS_TEXT]
        frame = entries.select(at.dt.convert_time_zone(_EASTERN).alias(schema.EARNINGS_AT), *optional)
        self._earnings[ticker.upper()] = frame.sort(schema.EARNINGS_AT, descending=True)

    def fail(self, ticker: str, times: int = 1, dns: bool = False) -> None:
        """Make the next ``times`` requests for ``ticker`` time out (a flap), or fail to resolve
        Yahoo's host with ``dns``."""
        self._flaps[ticker.upper()] += [dns] * times

    def garble(self, ticker: str, status: int, body: bytes) -> None:
        """Answer ``ticker``'s price and earnings requests (not the timezone probe) with ``status`` and ``body``
        (an HTML error page, a server error, JSON of another shape...); status 429 raises
        yfinance's ``YFRateLimitError`` as its ``YfData.get`` does."""
        self._garbled[ticker.upper()] = (status, body)

    def offline(self) -> None:
        """From now on every request fails as it does without network (curl could not resolve host)."""
        self._offline = True

    def online(self) -> None:
        """The network is back: requests are answered again."""
        self._offline = False

    # --- serving ----------------------------------------------------------------------
    def get(self, url: str, params: dict | None = None) -> Response:
        """What ``YfData.get`` returns under the fake."""
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query)) | dict(params or {})
        route = self._route(parts.path, query)
        if route is None:
            return self._unexpected(url, query)
        handler, symbol = route
        self.requests[symbol] += 1
        flap = self._flaps[symbol].pop(0) if self._flaps[symbol] else None
        if self._offline or flap:
            raise DNSError(f"Failed to perform, curl: (6) Could not resolve host: {parts.hostname}", 6)
        if flap is not None:
            raise Timeout("Failed to perform, curl: (28) Operation timed out after 10001 milliseconds", 28)
        response = handler(url, symbol, query)
        return self._unexpected(url, query) if response is None else response

    def refuse(self, url: str, params: dict | None = None) -> None:
        """What ``YfData.post`` and ``YfData._make_request`` do under the fake."""
        self._unexpected(url, params)

    def _route(self, path: str, query: dict):
        for pattern, handler in (
            (r"/v8/finance/chart/([^/]+)$", self._chart),
            (r"/finance/timeseries/([^/]+)$", self._shares_out),
            (r"/v10/finance/quoteSummary/([^/]+)$", self._quote_summary),
        ):
            if match := re.search(pattern, path):
                return handler, unquote(match.group(1)).upper()
        if path.endswith("/calendar/earnings") and "symbol" in query:
            return self._earnings_page, query["symbol"].upper()
        if path.endswith("/v7/finance/quote") and "symbols" in query:
            return self._quote, query["symbols"].upper()
        return None

    def _unexpected(self, url: str, query: dict | None) -> None:
        self.unexpected.append(f"{url} {query}")
        raise UnexpectedRequest(f"fake Yahoo cannot answer {url} {query}")

    def _chart(self, url: str, symbol: str, query: dict) -> Response | None:
        if symbol not in self._bars:
            return _response(url, 404, {"chart": {"result": None, "error": _NOT_FOUND}})
        registered = self._bars[symbol]
        if symbol in self._garbled and query.get("range") != "1d":
            return self._garbled_answer(url, symbol)
        if query.get("range") == "1d":
            bars = registered.clear()
        elif "period1" in query and "period2" in query:
            bars = registered.filter(pl.col(_TS).is_between(int(query["period1"]), int(query["period2"]), closed="left"))
        else:
            return None
        meta = {
            "currency": "USD", "symbol": symbol, "exchangeName": "NMS", "instrumentType": "EQUITY",
            "exchangeTimezoneName": "America/New_York", "timezone": "EST", "gmtoffset": -18000,
            "firstTradeDate": registered[_TS][0], "regularMarketTime": registered[_TS][-1],
            "regularMarketPrice": registered[schema.CLOSE][-1], "priceHint": 2,
            "dataGranularity": "1d", "range": "",
            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
        }
        result: dict = {"meta": meta, "indicators": {"quote": [{}], "adjclose": [{}]}}
        if not bars.is_empty():
            quote = {field: bars[column].to_list() for field, column in _QUOTE_FIELDS.items()}
            quote["volume"] = bars[schema.VOLUME].cast(pl.Int64, strict=False).to_list()
            result["timestamp"] = bars[_TS].to_list()
            result["indicators"] = {"quote": [quote], "adjclose": [{"adjclose": bars[schema.ADJ_CLOSE].to_list()}]}
        return _response(url, 200, {"chart": {"result": [result], "error": None}})

    def _garbled_answer(self, url: str, symbol: str) -> Response:
        status, body = self._garbled[symbol]
        if status == 429:  # what yfinance's own YfData.get does with a 429 (see its source)
            raise YFRateLimitError()
        response = _response(url, status, {})
        response.content, response.ok = body, status < 400
        return response

    def _earnings_page(self, url: str, symbol: str, query: dict) -> Response:
        if symbol in self._garbled:
            return self._garbled_answer(url, symbol)
        start = int(query.get("offset", 0))
        entries = self._earnings.get(symbol, pl.DataFrame()).slice(start, int(query.get("size", 25)))
        table = ""
        if not entries.is_empty():
            head = "".join(f"<th>{name}</th>" for name in _EARNINGS_HEADER)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in (symbol, f"{symbol} Inc.", *_earnings_cells(row)))
                + "</tr>"
                for row in entries.iter_rows(named=True)
            )
            table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        page = f"<html><body><h1>Earnings Calendar</h1>{table or '<p>We could not find any results.</p>'}</body></html>"
        response = _response(url, 200, {})
        response.content = page.encode()
        return response

    def _shares_out(self, url: str, symbol: str, query: dict) -> Response | None:
        if "period1" not in query or "period2" not in query:
            return None
        points = self._shares.get(symbol, pl.DataFrame(schema={_TS: pl.Int64, schema.SHARES: pl.Int64}))
        first_day = int(query["period1"]) // 86400 * 86400  # points are stamped at midnight UTC
        points = points.filter(pl.col(_TS).is_between(first_day, int(query["period2"]), closed="left"))
        result: dict = {"meta": {"symbol": [symbol], "type": ["shares_out"]}}
        if not points.is_empty():
            result |= {"timestamp": points[_TS].to_list(), "shares_out": points[schema.SHARES].to_list()}
        return _response(url, 200, {"timeseries": {"result": [result], "error": None}})

    def _quote_summary(self, url: str, symbol: str, query: dict) -> Response | None:
        if symbol in self._bars:
            return None  # company data is not faked
        error = {"code": "Not Found", "description": f"Quote not found for symbol: {symbol}"}
        return _response(url, 404, {"quoteSummary": {"result": None, "error": error}})

    def _quote(self, url: str, symbol: str, query: dict) -> Response | None:
        if symbol in self._bars:
            return None
        return _response(url, 200, {"quoteResponse": {"result": [], "error": None}})


_EASTERN = "America/New_York"
_EARNINGS_TEXT = (schema.EARNINGS_NAME, schema.EPS_ESTIMATE, schema.EPS_REPORTED, schema.EPS_SURPRISE_PCT)
_EARNINGS_HEADER = ("Symbol", "Company", "Event Name", "Earnings Date", "EPS Estimate", "Reported EPS", "Surprise (%)")


def _earnings_cells(row: dict) -> tuple[str, ...]:
    """One calendar row as the page shows it: "October 30, 2025 at 4 PM EDT", numbers (the surprise
    signed: "+24.2") or "-"."""
    at = row[schema.EARNINGS_AT]
    when = f"{at:%B} {at.day}, {at.year} at {at.hour % 12 or 12} {'AM' if at.hour < 12 else 'PM'} {at.tzname()}"
    numbers = (row[c] for c in _EARNINGS_TEXT[1:])
    estimate, reported, surprise = (("-" if x is None else f"{x:{sign}g}") for x, sign in zip(numbers, ("", "", "+")))
    return row[schema.EARNINGS_NAME] or "-", when, estimate, reported, surprise


def point_caches_at(path: Path | str) -> None:
    """Move yfinance's sqlite caches, forgetting already opened ones (which would otherwise stay in use)."""
    yf.set_tz_cache_location(str(path))
    yfinance.cache._TzCacheManager._tz_cache = None
    yfinance.cache._CookieCacheManager._Cookie_cache = None
    yfinance.cache._ISINCacheManager._isin_cache = None


@pytest.fixture
def fake_yahoo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A :class:`FakeYahoo` answering every yfinance request for the duration of one test."""
    fake = FakeYahoo()
    data = yfinance.data
    monkeypatch.setattr(data.SingletonMeta, "_instances", {})  # a fresh YfData for this test
    monkeypatch.setattr(data.YfData, "get", lambda _self, url, params=None, timeout=30: fake.get(url, params))
    refuse = lambda _self, url, *args, **kwargs: fake.refuse(url, kwargs.get("params"))  # noqa: E731
    monkeypatch.setattr(data.YfData, "post", refuse)
    monkeypatch.setattr(data.YfData, "_make_request", refuse)
    monkeypatch.setattr(data.YfData, "_get_cookie_and_crumb", lambda _self, timeout=30: (None, "basic"))
    monkeypatch.setattr(yfinance.base, "_tz_info_fetch_ctr", 0)  # yfinance asks .info at most twice per process
    previous_cache_dir = yfinance.cache._TzDBManager.get_location()
    point_caches_at(tmp_path / "yfinance-cache")
    data.YfData.cache_get.cache_clear()
    yield fake
    data.YfData.cache_get.cache_clear()
    point_caches_at(previous_cache_dir)
    assert not fake.unexpected, f"yfinance made requests the fake cannot answer: {fake.unexpected}"
