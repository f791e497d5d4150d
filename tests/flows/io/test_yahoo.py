"""The yfinance adapter, driven through yfinance's real parsing by the fake Yahoo (no network)."""

from __future__ import annotations

import datetime as dt
import logging
import warnings

import polars as pl
import pytest
import yfinance as yf
from fake_yahoo import UnexpectedRequest, point_caches_at, xnys
from polars.testing import assert_frame_equal

from analysis import schema
from analysis.errors import PriceSourceError
from flows.io import yahoo

LONG_COLUMNS = [schema.TICKER, *schema.PRICE_COLUMNS]


def bars(first: str, last: str, close0: float = 100.0) -> pl.DataFrame:
    """Synthetic daily bars on the XNYS sessions from ``first`` to ``last``; adj_close = 0.98 x close."""
    dates = pl.Series(schema.DATE, xnys().sessions_in_range(first, last).to_numpy()).dt.date()
    close = pl.int_range(pl.len()).cast(pl.Float64) + close0
    return pl.DataFrame(dates).select(
        schema.DATE,
        (close - 0.5).alias(schema.OPEN),
        (close + 1).alias(schema.HIGH),
        (close - 1).alias(schema.LOW),
        close.alias(schema.CLOSE),
        (close * 0.98).alias(schema.ADJ_CLOSE),
        (close * 1000).alias(schema.VOLUME),
    )


