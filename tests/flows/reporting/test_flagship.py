"""The flagship report: the brief of the group ``openai-compute-deals`` of the shipped catalog
on the shared real prices — the AMZN answer with its arithmetic, events without data listed
with the reason, claims, confounders, who moved; escaping; and end to end through the CLI, the
``event-study`` flow, the index and the Prefect artifacts."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import date

import polars as pl
import pytest

from analysis import schema as S
from analysis.calendar import exchange_calendar
from analysis.catalog import parse_catalog_toml
from analysis.claims import catalog_claims, check_claims
from analysis.engine import run_study
from analysis.specs import EventSpec, StudySpec, events_frame
from flows.cli.main import main
from flows.reporting.flagship import brief_files, group_briefs
from flows.reporting.tables import all_tables, to_html, to_markdown
from tests.conftest import REPO_ROOT

CATALOG = REPO_ROOT / "deployments" / "events.toml"
GROUP = "openai-compute-deals"
AWS = "amzn-openai-aws-2025"


def shared_prices(data) -> pl.DataFrame:
    """The shared stocks and ^GSPC as ``ticker, date, close, adj_close`` (the index: adj_close = close)."""
    files = [(t, t) for t in ("AMZN", "MSFT", "NVDA", "GOOGL", "AAPL", "META")] + [("^GSPC", "GSPC")]
    return pl.concat([
        pl.read_csv(data / "prices" / f"{name}.csv", try_parse_dates=True, schema_overrides={"adj_close": pl.Float64})
        .select(pl.lit(t).alias("ticker"), pl.col("date").cast(pl.Date), "close", pl.col("adj_close").fill_null(pl.col("close")))
        for t, name in files
    ])


def history(shared_data) -> pl.DataFrame:
    """Raw closes, highs and lows of the shared stocks (what the claims are checked against)."""
    return pl.concat([
        pl.read_csv(shared_data / "prices" / f"{t}.csv", try_parse_dates=True).select(
            pl.lit(t).alias(S.TICKER), pl.col(S.DATE).cast(pl.Date), S.CLOSE, S.HIGH, S.LOW)
        for t in ("AMZN", "MSFT", "NVDA")
    ])


def shares(shared_data) -> pl.DataFrame:
    return pl.read_csv(shared_data / "shares_outstanding.csv", try_parse_dates=True).select(
        "ticker", pl.col("as_of_date").cast(pl.Date), "shares_outstanding")


def study(events, shared_data):
    res = run_study(events_frame(events), shared_prices(shared_data), StudySpec(), exchange_calendar("XNYS"),
                    shares(shared_data), max_regressions=0)
    return replace(res, claims=check_claims(catalog_claims(events), res.events, history(shared_data)))


@pytest.fixture(scope="module")
def catalog():
    return parse_catalog_toml(CATALOG.read_text(encoding="utf-8"), "events.toml")


@pytest.fixture(scope="module")
def flagship(catalog, shared_data):
    res = study(catalog, shared_data)
    briefs = {b.group: b for b in group_briefs(res, {e.id: e.description for e in catalog}, "catalog")}
    return res, briefs


def plain(page: str) -> str:
    """The text of an HTML page (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_the_amazon_answer_with_its_arithmetic(flagship):
    _, briefs = flagship
    assert set(briefs) == {GROUP, "earnings"}
    brief = briefs[GROUP]
    assert brief.file == f"brief-{GROUP}.html" and brief.markdown_file == f"brief-{GROUP}.md"
    text = plain(brief.html)
    # the move, what the market explains, the abnormal part and its significance
    assert "Move: +4.00% on day 0 = +$104.6bn on a market cap of $2,610.8bn at the close of day -1 = 244.22 x 10,690,216,011 shares" in text
    assert "expected +0.23% (+$6.0bn); the abnormal return is +3.78% (t = 2.76, p = 0.006), worth +$98.6bn" in text
    assert "94% of the day's move, 70% of the claimed $140.0bn" in text
    # the earnings release two sessions earlier: its place in the windows and its own reaction
    assert ("Confounder amzn-q3-2025-earnings (day 0 2025-10-31 = day -1, inside [-1,+1], [-5,+5]): this event's AR on "
            "that day is +9.23%") in text
    assert "without that day the CAR is [-1,+1] +3.57%" in text
    assert "Its own AR on its day 0: +9.22%*** (p < 0.001), worth +$219.7bn" in text
    # the claims, with the arithmetic and the verdicts
    assert "254.00 x 10,690,216,011 shares = $2,715.3bn; change vs 244.22 close of 2025-10-31: +$104.6bn (+4.00%)" in text
    assert "at the intraday high 258.60: +$153.7bn (+5.89%)" in text
    assert "consistent at the intraday high, not at the close" in text
    assert "254.00 is the highest close since 2015-01-02, the start of the stored history" in text
    assert brief.headline.startswith(f"{GROUP}: 6 event(s), 3 with a result (no data: ORCL, AMD, AVGO). Average abnormal return [0,0] +")
    # NVDA's "ended 3.97% higher" (close +3.93%) and MSFT's "surged 2% to close" (+1.98%) hold;
    # ORCL, AMD and AVGO have no stored prices
    assert brief.headline.endswith("Claims: 4 consistent, 3 cannot tell.")
    assert len(brief.verdicts) == 7 and sum(": consistent (" in v for v in brief.verdicts) == 4


def test_events_without_prices_are_listed_with_the_reason(flagship):
    _, briefs = flagship
    text = plain(briefs[GROUP].html)
    for ticker in ("ORCL", "AMD", "AVGO"):
        assert f"no data: no prices for {ticker}" in text
    md = briefs[GROUP].markdown
    assert "no data: no prices for AMD" in md and "| amd-openai-6gw | AMD | 2025-10-06 | skipped |" in md


def test_who_moved_and_the_group_tables(flagship):
    res, briefs = flagship
    text = plain(briefs[GROUP].html)
    assert "Who moved" in text and "cumulative average abnormal return" in text
    order = [t for t in re.findall(r"\| amzn-openai-aws-2025 \| (\d) \| (\w+) \|", briefs[GROUP].markdown)]
    assert order == [("1", "AMZN"), ("2", "NVDA"), ("3", "GOOGL"), ("4", "MSFT")]
    assert 'src="plots/caar-openai-compute-deals.svg"' in briefs[GROUP].html
    assert "![caar-openai-compute-deals](plots/caar-openai-compute-deals.png)" in briefs[GROUP].markdown
    keys = {t.key for t in all_tables(res)}
    assert {"claims", "confounders", "spillovers"} <= keys
    summary = to_markdown(all_tables(res)[0])
    assert "confounded: amzn-q3-2025-earnings (day -1); 2 estimation outlier(s)" in summary


def test_user_text_is_escaped_everywhere(shared_data):
    evil = "<script>alert(1)</script> & <img src=x onerror=alert(2)>"
    events = [EventSpec(AWS, ("AMZN",), date(2025, 11, 3), related=("MSFT", "NVDA"), group=f"deals {evil}",
                        description=evil, extra=(("claims", (f"added about $140bn {evil}", f"{evil} | pipes * stars")),))]
    res = study(events, shared_data)
    (brief,) = group_briefs(res, {AWS: evil}, f"title {evil}")
    for page in (brief.html, *(to_html(t) for t in all_tables(res))):
        assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in brief.html
    assert "<script>" not in brief.markdown and "<img" not in brief.markdown.replace("![", "")
    assert brief.file.startswith("brief-deals-script") and re.fullmatch(r"brief-[a-z0-9-]+\.html", brief.file)
    assert set(brief_files([brief])) == {brief.file, brief.markdown_file}
    # the claim is still understood next to the noise; the noise-only claim is not
    verdicts = res.claims[S.VERDICT].to_list()
    assert verdicts[0] == "consistent" and res.claims[S.WHY].to_list()[-1].endswith("claim not understood")


@pytest.mark.slow
def test_run_on_the_catalog_writes_the_flagship(prefect_api, amzn_store, tmp_path, capsys):
    out = tmp_path / "reports" / "openai"
    code = main(["run", "--catalog", str(CATALOG), "--source", "store", "--out", str(out)])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert f"brief: {out / f'brief-{GROUP}.html'}" in stdout
    page = (out / f"brief-{GROUP}.html").read_text()
    assert "70% of the claimed $140.0bn" in plain(page) and (out / f"brief-{GROUP}.md").is_file()
    assert 'href="report.html"' in page and "http" not in page.split("<body>")[1].split("file:")[0]  # offline page
    report = (out / "report.html").read_text()
    assert f'href="brief-{GROUP}.html"' in report
    manifest = json.loads((out / "manifest.json").read_text())
    assert [b["group"] for b in manifest["briefs"]] == [GROUP, "earnings"]
    assert f"brief-{GROUP}.html" in manifest["outputs"] and "claims.parquet" in manifest["outputs"]
    claims = pl.read_parquet(out / "claims.parquet")
    assert claims[S.VERDICT].to_list() == ["consistent"] * 2 + ["cannot tell", "consistent", "cannot tell", "cannot tell", "consistent"]
    confounders = pl.read_parquet(out / "confounders.parquet")
    assert confounders.filter((pl.col(S.EVENT_ID) == AWS) & (pl.col(S.TICKER) == "AMZN"))[S.OFFSET].to_list() == [-1]
    index = (tmp_path / "reports" / "index.html").read_text()
    assert "<h2>Group briefs</h2>" in index and f'href="openai/brief-{GROUP}.html"' in index

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"{GROUP}-brief"])))
    mine = [a for a in arts if f"openai/brief-{GROUP}.html in the reports folder" in a.data]  # other tests share the API
    assert mine and "record high close" in mine[-1].data and ": consistent (" in mine[-1].data


