"""The command line: catalog and price commands without Prefect; the ``run`` / ``demo``
commands end to end locally (no Prefect imported) and through the ``event-study`` flow on a
throw-away Prefect API (``prefect_api`` puts its URL in ``PREFECT_API_URL``: tracked runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis import schema as S
from flows.cli.main import main
from tests.conftest import REPO_ROOT

CATALOG = REPO_ROOT / "deployments" / "events.toml"
AWS = "amzn-openai-aws-2025"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


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
    code, stdout, err = run_cli(capsys, "run", AWS, "--catalog", str(CATALOG), "--source", "store", "--out", str(out),
                                "--xlsx")
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
    assert "car.parquet" in manifest["outputs"] and "report.xlsx" in manifest["outputs"]  # --xlsx through the flow
    summary = (out / "tables" / "summary.md").read_text()
    assert "amzn-openai-aws-2025" in summary and "$" in summary


@pytest.mark.parametrize("mode", ["local", pytest.param("tracked", marks=pytest.mark.slow)])
def test_run_with_empty_store_and_yahoo_unreachable(mode, request, mr_home, fake_yahoo, tmp_path, capsys):
    if mode == "tracked":
        request.getfixturevalue("prefect_api")
    fake_yahoo.offline()
    code, _, err = run_cli(capsys, "run", AWS, "--catalog", str(CATALOG), "--out", str(tmp_path / "r"))
    last = err.splitlines()[-1]  # a tracked run also logs its failed download task at the tests' WARNING level
    assert code == 3 and (err == last + "\n" if mode == "local" else last.startswith("market-reaction: error: "))
    assert "AMZN, GOOGL, MSFT, NVDA, ^GSPC: Yahoo Finance is unreachable (could not resolve host)" in last
    assert last.count("market-reaction prices import") == 1  # the fix is said once
    # an absent network is recognised on the first request: no retry, and no shares requested
    assert fake_yahoo.requests["^GSPC"] == 1 and fake_yahoo.requests["AMZN"] == 1
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


# --- exit codes (README, "Commands"): each path returns the documented code, on one line ---------


def one_line_error(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("market-reaction: error: "), err
    return err


@pytest.mark.parametrize(("verbose", "command", "console"), [(False, "run", "CRITICAL"), (True, "run", None), (False, "serve", None)])
def test_tracked_runs_log_to_the_server_and_keep_the_terminal_quiet(monkeypatch, verbose, command, console):
    """Flow runs log at INFO (their progress lines and warnings reach the server; at CRITICAL
    they never did); Prefect's lines stay off the terminal unless ``--verbose`` or ``serve``."""
    from flows.cli.main import _prefect_env

    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_LOGGING_")})
    _prefect_env(verbose, command)
    assert os.environ["PREFECT_LOGGING_LEVEL"] == "INFO"
    assert os.environ.get("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL") == console


