"""SEC EDGAR discovery against a fake EDGAR on loopback (hand-made answers in EDGAR's formats,
``edgar_responses/README.md``): day 0 from the SEC header whatever clock the JSON is on, the
older pages, fair access (User-Agent, rate, 429/503), the cache, faults, and idempotent runs."""

from __future__ import annotations

import socket
from datetime import date, datetime
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from analysis import schema as S
from analysis.calendar import align_events, exchange_calendar
from analysis.errors import DataUnavailableError, InputError
from analysis.specs import events_frame
from flows.cli.main import main
from flows.io.catalog import load_catalog
from flows.io.edgar import ATTEMPTS, EdgarClient, TokenBucket, discover, discovered_events, discovered_path, edgar_home

NY = ZoneInfo("America/New_York")
AMZN_Q3 = "amzn-8k-0001018724-25-000090"
SUBMISSIONS = "/submissions/CIK0001018724.json"
OLDER_PAGE = "/submissions/CIK0001018724-submissions-001.json"
TICKERS = "/files/company_tickers.json"


def day0(events) -> dict[str, date]:
    aligned = align_events(events_frame(events), exchange_calendar("XNYS"))
    return dict(aligned.select(S.EVENT_ID, S.DAY0).iter_rows())


def client(home, **kw) -> EdgarClient:
    return EdgarClient(edgar_home(home) / "cache", bucket=TokenBucket(1000.0), **kw)


def test_day0_comes_from_the_sec_header_whatever_clock_the_json_is_on(fake_edgar, mr_home):
    found = discover(["AMZN", "XUTC"], root=mr_home, client=client(mr_home))
    by_id = {e.id: e for e in found.events}
    # AMZN's JSON says 2025-10-30T16:01:52Z, the New York clock marked Z: read as UTC it is 12:01:52
    # in New York, mid-session (day 0 would be 2025-10-30). The header says 16:01:52 New York: after the close.
    q3 = by_id[AMZN_Q3]
    assert q3.announced == datetime(2025, 10, 30, 16, 1, 52, tzinfo=NY) and q3.announced_text == "2025-10-30T16:01:52-04:00"
    assert q3.timing == "after-close" and q3.tickers == ("AMZN",) and q3.group == "earnings"
    assert q3.description == ("AMAZON COM INC 8-K (items 2.02, 9.01): Results of Operations and Financial Condition; "
                              "Financial Statements and Exhibits")
    assert q3.source == "https://www.sec.gov/Archives/edgar/data/1018724/000101872425000090/0001018724-25-000090-index.htm"
    # XUTC's JSON times are UTC (20:21:59Z = 16:21:59 New York): the header gives the same time.
    x = {e.id.split("-")[-1]: e for e in found.events if e.tickers == ("XUTC",)}
    assert [(x[n].announced.strftime("%Y-%m-%d %H:%M:%S"), x[n].timing, x[n].group) for n in ("000007", "000008", "000009")] == [
        ("2025-10-30 16:21:59", "after-close", "earnings"), ("2025-11-03 08:30:00", "pre-open", "material-agreements"),
        ("2025-11-04 12:30:00", "intraday", "regulation-fd")]
    days = day0(found.events)
    assert days[AMZN_Q3] == date(2025, 10, 31)  # the next session, not 2025-10-30
    assert [days[x[n].id] for n in ("000007", "000008", "000009")] == [date(2025, 10, 31), date(2025, 11, 3), date(2025, 11, 4)]
    assert any("AMZN" in n and "New York clock" in n for n in found.notes)
    assert any("XUTC" in n and "UTC clock" in n for n in found.notes)
    # only the 8-Ks' headers are asked for (not the 10-Q's or the Form 4's), each with the User-Agent
    assert sum(p.endswith(".hdr.sgml") for p in fake_edgar.paths()) == 4
    assert {r.user_agent for r in fake_edgar.requests} == {"Test Suite tests@example.com"}


def test_since_walks_the_older_pages_only_when_it_reaches_them(fake_edgar, mr_home):
    recent = discover(["AMZN"], root=mr_home, client=client(mr_home))
    assert [e.id for e in recent.events] == [AMZN_Q3] and OLDER_PAGE not in fake_edgar.paths()
    near = discover(["AMZN"], since=date(2025, 10, 1), root=mr_home, client=client(mr_home))
    assert [e.id for e in near.events] == [AMZN_Q3] and OLDER_PAGE not in fake_edgar.paths()  # the page ends 2025-09-30
    year = discover(["AMZN"], since=date(2025, 1, 1), root=mr_home, client=client(mr_home))
    assert [e.id for e in year.events] == ["amzn-8k-0001018724-25-000004", "amzn-8k-0001018724-25-000036", AMZN_Q3]
    assert fake_edgar.paths().count(OLDER_PAGE) == 1
    assert [e.announced.date() for e in year.events] == [date(2025, 2, 6), date(2025, 5, 1), date(2025, 10, 30)]
    bounded = discover(["AMZN"], since=date(2025, 1, 1), until=date(2025, 3, 1), root=mr_home, client=client(mr_home))
    assert [e.id for e in bounded.events] == ["amzn-8k-0001018724-25-000004"]