@pytest.mark.slow
def test_a_single_event_run_lists_catalog_confounders_and_can_drop_them(prefect_api, amzn_store, tmp_path, capsys):
    out = tmp_path / "aws"
    code = main(["run", AWS, "--catalog", str(CATALOG), "--source", "store", "--out", str(out), "--drop-confounded"])
    said, err = capsys.readouterr()
    assert code == 0, err
    # the answer names the catalog's confounder, not studied, by its description
    assert said.startswith("AMZN rose 4.00% (+$104.6bn) on 2025-11-03; ") and (
        "the wider windows also hold Amazon Q3 2025 results the session before" in said.splitlines()[0])
    conf = pl.read_parquet(out / "confounders.parquet")
    q3 = conf.filter(pl.col(S.CONFOUNDER_ID) == "amzn-q3-2025-earnings").row(0, named=True)
    assert q3[S.OFFSET] == -1 and q3[S.IN_STUDY] is False  # from the catalog, not studied in this run
    models = pl.read_parquet(out / "models.parquet")
    assert models.filter(pl.col(S.TICKER) == "NVDA")[S.N_OBS].item() == 239  # nvda-openai-loi's 11 days dropped
    assert json.loads((out / "manifest.json").read_text())["parameters"]["drop_confounded"] is True
    assert "Not studied in this run" in plain((out / f"brief-{GROUP}.html").read_text())


