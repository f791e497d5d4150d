"""Reports an analyst forwards (issue 14): the index and every table give a skipped row's true
cause, the demo and the simulations keep their own folder and index, and ``--xlsx`` writes a
workbook holding the numbers of the data files.

One run of the shipped catalog on the reference prices (AMZN, MSFT, NVDA, GOOGL and ^GSPC: no
prices for ORCL, AMD and AVGO) serves the reason and workbook tests."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from analysis import schema as S
from flows.cli.main import main
from flows.reporting.index import build_index
from flows.reporting.publish import file_sha256
from flows.reporting.workbook import PERCENT, PVALUE, STAT
from tests.conftest import REPO_ROOT

CATALOG = REPO_ROOT / "deployments" / "events.toml"
NO_PRICES = {"amd-openai-6gw": "AMD", "avgo-openai-10gw": "AVGO", "orcl-fq1-fy26-earnings": "ORCL",
             "orcl-openai-300b-report": "ORCL"}


def import_reference(shared_data: Path) -> None:
    p = shared_data / "prices"
    assert main(["-q", "prices", "import", *(str(p / f"{t}.csv") for t in ("AMZN", "MSFT", "NVDA", "GOOGL"))]) == 0
    assert main(["-q", "prices", "import", str(p / "GSPC.csv"), "--ticker", "^GSPC"]) == 0
    assert main(["-q", "shares", "import", str(shared_data / "shares_outstanding.csv")]) == 0


@pytest.fixture(scope="module")
def catalog_report(shared_data, tmp_path_factory) -> Path:
    """The report of the whole shipped catalog, with its workbook, under ``reports/``."""
    root = tmp_path_factory.mktemp("catalog")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MARKET_REACTION_HOME", str(root / "home"))
        mp.delenv("PREFECT_API_URL", raising=False)
        import_reference(shared_data)
        out = root / "reports" / "catalog"
        assert main(["-q", "run", "--catalog", str(CATALOG), "--source", "store", "--xlsx", "--out", str(out)]) == 0
    return out


def index_row(index: str, event: str, ticker: str) -> str:
    found = re.search(rf"<td>{re.escape(event)}</td><td>{re.escape(ticker)}</td>.*?</tr>", index)
    assert found, (event, ticker)
    return found.group(0)


def test_the_index_and_every_table_give_the_true_reason(catalog_report):
    """Before: the index and car.parquet said "0 usable estimation returns ... fewer than the
    minimum 120" for AMD, AVGO and ORCL, events.parquet "no prices for AMD"; the who-moved rows
    of AMD and AVGO were blank."""
    index = (catalog_report.parent / "index.html").read_text(encoding="utf-8")
    assert "usable estimation returns" not in index
    events = pl.read_parquet(catalog_report / "events.parquet")
    car = pl.read_parquet(catalog_report / "car.parquet")
    models = pl.read_parquet(catalog_report / "models.parquet")
    who_moved = (catalog_report / "tables" / "spillovers.md").read_text(encoding="utf-8")
    for event, ticker in NO_PRICES.items():
        cause = f"no prices for {ticker}"
        row = events.filter(pl.col(S.EVENT_ID) == event).row(0, named=True)
        assert row["status"] == "skipped" and row[S.REASON].startswith(cause + ";")
        assert f"no data: {cause}" in index_row(index, event, ticker)
        assert car.filter(pl.col(S.EVENT_ID) == event)[S.REASON].to_list() == [cause] * 3
        assert models.filter(pl.col(S.EVENT_ID) == event)[S.REASON].to_list() == [cause]
        line = next(l for l in who_moved.splitlines() if l.startswith(f"| {event} |"))
        assert f"no data: {cause}" in line
    assert "fewer than the minimum" not in who_moved


def test_the_index_of_a_report_written_before_gives_the_true_reason(catalog_report, tmp_path):
    """A report written before the fix (its car.parquet with the wrong reason) is indexed with
    the cause events.parquet gives."""
    old = tmp_path / "reports" / "old"
    shutil.copytree(catalog_report, old)
    wrong = "0 usable estimation returns in [-260, -11], fewer than the minimum 120"
    car = pl.read_parquet(old / "car.parquet")
    car.with_columns(pl.when(pl.col(S.CAR).is_null()).then(pl.lit(wrong)).otherwise(pl.col(S.REASON)).alias(S.REASON)
                     ).write_parquet(old / "car.parquet")
    index = build_index(tmp_path / "reports")
    assert "no data: no prices for AMD" in index_row(index, "amd-openai-6gw", "AMD") and wrong not in index


def test_a_reason_is_escaped_once_in_the_index(catalog_report, tmp_path):
    """Before: a skipped row's reason was escaped twice (``&amp;#x27;`` for a quote)."""
    old = tmp_path / "reports" / "old"
    shutil.copytree(catalog_report, old)
    said = "no prices for 'AMD' <b> & more"
    events = pl.read_parquet(old / "events.parquet")
    events.with_columns(pl.when(pl.col(S.TICKER) == "AMD").then(pl.lit(said)).otherwise(pl.col(S.REASON)).alias(S.REASON)
                        ).write_parquet(old / "events.parquet")
    row = index_row(build_index(tmp_path / "reports"), "amd-openai-6gw", "AMD")
    assert f"no data: {html.escape(said)}" in row and "&amp;" not in row.replace("&amp; more", "")