def test_items_narrow_the_events_but_every_filing_is_stored(fake_edgar, mr_home):
    found = discover(["XUTC"], items=["1.01", "2.01"], root=mr_home, client=client(mr_home))
    assert [e.group for e in found.events] == ["material-agreements"] and len(found.timed) == 3
    assert len(load_catalog(discovered_path(mr_home, "XUTC"))) == 3


def test_a_429_then_success_waits_as_edgar_says(fake_edgar, mr_home):
    fake_edgar.fail(SUBMISSIONS, 429, times=1, headers={"Retry-After": "2"})
    fake_edgar.fail(SUBMISSIONS, 503, times=1)
    waits: list[float] = []
    found = discover(["AMZN"], root=mr_home, client=client(mr_home, backoff=0.5, sleep=waits.append))
    assert [e.id for e in found.events] == [AMZN_Q3]
    assert waits == [2.0, 1.0]  # Retry-After, then the backoff doubled for the second retry
    assert fake_edgar.paths().count(SUBMISSIONS) == 3


def test_rate_limiting_that_does_not_pass_ends_naming_the_url(fake_edgar, mr_home):
    fake_edgar.fail(SUBMISSIONS, 429, times=10, headers={"Retry-After": "3600"})
    waits: list[float] = []
    with pytest.raises(DataUnavailableError, match=rf"{fake_edgar.url}{SUBMISSIONS}: EDGAR answered HTTP 429 "
                                                   rf"\(rate limited\) after {ATTEMPTS} attempts"):
        discover(["AMZN"], root=mr_home, client=client(mr_home, sleep=waits.append))
    assert fake_edgar.paths().count(SUBMISSIONS) == ATTEMPTS and waits == [10.0] * (ATTEMPTS - 1)  # capped