def test_the_index_lists_the_fullest_brief_of_each_group(flagship, tmp_path):
    from flows.reporting.index import build_index
    from flows.reporting.publish import write_report

    res, briefs = flagship
    brief = briefs[GROUP]
    root = tmp_path / "reports"
    full = {"kind": "catalog", "created_utc": "2025-01-01T00:00:00+00:00", "parameters": {"windows": ["0:0"]},
            "briefs": [brief.manifest_entry()]}
    write_report(res, root / "full", full, title="full", extra=brief_files([brief]))
    one = {**brief.manifest_entry(), "events": 1, "headline": "one event only"}
    bad = {"group": "evil", "file": "../../etc/passwd", "headline": "x", "events": 9}
    newer = {"kind": "run", "created_utc": "2025-02-01T00:00:00+00:00", "parameters": {"windows": ["0:0"]},
             "briefs": [one, bad]}
    write_report(res, root / "newer", newer, title="newer", extra=brief_files([brief]))
    page = build_index(root)
    listed = page.split("<h2>Group briefs</h2>")[1].split("<h2>All reports")[0]
    assert f'href="full/brief-{GROUP}.html"' in listed and "newer/" not in listed and "passwd" not in page
    assert f'href="newer/brief-{GROUP}.html"' in page  # still linked from its report's row
