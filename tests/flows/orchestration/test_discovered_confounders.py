"""Confounders for free: the AMZN filings discovered on a fake EDGAR (hand-made answers in
EDGAR's formats, ``tests/flows/io/edgar_responses``) confound the AWS-OpenAI deal study on the
real AMZN prices, with nobody typing the Q3 2025 earnings event into the catalog."""

from __future__ import annotations

from datetime import date

import polars as pl

from analysis import schema as S
from flows.cli.main import main

DEAL = """
[[events]]
id = "amzn-openai-aws-2025"
tickers = ["AMZN"]
announced = "2025-11-03"
timing = "unknown"
group = "openai-compute-deals"
description = "OpenAI-AWS compute deal"
"""
Q3 = "amzn-8k-0001018724-25-000090"


def test_the_discovered_earnings_8k_confounds_the_deal(fake_edgar, mr_home, shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    prices = shared_data / "prices"
    assert main(["-q", "prices", "import", str(prices / "AMZN.csv")]) == 0
    assert main(["-q", "prices", "import", str(prices / "GSPC.csv"), "--ticker", "^GSPC"]) == 0
    assert main(["-q", "events", "discover", "AMZN", "--since", "2025-01-01"]) == 0  # printed; stored for AMZN
    capsys.readouterr()
    catalog = tmp_path / "deal.toml"
    catalog.write_text(DEAL, encoding="utf-8")
    fake_edgar.requests.clear()
    out = tmp_path / "reports" / "deal"
    assert main(["-q", "run", "--catalog", str(catalog), "--source", "store", "--out", str(out)]) == 0
    assert fake_edgar.requests == []  # the run reads the store, not EDGAR
    conf = pl.read_parquet(out / "confounders.parquet")
    q3 = conf.filter(pl.col(S.CONFOUNDER_ID) == Q3).row(0, named=True)
    assert q3[S.EVENT_ID] == "amzn-openai-aws-2025" and q3[S.CONFOUNDER_DAY0] == date(2025, 10, 31)
    assert q3[S.OFFSET] == -1 and q3[S.WINDOWS] == "[-1,+1], [-5,+5]" and q3[S.LOCATION] == "event window"
    assert q3[S.DISCOVERED] is True and q3[S.IN_STUDY] is False
    # the Q1 2025 results (day 0 2025-05-02) fall in the estimation window; Q4 2024 (2025-02-07) too
    assert set(conf.filter(pl.col(S.DISCOVERED))[S.CONFOUNDER_ID]) == {
        Q3, "amzn-8k-0001018724-25-000036", "amzn-8k-0001018724-25-000004"}
    table = (out / "tables" / "confounders.md").read_text(encoding="utf-8")
    assert Q3 in table and "no (SEC filing)" in table
    assert "AMAZON COM INC 8-K (items 2.02, 9.01) the session before" in (out / "report.md").read_text(encoding="utf-8")

    off = tmp_path / "reports" / "off"
    assert main(["-q", "run", "--catalog", str(catalog), "--source", "store", "--out", str(off), "--no-discovered"]) == 0
    assert pl.read_parquet(off / "confounders.parquet").filter(pl.col(S.DISCOVERED)).is_empty()


def test_the_nightly_refresh_takes_the_discovered_filings_too(fake_edgar, mr_home, shared_data, tmp_path, monkeypatch, capsys):
    """refresh-catalog (local run) finds the same confounder; a filing discovered later changes
    the deal's fingerprint ("confounders" part) and recomputes it; nothing changes on a rerun."""
    from flows.orchestration.refresh import refresh_catalog

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    prices = shared_data / "prices"
    assert main(["-q", "prices", "import", str(prices / "AMZN.csv")]) == 0
    assert main(["-q", "prices", "import", str(prices / "GSPC.csv"), "--ticker", "^GSPC"]) == 0
    catalog = tmp_path / "deal.toml"
    catalog.write_text(DEAL, encoding="utf-8")
    reports = tmp_path / "reports"

    first = refresh_catalog(catalog=str(catalog), source="store", reports=str(reports))
    assert list(first["recomputed"]) == ["amzn-openai-aws-2025"]
    assert pl.read_parquet(reports / "deal" / "catalog" / "confounders.parquet").filter(pl.col(S.DISCOVERED)).is_empty()

    assert main(["-q", "events", "discover", "AMZN", "--since", "2025-01-01"]) == 0  # stored for AMZN
    capsys.readouterr()
    second = refresh_catalog(catalog=str(catalog), source="store", reports=str(reports))
    assert second["recomputed"] == {"amzn-openai-aws-2025": "confounding events changed"}
    conf = pl.read_parquet(reports / "deal" / "catalog" / "confounders.parquet")
    assert conf.filter(pl.col(S.CONFOUNDER_ID) == Q3).row(0, named=True)[S.OFFSET] == -1
    assert "AMAZON COM INC 8-K (items 2.02, 9.01) the session before" in (reports / "deal" / "catalog" / "report.md").read_text(encoding="utf-8")

    assert refresh_catalog(catalog=str(catalog), source="store", reports=str(reports))["recomputed"] == {}
    off = refresh_catalog(catalog=str(catalog), source="store", reports=str(reports), discovered=False)
    assert off["recomputed"] == {"amzn-openai-aws-2025": "confounding events changed"}
