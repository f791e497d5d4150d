"""The watch without a Prefect server: when an event is ready for study (exchange calendar:
weekends, holidays, early closes), what a watch run appends, announces and records against the
fake EDGAR (``tests/flows/fake_edgar.py``) at chosen times, and the watch page."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from analysis import schema as S
from analysis.calendar import exchange_calendar
from analysis.errors import InputError
from analysis.specs import EventSpec
from analysis.watch import READY_AT, READY_DATE, is_session, ready_times
from flows.io.catalog import load_catalog
from flows.orchestration import study
from flows.orchestration.watch import DISCOVERED, READY, STATE, due_records, records, watch, watch_folder
from flows.reporting.ownership import GENERATOR, GENERATOR_MARK
from flows.reporting.watchpage import build_watch_page

NY = ZoneInfo("America/New_York")
AMZN_Q3 = "amzn-8k-0001018724-25-000090"  # accepted 2025-10-30 16:01:52 New York, after the close


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def event(id_: str, when: datetime, timing: str = "unknown") -> EventSpec:
    return EventSpec(id=id_, tickers=("AMZN",), announced=when, timing=timing)


def test_an_event_is_ready_after_the_close_of_day_plus_one_on_the_exchange_calendar():
    cal = exchange_calendar("XNYS")
    events = [
        event("after-close-thursday", at(2025, 10, 30, 16, 1, 52), "after-close"),  # day 0 Fri 10-31, +1 Mon 11-03
        event("before-thanksgiving", at(2025, 11, 26, 9, 0), "pre-open"),  # day 0 Wed, +1 Fri 11-28: early close 13:00
        event("on-a-saturday", at(2025, 11, 1, 10, 0)),  # day 0 Mon 11-03, +1 Tue 11-04
    ]
    ready = ready_times(events, cal)
    assert ready[S.EVENT_ID].to_list() == [e.id for e in events]
    assert ready[S.DAY0].to_list() == [date(2025, 10, 31), date(2025, 11, 26), date(2025, 11, 3)]
    assert ready[READY_DATE].to_list() == [date(2025, 11, 3), date(2025, 11, 28), date(2025, 11, 4)]
    assert [t.astimezone(NY).strftime("%m-%d %H:%M") for t in ready[READY_AT]] == ["11-03 16:30", "11-28 13:30", "11-04 16:30"]
    state = records(tuple(events), ready, Path("c.toml"), at(2025, 10, 30, 16, 30))

    def due(now: datetime) -> list[str]:
        return [r["id"] for r in due_records(state, now)]

    assert due(at(2025, 11, 3, 16, 29)) == []
    assert due(at(2025, 11, 3, 16, 30)) == ["after-close-thursday"]
    assert due(at(2025, 12, 1, 9, 0)) == ["after-close-thursday", "on-a-saturday", "before-thanksgiving"]  # by ready_at
    state["on-a-saturday"]["study_requested_at"] = "2025-11-04T16:31:00-05:00"
    assert due(at(2025, 12, 1, 9, 0)) == ["after-close-thursday", "before-thanksgiving"]
    # day 0 itself (ready_day 0) and no settling time: the close of day 0
    zero = ready_times(events[:1], cal, ready_day=0, settle=timedelta(0))
    assert zero[READY_AT][0].astimezone(NY) == at(2025, 10, 31, 16, 0)
    assert ready_times([], cal).columns == [S.EVENT_ID, S.DAY0, READY_DATE, READY_AT]
    with pytest.raises(ValueError, match="ready_day"):
        ready_times(events, cal, ready_day=-1)
    assert is_session(cal, date(2025, 11, 3)) and not is_session(cal, date(2025, 11, 27))


class Recording(study.Local):
    """A runner that records the Prefect events it is asked to emit (as a tracked run would send them)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict, dict]] = []

    def announce(self, event, resource, payload):
        self.sent.append((event, resource, payload))
        return True

    def deployment_name(self):
        return "watch-test"


def run_watch(reports: Path, now: datetime, **kw) -> tuple:
    recorder = Recording()
    with study.running(recorder):
        done = watch(["AMZN"], str(reports), now=now, **kw)
    return done, recorder.sent


