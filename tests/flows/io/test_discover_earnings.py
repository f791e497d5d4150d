"""Earnings dates from Yahoo's calendar page, driven through yfinance's own parsing by the fake
Yahoo (no network); ``events discover --source earnings`` end to end on the command line."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from analysis import schema as S
from analysis.catalog import parse_catalog_toml
from analysis.errors import DataUnavailableError
from analysis.specs import EventSpec
from flows.cli.main import main
from flows.io import yahoo
from analysis.catalog import toml_events
from flows.io.earnings import discover_earnings
from tests.conftest import REPO_ROOT

NY = ZoneInfo("America/New_York")
CATALOG = REPO_ROOT / "deployments" / "events.toml"
NOW = datetime(2025, 11, 20, 15, tzinfo=timezone.utc)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def amzn_calendar() -> pl.DataFrame:
    """AMZN's page as Yahoo showed it in November 2025 (EPS from the releases; the 2025-07-31
    entry without a time of day, the 2026-02-05 one an estimate)."""
    return pl.DataFrame({
        S.EARNINGS_AT: [datetime(2026, 2, 5, 16, tzinfo=NY), datetime(2025, 10, 30, 16, 1, tzinfo=NY),
                        datetime(2025, 7, 31, 0, tzinfo=NY), datetime(2025, 5, 1, 16, tzinfo=NY)],
        S.EARNINGS_NAME: ["Q4 2025 Earnings Release", "Q3 2025 Earnings Release", None, "Q1 2025 Earnings Release"],
        S.EPS_ESTIMATE: [1.97, 1.57, 1.32, 1.36],
        S.EPS_REPORTED: [None, 1.95, 1.68, 1.59],
        S.EPS_SURPRISE_PCT: [None, 24.2, 27.27, -16.91],
    })


def fetch(tickers, **kwargs) -> yahoo.EarningsResult:
    kwargs.setdefault("sleep", Sleeps())
    return yahoo.fetch_earnings(tickers, **kwargs)


# --- the adapter --------------------------------------------------------------------------
def test_entries_come_back_in_utc_with_yahoos_numbers(fake_yahoo):
    fake_yahoo.add_earnings("AMZN", amzn_calendar())

    result = fetch(["amzn"])

    assert result.failures == {} and not result.offline
    assert fake_yahoo.requests["AMZN"] == 1
    assert result.dates.schema == pl.Schema({
        S.TICKER: pl.String, S.EARNINGS_AT: pl.Datetime("us", "UTC"), S.EARNINGS_NAME: pl.String,
        S.EPS_ESTIMATE: pl.Float64, S.EPS_REPORTED: pl.Float64, S.EPS_SURPRISE_PCT: pl.Float64,
    })
    assert result.dates.rows() == [
        # the page shows the hour only: 16:01 comes back as 16:00
        ("AMZN", datetime(2025, 5, 1, 20, tzinfo=timezone.utc), "Q1 2025 Earnings Release", 1.36, 1.59, -16.91),
        ("AMZN", datetime(2025, 7, 31, 4, tzinfo=timezone.utc), None, 1.32, 1.68, 27.27),  # "12 AM EDT"
        ("AMZN", datetime(2025, 10, 30, 20, tzinfo=timezone.utc), "Q3 2025 Earnings Release", 1.57, 1.95, 24.2),
        ("AMZN", datetime(2026, 2, 5, 21, tzinfo=timezone.utc), "Q4 2025 Earnings Release", 1.97, None, None),  # EST
    ]


def test_an_unknown_ticker_fails_with_a_reason_and_the_other_comes_back(fake_yahoo):
    fake_yahoo.add_earnings("AMZN", amzn_calendar())

    result = fetch(["ZZZZ", "AMZN"])

    assert result.dates[S.TICKER].unique().to_list() == ["AMZN"]
    assert result.failures == {"ZZZZ": "Yahoo has no earnings dates for it (unknown or delisted symbol, or none reported yet)"}
    assert fake_yahoo.requests["ZZZZ"] == 1  # not retried


def test_offline_is_one_reason_and_no_ticker_is_asked_after_the_first(fake_yahoo):
    fake_yahoo.add_earnings("AMZN", amzn_calendar())
    fake_yahoo.offline()
    sleeps = Sleeps()

    result = fetch(["AMZN", "MSFT", "NVDA"], sleep=sleeps)

    assert result.offline and result.dates.is_empty()
    assert result.failures == dict.fromkeys(["AMZN", "MSFT", "NVDA"], "Yahoo Finance is unreachable (could not resolve host)")
    assert sum(fake_yahoo.requests.values()) == 1 and sleeps == []


def test_a_timeout_is_retried_after_the_backoff(fake_yahoo):
    fake_yahoo.add_earnings("AMZN", amzn_calendar())
    fake_yahoo.fail("AMZN", times=1)
    sleeps = Sleeps()

    result = fetch(["AMZN"], sleep=sleeps, backoff=0.5)

    assert result.failures == {} and result.dates.height == 4
    assert fake_yahoo.requests["AMZN"] == 2 and sleeps == [0.5]


@pytest.mark.parametrize(("status", "body", "reason"), [
    (429, b"", "Yahoo Finance is unreachable (rate limited)"),
    (200, b"<table><tr><th>Symbol</th><th>Company</th><th>Earnings Date</th></tr>"
          b"<tr><td>AMZN</td><td>Amazon</td><td>Q3 2025, after the bell</td></tr></table>",
     "Yahoo's earnings calendar could not be read (ValueError: "),
])
def test_answers_that_are_no_calendar_are_retried_then_fail_with_a_reason(fake_yahoo, status, body, reason):
    fake_yahoo.garble("AMZN", status, body)
    sleeps = Sleeps()

    result = fetch(["AMZN"], sleep=sleeps, retries=2)

    assert result.failures["AMZN"].startswith(reason) and not result.offline
    assert fake_yahoo.requests["AMZN"] == 3 and sleeps == [1.0, 2.0]


# --- discovery ----------------------------------------------------------------------------
def test_discovery_maps_entries_to_events_and_leaves_the_estimate_out(fake_yahoo, mr_home, tmp_path):
    fake_yahoo.add_earnings("AMZN", amzn_calendar())

    found = discover_earnings(["AMZN"], catalog=tmp_path / "new.toml", now=NOW)

    assert [(ev.id, ev.announced, ev.timing) for ev in found.events] == [
        ("amzn-earnings-2025-05-01", datetime(2025, 5, 1, 16, tzinfo=NY), "after-close"),
        ("amzn-earnings-2025-07-31", date(2025, 7, 31), "unknown"),  # Yahoo's "12 AM": no time of day
        ("amzn-earnings-2025-10-30", datetime(2025, 10, 30, 16, tzinfo=NY), "after-close"),
    ]
    ev = found.events[-1]
    assert (ev.tickers, ev.group, ev.source) == (("AMZN",), "earnings", "Yahoo Finance earnings calendar")
    assert ev.description == "AMZN Q3 2025 Earnings Release: EPS estimate 1.57, reported 1.95, surprise +24.2%"
    assert found.events[1].description.endswith("(no time of day on Yahoo)")
    assert [ev.id for ev in found.upcoming] == ["amzn-earnings-2026-02-05"]
    assert found.matched.is_empty() and found.known == () and found.failures == {}


def test_upcoming_entries_are_kept_when_asked_and_marked(fake_yahoo, mr_home, tmp_path):
    fake_yahoo.add_earnings("AMZN", amzn_calendar())

    found = discover_earnings(["AMZN"], date(2025, 10, 1), catalog=tmp_path / "new.toml", now=NOW, upcoming=True)

    assert [ev.id for ev in found.events] == ["amzn-earnings-2025-10-30", "amzn-earnings-2026-02-05"]
    assert found.events[-1].description == (
        "AMZN Q4 2025 Earnings Release: EPS estimate 1.97 (upcoming: Yahoo's date as of 2025-11-20, may move)")
    assert found.upcoming == ()

    again = discover_earnings(["AMZN"], date(2025, 10, 1), catalog=_appended(tmp_path / "new.toml", found.events), now=NOW)
    assert again.events == () and again.upcoming == ()  # in the catalog now: not "left out"


def test_since_and_until_are_inclusive(fake_yahoo, mr_home, tmp_path):
    fake_yahoo.add_earnings("AMZN", amzn_calendar())

    found = discover_earnings(["AMZN"], date(2025, 7, 31), date(2025, 10, 30), catalog=tmp_path / "new.toml", now=NOW)

    assert [ev.id for ev in found.events] == ["amzn-earnings-2025-07-31", "amzn-earnings-2025-10-30"]


def test_a_release_already_in_the_catalog_is_not_added_again_and_its_day0_is_checked(fake_yahoo, mr_home, tmp_path):
    """The shipped catalog has Amazon's Q3 2025 release (2025-10-30 16:01 ET, after the close): the
    calendar's 16:00 entry is the same release with the same day 0; a filing of the Q2 release
    after the close disagrees with the calendar's date-only entry."""
    catalog = tmp_path / "events.toml"
    filing = EventSpec("amzn-8k-2025-07-31", ("AMZN",), datetime(2025, 7, 31, 16, 4, tzinfo=NY), group="earnings",
                       source="8-K item 2.02")
    catalog.write_text(CATALOG.read_text() + "\n" + toml_events([filing]))
    fake_yahoo.add_earnings("AMZN", amzn_calendar())

    found = discover_earnings(["AMZN"], catalog=catalog, now=NOW)

    assert [ev.id for ev in found.events] == ["amzn-earnings-2025-05-01"]
    assert found.matched[S.FILING_PREFIX + S.EVENT_ID].to_list() == ["amzn-8k-2025-07-31", "amzn-q3-2025-earnings"]
    assert found.disagreements == [
        "AMZN: the earnings calendar says 2025-07-31 (day 0 2025-07-31: unknown timing, date only: same session "
        "assumed (one session early if the news came after the close)), but event amzn-8k-2025-07-31 says "
        "2025-07-31T16:04:00-04:00 (day 0 2025-08-01: unknown timing, after the close (16:04 America/New_York): "
        "next session); the event's day 0 is 1 session(s) later"
    ]

    again = discover_earnings(["AMZN"], catalog=_appended(catalog, found.events), now=NOW)
    assert again.events == () and again.known == ("amzn-earnings-2025-05-01",)


