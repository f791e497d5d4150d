"""A large study's report costs what a person reads: bounded human tables, pages, briefs,
index and manifest, with every row in the Parquet/CSV files; small studies keep complete
tables (tests/flows/reporting/test_publishing.py, test_flagship.py).

The study: 5,000 events on a synthetic market (flows.devtools.floor) with shares outstanding (dollar
values) and 12 events on a ticker without prices (skipped, with their reason)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date

import polars as pl
import pytest

from analysis import schema as S
from flows.devtools.floor import BENCH_SPEC, SyntheticSpec, bench_events, bench_prices
from analysis.calendar import exchange_calendar
from analysis.engine import STATUS, run_study
from flows.reporting.answers import answer_sentences
from flows.reporting.flagship import BRIEF_SELECTED, MAX_BRIEFS, brief_files, group_briefs
from flows.reporting.index import MAX_REPORT_ROWS, build_index
from flows.reporting.publish import write_report
from flows.reporting.tables import (
    MAX_DAILY_EVENT_ROWS, MAX_EVENT_ROWS, SELECTED_ROWS, abnormal_returns_table, all_tables, events_table, shown_rows, summary_table,
)

MARKET = SyntheticSpec(tickers=400, sessions=420, events=5_000, seed=11)
SKIPPED = 12


@pytest.fixture(scope="module")
def result():
    cal = exchange_calendar()
    prices = bench_prices(MARKET, cal)
    events = bench_events(MARKET, cal)
    missing = events.head(SKIPPED).with_columns(
        pl.format("nodata-{}", S.EVENT_ID).alias(S.EVENT_ID), pl.lit("NODATA").alias(S.TICKER),
    )
    shares = prices.select(S.TICKER).unique().sort(S.TICKER).with_columns(
        pl.lit(date(2000, 1, 1)).alias("as_of_date"), pl.lit(1e8).alias("shares_outstanding"),
    )
    res = run_study(pl.concat([events, missing]), prices, BENCH_SPEC, cal, shares, max_regressions=0)
    assert res.events.height == MARKET.events + SKIPPED > MAX_EVENT_ROWS
    assert res.events.filter(pl.col(STATUS) == "skipped").height == SKIPPED
    return res


def test_the_selection_lists_what_matters(result):
    shown = shown_rows(result)
    assert not shown.complete and shown.keys.height == SELECTED_ROWS and shown.total == result.events.height
    w = BENCH_SPEC.windows[0]
    first = result.car.filter((pl.col(S.WINDOW_START) == w.start) & (pl.col(S.WINDOW_END) == w.end))
    keys = set(shown.keys.iter_rows())
    most_significant = first.sort(S.P_VALUE, pl.col(S.T_STAT).abs(), descending=[False, True], nulls_last=True).row(0, named=True)
    largest = first.sort(pl.col(S.DOLLAR_ABNORMAL).abs(), descending=True, nulls_last=True).row(0, named=True)
    assert shown.keys.row(0) == (most_significant[S.EVENT_ID], most_significant[S.TICKER])
    assert (largest[S.EVENT_ID], largest[S.TICKER]) in keys
    skipped = result.events.filter(pl.col(STATUS) == "skipped").select(S.EVENT_ID, S.TICKER)
    assert set(skipped.iter_rows()) <= keys  # every skipped row (fewer than the bound), with its reason below


def test_human_tables_are_bounded_and_say_where_the_rest_is(result):
    n = result.events.height
    summary = summary_table(result)
    assert summary.frame.height == SELECTED_ROWS
    assert any(f"{n - SELECTED_ROWS:,} more event rows in car.parquet" in note for note in summary.notes)
    events = events_table(result)
    skipped = events.frame.filter(pl.col(STATUS) == "skipped")
    assert skipped.height == SKIPPED and skipped["note"].str.contains("NODATA").all()
    assert any(f"{n - SELECTED_ROWS:,} more event rows in events.parquet" in note for note in events.notes)
    daily = abnormal_returns_table(result)
    assert daily.frame.select("event", S.TICKER).n_unique() == MAX_DAILY_EVENT_ROWS
    assert any("more event rows in abnormal_returns.parquet" in note for note in daily.notes)
    for table in all_tables(result):
        assert table.frame.height <= 300, table.key  # a page, whatever the number of events
    assert len(answer_sentences(result)) <= SELECTED_ROWS


def test_report_of_a_large_study_is_small_and_its_data_files_are_whole(result, tmp_path):
    pages = group_briefs(result)
    assert 0 < len(pages) <= MAX_BRIEFS
    for brief in pages:
        section = re.search(r'<section id="events">.*?</section>', brief.html).group()
        deals = re.findall(r"<tr><td[^>]*>e\d{6}</td>", section)  # the deals table's event cells
        assert 0 < len(deals) <= 4 * BRIEF_SELECTED
    out = write_report(
        result, tmp_path / "reports" / "big", {"parameters": {"windows": ["0:0"]}, "created_utc": "2026-01-01"},
        title="big", extra=brief_files(pages),
    )
    human = [*(out / "tables").iterdir(), out / "report.html", out / "report.md", *out.glob("brief-*")]
    assert sum(p.stat().st_size for p in human) < 4e6
    for name in ("abnormal_returns", "car", "events", "models", "confounders"):
        frame = getattr(result, name)
        assert pl.read_parquet(out / f"{name}.parquet").height == frame.height
        assert pl.read_csv(out / f"{name}.csv", infer_schema=False).height == frame.height
    manifest = json.loads((out / "manifest.json").read_text())
    flagged = result.events.filter(pl.col(STATUS) != "ok").height
    assert len(manifest["warnings"]) == min(flagged, MAX_EVENT_ROWS) + (flagged > MAX_EVENT_ROWS)
    index = build_index(tmp_path / "reports")
    assert index.count('<td class="n car">') == MAX_REPORT_ROWS
    primary = result.car.filter((pl.col(S.ROLE) == "primary") & (pl.col(S.WINDOW_START) == 0) & (pl.col(S.WINDOW_END) == 0))
    assert f"{primary.height - MAX_REPORT_ROWS:,} more in its car.parquet" in index


def test_up_to_the_bound_every_row_is_listed(result):
    ids = result.events[S.EVENT_ID].head(MAX_EVENT_ROWS).to_list()
    small = dataclasses.replace(result, **{
        name: getattr(result, name).filter(pl.col(S.EVENT_ID).is_in(ids))
        for name in ("events", "abnormal_returns", "car", "models", "confounders")
    })
    assert shown_rows(small).complete
    tables = {t.key: t for t in all_tables(small)}
    assert tables["summary"].frame.height == tables["events"].frame.height == MAX_EVENT_ROWS
    assert tables["abnormal_returns"].frame.height == small.abnormal_returns.height
    assert tables["confounders"].frame.height == small.confounders.height
    assert not any("more event rows in" in note for t in tables.values() for note in t.notes)


def test_the_manifest_describes_the_events_the_pages_list(result, tmp_path):
    """``event_info`` of a study beyond the bound: the events the pages list, not all 5,012."""
    from analysis.specs import EventSpec
    from flows.io.store import PriceStore
    from flows.orchestration.study import run_manifest
    from flows.reporting.flagship import displayed_events

    rows = result.events.unique(S.EVENT_ID, maintain_order=True)
    events = tuple(EventSpec(e, (t,), d) for e, t, d in rows.select(S.EVENT_ID, S.TICKER, "announced_date").iter_rows())
    store, needs = PriceStore(tmp_path), pl.DataFrame(schema={S.TICKER: pl.String, "start": pl.Date, "end": pl.Date})
    big = run_manifest(None, events, BENCH_SPEC, "store", store, needs, [], result=result)
    shown = set(displayed_events(result))
    assert [e["id"] for e in big["event_info"]] == [e.id for e in events if e.id in shown]
    assert MAX_EVENT_ROWS < len(big["events"]) == len(events) and len(big["event_info"]) < len(events) / 10
    small = run_manifest(None, events[:MAX_EVENT_ROWS], BENCH_SPEC, "store", store, needs, [], result=result)
    assert len(small["event_info"]) == MAX_EVENT_ROWS
