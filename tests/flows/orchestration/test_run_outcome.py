"""What a tracked run says where Prefect users look (issue 13): a WARNING per skipped or flagged
event, the progress lines, the final state's message, Completed or Failed, the warnings
artifact, artifacts a person reads, and failed downloads without a traceback; against a real
Prefect test server, read back through the Prefect client."""

from __future__ import annotations

import json
import logging
from datetime import date
from uuid import UUID

import numpy as np
import polars as pl
import pytest

from analysis import schema as S
from analysis.errors import DataUnavailableError
from fake_yahoo import xnys
from flows.io.store import PriceStore
from flows.orchestration.outcome import run_outcome

CATALOG = """
[[events]]
id = "aaa-deal"
tickers = ["AAA"]
announced = "2025-06-02"
group = "deals"

[[events]]
id = "bbb-deal"
tickers = ["BBB"]
announced = "2025-07-01"
group = "deals"

[[events]]
id = "zzz-deal"
tickers = ["ZZZZ"]
announced = "2025-07-01"
group = "deals"
"""
MESSAGE = "3 events: 2 ok, 0 flagged, 1 skipped (no prices: ZZZZ)"


def bars(seed: int) -> pl.DataFrame:
    dates = pl.Series(S.DATE, xnys().sessions_in_range("2024-01-02", "2025-11-28").to_numpy()).dt.date()
    close = 100 * np.cumprod(1 + np.random.default_rng(seed).normal(0, 0.01, dates.len()))
    return pl.DataFrame(dates).with_columns(pl.Series(S.CLOSE, close), pl.Series(S.ADJ_CLOSE, close), pl.lit(1e6).alias(S.VOLUME))


@pytest.fixture
def study(tmp_path) -> dict[str, str]:
    """A store with AAA, BBB and ^GSPC (no shares, no ZZZZ) and the catalog: the arguments of a run."""
    store = PriceStore(tmp_path / "store")
    for seed, ticker in enumerate(("AAA", "BBB", "^GSPC")):
        store.upsert(ticker, bars(seed), (date(2024, 1, 1), date(2025, 11, 30)), "test")
    store.upsert_shares(pl.DataFrame({S.TICKER: ["AAA", "BBB"], S.AS_OF_DATE: [date(2025, 1, 2)] * 2,
                                      S.SHARES: [1e9, 2e9]}), "test")
    catalog = tmp_path / "deals.toml"
    catalog.write_text(CATALOG)
    return dict(catalog=str(catalog), store=str(store.root), source="store", reports=str(tmp_path / "reports"))


def flow_run(state) -> UUID:
    return state.state_details.flow_run_id


def logs(run_id: UUID) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # the log worker sends in batches: wait until this run's are sent
    with get_client(sync_client=True) as client:
        return client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))


def artifacts(run_id: UUID, key: str | None = None) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
            **({"key": ArtifactFilterKey(any_=[key])} if key else {}),
        ))


def final_state(run_id: UUID):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state


def test_outcome_counts_events_not_rows():
    from types import SimpleNamespace

    rows = pl.DataFrame({
        S.EVENT_ID: ["a", "b", "b", "c", "d"], S.TICKER: ["A", "B", "X", "ORCL", "AMD"],
        S.ROLE: ["primary", "primary", "related", "primary", "primary"],
        "status": ["ok", "ok", "skipped", "skipped", "skipped"],
        S.REASON: [None, None, "no prices for X", "no prices for ORCL", "no prices for benchmark ^NOPE; no prices for AMD"],
    })
    said = run_outcome(SimpleNamespace(events=rows), ["AMZN: Yahoo Finance is unreachable"])
    assert said.message() == "4 events: 1 ok, 1 flagged, 2 skipped (no prices: ORCL, ^NOPE)"
    assert said.warnings() == [
        "event b flagged: X: no prices for X", "event c skipped: ORCL: no prices for ORCL",
        "event d skipped: AMD: no prices for benchmark ^NOPE; no prices for AMD", "data: AMZN: Yahoo Finance is unreachable",
    ]
    assert "| c | skipped | ORCL: no prices for ORCL |" in said.markdown()
    nothing = run_outcome(None, ["AMZN: Yahoo Finance is unreachable"])  # nothing studied (refresh: all unchanged)
    assert nothing.message() == "" and nothing.warnings() == ["data: AMZN: Yahoo Finance is unreachable"]
    assert nothing.markdown().startswith("**Data**")