class Sleeps(list):
    """A ``sleep`` that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fetch(tickers, start, end, **kwargs) -> yahoo.FetchResult:
    kwargs.setdefault("sleep", Sleeps())
    return yahoo.fetch_prices(tickers, dt.date.fromisoformat(start), dt.date.fromisoformat(end), **kwargs)


# --- prices ---------------------------------------------------------------------------
def test_long_frame_has_the_schema_columns_types_and_order(fake_yahoo):
    fake_yahoo.add("MSFT", bars("2025-03-03", "2025-03-14", close0=400))
    fake_yahoo.add("AAPL", bars("2025-03-03", "2025-03-14"))

    result = fetch(["msft", "AAPL", "MSFT"], "2025-03-03", "2025-03-14")

    assert result.failures == {}
    assert result.prices.columns == LONG_COLUMNS
    assert result.prices.schema == pl.Schema(
        {schema.TICKER: pl.String, schema.DATE: pl.Date} | dict.fromkeys(schema.PRICE_COLUMNS[1:], pl.Float64)
    )
    assert result.prices.equals(result.prices.sort(schema.TICKER, schema.DATE))
    assert result.prices.group_by(schema.TICKER).len().sort(schema.TICKER).rows() == [("AAPL", 10), ("MSFT", 10)]
    msft = result.prices.filter(pl.col(schema.TICKER) == "MSFT").drop(schema.TICKER)
    assert_frame_equal(msft, bars("2025-03-03", "2025-03-14", close0=400))


def test_no_tickers_no_request(fake_yahoo):
    result = fetch([], "2025-03-03", "2025-03-07")

    assert result.prices.is_empty() and result.prices.columns == LONG_COLUMNS
    assert result.failures == {} and not fake_yahoo.requests


def test_end_is_inclusive(fake_yahoo):
    fake_yahoo.add("AAPL", bars("2025-03-03", "2025-03-14"))

    one_day = fetch(["AAPL"], "2025-03-05", "2025-03-05").prices
    week = fetch(["AAPL"], "2025-03-03", "2025-03-07").prices

    assert one_day[schema.DATE].to_list() == [dt.date(2025, 3, 5)]
    assert week[schema.DATE].max() == dt.date(2025, 3, 7)
    assert week.height == 5


def test_adj_close_comes_from_yahoos_adjclose_array(fake_yahoo):
    registered = bars("2025-03-03", "2025-03-07")
    fake_yahoo.add("AAPL", registered)

    prices = fetch(["AAPL"], "2025-03-03", "2025-03-07").prices

    assert prices[schema.ADJ_CLOSE].to_list() == registered[schema.ADJ_CLOSE].to_list()
    assert (prices[schema.ADJ_CLOSE] != prices[schema.CLOSE]).all()


def test_shorter_history_leaves_no_nan_rows(fake_yahoo):
    fake_yahoo.add("OLD", bars("2025-03-03", "2025-03-14"))
    fake_yahoo.add("NEW", bars("2025-03-12", "2025-03-14"))

    result = fetch(["OLD", "NEW"], "2025-03-03", "2025-03-14")

    counts = dict(result.prices.group_by(schema.TICKER).len().rows())
    assert counts == {"OLD": 10, "NEW": 3}
    assert result.prices.null_count().sum_horizontal().item() == 0
    assert not result.prices.select(pl.col(pl.Float64).is_nan().any()).row(0).count(True)


def test_unknown_ticker_fails_with_a_reason_and_the_other_succeeds(fake_yahoo):
    fake_yahoo.add("AAPL", bars("2025-03-03", "2025-03-07"))

    result = fetch(["AAPL", "ZZZZ"], "2025-03-03", "2025-03-07")

    assert result.prices[schema.TICKER].unique().to_list() == ["AAPL"]
    assert result.failures == {
        "ZZZZ": "Yahoo returned no prices for 2025-03-03..2025-03-07 (unknown, delisted, or no trading in that range)"
    }


def test_all_nan_ticker_is_a_failure(fake_yahoo):
    fake_yahoo.add("AAPL", bars("2025-03-03", "2025-03-07"))
    fake_yahoo.nan_ticker("DEAD")

    result = fetch(["AAPL", "DEAD"], "2025-03-03", "2025-03-07")

    assert set(result.prices[schema.TICKER]) == {"AAPL"}
    assert result.failures["DEAD"].startswith("Yahoo returned no prices for 2025-03-03..2025-03-07")


def test_range_without_sessions_is_reported_as_no_prices(fake_yahoo):
    fake_yahoo.add("AAPL", bars("2025-03-03", "2025-03-14"))

    result = fetch(["AAPL"], "2025-03-08", "2025-03-09")  # a weekend

    assert result.prices.is_empty()
    assert result.failures["AAPL"].startswith("Yahoo returned no prices for 2025-03-08..2025-03-09")


def test_offline_every_ticker_fails_as_unreachable_and_says_how_to_import(fake_yahoo, capfd):
    fake_yahoo.offline()
    sleeps = Sleeps()

    result = fetch(["AMZN", "MSFT"], "2025-03-03", "2025-03-07", sleep=sleeps)

    assert result.prices.is_empty() and result.prices.columns == LONG_COLUMNS
    assert result.failures == {
        ticker: "Yahoo Finance is unreachable (could not resolve host); "
        f"import prices with `market-reaction prices import FILE --ticker {ticker}`"
        for ticker in ("AMZN", "MSFT")
    }
    assert result.offline and sleeps == []  # an absent network is recognised at once: no retry
    assert capfd.readouterr().err == ""


@pytest.fixture
def refused(monkeypatch, tmp_path):
    """No fake transport: yfinance's real HTTP client, through a proxy on a loopback port that
    refuses connections (curl error 7), as with a network that is down. Nothing leaves the machine."""
    import socket

    import yfinance.cache
    import yfinance.data

    with socket.socket() as probe:  # a free loopback port, closed again: connecting to it is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(yfinance.data.SingletonMeta, "_instances", {})  # a session of its own (it keeps the proxy)
    monkeypatch.setitem(yf.config.network.data, "proxy", f"http://127.0.0.1:{port}")
    previous = yfinance.cache._TzDBManager.get_location()
    point_caches_at(tmp_path / "yfinance-cache")
    yfinance.data.YfData.cache_get.cache_clear()
    yield
    yfinance.data.YfData.cache_get.cache_clear()
    point_caches_at(previous)


def test_a_refused_connection_is_recognised_at_once(refused):
    sleeps = Sleeps()

    result = fetch(["AMZN"], "2025-03-03", "2025-03-07", sleep=sleeps)

    assert result.failures["AMZN"].startswith("Yahoo Finance is unreachable (could not connect); import prices with")
    assert result.offline and sleeps == []


def test_offline_is_recognised_when_the_timezone_is_already_cached(fake_yahoo):
    # Once yfinance knows a ticker's timezone it only asks for the chart, and with its
    # default settings it would swallow that request's network error without a word.
    fake_yahoo.add("AAPL", bars("2025-03-03", "2025-03-14"))
    assert fetch(["AAPL"], "2025-03-03", "2025-03-07").failures == {}
    fake_yahoo.offline()

    result = fetch(["AAPL"], "2025-03-10", "2025-03-14", retries=0)

    assert result.failures["AAPL"].startswith("Yahoo Finance is unreachable (could not resolve host)")


def test_a_ticker_that_times_out_once_is_retried_after_the_backoff(fake_yahoo):
    fake_yahoo.add("AAPL", bars("2025-03-03", "2025-03-07"))
    fake_yahoo.add("MSFT", bars("2025-03-03", "2025-03-07"))
    fake_yahoo.fail("AAPL", times=1)
    sleeps = Sleeps()

    result = fetch(["AAPL", "MSFT"], "2025-03-03", "2025-03-07", backoff=0.5, sleep=sleeps)

    assert result.failures == {}
    assert dict(result.prices.group_by(schema.TICKER).len().rows()) == {"AAPL": 5, "MSFT": 5}
    assert sleeps == [0.5]
    assert fake_yahoo.requests["AAPL"] == 3  # failed tz probe, tz probe, chart
    assert fake_yahoo.requests["MSFT"] == 2  # not asked again


def test_without_retries_a_flap_is_a_failure(fake_yahoo):
    fake_yahoo.add("AAPL", bars("2025-03-03", "2025-03-07"))
    fake_yahoo.fail("AAPL", times=1)
    sleeps = Sleeps()

    result = fetch(["AAPL"], "2025-03-03", "2025-03-07", retries=0, sleep=sleeps)

    assert result.failures["AAPL"].startswith("Yahoo Finance is unreachable (timed out)")
    assert sleeps == [] and not result.offline


def test_a_dns_failure_is_not_retried_and_the_others_come_back(fake_yahoo):
    fake_yahoo.add("AAPL", bars("2025-03-03", "2025-03-07"))
    fake_yahoo.add("MSFT", bars("2025-03-03", "2025-03-07"))
    fake_yahoo.fail("AAPL", times=1, dns=True)
    sleeps = Sleeps()

    result = fetch(["AAPL", "MSFT"], "2025-03-03", "2025-03-07", sleep=sleeps)

    assert result.failures["AAPL"].startswith("Yahoo Finance is unreachable (could not resolve host)")
    assert set(result.prices[schema.TICKER]) == {"MSFT"} and sleeps == [] and not result.offline


def test_a_busy_yfinance_cache_is_asked_again_at_once(monkeypatch):
    """yfinance's download threads share a SQLite timezone cache; one of them meeting it
    locked (seen 1 in ~15 offline runs: 'OperationalError('database is locked')' for AMZN
    beside a DNS error for MSFT) is no answer from Yahoo: asked again without the backoff."""
    answers = iter([
        ["\n2 Failed downloads:", "['AMZN']: OperationalError('database is locked')",
         "['MSFT']: DNSError('Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com')"],
        ["\n1 Failed download:", "['AMZN']: DNSError('Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com')"],
    ])
    monkeypatch.setattr(yahoo, "_download", lambda tickers, start, end: (pl.DataFrame(schema=yahoo._PRICES_SCHEMA), next(answers)))
    sleeps = Sleeps()

    result = fetch(["AMZN", "MSFT"], "2025-03-03", "2025-03-07", sleep=sleeps)

    assert sleeps == [] and result.offline
    assert all(reason.startswith("Yahoo Finance is unreachable (could not resolve host)") for reason in result.failures.values())
    assert set(result.failures) == {"AMZN", "MSFT"}


def test_a_busy_cache_is_asked_again_without_retries_and_not_forever(monkeypatch):
    """The busy cache has its own few attempts: with ``retries=0`` (seen failing an offline test
    once) AMZN is still asked again; a cache that stays busy is given up after BUSY_RETRIES."""
    busy = "['AMZN']: OperationalError('database is locked')"
    dns = "['AMZN']: DNSError('Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com')"
    calls = []

    def download(answers):
        it = iter(answers)
        return lambda tickers, start, end: calls.append(tickers) or (pl.DataFrame(schema=yahoo._PRICES_SCHEMA), next(it))

    monkeypatch.setattr(yahoo, "_download", download([["\n1 Failed download:", busy], ["\n1 Failed download:", dns]]))
    result = fetch(["AMZN"], "2025-03-03", "2025-03-07", retries=0, sleep=Sleeps())
    assert len(calls) == 2 and result.offline and result.failures["AMZN"].startswith("Yahoo Finance is unreachable")

    calls.clear()
    monkeypatch.setattr(yahoo, "_download", download([["\n1 Failed download:", busy]] * 10))
    result = fetch(["AMZN"], "2025-03-03", "2025-03-07", retries=0, sleep=Sleeps())
    assert len(calls) == 1 + yahoo.BUSY_RETRIES and "timezone cache was busy" in result.failures["AMZN"]


def test_yfinance_noise_is_contained(fake_yahoo, capfd):
    fake_yahoo.add("AAPL", bars("2025-03-03", "2025-03-07"))
    logger = logging.getLogger("yfinance")
    handlers = list(logger.handlers)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fetch(["AAPL", "ZZZZ"], "2025-03-03", "2025-03-07", retries=0)

    assert caught == []
    assert capfd.readouterr().err == ""
    assert logger.handlers == handlers and logger.propagate
    assert yf.config.debug.hide_exceptions is True


def test_real_amzn_prices_round_trip(fake_yahoo, shared_data):
    csv = pl.read_csv(shared_data / "prices" / "AMZN.csv", try_parse_dates=True)
    fake_yahoo.add("AMZN", csv)

    prices = fetch(["AMZN"], "2025-10-01", "2025-11-10").prices

    expected = csv.filter(pl.col(schema.DATE).is_between(dt.date(2025, 10, 1), dt.date(2025, 11, 10)))
    assert_frame_equal(prices.drop(schema.TICKER), expected.cast({schema.VOLUME: pl.Float64}))
    assert prices.filter(pl.col(schema.DATE) == dt.date(2025, 11, 3))[schema.CLOSE].item() == 254.00


# --- shares ---------------------------------------------------------------------------
def test_shares_keep_the_last_report_of_each_day(fake_yahoo):
    fake_yahoo.add("AMZN", bars("2025-03-03", "2025-03-07"))
    fake_yahoo.add_shares("AMZN", pl.DataFrame({
        schema.AS_OF_DATE: [dt.datetime(2025, 1, 31), dt.datetime(2025, 4, 30, 8), dt.datetime(2025, 4, 30, 20),
                            dt.datetime(2025, 12, 31)],
        schema.SHARES: [10_600_000_000, 10_610_000_000, 10_620_000_000, 10_700_000_000],
    }))

    shares = yahoo.fetch_shares("amzn", dt.date(2025, 1, 1), dt.date(2025, 6, 30))

    assert_frame_equal(shares, pl.DataFrame(
        {
            schema.TICKER: ["AMZN", "AMZN"],
            schema.AS_OF_DATE: [dt.date(2025, 1, 31), dt.date(2025, 4, 30)],
            schema.SHARES: [10_600_000_000, 10_620_000_000],
        },
        schema={schema.TICKER: pl.String, schema.AS_OF_DATE: pl.Date, schema.SHARES: pl.Int64},
    ))


def test_shares_end_is_inclusive(fake_yahoo):
    fake_yahoo.add("AMZN", bars("2025-03-03", "2025-03-07"))
    fake_yahoo.add_shares("AMZN", pl.DataFrame({
        schema.AS_OF_DATE: [dt.date(2025, 4, 30)], schema.SHARES: [10_620_000_000],
    }))

    shares = yahoo.fetch_shares("AMZN", dt.date(2025, 4, 30), dt.date(2025, 4, 30))

    assert shares[schema.SHARES].to_list() == [10_620_000_000]


def test_shares_fall_back_to_the_current_figure_dated_end(fake_yahoo):
    # fast_info["shares"] is the last report of the 548 days before today.
    recent = dt.datetime.combine(dt.date.today() - dt.timedelta(days=10), dt.time())
    fake_yahoo.add("AMZN", bars("2025-03-03", "2025-03-07"))
    fake_yahoo.add_shares("AMZN", pl.DataFrame({schema.AS_OF_DATE: [recent], schema.SHARES: [10_700_000_000]}))

    shares = yahoo.fetch_shares("AMZN", dt.date(2020, 1, 1), dt.date(2020, 6, 30))

    assert shares.rows() == [("AMZN", dt.date(2020, 6, 30), 10_700_000_000)]
    assert shares.schema[schema.SHARES] == pl.Int64


@pytest.mark.parametrize("register", [True, False], ids=["no-shares", "unknown-ticker"])
def test_no_shares_at_all_raises(fake_yahoo, register):
    if register:
        fake_yahoo.add("AMZN", bars("2025-03-03", "2025-03-07"))

    with pytest.raises(PriceSourceError) as raised:
        yahoo.fetch_shares("AMZN", dt.date(2025, 1, 1), dt.date(2025, 6, 30))

    assert raised.value.ticker == "AMZN"
    assert str(raised.value) == (
        "AMZN: no shares outstanding from Yahoo; import them with `market-reaction shares import FILE`"
    )


def test_shares_offline_say_yahoo_is_unreachable(fake_yahoo):
    fake_yahoo.offline()

    with pytest.raises(PriceSourceError, match=r"unreachable \(could not resolve host\); import them with"):
        yahoo.fetch_shares("AMZN", dt.date(2025, 1, 1), dt.date(2025, 6, 30))


# --- cache and the fake's guard -------------------------------------------------------
def test_configure_cache_creates_the_dir_and_sets_it_once(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(yahoo, "_cache_dir", None)
    monkeypatch.setattr(yf, "set_tz_cache_location", calls.append)
    path = tmp_path / "cache" / "yfinance"

    yahoo.configure_cache(path)
    yahoo.configure_cache(path)

    assert path.is_dir()
    assert calls == [str(path)]


def test_the_fake_refuses_requests_it_does_not_understand(fake_yahoo):
    fake_yahoo.add("AMZN", bars("2025-03-03", "2025-03-07"))

    with pytest.raises(UnexpectedRequest):
        yf.Ticker("AMZN").info  # noqa: B018 - company data is not faked

    assert len(fake_yahoo.unexpected) == 1 and "quoteSummary/AMZN" in fake_yahoo.unexpected[0]
    fake_yahoo.unexpected.clear()  # acknowledged; the fixture would fail the test otherwise


# --- answers that are not prices -------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, b"<html><body>Consent required</body></html>", "Yahoo's answer could not be read (JSONDecodeError("),
        (200, b"<html><body>Will be right back</body></html>",
         "Yahoo's answer could not be read (YFDataException('*** YAHOO! FINANCE IS CURRENTLY DOWN! ***'))"),
        (500, b"Internal Server Error", "Yahoo's answer could not be read (JSONDecodeError("),
        (200, b'{"chart": {"result": [{"meta": {}}], "error": null}}', "Yahoo's answer could not be read (KeyError('indicators'))"),
        (200, b'{"chart": {"result": [], "error": null}}', "Yahoo returned no prices for 2025-03-03..2025-03-07"),
        (429, b"Too Many Requests", "Yahoo Finance is unreachable (rate limited)"),
    ],
    ids=["html-page", "yahoo-down", "server-error", "other-json", "empty-result", "rate-limited"],
)
def test_answers_that_are_not_prices_fail_that_ticker_with_a_reason(fake_yahoo, status, body, reason):
    fake_yahoo.add("AAPL", bars("2025-03-03", "2025-03-07"))
    fake_yahoo.add("MSFT", bars("2025-03-03", "2025-03-07"))
    fake_yahoo.garble("AAPL", status, body)
    sleeps = Sleeps()

    result = fetch(["AAPL", "MSFT"], "2025-03-03", "2025-03-07", sleep=sleeps)

    assert set(result.prices[schema.TICKER]) == {"MSFT"}
    assert list(result.failures) == ["AAPL"] and result.failures["AAPL"].startswith(reason)
    assert "market-reaction prices import FILE --ticker AAPL" in result.failures["AAPL"] or "no prices" in reason
    assert sleeps == ([] if "no prices" in reason else [1.0, 2.0])  # what may pass is retried; "no data" is not


def test_partial_answer_returns_what_yahoo_has_without_failing(fake_yahoo):
    """A listing that starts late (or a Yahoo history cut short): the rows that exist come back;
    the analysis flags the shorter estimation window (tests/analysis/test_quality.py)."""
    fake_yahoo.add("NEW", bars("2025-09-02", "2025-11-28"))

    result = fetch(["NEW"], "2025-01-02", "2025-11-28")

    assert result.failures == {}
    assert result.prices[schema.DATE].min() == dt.date(2025, 9, 2) and result.prices.height == 63


def test_nan_and_zero_bars_inside_the_range(fake_yahoo):
    """NaN bars are dropped (a gap the analysis flags); a zero close is kept as Yahoo sent it
    (the analysis flags it and treats it as missing)."""
    registered = bars("2025-03-03", "2025-03-14").with_columns(
        pl.when(pl.col(schema.DATE).is_in([dt.date(2025, 3, 5), dt.date(2025, 3, 6)])).then(None)
        .otherwise(pl.col(schema.CLOSE)).alias(schema.CLOSE),
        pl.when(pl.col(schema.DATE) == dt.date(2025, 3, 12)).then(0.0)
        .otherwise(pl.col(schema.ADJ_CLOSE)).alias(schema.ADJ_CLOSE),
    )
    fake_yahoo.add("AAPL", registered)

    prices = fetch(["AAPL"], "2025-03-03", "2025-03-14").prices

    assert prices.height == 8 and dt.date(2025, 3, 5) not in prices[schema.DATE].to_list()
    assert prices.filter(pl.col(schema.DATE) == dt.date(2025, 3, 12))[schema.ADJ_CLOSE].item() == 0.0