def test_exit_0_on_success(capsys):
    assert run_cli(capsys, "events", "validate", "--catalog", str(CATALOG))[0] == 0


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["prices", "import", "{tmp}/nope.csv"], ["nope.csv", "cannot read the file"]),
        (["prices", "import", "{tmp}/AMZN.csv"], ["AMZN.csv", "it is a PNG image"]),
        (["shares", "import", "{tmp}/shares.csv"], ["shares.csv", "missing column"]),
        (["events", "list", "--catalog", "{tmp}/events.csv"], ["events.csv", "row 1", "'announced'"]),
        (["run", "--catalog", str(CATALOG), "--estimation=-10:5"], ["'estimation'"]),
        (["run", "no-such-event", "--catalog", str(CATALOG)], ["unknown event id"]),
        (["run", "--catalog", str(CATALOG), "--batch-rows", "0"], ["'--batch-rows'", "positive number"]),
        (["run", "--catalog", str(CATALOG), "--dask-address", "tcp://x:8786"], ["needs --task-runner dask"]),
        (["run", "--catalog", str(CATALOG), "--window=-99999999999999999999:0"], ["'window'", "within ±10000 sessions"]),
        (["run", "--catalog", str(CATALOG), "--window=0:20000000"], ["'window'", "within ±10000 sessions"]),
        (["run", "--catalog", str(CATALOG), "--estimation=-11:-11"], ["'estimation'", "has 1 session(s)", "at least 3"]),
    ],
    ids=["missing-file", "image", "bad-shares", "bad-catalog", "bad-window", "unknown-event", "batch-rows", "dask-address",
         "window-overflow", "window-huge", "estimation-one-day"],
)
def test_exit_2_on_bad_input(mr_home, tmp_path, capsys, argv, fragments):
    (tmp_path / "AMZN.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    (tmp_path / "shares.csv").write_text("ticker,when\nAMZN,2025-01-02\n")
    (tmp_path / "events.csv").write_text("event_id,ticker,announced\nev,AMZN,2025-02-30\n")
    code, _, err = run_cli(capsys, *(a.replace("{tmp}", str(tmp_path)) for a in argv))
    assert code == 2
    for fragment in fragments:
        assert fragment in one_line_error(err), (fragment, err)


@pytest.mark.parametrize("argv", [["run", "--min-obs", "many"], ["prices"], ["nonsense"], ["run", "--task-runner", "ray"]])
def test_exit_2_on_bad_arguments(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and "usage: market-reaction" in capsys.readouterr().err


def test_exit_3_when_a_store_file_cannot_be_read(mr_home, tmp_path, capsys):
    f = tmp_path / "AMZN.csv"
    f.write_text("date,close\n2025-01-02,1\n")
    assert run_cli(capsys, "prices", "import", str(f))[0] == 0
    (mr_home / "prices" / "AMZN.parquet").write_bytes(b"PAR1 torn by a disk failure PAR1")
    for argv in (["prices", "show"], ["prices", "import", str(f)]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 3 and "AMZN.parquet" in one_line_error(err) and "re-import" in err


def test_exit_1_when_the_store_cannot_be_written_names_the_path(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.write_text("a file where the store's folder should be")
    monkeypatch.setenv("MARKET_REACTION_HOME", str(home))
    f = tmp_path / "AMZN.csv"
    f.write_text("date,close\n2025-01-02,1\n")
    code, _, err = run_cli(capsys, "prices", "import", str(f))
    assert code == 1 and str(home) in one_line_error(err) and "unexpected" not in err


@pytest.mark.parametrize(("raised", "code"), [(RuntimeError("boom\nsecond line"), 1), (KeyboardInterrupt(), 130)])
def test_exit_1_on_unexpected_failures_and_130_when_interrupted(monkeypatch, capsys, raised, code):
    import flows.cli.main

    def fail(args):
        raise raised

    monkeypatch.setitem(flows.cli.main.COMMANDS, "events", fail)
    got, _, err = run_cli(capsys, "events", "list")
    assert got == code
    if code == 1:
        assert "unexpected RuntimeError: boom second line (run with --verbose" in one_line_error(err)
        with pytest.raises(RuntimeError):
            main(["--verbose", "events", "list"])
    else:
        assert err == "market-reaction: interrupted\n"


# --- many events: one event's missing or suspicious prices never stop the others --------------------

SECRET = "s3cr3t-token-do-not-log"


def synthetic_prices(tmp_path) -> list[Path]:
    """AAA (clean), BBB (two sessions missing and a 2:1 split in the raw close) and ^GSPC."""
    import exchange_calendars as xcals
    import numpy as np

    days = xcals.get_calendar("XNYS", start="2023-01-01", end="2025-12-31").sessions_in_range("2023-06-01", "2025-11-28")
    dates = [d.date() for d in days]
    rng = np.random.default_rng(6)
    files = []
    for name, ticker in (("AAA", "AAA"), ("BBB", "BBB"), ("GSPC", "^GSPC")):
        adj = 100 * np.cumprod(1 + rng.normal(0, 0.01, len(dates)))
        frame = pl.DataFrame({S.DATE: dates, S.CLOSE: adj, S.ADJ_CLOSE: adj})
        if ticker == "BBB":
            frame = frame.with_columns(
                pl.when(pl.col(S.DATE) >= date(2025, 8, 4)).then(pl.col(S.CLOSE) / 2).otherwise(pl.col(S.CLOSE))
            ).filter(~pl.col(S.DATE).is_in([date(2025, 9, 2), date(2025, 9, 3)]))
        files.append(tmp_path / f"{name}.csv")
        frame.write_csv(files[-1])
    return files


@pytest.mark.slow
def test_run_many_events_reports_every_skipped_or_flagged_one(prefect_api, mr_home, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MR_TEST_API_KEY", SECRET)
    aaa, bbb, gspc = synthetic_prices(tmp_path)
    assert run_cli(capsys, "prices", "import", str(aaa), str(bbb))[0] == 0
    assert run_cli(capsys, "prices", "import", str(gspc), "--ticker", "^GSPC")[0] == 0
    catalog = tmp_path / "events.csv"
    catalog.write_text(
        "event_id,ticker,announced,timing\n"
        "aaa-ok,AAA,2025-11-03,pre-open\n"
        "bbb-flagged,BBB,2025-11-03,pre-open\n"
        "ccc-no-prices,CCC,2025-11-03,pre-open\n"
        "aaa-too-early,AAA,2023-09-01,pre-open\n"
        "aaa-after-data,AAA,2026-03-02,pre-open\n"
    )
    out = tmp_path / "report"
    code, stdout, err = run_cli(capsys, "run", "--catalog", str(catalog), "--source", "store", "--out", str(out))
    assert code == 0, err
    events = pl.read_parquet(out / "events.parquet")
    status = dict(zip(events[S.EVENT_ID], zip(events["status"], events[S.REASON])))
    assert len(status) == 5
    assert status["aaa-ok"][0] == "flagged" and status["aaa-ok"][1] == "no shares outstanding for this ticker"
    assert status["bbb-flagged"][0] == "flagged"
    assert "BBB: 2 XNYS sessions without a price" in status["bbb-flagged"][1]
    assert "BBB: 1 split-like close jump" in status["bbb-flagged"][1] and "2025-08-04 ×" in status["bbb-flagged"][1]
    assert status["ccc-no-prices"] == ("skipped", "no prices for CCC; no close on day -1")
    assert status["aaa-too-early"][0] == "skipped" and "fewer than the minimum 120" in status["aaa-too-early"][1]
    assert status["aaa-after-data"][0] == "skipped" and "no abnormal return" in status["aaa-after-data"][1]
    manifest = json.loads((out / "manifest.json").read_text())
    for event_id, (st, reason) in status.items():
        assert any(w.startswith(f"{event_id} ") and st in w and reason in w for w in manifest["warnings"]), event_id
    table = (out / "tables" / "events.csv").read_text()
    assert all(event_id in table for event_id in status)
    car = pl.read_parquet(out / "car.parquet")
    assert car.filter(pl.col(S.EVENT_ID) == "aaa-ok")[S.CAR].is_not_null().all()
    assert "warning: ccc-no-prices CCC: skipped" in err
    # nothing secret is written or printed
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in stdout + err


def test_negative_window_values_parse(capsys):
    # `--window -1:1` is glued to `--window=-1:1` before argparse (which would take -1:1 for an option)
    code, _, err = run_cli(capsys, "run", AWS, "--window", "-1:1", "--estimation", "-100:-11", "--catalog", str(CATALOG))
    assert code == 2 and "'min_estimation_obs'" in err and "estimation length 90" in err


# --- local runs: no Prefect, and mistakes reported before the heavy imports ------------------------

HEAVY = ("prefect", "statsmodels", "scipy", "matplotlib", "great_tables", "exchange_calendars", "yfinance")
PROBE = """
import json, sys
from flows.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "loaded": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def run_fresh(tmp_path, *argv: str, home: Path | None = None) -> tuple[int, list[str], str, str]:
    """``market-reaction ARGV`` in a fresh interpreter with no Prefect API configured; returns the
    exit code, the heavy modules it imported, stdout and stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_HOME": str(tmp_path / "no-prefect-here"), "MARKET_REACTION_HOME": str(home or tmp_path / "home"),
            "PYTHONPATH": str(REPO_ROOT), "MARKET_REACTION_QUIET": "0"}
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    *lines, last = done.stdout.splitlines()
    probe = json.loads(last)
    return probe["code"], probe["loaded"], "\n".join(lines), done.stderr


def test_a_local_run_imports_no_prefect_and_gives_the_amzn_numbers(amzn_store, tmp_path):
    out = tmp_path / "report"
    code, loaded, stdout, err = run_fresh(tmp_path, "run", AWS, "--catalog", str(CATALOG), "--source", "store",
                                          "--out", str(out), home=amzn_store)
    assert code == 0, err
    assert "prefect" not in loaded
    assert ("AMZN rose 4.00% (+$104.6bn) on 2025-11-03; +3.78% (+$98.6bn) beyond what the market explains, significant at "
            "1% (t = 2.76, p = 0.006); the wider windows also hold Amazon Q3 2025 results the session before") in stdout
    assert (out / "car.parquet").is_file() and (tmp_path / "index.html").is_file()
    for stage in ("catalog", "prices", "engine", "writing the report"):  # the per-stage breakdown, each once
        assert err.count(f"] {stage}: ") == 1, (stage, err)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "amzn-openai-aws", "--catalog", str(CATALOG)], "did you mean 'amzn-openai-aws-2025'"),
        (["run", AWS, "--window=5:1", "--catalog", str(CATALOG)], "window"),
        (["run", AWS, "--model", "famafrench", "--catalog", str(CATALOG)], "invalid choice: 'famafrench'"),
        (["run", AWS, "--catalog", "{tmp}/events.csv"], "'announced'"),
    ],
    ids=["unknown-event", "bad-window", "unknown-model", "bad-catalog-row"],
)
def test_mistakes_are_reported_before_the_heavy_imports(tmp_path, argv, fragment):
    (tmp_path / "events.csv").write_text("event_id,ticker,announced\nev,AMZN,2025-02-30\n")
    code, loaded, _, err = run_fresh(tmp_path, *(a.replace("{tmp}", str(tmp_path)) for a in argv))
    assert code == 2 and fragment in err, err
    assert loaded == []  # no Prefect, statsmodels, scipy, matplotlib... (the catalog parser needs polars)