def test_a_skipped_event_is_a_warning_and_in_the_state_message(prefect_api, study, tmp_path, monkeypatch):
    from flows.orchestration.tracked import event_study

    monkeypatch.setenv("MARKET_REACTION_REPORTS_URL", "https://reports.example.org/mr/")
    runs = logging.getLogger("prefect.flow_runs")
    level = runs.level
    runs.setLevel(logging.INFO)  # the tests log at WARNING; the progress lines are INFO
    try:
        state = event_study(**study, out=str(tmp_path / "reports" / "all"), return_state=True)
    finally:
        runs.setLevel(level)
    assert state.is_completed() and state.message == MESSAGE
    assert state.result() == str(tmp_path / "reports" / "all")  # the caller still gets the report folder
    run_id = flow_run(state)
    assert final_state(run_id).message == MESSAGE

    lines = logs(run_id)
    warnings = [log.message for log in lines if log.level == logging.WARNING]
    assert "event zzz-deal skipped: ZZZZ: no prices for ZZZZ; no close on day -1" in warnings
    assert not [log for log in lines if log.level >= logging.ERROR]
    text = "\n".join(log.message for log in lines)
    assert "analysing 3 event(s)" in text and "report written to" in text  # the progress lines

    made = artifacts(run_id)
    warned = [a for a in made if a.key is None and a.type == "markdown"]
    assert len(warned) == 1 and f"**{MESSAGE}**" in warned[0].data and "| zzz-deal | skipped |" in warned[0].data
    summary = next(a for a in made if a.key == "aaa-deal-summary")
    rows = json.loads(summary.data) if isinstance(summary.data, str) else summary.data
    assert list(rows[0]) == ["ticker", "window", "CAR", "t", "p", "BHAR", "$ abnormal", "note"]
    assert all(r["CAR"].endswith("%") and len(r["CAR"]) <= 8 and r["$ abnormal"].startswith(("$", "-$")) for r in rows)
    url = "https://reports.example.org/mr/all/report.html"
    assert next(a for a in made if a.key == "aaa-deal-report").data == f"[report: aaa-deal]({url})"
    assert f"[report]({url})" in next(a for a in made if a.key == "aaa-deal-headline").data
    assert "file://" not in json.dumps([a.data for a in made])
    assert any(a.key == "deals-brief" for a in made)


def test_a_one_event_run_leaves_the_group_brief_alone(prefect_api, study, tmp_path):
    from flows.orchestration.tracked import event_study

    whole = flow_run(event_study(**study, out=str(tmp_path / "reports" / "all"), return_state=True))
    one = event_study(**study, event_ids=["aaa-deal"], out=str(tmp_path / "reports" / "aaa"), return_state=True)
    assert one.is_completed() and one.message == "1 event: 1 ok, 0 flagged, 0 skipped"
    mine = artifacts(flow_run(one))
    keys = {a.key for a in mine}
    assert "deals-brief" not in keys and "aaa-deal-tests" not in keys and "aaa-deal-summary" in keys
    brief = [a for a in mine if a.key is None and a.description.startswith("group brief")]
    assert brief and "(1 of its catalog events)" in brief[0].description
    assert "aaa/brief-deals.html in the reports folder" in brief[0].data  # no reports URL: the path, as text
    assert not [a for a in mine if a.type == "markdown" and a.key is None and "skipped" in (a.description or "")]
    assert [a.key for a in artifacts(whole) if a.key == "deals-brief"] == ["deals-brief"]


