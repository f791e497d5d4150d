"""EDGAR's answers parsed and filings timed (pure: :mod:`analysis.filings`, :func:`analysis.calendar.stated_timing`)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from analysis.calendar import align_events
from analysis.errors import DataUnavailableError
from analysis.filings import (
    Filing, FilingHeader, acceptance_time, accession_of, filing_events, filing_id, item_group, json_clock, parse_header,
    parse_submissions, parse_ticker_map,
)
from analysis.specs import EventSpec, events_frame

NY = ZoneInfo("America/New_York")
TEXT_HEADER = """<SEC-DOCUMENT>0000320193-19-000063.txt : 20190430
<SEC-HEADER>0000320193-19-000063.hdr.sgml : 20190430
<ACCEPTANCE-DATETIME>20190430163016
ACCESSION NUMBER:\t\t0000320193-19-000063
CONFORMED SUBMISSION TYPE:\t8-K
PUBLIC DOCUMENT COUNT:\t\t3
ITEM INFORMATION:\t\tResults of Operations and Financial Condition
ITEM INFORMATION:\t\tFinancial Statements and Exhibits
FILED AS OF DATE:\t\t20190430

FILER:

\tCOMPANY DATA:\t
\t\tCOMPANY CONFORMED NAME:\t\t\tAPPLE INC
\t\tCENTRAL INDEX KEY:\t\t\t0000320193
</SEC-HEADER>
"""


def test_the_text_form_of_the_header_and_its_html_escaped_copy_read_alike():
    h = parse_header(TEXT_HEADER, "u")
    assert h == FilingHeader("0000320193-19-000063", "8-K", datetime(2019, 4, 30, 16, 30, 16, tzinfo=NY),
                             ("2.02", "9.01"), "APPLE INC")
    escaped = "<html><body><pre>" + TEXT_HEADER.replace("<", "&lt;").replace(">", "&gt;") + "</pre></body></html>"
    assert parse_header(escaped, "u") == h


@pytest.mark.parametrize("text, what", [
    ("<SEC-HEADER>\n<ACCESSION-NUMBER>0000320193-19-000063\n", "no <ACCEPTANCE-DATETIME>"),
    ("<ACCEPTANCE-DATETIME>20190430163016\n<TYPE>8-K\n", "no accession number"),
    ("<ACCEPTANCE-DATETIME>20191330163016\n<ACCESSION-NUMBER>0000320193-19-000063\n", "is not YYYYMMDDhhmmss"),
])
def test_a_garbled_header_names_the_url(text, what):
    with pytest.raises(DataUnavailableError, match=f"^https://x/h: EDGAR's answer could not be read .*{what}"):
        parse_header(text, "https://x/h")


def test_acceptance_times_are_new_york_local_across_daylight_saving():
    assert acceptance_time("20251030160152").utcoffset().total_seconds() == -4 * 3600
    assert acceptance_time("20251103083000").astimezone(timezone.utc) == datetime(2025, 11, 3, 13, 30, tzinfo=timezone.utc)


def test_which_clock_the_json_was_on():
    true = datetime(2025, 10, 30, 16, 21, 59, tzinfo=NY)
    assert json_clock("2025-10-30T20:21:59.000Z", true) == "UTC"
    assert json_clock("2025-10-30T16:21:59.000Z", true) == "New York"
    assert json_clock("2025-10-30T16:00:00.000Z", true) == json_clock("", true) == "other"


def test_garbled_json_names_the_url():
    with pytest.raises(DataUnavailableError, match=r"^u: .*not valid JSON"):
        parse_ticker_map("{", "u")
    with pytest.raises(DataUnavailableError, match=r"^u: .*expected \{\"0\""):
        parse_ticker_map('{"0": {"ticker": "A"}}', "u")
    with pytest.raises(DataUnavailableError, match=r"^u: .*of equal length"):
        parse_submissions('{"cik": "1", "filings": {"recent": {"accessionNumber": ["0000000001-25-000001"], '
                          '"form": [], "filingDate": []}, "files": []}}', "u")
    with pytest.raises(DataUnavailableError, match=r"^u: .*\"filings\""):
        parse_submissions('{"cik": "1", "filings": {"recent": {}, "files": [{"name": "../../etc/passwd"}]}}', "u")


def test_ticker_map_knows_yahoos_spelling_of_class_shares():
    assert parse_ticker_map('{"0": {"cik_str": 1067983, "ticker": "BRK.B", "title": "x"}}', "u") == {
        "BRK.B": 1067983, "BRK-B": 1067983}


def test_ids_groups_and_accession_numbers():
    assert filing_id("AMZN", "8-K", "0001018724-25-000090") == "amzn-8k-0001018724-25-000090"
    assert filing_id("BRK-B", "8-K/A", "0001067983-25-000001") == "brk-b-8ka-0001067983-25-000001"
    assert item_group("8-K", ("7.01", "9.01", "2.02")) == "earnings"
    assert item_group("8-K", ("9.01", "1.01")) == "material-agreements"
    assert item_group("8-K", ("9.01",)) == "exhibits" and item_group("6-K", ()) == "6-k"
    assert item_group("8-K", ("10.01",)) == "item-10-01"
    ev = EventSpec("amzn-q3", ("AMZN",), date(2025, 10, 30),
                   source="https://www.sec.gov/Archives/edgar/data/1018724/000101872425000090/0001018724-25-000090-index.htm")
    assert accession_of(ev) == "0001018724-25-000090"
    assert accession_of(EventSpec("amzn-8k-0001018724-25-000090", ("AMZN",), date(2025, 10, 30))) == "0001018724-25-000090"
    assert accession_of(EventSpec("x", ("AMZN",), date(2025, 10, 30), source="call 00001018724-25-0000901")) is None


def test_timing_follows_from_the_time_on_the_exchange_calendar(cal):
    times = [datetime(2025, 10, 30, 16, 0, tzinfo=NY), datetime(2025, 10, 30, 15, 59, 59, tzinfo=NY),
             datetime(2025, 10, 30, 9, 29, 59, tzinfo=NY), datetime(2025, 4, 18, 10, 0, tzinfo=NY),  # Good Friday
             datetime(2025, 11, 28, 13, 0, tzinfo=NY), datetime(2025, 11, 28, 12, 59, tzinfo=NY)]  # early close
    filings = [(Filing(1, f"0000000001-25-00000{n}", "8-K", t.date(), "", ("8.01",), "X"),
                FilingHeader(f"0000000001-25-00000{n}", "8-K", t, ("8.01",), "X")) for n, t in enumerate(times)]
    events = filing_events(filings, {1: ["X"]}, cal)
    assert [e.timing for e in events] == ["after-close", "intraday", "pre-open", "unknown", "after-close", "intraday"]
    days = dict(align_events(events_frame(events), cal).select("event_id", "day0").iter_rows())
    assert [days[e.id] for e in events] == [date(2025, 10, 31), date(2025, 10, 30), date(2025, 10, 30), date(2025, 4, 21),
                                            date(2025, 12, 1), date(2025, 11, 28)]


def test_a_filing_of_a_cik_with_two_tickers_is_one_event(cal):
    f = Filing(1652044, "0001652044-25-000090", "8-K", date(2025, 10, 29), "", ("2.02", "9.01"), "Alphabet Inc.")
    h = FilingHeader(f.accession, "8-K", datetime(2025, 10, 29, 16, 3, 7, tzinfo=NY), (), "Alphabet Inc.")
    (e,) = filing_events([(f, h)], {1652044: ["GOOGL", "GOOG"]}, cal)
    assert e.id == "googl-8k-0001652044-25-000090" and e.tickers == ("GOOGL", "GOOG") and e.group == "earnings"
    assert e.description.startswith("Alphabet Inc. 8-K (items 2.02, 9.01): Results of Operations")  # the JSON's items when the header has none