def _appended(catalog, events):
    catalog.write_text((catalog.read_text() + "\n" if catalog.exists() else "") + toml_events(events))
    return catalog


def test_toml_events_reads_back_unchanged():
    events = (
        EventSpec("a-1", ("AMZN",), datetime(2025, 10, 30, 16, tzinfo=NY), "after-close", group="earnings",
                  description='quote " backslash \\ tab \t line\nbreak é', source="Yahoo Finance earnings calendar"),
        EventSpec("b", ("BRK-B", "MSFT"), date(2025, 7, 31), related=("NVDA",), benchmark="SPY"),
    )

    assert parse_catalog_toml(toml_events(events), "x.toml") == events


def test_nothing_from_yahoo_is_one_line_naming_the_cause(fake_yahoo, mr_home, tmp_path):
    fake_yahoo.offline()

    with pytest.raises(DataUnavailableError) as raised:
        discover_earnings(["AMZN", "MSFT"], catalog=tmp_path / "new.toml", retries=0)

    assert str(raised.value) == "no earnings dates: AMZN, MSFT: Yahoo Finance is unreachable (could not resolve host)"


# --- the command line ---------------------------------------------------------------------
def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_appends_the_new_events_to_the_catalog_and_says_the_rest_on_stderr(fake_yahoo, mr_home, tmp_path, capsys):
    fake_yahoo.add_earnings("AMZN", amzn_calendar().filter(pl.col(S.EPS_REPORTED).is_not_null()))
    msft = {S.EARNINGS_AT: [date(2030, 1, 29), date(2025, 10, 29)], S.EPS_ESTIMATE: [4.1, 3.67]}  # the CLI's clock is now
    fake_yahoo.add_earnings("MSFT", pl.DataFrame(msft))
    catalog = tmp_path / "events.toml"
    catalog.write_bytes(CATALOG.read_bytes())
    before = {ev.id for ev in parse_catalog_toml(CATALOG.read_text(encoding="utf-8"), "shipped")}

    code, out, err = run_cli(capsys, "events", "discover", "AMZN", "MSFT", "ZZZZ", "--source", "earnings",
                             "--since", "2025-07-01", "--catalog", str(catalog))

    assert code == 0 and out == f"{catalog}: 2 event(s) added, 0 already there\n"
    now = [ev.id for ev in parse_catalog_toml(catalog.read_text(encoding="utf-8"), str(catalog))]
    assert [i for i in now if i not in before] == ["amzn-earnings-2025-07-31", "msft-earnings-2025-10-29"]
    lines = err.splitlines()
    assert lines[0].startswith("market-reaction: warning: ZZZZ: Yahoo has no earnings dates")
    assert lines[1].startswith("market-reaction: 2 new events from Yahoo's earnings calendar")
    assert "1 the same release as a catalog event, with the same day 0" in lines[1]
    assert "1 upcoming left out (next: MSFT 2030-01-29; --upcoming adds them)" in lines[1]

    code, out, err = run_cli(capsys, "events", "discover", "AMZN", "MSFT", "--source", "earnings", "--since", "2025-07-01",
                             "--catalog", str(catalog))  # again: nothing new
    assert code == 0 and out == f"{catalog}: 0 event(s) added, 0 already there\n" and "0 new events" in err