def test_a_closed_pipe_ends_the_command_quietly(mr_home, shared_data, tmp_path):
    """``market-reaction prices show | head -1``: no "Broken pipe" error, exit 0."""
    env = {**os.environ, "MARKET_REACTION_HOME": str(mr_home), "PYTHONPATH": str(REPO_ROOT)}
    cli = [sys.executable, "-m", "flows.cli.main"]
    for name in ("AMZN", "MSFT", "NVDA", "GOOGL"):
        subprocess.run([*cli, "prices", "import", str(shared_data / "prices" / f"{name}.csv")], env=env, check=True,
                       capture_output=True, timeout=300)
    shown = subprocess.Popen([*cli, "prices", "show"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shown.stdout.readline()
    shown.stdout.close()  # what `head -1` does
    err = shown.stderr.read().decode()
    assert shown.wait(timeout=300) == 0 and "Broken pipe" not in err and "error" not in err, err


def test_a_prefect_api_is_found_without_importing_prefect(tmp_path, monkeypatch):
    from flows.settings import prefect_api_url

    for name in ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    assert prefect_api_url() is None  # no profiles file: no API (Prefect would start a temporary server)
    (tmp_path / "profiles.toml").write_text(
        'active = "ephemeral"\n[profiles.ephemeral]\nPREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"\n'
        '[profiles.team]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n'
    )
    assert prefect_api_url() is None
    monkeypatch.setenv("PREFECT_PROFILE", "team")
    assert prefect_api_url() == "http://127.0.0.1:4200/api"
    monkeypatch.delenv("PREFECT_PROFILE")
    (tmp_path / "profiles.toml").write_text((tmp_path / "profiles.toml").read_text().replace('"ephemeral"\n', '"team"\n', 1))
    assert prefect_api_url() == "http://127.0.0.1:4200/api"
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4300/api")
    assert prefect_api_url() == "http://127.0.0.1:4300/api"
    (tmp_path / "profiles.toml").write_text("not toml [")
    monkeypatch.delenv("PREFECT_API_URL")
    assert prefect_api_url() is None


def test_the_light_choices_equal_the_originals():
    from flows.io import factors
    from flows import params

    assert params.FRENCH_SETS == tuple(factors.FRENCH_FILES)


def test_interrupted_local_run_exits_130_and_writes_nothing(amzn_store, tmp_path, capsys, monkeypatch):
    import flows.orchestration.study

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(flows.orchestration.study, "analyze", interrupt)
    out = tmp_path / "report"
    code, _, err = run_cli(capsys, "run", AWS, "--catalog", str(CATALOG), "--source", "store", "--out", str(out))
    assert code == 130 and err.endswith("market-reaction: interrupted\n")
    assert not out.exists() and not (tmp_path / "index.html").exists()


def test_the_deployments_run_the_tracked_flows(tmp_path):
    from flows.orchestration.serve import build_deployments

    nightly, adhoc = build_deployments(CATALOG, tmp_path)
    assert (nightly.entrypoint, adhoc.entrypoint) == ("flows/orchestration/tracked.py:refresh_catalog", "flows/orchestration/tracked.py:event_study")


def test_a_streamed_run_writes_the_same_report(amzn_store, tmp_path, capsys):
    """More event rows than ``--batch-rows``: the abnormal returns are streamed to disk batch by
    batch and read back for the pages; the data files equal a run in one batch, and so do the
    human tables (every event listed: the daily rows of the events shown are read back)."""
    reports = {}
    for name, rows in (("whole", "25000"), ("streamed", "3")):
        out = tmp_path / name
        code, _, err = run_cli(capsys, "run", "--catalog", str(CATALOG), "--source", "store", "--out", str(out),
                               "--batch-rows", rows)
        assert code == 0, err
        reports[name] = out
    whole, streamed = reports["whole"], reports["streamed"]
    for name in ("abnormal_returns", "car", "models", "events", "tests", "confounders"):
        assert_frame_equal(pl.read_parquet(streamed / f"{name}.parquet"), pl.read_parquet(whole / f"{name}.parquet"),
                           check_exact=True)
        assert (streamed / f"{name}.csv").read_bytes() == (whole / f"{name}.csv").read_bytes(), name
    for table in sorted((whole / "tables").iterdir()):
        assert (streamed / "tables" / table.name).read_bytes() == table.read_bytes(), table.name
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and "tmp-" in p.name]


def test_a_characteristic_made_text_by_one_cell_is_a_warning(mr_home, tmp_path, capsys):
    catalog = tmp_path / "events.csv"
    catalog.write_text('event_id,ticker,announced,size\ne1,AMZN,2025-11-03,2.5\ne2,MSFT,2025-11-04,"1,000"\n')
    code, _, err = run_cli(capsys, "run", "--catalog", str(catalog), "--source", "store")
    assert code == 3  # no prices stored; the warning came first
    assert f"market-reaction: warning: {catalog}: characteristic 'size' is text, not a regressor, because of 1 value(s)" in err
    assert "'1,000' (event e2)" in err
