"""The command line: catalog and price commands without Prefect, and the ``run`` / ``demo``
commands end to end through the ``event-study`` flow on a throw-away Prefect API."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from analysis import schema as S
from flows.cli import main
from tests.conftest import REPO_ROOT

CATALOG = REPO_ROOT / "deployments" / "events.toml"
AWS = "amzn-openai-aws-2025"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def amzn_store(mr_home, shared_data, capsys):
    """A store with the reference AMZN, ^GSPC, MSFT, NVDA, GOOGL prices and AMZN's shares."""
    p = shared_data / "prices"
    assert run_cli(capsys, "prices", "import", str(p / "AMZN.csv"), str(p / "MSFT.csv"), str(p / "NVDA.csv"), str(p / "GOOGL.csv"))[0] == 0
    assert run_cli(capsys, "prices", "import", str(p / "GSPC.csv"), "--ticker", "^GSPC")[0] == 0
    assert run_cli(capsys, "shares", "import", str(shared_data / "shares_outstanding.csv"))[0] == 0
    return mr_home


def test_events_validate_and_list(capsys):
    code, out, _ = run_cli(capsys, "events", "validate", "--catalog", str(CATALOG))
    assert code == 0 and "8 events, all valid" in out
    code, out, _ = run_cli(capsys, "events", "list", "--catalog", str(CATALOG))
    assert code == 0
    assert out.splitlines()[0].startswith(AWS) and "related MSFT,NVDA,GOOGL" in out


def test_bad_catalog_is_one_line_with_file_and_field(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[events]]\nid = "x"\ntickers = ["AMZN"]\nannounced = "2025-11-03"\ntiming = "soon"\n')
    code, out, err = run_cli(capsys, "events", "validate", "--catalog", str(bad))
    assert code == 2
    assert err.count("\n") == 1 and "bad.toml" in err and "'timing'" in err and "pre-open" in err


def test_prices_import_and_show(amzn_store, capsys):
    code, out, _ = run_cli(capsys, "prices", "show", "AMZN", "^GSPC")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("AMZN") and "2786 rows" in lines[0] and "2015-01-02..2026-01-30" in lines[0]
    assert lines[1].startswith("^GSPC") and "2773 rows" in lines[1]


def test_bad_price_file_names_file_row_and_field(mr_home, tmp_path, capsys):
    f = tmp_path / "XYZ.csv"
    f.write_text("date,close\n2025-01-02,10\n2025-01-03,-1\n")
    code, _, err = run_cli(capsys, "prices", "import", str(f))
    assert code == 2 and "XYZ.csv" in err and "row 2" in err and "'close'" in err
    assert not (mr_home / "prices").exists() or not any((mr_home / "prices").iterdir())


def test_bad_window_fails_before_prefect(capsys):
    code, _, err = run_cli(capsys, "run", AWS, "--window", "2:1", "--catalog", str(CATALOG))
    assert code == 2 and "window" in err


def test_unknown_event_id(capsys):
    code, _, err = run_cli(capsys, "run", "amzn-openai-aws", "--catalog", str(CATALOG))
    assert code == 2 and "amzn-openai-aws-2025" in err  # suggests the close match


