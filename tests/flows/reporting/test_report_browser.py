"""The report and the index as a reader sees them: rendered by headless Chromium (Debian's
``chromium``; .ci/run installs it), offline, with user text escaped."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from analysis import schema as S
from analysis.calendar import exchange_calendar
from analysis.engine import run_study
from analysis.specs import StudySpec, events_frame
from flows.io.catalog import load_catalog
from flows.reporting.index import write_index
from flows.reporting.publish import write_report
from flows.orchestration.study import run_manifest
from flows.io.store import PriceStore
from flows.reporting.answers import headline
from tests.conftest import REPO_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EVENT = "amzn-openai-aws-2025"


@pytest.fixture(scope="module")
def report(tmp_path_factory, shared_data) -> Path:
    """The AMZN-AWS report (with related tickers) written straight from the engine, in a
    reports folder with its index; one description carries HTML."""
    base = tmp_path_factory.mktemp("browser")
    frames = []
    for name, ticker in (("AMZN", "AMZN"), ("GSPC", "^GSPC"), ("MSFT", "MSFT"), ("NVDA", "NVDA"), ("GOOGL", "GOOGL")):
        f = pl.read_csv(shared_data / "prices" / f"{name}.csv", try_parse_dates=True,
                        schema_overrides={S.ADJ_CLOSE: pl.Float64, S.VOLUME: pl.Float64})
        frames.append(f.with_columns(pl.lit(ticker).alias(S.TICKER), pl.col(S.ADJ_CLOSE).fill_null(pl.col(S.CLOSE))))
    shares = pl.read_csv(shared_data / "shares_outstanding.csv", try_parse_dates=True).select(S.TICKER, S.AS_OF_DATE, S.SHARES)
    events = tuple(e for e in load_catalog(REPO_ROOT / "deployments" / "events.toml") if e.id == EVENT)
    events = (replace(events[0], description="Deal <img src=x onerror=alert(1)> & more"),)
    result = run_study(events_frame(events), pl.concat(frames, how="diagonal_relaxed"), StudySpec(), exchange_calendar(), shares)
    manifest = run_manifest(Path("events.toml"), events, result.spec, "store", PriceStore(base / "store"),
                            pl.DataFrame(schema={S.TICKER: pl.String, "start": pl.Date, "end": pl.Date}), [])
    out = write_report(result, base / "reports" / "run-1", {**manifest, "headline": headline(result)},
                       title=f"Market reaction: {EVENT}", headline=headline(result))
    write_index(base / "reports")
    return out


def test_report_is_offline_and_escaped(report):
    page = (report / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "external resource in report.html"
    assert "<script" not in page
    index = (report.parent / "index.html").read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in index and "<img" not in index
    assert 'href="run-1/report.html"' in index
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", index)


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, text=True, timeout=180,
    )


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium; .ci/run does it)")
def test_report_renders_in_chromium(report, tmp_path):
    done = chromium("--dump-dom", (report / "report.html").as_uri(), tmp=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    for key in ("summary", "events", "car", "abnormal_returns", "models", "tests", "regressions"):
        assert f'<section id="{key}">' in dom
    assert dom.count('<table class="t"') >= 6
    assert "Reaction per event" in dom and "+3.78%***" in dom and "$98.6bn" in dom
    assert 'src="plots/car-amzn-openai-aws-2025.svg"' in dom
    shot = tmp_path / "report.png"
    done = chromium("--screenshot=" + str(shot), "--window-size=1400,2000", "--hide-scrollbars",
                    (report / "report.html").as_uri(), tmp=tmp_path)
    assert done.returncode == 0 and shot.stat().st_size > 20_000, done.stderr[-2000:]
    index = chromium("--dump-dom", (report.parent / "index.html").as_uri(), tmp=tmp_path)
    assert index.returncode == 0 and "Latest result per event" in index.stdout and "+3.78%***" in index.stdout


# --- the answer first, ids and dates on one line (layout measured in Chromium) ---------------

PROBE = """<script>
addEventListener("load", () => {
  const wrapped = [];
  const id = /^([a-z0-9][a-z0-9_]*(-[a-z0-9_]+)+|\\d{4}-\\d{2}-\\d{2}|\\[[-+\\d]+,[-+\\d]+\\])$/;
  for (const td of document.querySelectorAll("td")) {
    const text = td.textContent.trim();
    if (!id.test(text)) continue;
    const range = document.createRange();
    range.selectNodeContents(td);
    const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
    if (lines.size > 1) wrapped.push(text);
  }
  const next = document.querySelector("h1").nextElementSibling;
  const out = document.createElement("pre");
  out.id = "probe";
  const shaded = [...document.querySelectorAll("td.sig")].map((td) => getComputedStyle(td).backgroundColor);
  const numbers = [...document.querySelectorAll("td.n")].map((td) => getComputedStyle(td).textAlign);
  out.textContent = JSON.stringify({width: document.documentElement.getBoundingClientRect().width, wrapped,
                                    first: next ? next.innerText.trim() : "", shaded, numbers});
  document.body.append(out);
});
</script>"""
"""Test-only: the pages have no script; a copy of a page gets this one, which lists every
visible table cell holding an id, a date or a window that spans more than one line, the
text right after the title, and the background of the significant cells and the alignment of
the numeric ones as laid out."""
AMZN_ANSWER = ("AMZN rose 4.00% (+$104.6bn) on 2025-11-03; +3.78% (+$98.6bn) beyond what the market explains, "
               "significant at 1% (t = 2.76, p = 0.006); the wider windows also hold Amazon Q3 2025 results the session "
               "before (+9.23% abnormal that day).")


@pytest.fixture(scope="module")
def catalog_report(tmp_path_factory, shared_data) -> Path:
    """The report of the whole shipped catalog with its briefs (the flagship brief among them)."""
    from flows.reporting.flagship import brief_files, group_briefs
    from tests.flows.reporting.test_flagship import CATALOG, study

    events = load_catalog(CATALOG)
    result = study(events, shared_data)
    descriptions = {e.id: e.description for e in events}
    return write_report(result, tmp_path_factory.mktemp("catalog") / "run", {}, title="Market reaction: catalog",
                        extra=brief_files(group_briefs(result, descriptions, "Market reaction: catalog")), descriptions=descriptions)


def layout(page: Path, width: int, tmp: Path) -> dict:
    """What :data:`PROBE` measures on ``page`` laid out ``width`` px wide (headless Chromium's
    window is at least 500 px: narrower, the page's root element gets that width)."""
    import json

    probe = page.with_name(f"_probe-{width}-{page.name}")
    narrow = f"<style>html{{width:{width}px}}</style>" if width < 500 else ""
    probe.write_text(page.read_text().replace("</head>", narrow + "</head>").replace("</body>", PROBE + "</body>"))
    try:
        done = chromium("--dump-dom", "--hide-scrollbars", "--virtual-time-budget=10000", f"--window-size={max(width, 500)},1000",
                        probe.as_uri(), tmp=tmp)
    finally:
        probe.unlink()
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, "the probe did not run"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium; .ci/run does it)")
@pytest.mark.parametrize("width", [1400, 390])
@pytest.mark.parametrize("name", ["brief-openai-compute-deals.html", "report.html"])
def test_the_answer_comes_first_and_ids_never_wrap(catalog_report, tmp_path, name, width):
    seen = layout(catalog_report / name, width, tmp_path)
    assert seen["width"] == width
    assert seen["first"].startswith(AMZN_ANSWER)
    assert seen["wrapped"] == []
    assert seen["shaded"] and set(seen["shaded"]) == {"rgb(255, 243, 191)"}  # HIGHLIGHT_FILL
    assert seen["numbers"] and set(seen["numbers"]) == {"right"}


def test_pages_print_and_collapse_long_tables(catalog_report):
    page = (catalog_report / "report.html").read_text()
    assert "@media print" in page and "details::details-content" in page and "<script" not in page
    assert '<nav class="toc"' in page and '<details><summary>Daily abnormal returns around day 0' in page
    assert '<a href="abnormal_returns.csv">all rows as CSV</a>' in page
    assert "white-space:nowrap" in page


def test_empty_sections_are_left_out(report):
    page = (report / "report.html").read_text()
    # no claims checked and no catalog event around it in this study: neither table nor its contents entry
    for key in ("claims", "confounders"):
        assert f'<section id="{key}">' not in page and f'href="#{key}"' not in page
    assert (report / "tables" / "claims.csv").is_file()  # the display files stay
    assert page.index('<section class="answers" id="answer"><p>AMZN rose 4.00% (+$104.6bn) on 2025-11-03;') < page.index('<nav class="toc"')
