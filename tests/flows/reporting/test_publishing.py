"""Publishing without Prefect: great_tables tables (spanners, shading, same digits in every
format), artifact payloads, deterministic plots and the index (escaping, latest result,
untouched when unchanged). Results come from the simulated demo market with planted effects."""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import replace

import polars as pl
import pytest

from analysis import schema as S
from analysis.calendar import exchange_calendar
from analysis.engine import run_study
from analysis.inference import TESTS
from flows.devtools.market import simulate_market
from analysis.specs import StudySpec, events_frame
from flows.orchestration.artifacts import MAX_COLUMNS, artifact_key, group_test_rows, summary_rows
from flows.reporting.index import build_index, write_index
from flows.reporting.figures import save_figures
from flows.reporting.plots import event_figures, group_figures, slug
from flows.reporting.publish import write_report
from flows.reporting import tables
from flows.reporting.markup import md_text
from flows.reporting.answers import answer_sentences
from flows.reporting.tables import summary_table, to_html, to_latex, to_markdown


@pytest.fixture(scope="module")
def result():
    cal = exchange_calendar()
    market = simulate_market(cal)
    events = tuple(replace(e, description=f"{e.description} <b>&</b> | pipes") for e in market.events)
    return run_study(events_frame(events), market.prices, StudySpec(), cal, market.shares), events


def test_summary_has_a_spanner_per_window_and_shades_significant_cars(result):
    res, _ = result
    table = summary_table(res)
    spanners = dict(table.spanners)
    assert list(spanners) == ["Day 0", "CAR [0,0]", "CAR [-1,+1]", "CAR [-5,+5]"]
    assert spanners["CAR [-1,+1]"] == ("CAR [-1,+1]", "t [-1,+1]", "p [-1,+1]", "$ abnormal [-1,+1]")
    shaded = dict(table.highlight)["CAR [0,0]"]
    p0 = res.car.filter((pl.col(S.WINDOW_START) == 0) & (pl.col(S.WINDOW_END) == 0))
    events = table.frame["event"].to_list()
    significant = {e for e, p in zip(p0[S.EVENT_ID], p0[S.P_VALUE]) if p < 0.05}
    assert {events[i] for i in shaded} == significant == {"acme-merger", "bolt-recall", "crux-guidance"}
    page = to_html(table)
    rows = [re.findall(r"<td([^>]*)>", row) for row in re.findall(r"<tr>(<td.*?)</tr>", page.split("<tfoot>")[0])]
    cells = {(r, c) for r, row in enumerate(rows) for c, attrs in enumerate(row) if "sig" in attrs}
    cols = table.frame.columns
    assert cells == {(r, cols.index(col)) for col, rs in table.highlight for r in rs}  # shaded: these cells, no other
    assert {(r, cols.index("CAR [0,0]")) for r in shaded} <= cells
    assert 'id="summary"' in page and 'scope="colgroup">Day 0</th>' in page  # spanner
    assert ">$ abnormal<" in page  # short labels under it


def test_every_format_shows_the_same_digits(result):
    res, _ = result
    table = summary_table(res)
    md, page, tex = to_markdown(table), to_html(table), to_latex(table)
    for cell in table.frame.select(pl.exclude("event", "ticker", "role", "day 0")).rows()[0]:
        if cell:
            assert html.escape(cell) in page and md_text(cell) in md
            assert re.search(r"\d[\d.,]*", cell).group() in tex  # LaTeX escapes $, %, < but keeps the digits
    assert to_html(table) == page  # stable ids: same table, same bytes


def test_tests_table_shades_significant_tests(result):
    res, _ = result
    table = tables.tests_table(res)
    shaded = dict(table.highlight)
    assert set(shaded) == {t.label for t in TESTS} and any(shaded.values())
    for label, rows in shaded.items():
        for i, cell in enumerate(table.frame[label]):
            p = re.search(r"\((<?[\d.]+)\)", cell)
            significant = p is not None and float(p.group(1).lstrip("<")) < 0.05
            assert significant == (i in rows), (label, i, cell)
    assert [label for label, _ in table.spanners] == ["Parametric", "Non-parametric"]


def test_artifact_payloads(result):
    res, _ = result
    assert artifact_key("Amzn_Deal 2025", "summary") == "amzn-deal-2025-summary"
    summary, tests = summary_rows(res.car), group_test_rows(res.tests)
    assert summary.width <= MAX_COLUMNS and tests.width <= MAX_COLUMNS
    assert all(dtype == pl.String for dtype in (*summary.dtypes, *tests.dtypes))  # display text, as the tables show
    first = summary.row(0, named=True)
    assert re.fullmatch(r"[+-]\d+\.\d\d%", first["CAR"]) and re.fullmatch(r"\[[+-]?\d+,[+-]?\d+\]", first["window"])
    assert re.fullmatch(r"<0\.001|\d\.\d{3}", tests["p"][0])
    json.dumps(summary.to_dicts() + tests.to_dicts())  # every value is JSON-able
    first = answer_sentences(res)[0]
    assert (first.event_id, first.ticker) == ("acme-merger", "ACME") and " on 2025-06-16; " in first.sentence


def test_plots_are_written_and_deterministic(result, tmp_path):
    res, _ = result
    first = save_figures(event_figures(res) + group_figures(res), tmp_path / "a")
    second = save_figures(event_figures(res) + group_figures(res), tmp_path / "b")
    assert len(first) == 2 * (4 + 4 + 1)  # 4 events (CAR and move) and the group "all", PNG and SVG
    for a, b in zip(first, second):
        assert a.name == b.name and a.read_bytes() == b.read_bytes()
    assert slug("deals") == "deals" and slug("A/B deals") != slug("A-B deals")
    assert slug("A/B deals").startswith("a-b-deals-")


def test_index_escapes_user_text_and_keeps_the_latest_result(result, tmp_path):
    res, events = result
    root = tmp_path / "reports"
    manifest = {"kind": "run", "parameters": {"windows": ["0:0", "-1:1", "-5:5"]},
                "event_info": [{"id": e.id, "description": e.description} for e in events]}
    old = res.car.with_columns(pl.col(S.CAR) * 0)  # an older run with different numbers
    write_report(replace(res, car=old), root / "old", {**manifest, "created_utc": "2025-01-01T00:00:00+00:00"}, title="old")
    write_report(res, root / "new", {**manifest, "created_utc": "2025-02-01T00:00:00+00:00"}, title="new <i>")
    (root / "broken").mkdir()
    (root / "broken" / "manifest.json").write_text("{not json")
    (root / ".new.tmp-123").mkdir()
    (root / ".new.tmp-123" / "manifest.json").write_text("{}")
    path = write_index(root)
    page = path.read_text()
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in page and "<b>" not in page
    assert 'href="new/report.html"' in page and 'href="old/report.html"' in page and ".new.tmp" not in page
    latest = page.split("<h2>All reports")[0]
    acme = res.car.filter((pl.col(S.EVENT_ID) == "acme-merger") & (pl.col(S.WINDOW_END) == 0))[S.CAR].item()
    assert 'href="old/report.html"' not in latest and f"{tables.pct(acme)}***" in latest  # the newer run's numbers
    before = os.stat(path).st_mtime_ns
    assert write_index(root) == path and os.stat(path).st_mtime_ns == before  # unchanged: not rewritten
    assert build_index(root) == page