def test_a_run_where_nothing_is_computed_fails_with_the_reason(prefect_api, study, tmp_path):
    from flows.orchestration.tracked import event_study

    state = event_study(**study, event_ids=["zzz-deal"], out=str(tmp_path / "r"), return_state=True)
    run_id = flow_run(state)
    assert state.is_failed() and final_state(run_id).is_failed()
    message = final_state(run_id).message
    assert message.startswith("no event could be analysed: zzz-deal ZZZZ: skipped: no prices for ZZZZ")
    lines = logs(run_id)
    assert "event zzz-deal skipped: ZZZZ: no prices for ZZZZ; no close on day -1" in [
        log.message for log in lines if log.level == logging.WARNING]
    assert [log.message for log in lines if log.level >= logging.ERROR] == [message]  # one line, no traceback
    assert not any("Traceback" in log.message for log in lines)
    assert not (tmp_path / "r").exists()
    with pytest.raises(DataUnavailableError, match="no event could be analysed"):  # what the command line maps to exit 3
        event_study(**study, event_ids=["zzz-deal"], out=str(tmp_path / "r"))


def test_yahoo_unreachable_is_said_without_a_traceback_and_not_cached(prefect_api, study, fake_yahoo, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.orchestration.tracked import event_study

    fake_yahoo.offline()
    args = {**study, "source": "auto", "event_ids": ["aaa-deal", "zzz-deal"]}
    state = event_study(**args, out=str(tmp_path / "reports" / "r1"), return_state=True)
    assert state.is_completed() and state.message == "2 events: 1 ok, 0 flagged, 1 skipped (no prices: ZZZZ)"
    lines = logs(flow_run(state))
    assert not [log for log in lines if log.level >= logging.ERROR or "Traceback" in log.message]
    said = [log.message for log in lines if log.level == logging.WARNING]
    assert any(m.startswith("not fetched: ZZZZ: Yahoo Finance is unreachable (could not resolve host)") for m in said)
    assert any(m.startswith("data: ZZZZ: Yahoo Finance is unreachable") for m in said)
    with get_client(sync_client=True) as client:
        fetches = [t for t in client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run(state)])))
                   if t.name.startswith("fetch-prices")]
    assert fetches and all(t.state.is_completed() and "unreachable" in t.state.message for t in fetches)

    asked = fake_yahoo.requests["ZZZZ"]
    fake_yahoo.online()
    fake_yahoo.add("ZZZZ", bars(7).with_columns(pl.col(S.CLOSE).alias(S.OPEN), pl.col(S.CLOSE).alias(S.HIGH),
                                                pl.col(S.CLOSE).alias(S.LOW)))
    again = event_study(**args, out=str(tmp_path / "reports" / "r2"), return_state=True)
    assert fake_yahoo.requests["ZZZZ"] > asked  # the unreachable answer was not cached
    assert again.is_completed() and again.message == "2 events: 1 ok, 1 flagged, 0 skipped"  # ZZZZ: no shares


def test_a_refresh_where_nothing_is_computed_fails_and_writes_nothing(study, tmp_path):
    """The nightly run on a catalog none of whose events has prices (it wrote a catalog report
    of skipped events and ended Completed) stops with the reason; local and tracked alike."""
    from flows.orchestration.refresh import refresh_catalog

    catalog = tmp_path / "nothing.toml"
    catalog.write_text(CATALOG.split("[[events]]")[0] + "[[events]]" + CATALOG.split("[[events]]")[3])  # zzz-deal only
    with pytest.raises(DataUnavailableError, match="no event could be analysed: zzz-deal ZZZZ: skipped: no prices for ZZZZ"):
        refresh_catalog(**{**study, "catalog": str(catalog)})
    assert not (tmp_path / "reports" / "nothing").exists()