def test_the_workbook_holds_the_numbers_of_car_parquet(catalog_report):
    car = pl.read_parquet(catalog_report / "car.parquet")
    wb = openpyxl.load_workbook(catalog_report / "report.xlsx")
    assert wb.sheetnames == ["about", "car", "tests", "events", "models", "abnormal_returns", "confounders", "outliers",
                             "claims", "regressions"]
    ws = wb["car"]
    header, *rows = ws.iter_rows(values_only=True)
    assert list(header) == car.columns and len(rows) == car.height and ws.freeze_panes == "A2"
    for j, name in enumerate(car.columns):
        got = [r[j] for r in rows]
        if car[name].dtype.is_float():  # numbers as numbers, to the 15 digits Excel computes with
            assert got == [pytest.approx(v, rel=1e-15) if v is not None else None for v in car[name].to_list()], name
        else:
            assert got == car[name].to_list(), name
    formats = {name: ws.cell(2, j + 1).number_format for j, name in enumerate(car.columns)}
    assert formats[S.CAR] == formats[S.BHAR] == PERCENT == "+0.00%;-0.00%;+0.00%"
    assert formats[S.T_STAT] == STAT == "0.00" and formats[S.P_VALUE] == PVALUE == '[<0.001]"<0.001";0.000'
    assert formats[S.DOLLAR_ABNORMAL] == '+$#,##0.0,,,"bn";-$#,##0.0,,,"bn";$#,##0.0,,,"bn"'  # +$98.6bn, as the tables
    assert formats[S.MARKET_CAP] == '$#,##0.0,,,"bn";-$#,##0.0,,,"bn"'  # $2,610.8bn
    regressions = wb["regressions"]
    header = [c.value for c in regressions[1]]
    for row in regressions.iter_rows(min_row=2, max_row=4):  # the market model: alpha in percent, beta a ratio
        term, estimate = row[header.index("term")].value, row[header.index("estimate")]
        assert estimate.number_format == (STAT if term == "beta" else PERCENT), term
    assert wb["tests"].max_row == pl.read_parquet(catalog_report / "tests.parquet").height + 1
    dates = next(wb["abnormal_returns"].iter_rows(min_row=2, max_row=2))
    assert dates[2].number_format == "yyyy-mm-dd" and dates[2].value.date().isoformat() == "2025-10-27"
    manifest = json.loads((catalog_report / "manifest.json").read_text())
    assert manifest["outputs"]["report.xlsx"] == file_sha256(catalog_report / "report.xlsx")


def test_user_text_in_the_workbook_is_text(tmp_path):
    """A description starting with '=' stays text (never a formula), a URL is not a link."""
    from analysis.engine import StudyResult
    from analysis.specs import StudySpec
    from flows.reporting.workbook import write_workbook

    empty = pl.DataFrame()
    events = pl.DataFrame({S.EVENT_ID: ["e"], S.TICKER: ["A"], "description": ['=HYPERLINK("http://x","y")'],
                           "source": ["https://example.org/a"]})
    result = StudyResult(StudySpec(), events, empty, empty, empty, empty, empty)
    path = write_workbook(tmp_path / "x.xlsx", result, "=title", "+headline")
    wb = openpyxl.load_workbook(path)
    cells = {c.value: c for c in wb["events"][2]}
    assert cells['=HYPERLINK("http://x","y")'].data_type == "s" and cells["https://example.org/a"].hyperlink is None
    assert wb["about"]["B1"].value == "=title" and wb["about"]["B1"].data_type == "s"


def test_demo_simulate_and_run_keep_separate_indexes(mr_home, shared_data, tmp_path, monkeypatch, capsys):
    """Before: ``demo`` wrote reports/demo, and a later ``run`` listed the fictional ACME and
    BOLT events beside AMZN in reports/index.html. Now the demo and the simulations default to
    simulations/, with their own index."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    import_reference(shared_data)
    assert main(["-q", "demo"]) == 0
    assert main(["-q", "simulate", "--simulated", "--events", "40", "--group-size", "20", "--window", "0:0"]) == 0
    assert main(["-q", "run", "amzn-openai-aws-2025", "--catalog", str(CATALOG), "--source", "store"]) == 0
    _, err = capsys.readouterr()
    assert "left out of the index" not in err
    real = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    simulated = (tmp_path / "simulations" / "index.html").read_text(encoding="utf-8")
    assert "amzn-openai-aws-2025" in real and "acme-merger" not in real and "All reports (1)" in real
    assert "acme-merger" in simulated and "amzn" not in simulated and "All reports (1)" in simulated
    assert (tmp_path / "simulations" / "demo" / "report.html").is_file()
    assert "Simulations (1)" in simulated and "-simulate/simulation.md" in simulated and "Simulations" not in real
