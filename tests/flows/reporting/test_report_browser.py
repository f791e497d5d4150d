"""The report and the index as a reader sees them: rendered by headless Chromium (Debian's
``chromium``; .ci/run installs it), offline, with user text escaped."""

from __future__ import annotations

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
    assert dom.count("<table") >= 7 and "gt_table" in dom
    assert "Reaction per event" in dom and "+3.78%***" in dom and "$98.6bn" in dom
    assert 'src="plots/car-amzn-openai-aws-2025.svg"' in dom
    shot = tmp_path / "report.png"
    done = chromium("--screenshot=" + str(shot), "--window-size=1400,2000", "--hide-scrollbars",
                    (report / "report.html").as_uri(), tmp=tmp_path)
    assert done.returncode == 0 and shot.stat().st_size > 20_000, done.stderr[-2000:]
    index = chromium("--dump-dom", (report.parent / "index.html").as_uri(), tmp=tmp_path)
    assert index.returncode == 0 and "Latest result per event" in index.stdout and "+3.78%***" in index.stdout