def test_a_new_filing_is_appended_announced_then_announced_ready_once_its_window_closed(fake_edgar, mr_home, tmp_path):
    reports = tmp_path / "reports"
    # Thursday 2025-10-30, 16:30 New York: AMZN's Q3 8-K (16:01:52) is new
    done, sent = run_watch(reports, at(2025, 10, 30, 16, 30))
    catalog = watch_folder(reports) / "filings.toml"
    assert done.added == (AMZN_Q3,) and done.ready == ()
    assert [e.id for e in load_catalog(catalog)] == [AMZN_Q3]
    [(name, resource, payload)] = sent
    assert name == DISCOVERED
    assert resource == {"prefect.resource.id": f"market-reaction.event.{AMZN_Q3}", "prefect.resource.name": AMZN_Q3,
                        "market-reaction.watch": "watch-test"}
    assert payload["event_id"] == AMZN_Q3 and payload["day0"] == "2025-10-31" and payload["tickers"] == ["AMZN"]
    assert payload["catalog"] == str(catalog.resolve()) and payload["reports"] == str(reports.resolve())
    assert datetime.fromisoformat(payload["ready_at"]) == at(2025, 11, 3, 16, 30)  # day +1 (Monday) closes at 16:00
    assert done.message == "AMZN: 1 new filing(s) of 1 since 2025-10-23; 0 ready for study"
    page = (watch_folder(reports) / "index.html").read_text()
    assert AMZN_Q3 in page and "2025-10-30 16:01:52" in page and "study due 2025-11-03 16:30:00" in page

    # Monday 16:00: the window has not closed (nor settled): nothing new, nothing ready
    done, sent = run_watch(reports, at(2025, 11, 3, 16, 0))
    assert (done.added, done.ready, sent) == ((), (), [])
    # Monday 16:31: ready, announced once, recorded
    done, sent = run_watch(reports, at(2025, 11, 3, 16, 31))
    assert done.ready == (AMZN_Q3,) and [s[0] for s in sent] == [READY] and sent[0][2]["event_id"] == AMZN_Q3
    state = json.loads((watch_folder(reports) / STATE).read_text())
    assert state["events"][AMZN_Q3]["study_requested_at"] == "2025-11-03T16:31:00-05:00"
    assert "study requested 2025-11-03 16:31:00" in (watch_folder(reports) / "index.html").read_text()
    done, sent = run_watch(reports, at(2025, 11, 3, 17, 1))
    assert (done.added, done.ready, sent) == ((), (), [])
    assert [e.id for e in load_catalog(catalog)] == [AMZN_Q3]  # appended once


def test_no_session_no_edgar_request_and_a_local_run_requests_no_study(fake_edgar, mr_home, tmp_path):
    reports = tmp_path / "reports"
    done, sent = run_watch(reports, at(2025, 11, 27, 12, 0))  # Thanksgiving: the market is closed
    assert fake_edgar.requests == [] and sent == [] and done.message == "AMZN: no XNYS session on 2025-11-27: EDGAR not asked; 0 ready for study"
    # with since, EDGAR is asked whatever the day; a local run (no Prefect) sends nothing and keeps the event due
    with study.running(study.Local()):
        done = watch(["AMZN"], str(reports), since="2025-10-01", now=at(2025, 11, 27, 12, 0))
    assert done.added == (AMZN_Q3,) and done.ready == ()
    assert json.loads((watch_folder(reports) / STATE).read_text())["events"][AMZN_Q3]["study_requested_at"] is None
    _, sent = run_watch(reports, at(2025, 11, 28, 9, 0))  # then a tracked run asks for it
    assert [(s[0], s[2]["event_id"]) for s in sent] == [(READY, AMZN_Q3)]


def test_bad_parameters_and_a_broken_state_file_are_one_line(fake_edgar, mr_home, tmp_path):
    with pytest.raises(InputError, match="at least one ticker"):
        watch([], str(tmp_path), now=at(2025, 11, 3, 12, 0))
    with pytest.raises(InputError, match="field 'since': expected a date YYYY-MM-DD, got '2025-13-01'"):
        run_watch(tmp_path, at(2025, 11, 3, 12, 0), since="2025-13-01")
    state = watch_folder(tmp_path) / STATE
    state.parent.mkdir(parents=True)
    state.write_text("{not json")
    with pytest.raises(InputError, match="the watch's state cannot be read") as e:
        run_watch(tmp_path, at(2025, 11, 3, 12, 0))
    assert str(state) in str(e.value) and state.read_text() == "{not json"


def fake_report(folder: Path, rows: list[dict], created: str, events: list[str]) -> None:
    """A report folder as this tool writes it (what the watch page reads of it)."""
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("<html></html>")
    pl.DataFrame(rows, schema={S.EVENT_ID: pl.String, S.TICKER: pl.String, S.ROLE: pl.String, S.WINDOW_START: pl.Int32,
                               S.WINDOW_END: pl.Int32, S.CAR: pl.Float64, S.T_STAT: pl.Float64, S.P_VALUE: pl.Float64,
                               S.DOLLAR_ABNORMAL: pl.Float64, S.REASON: pl.String}).write_parquet(folder / "car.parquet")
    (folder / "manifest.json").write_text(json.dumps({
        "generator": GENERATOR, "created_utc": created, "events": events,
        "outputs": {"report.html": {}, "car.parquet": {}}}))