def test_cli_prints_the_new_events_without_a_catalog_to_append_to(fake_yahoo, mr_home, capsys):
    fake_yahoo.add_earnings("AMZN", amzn_calendar().filter(pl.col(S.EPS_REPORTED).is_not_null()))

    code, out, _ = run_cli(capsys, "events", "discover", "AMZN", "--source", "earnings", "--since", "2025-07-01")

    assert code == 0 and [ev.id for ev in parse_catalog_toml(out, "stdout")] == ["amzn-earnings-2025-07-31"]


def test_cli_yahoo_unreachable_is_one_line_and_exit_3(fake_yahoo, mr_home, tmp_path, capsys):
    fake_yahoo.offline()

    code, out, err = run_cli(capsys, "events", "discover", "AMZN", "--source", "earnings", "--catalog", str(tmp_path / "c.toml"))

    assert (code, out) == (3, "")
    assert err == "market-reaction: error: no earnings dates: AMZN: Yahoo Finance is unreachable (could not resolve host)\n"


@pytest.mark.parametrize(("argv", "fragment"), [
    (["events", "discover", "--source", "earnings"], "name the companies"),
    (["events", "discover", "AMZN", "--upcoming"], "--upcoming goes with --source earnings"),  # edgar by default
    (["events", "discover", "AM ZN", "--source", "earnings"], "field 'TICKER': expected a ticker symbol"),
    (["events", "discover", "AMZN", "--source", "earnings", "--since", "2025-10-01", "--until", "2025-09-01"],
     "--since 2025-10-01 is after --until 2025-09-01"),
])
def test_cli_mistakes_are_one_line_and_exit_2(fake_yahoo, mr_home, capsys, argv, fragment):
    code, out, err = run_cli(capsys, *argv)

    assert (code, out) == (2, "") and fragment in err and len(err.splitlines()) == 1
    assert not fake_yahoo.requests


def test_cli_a_bad_date_is_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["events", "discover", "AMZN", "--source", "earnings", "--since", "30/10/2025"])
    assert raised.value.code == 2 and "expected a date YYYY-MM-DD, got '30/10/2025'" in capsys.readouterr().err