def test_the_token_bucket_allows_ten_requests_a_second():
    now = [0.0]
    bucket = TokenBucket(10.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for _ in range(21):
        bucket.take()
    assert now[0] == pytest.approx(2.0)  # 21 requests: the first at once, then one every 0.1 s


def test_a_missing_user_agent_is_one_line_before_any_request(fake_edgar, mr_home, monkeypatch, capsys):
    monkeypatch.delenv("MARKET_REACTION_SEC_USER_AGENT")
    with pytest.raises(InputError, match="set MARKET_REACTION_SEC_USER_AGENT to your name and email"):
        discover(["AMZN"], root=mr_home, client=client(mr_home))
    monkeypatch.setenv("MARKET_REACTION_SEC_USER_AGENT", "python-urllib")  # no email: refused too
    assert main(["events", "discover", "AMZN"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MARKET_REACTION_SEC_USER_AGENT" in err and "'python-urllib'" in err
    assert fake_edgar.requests == []


def test_second_discovery_adds_nothing_and_keeps_the_analysts_id(fake_edgar, mr_home, tmp_path, capsys):
    catalog = tmp_path / "events.toml"
    catalog.write_text('[defaults]\nbenchmark = "^GSPC"\n', encoding="utf-8")
    assert main(["-q", "events", "discover", "AMZN", "XUTC", "--catalog", str(catalog)]) == 0
    assert "4 event(s) added, 0 already there" in capsys.readouterr().out
    first = catalog.read_text(encoding="utf-8")
    assert first.startswith('[defaults]\nbenchmark = "^GSPC"\n\n[[events]]\nid = "amzn-8k-0001018724-25-000090"')
    assert {e.id for e in load_catalog(catalog)} >= {AMZN_Q3}
    assert main(["-q", "events", "discover", "AMZN", "XUTC", "--catalog", str(catalog)]) == 0
    assert "0 event(s) added, 4 already there" in capsys.readouterr().out
    assert catalog.read_text(encoding="utf-8") == first
    catalog.write_text(first.replace(AMZN_Q3, "amzn-q3-2025-results"), encoding="utf-8")  # the analyst renames it
    assert main(["-q", "events", "discover", "AMZN", "--catalog", str(catalog)]) == 0
    assert f"0 event(s) added, 1 already there ({AMZN_Q3} as amzn-q3-2025-results)" in capsys.readouterr().out
    assert [e.id for e in load_catalog(catalog)][0] == "amzn-q3-2025-results"
    csv = tmp_path / "events.csv"
    for expected in ("4 event(s) added", "0 event(s) added, 4 already there"):
        assert main(["-q", "events", "discover", "AMZN", "XUTC", "--catalog", str(csv)]) == 0
        assert expected in capsys.readouterr().out
    assert [e.id for e in load_catalog(csv)] == [
        AMZN_Q3, "xutc-8k-0000999001-25-000007", "xutc-8k-0000999001-25-000008", "xutc-8k-0000999001-25-000009"]


def test_printed_events_read_back_as_a_catalog(fake_edgar, mr_home, tmp_path, capsys):
    for fmt in ("toml", "csv"):
        assert main(["-q", "events", "discover", "XUTC", "--format", fmt]) == 0
        path = tmp_path / f"printed.{fmt}"
        path.write_text(capsys.readouterr().out, encoding="utf-8")
        assert [e.timing for e in load_catalog(path)] == ["after-close", "pre-open", "intraday"]


def test_answers_are_cached_headers_for_good(fake_edgar, mr_home):
    discover(["AMZN"], root=mr_home, client=client(mr_home))
    asked = len(fake_edgar.requests)
    discover(["AMZN"], root=mr_home, client=client(mr_home))
    assert len(fake_edgar.requests) == asked  # the submissions file is fresh, the header kept
    discover(["AMZN"], root=mr_home, client=client(mr_home), max_age=0)
    assert fake_edgar.paths()[asked:] == [SUBMISSIONS]  # stale: asked again; the header is not


@pytest.mark.parametrize("path", [SUBMISSIONS, TICKERS,
                                  "/Archives/edgar/data/1018724/000101872425000090/0001018724-25-000090.hdr.sgml"])
def test_a_garbled_answer_is_one_line_naming_the_url_and_is_not_cached(fake_edgar, mr_home, path, capsys):
    fake_edgar.put(path, b"<html>Service Unavailable")
    assert main(["events", "discover", "AMZN"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{fake_edgar.url}{path}: EDGAR's answer could not be read" in err
    del fake_edgar.answers[path]
    assert main(["-q", "events", "discover", "AMZN"]) == 0  # asked again, not read from the cache


def test_unknown_ticker_and_unknown_company(fake_edgar, mr_home, capsys):
    assert main(["events", "discover", "AMZM"]) == 2
    err = capsys.readouterr().err
    assert "not in SEC EDGAR's ticker list" in err and "'AMZM' (did you mean AMZN?)" in err
    assert main(["events", "discover", "NVDA"]) == 3  # in the map, but EDGAR has no submissions file
    assert "CIK0001045810.json: EDGAR answered HTTP 404 (not found)" in capsys.readouterr().err


def test_no_network_is_one_line_naming_the_url(mr_home, monkeypatch, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MARKET_REACTION_SEC_WWW_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MARKET_REACTION_SEC_USER_AGENT", "Test Suite tests@example.com")
    assert main(["events", "discover", "AMZN"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"http://127.0.0.1:{port}/files/company_tickers.json: EDGAR unreachable" in err


def test_bad_dates_are_refused(mr_home, capsys):
    with pytest.raises(SystemExit) as raised:  # argparse
        main(["events", "discover", "AMZN", "--since", "2025-13-01"])
    assert raised.value.code == 2 and "expected a date YYYY-MM-DD, got '2025-13-01'" in capsys.readouterr().err
    assert main(["events", "discover", "AMZN", "--since", "2025-02-01", "--until", "2025-01-01"]) == 2
    assert "--since 2025-02-01 is after --until 2025-01-01" in capsys.readouterr().err


def test_discovered_events_come_from_the_store_without_the_network(fake_edgar, mr_home, monkeypatch):
    found = discover(["AMZN", "XUTC"], root=mr_home, client=client(mr_home))
    monkeypatch.setenv("MARKET_REACTION_SEC_WWW_URL", "http://127.0.0.1:9")  # nothing is asked
    asked = len(fake_edgar.requests)
    stored = discovered_events(mr_home, ["AMZN", "MSFT"])
    assert [e.id for e in stored] == [AMZN_Q3] and stored[0] == next(e for e in found.events if e.id == AMZN_Q3)
    renamed = [e for e in found.events if e.id == AMZN_Q3][0]
    known = [type(renamed)(id="amzn-q3", tickers=("AMZN",), announced=renamed.announced, source=renamed.source)]
    assert discovered_events(mr_home, ["AMZN"], known) == ()  # the catalog has it (same accession number)
    assert len(fake_edgar.requests) == asked
    assert pl.read_csv(discovered_path(mr_home, "XUTC")).height == 3