@pytest.mark.slow
def test_run_amzn_from_store(prefect_api, amzn_store, tmp_path, capsys):
    """The spine's must-show, through the CLI and the Prefect flow, with no network."""
    out = tmp_path / "report"
    code, stdout, err = run_cli(capsys, "run", AWS, "--catalog", str(CATALOG), "--source", "store", "--out", str(out))
    assert code == 0, err
    assert "report:" in stdout and "AMZN" in stdout
    ar = pl.read_parquet(out / "abnormal_returns.parquet")
    models = pl.read_parquet(out / "models.parquet")
    car = pl.read_parquet(out / "car.parquet")
    tests = pl.read_parquet(out / "tests.parquet")
    for frame, cols in ((ar, S.AR_COLUMNS), (models, S.MODEL_COLUMNS), (car, S.CAR_COLUMNS), (tests, S.TEST_COLUMNS)):
        assert frame.columns[: len(cols)] == list(cols)
    amzn = models.filter(pl.col(S.TICKER) == "AMZN").row(0, named=True)
    assert amzn[S.N_OBS] == 250
    day = ar.filter(pl.col(S.TICKER) == "AMZN").select(S.DATE, S.EVENT_DAY)
    assert day.filter(pl.col(S.EVENT_DAY) == 0)[S.DATE].item() == date(2025, 11, 3)
    assert day.filter(pl.col(S.EVENT_DAY) == -1)[S.DATE].item() == date(2025, 10, 31)
    # the related tickers were analysed too
    assert set(car[S.TICKER]) == {"AMZN", "MSFT", "NVDA", "GOOGL"}
    day0 = car.filter((pl.col(S.TICKER) == "AMZN") & (pl.col(S.WINDOW_START) == 0) & (pl.col(S.WINDOW_END) == 0)).row(0, named=True)
    assert day0[S.MARKET_CAP] == pytest.approx(10690216011 * 244.22)
    assert day0[S.DOLLAR_ABNORMAL] == pytest.approx(day0[S.CAR] * day0[S.MARKET_CAP])
    assert day0[S.DOLLAR_RAW] == pytest.approx((254.00 / 244.22 - 1) * day0[S.MARKET_CAP])
    for name in ("summary", "car", "abnormal_returns", "models", "tests", "events", "regressions"):
        for ext in ("md", "html", "csv"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["estimation"] == "-260:-11" and manifest["events"] == [AWS]
    assert manifest["data"]["AMZN"]["sha256"] and manifest["versions"]["polars"].startswith("2.")
    assert "car.parquet" in manifest["outputs"]
    summary = (out / "tables" / "summary.md").read_text()
    assert "amzn-openai-aws-2025" in summary and "$" in summary


@pytest.mark.slow
def test_run_with_empty_store_and_yahoo_unreachable(prefect_api, mr_home, fake_yahoo, tmp_path, capsys):
    fake_yahoo.offline()
    code, _, err = run_cli(capsys, "run", AWS, "--catalog", str(CATALOG), "--out", str(tmp_path / "r"))
    assert code == 3
    assert "unreachable" in err and "market-reaction prices import" in err
    # the download task ran 3 times (2 Prefect retries with backoff) x 2 attempts of the adapter
    assert fake_yahoo.requests["^GSPC"] == 6
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_demo_recovers_planted_effects(prefect_api, tmp_path, capsys):
    code, out, err = run_cli(capsys, "demo", "--out", str(tmp_path / "demo"))
    assert code == 0, err
    rows = [l for l in out.splitlines() if l.split()[:1] and l.split()[0] in {"acme-merger", "bolt-recall", "crux-guidance", "dyna-placebo"}]
    assert len(rows) == 4 and all(r.rstrip().endswith("yes") for r in rows)
    car = pl.read_parquet(tmp_path / "demo" / "car.parquet").filter((pl.col(S.WINDOW_START) == 0) & (pl.col(S.WINDOW_END) == 0))
    significant = dict(zip(car[S.EVENT_ID], car[S.P_VALUE] < 0.01))
    assert significant == {"acme-merger": True, "bolt-recall": True, "crux-guidance": True, "dyna-placebo": False}


@pytest.mark.slow
def test_run_fetches_missing_prices_from_yahoo_once(prefect_api, mr_home, fake_yahoo, shared_data, tmp_path, capsys):
    """``--source auto``: an empty store is filled from (fake) Yahoo through yfinance's own
    parsing; a second run finds everything covered and asks Yahoo for nothing."""
    for ticker, name in (("AMZN", "AMZN"), ("^GSPC", "GSPC"), ("MSFT", "MSFT"), ("NVDA", "NVDA"), ("GOOGL", "GOOGL")):
        frame = pl.read_csv(shared_data / "prices" / f"{name}.csv", try_parse_dates=True, schema_overrides={S.ADJ_CLOSE: pl.Float64})
        fake_yahoo.add(ticker, frame.with_columns(pl.col(S.ADJ_CLOSE).fill_null(pl.col(S.CLOSE))).drop_nulls(S.CLOSE))
    fake_yahoo.add_shares("AMZN", pl.DataFrame({S.AS_OF_DATE: [date(2025, 10, 22)], S.SHARES: [10690216011]}))
    args = ("run", AWS, "--catalog", str(CATALOG), "--out", str(tmp_path / "r"))
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    first = dict(fake_yahoo.requests)
    assert first.get("AMZN") and first.get("^GSPC")
    car = pl.read_parquet(tmp_path / "r" / "car.parquet").filter(pl.col(S.TICKER) == "AMZN")
    assert car[S.CAR].is_not_null().all() and car[S.DOLLAR_ABNORMAL].is_not_null().all()
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["data"]["AMZN"]["covered"][1] == "2025-11-10"
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:  # the flow created the tag limit for Yahoo requests
        assert client.read_concurrency_limit_by_tag("yahoo").concurrency_limit == 2
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    assert {k: v for k, v in fake_yahoo.requests.items() if k in ("AMZN", "^GSPC")} == {k: first[k] for k in ("AMZN", "^GSPC")}