def record(id_: str, announced: str, **kw) -> dict:
    return {"id": id_, "tickers": ["AMZN"], "announced": announced, "description": kw.pop("description", "8-K"),
            "source": "https://www.sec.gov/x", "day0": kw.pop("day0", None), "ready_at": kw.pop("ready_at", None),
            "study_requested_at": kw.pop("study_requested_at", None)}


def test_the_page_lists_this_weeks_events_newest_first_with_their_day0_reaction(tmp_path):
    root = tmp_path / "reports"
    row = {S.EVENT_ID: "a-new", S.TICKER: "AMZN", S.ROLE: "primary", S.WINDOW_START: 0, S.WINDOW_END: 0, S.CAR: 0.0378,
           S.T_STAT: 2.76, S.P_VALUE: 0.006, S.DOLLAR_ABNORMAL: 98.6e9, S.REASON: None}
    wide = {**row, S.WINDOW_START: -1, S.WINDOW_END: 1, S.CAR: 0.5}
    fake_report(root / "20251103-old", [{**row, S.CAR: 0.01}], "2025-11-03T21:00:00+00:00", ["a-new"])
    fake_report(root / "20251104-new", [row, wide], "2025-11-04T21:00:00+00:00", ["a-new"])
    state = {
        "a-new": record("a-new", "2025-10-30T16:01:52-04:00", day0="2025-10-31", description="Q3 <script>x</script>"),
        "b-due": record("b-due", "2025-11-04T08:00:00-05:00", ready_at="2025-11-05T21:30:00+00:00"),
        "c-asked": record("c-asked", "2025-11-03T08:00:00-05:00", study_requested_at="2025-11-04T16:31:00-05:00"),
        "z-old": record("z-old", "2025-09-01T08:00:00-04:00", ready_at="2025-09-02T20:30:00+00:00"),
    }
    text = build_watch_page(root, root / "watch", state, datetime(2025, 11, 5, 15, 0, tzinfo=timezone.utc), NY)
    assert text.count(GENERATOR_MARK) == 1 and "<script>" not in text and "Q3 &lt;script&gt;x&lt;/script&gt;" in text
    week, earlier = text.split("<h2>Earlier</h2>")
    assert week.index("b-due") < week.index("c-asked") < week.index("a-new") and "z-old" in earlier
    # the newest report's [0,0] row: AR, stars, t, dollars in the table's unit; a link relative to the page
    assert '+3.78%***</td><td class="n">2.76</td><td class="n">+$98.6bn</td>' in week
    assert '<a href="../20251104-new/report.html">20251104-new</a>' in week and "+1.00%" not in text and "+50.00%" not in text
    assert "not yet studied (window closes; study due 2025-11-05 16:30:00)" in week
    assert "study requested 2025-11-04 16:31:00" in week


def test_a_backfill_is_one_command_and_the_watch_announces_none_of_its_events(fake_edgar, mr_home, tmp_path, capsys):
    """``events discover --since`` walks the older pages into the watch's catalog; the watch then
    finds those filings already there: no Prefect event, no study per backfilled filing."""
    from flows.cli.main import main

    reports = tmp_path / "reports"
    catalog = watch_folder(reports) / "filings.toml"
    assert main(["events", "discover", "AMZN", "--since", "2025-01-01", "--catalog", str(catalog)]) == 0
    backfilled = [e.id for e in load_catalog(catalog)]
    assert AMZN_Q3 in backfilled and len(backfilled) > 1  # the recent filings and those of the older page
    done, sent = run_watch(reports, at(2025, 11, 3, 17, 0), since="2025-01-01")
    assert (done.added, done.ready, sent) == ((), (), [])
    assert [e.id for e in load_catalog(catalog)] == backfilled


@pytest.mark.parametrize("watchlist", [",", "AMZN,<b>"])
def test_serve_refuses_a_bad_watchlist_before_serving(watchlist, monkeypatch, capsys):
    from flows.cli.main import main
    from flows.orchestration import serve

    monkeypatch.setattr(serve, "serve", lambda *a, **k: pytest.fail("served"))
    assert main(["serve", "--watchlist", watchlist]) == 2
    assert "--watchlist" in capsys.readouterr().err
