"""``market-reaction bench`` on a tiny market: every stage runs, the table and the raw figures
are written, and the engine's counts and numbers on the 2%-missing store equal the NumPy
floor's (the check the benchmark prints). Speed itself is reported by the benchmark, never
asserted here."""

from __future__ import annotations

import json
import re

import pytest

from flows.cli.main import main


@pytest.mark.bench
def test_bench_runs_every_stage_and_checks_the_engine_against_the_floor(tmp_path, capsys):
    argv = ["bench", "--events", "400", "--tickers", "12", "--sessions", "420", "--sizes", "100,400", "--sample", "20",
            "--repeat", "1", "--workdir", str(tmp_path / "work"), "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    table = (tmp_path / "out" / "bench.md").read_text()
    assert table.strip() in printed
    for what in ("command line, one event", "import floor", "command line, reject an unknown event id",
                 "command line, catalog CSV to report folder", "engine, end to end from Parquet",
                 "NumPy floor, from Parquet", "statsmodels loop", "engine, 2% of price rows missing",
                 "engine, full test battery", "input: CSV catalog"):
        assert what in table, what
    assert "one event on the command line / import floor" in table and "command line 400 / 100 events" in table
    share = re.search(r"at 400 events, writing the report / the command line: (\d+)%", table)
    assert share and 0 < int(share.group(1)) < 100, table
    for n in (100, 400):
        assert f"at {n} events, time / NumPy floor: command line" in table
    raw = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert set(raw) >= {"one-event", "imports", "reject", "cli-100", "cli-400", "engine-100", "floor-400"}
    assert raw["cli-400"]["report_mb"] > raw["cli-400"]["human_mb"] > 0
    check = raw["check"]
    assert check["rows"] == 400 and check["n_obs_equal"] and check["n_days_equal"] and check["nulls_equal"]
    assert max(check["car_diff"], check["t_diff"], check["patell_diff"], check["bmp_diff"]) < 1e-9
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".") and "tmp" in p.name]


def test_bench_rejects_a_market_too_short(capsys):
    assert main(["bench", "--sessions", "100"]) == 2
    assert "sessions" in capsys.readouterr().err


@pytest.mark.bench
def test_bench_runs_only_the_sizes_asked(tmp_path, capsys):
    """--sizes 100 on a 400-event market: no stage touches 400 events."""
    argv = ["bench", "--events", "400", "--tickers", "12", "--sessions", "420", "--sizes", "100", "--sample", "20",
            "--repeat", "1", "--workdir", str(tmp_path / "work"), "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    raw = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert raw["check"]["rows"] == 100 and "cli-400" not in raw and "engine-400" not in raw
    assert "| 400 |" not in (tmp_path / "out" / "bench.md").read_text()
