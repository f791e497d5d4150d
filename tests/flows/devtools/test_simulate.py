"""``market-reaction simulate`` end to end: simulated market and the store, files, errors."""

from __future__ import annotations

import json

import polars as pl

from analysis.inference import TESTS
from flows.cli.main import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulated_market(tmp_path, capsys):
    out = tmp_path / "sim"
    code, text, err = run_cli(capsys, "-q", "simulate", "--simulated", "--events", "200", "--group-size", "20",
                              "--window", "0:0", "--window", "-1:1", "--out", str(out))
    assert code == 0, err
    assert "### Size and power, window day 0" in text and "### Size and power, window [-1,+1]" in text
    assert "10 groups x 20 pseudo-events, 4 runs, simulated in" in text
    for t in TESTS:
        assert f"| {t.label} | 10 |" in text
    assert {p.name for p in out.iterdir()} == {
        "simulation.md", "rejection_rates.parquet", "rejection_rates.csv", "group_tests.parquet", "pseudo_events.csv",
        "manifest.json",
    }
    rates = pl.read_parquet(out / "rejection_rates.parquet")
    assert rates.columns == ["effect", "test", "window_start", "window_end", "level", "groups", "rejected",
                             "stat_mean", "stat_sd", "mc_se"]
    assert sorted(rates["effect"].unique()) == [0.0, 0.005, 0.01, 0.02]
    tests = pl.read_parquet(out / "group_tests.parquet")
    assert tests.height == 4 * 10 * 4 * len(TESTS)  # 4 runs, 10 groups, days -1, 0, +1 and [-1,+1]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"] == "simulated" and manifest["benchmark"] == "^MKT"
    assert manifest["simulation"]["groups"] == 10 and manifest["simulation"]["seed"] == 1985
    events = pl.read_csv(out / "pseudo_events.csv")
    assert events.height == 200 and set(events["ticker"]) <= {"ACME", "BOLT", "CRUX", "DYNA"}


def test_store_prices(mr_home, shared_data, tmp_path, capsys):
    p = shared_data / "prices"
    assert run_cli(capsys, "-q", "prices", "import", str(p / "MSFT.csv"), str(p / "NVDA.csv"))[0] == 0
    code, _, err = run_cli(capsys, "-q", "simulate", "--out", str(tmp_path / "x"))
    assert code == 3 and "no prices for the benchmark ^GSPC" in err and "--simulated" in err
    assert run_cli(capsys, "-q", "prices", "import", str(p / "GSPC.csv"), "--ticker", "^GSPC")[0] == 0
    code, text, err = run_cli(capsys, "-q", "simulate", "--events", "60", "--group-size", "30", "--effects", "0.01",
                              "--window", "0:0", "--seed", "3", "--out", str(tmp_path / "store"))
    assert code == 0, err
    assert "2 groups x 30 pseudo-events, 2 runs" in text
    events = pl.read_csv(tmp_path / "store" / "pseudo_events.csv")
    assert set(events["ticker"]) == {"MSFT", "NVDA"}  # every stored ticker but the index
    code, _, err = run_cli(capsys, "-q", "simulate", "--tickers", "AMZN", "--out", str(tmp_path / "y"))
    assert code == 3 and "no prices in the store" in err and "AMZN" in err


def test_bad_arguments(capsys):
    code, _, err = run_cli(capsys, "simulate", "--simulated", "--effects", "half")
    assert code == 2 and "'effects'" in err
    code, _, err = run_cli(capsys, "simulate", "--simulated", "--group-size", "1")
    assert code == 2 and "'group_size'" in err
    code, _, err = run_cli(capsys, "simulate", "--simulated", "--events", "10")
    assert code == 2 and "'events'" in err
