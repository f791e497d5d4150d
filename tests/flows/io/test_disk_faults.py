"""File-system faults: a full disk and a read-only store or report folder.

A full disk is simulated without root by running the command line in a child process whose
file size limit is low (``RLIMIT_FSIZE``, SIGXFSZ ignored): a write past the limit fails with
EFBIG "File too large", told like ENOSPC and EDQUOT. In process, a write is made to fail as
polars or pyarrow report a full disk. A read-only folder is ``chmod a-w``; as root (who may
write anyway) the child drops the capabilities that let root ignore file modes.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from analysis.calendar import exchange_calendar
from flows.cli.main import main
from flows.io.calendars import exchange_calendar as exchange_calendar_cached
from flows.io.importers import import_price_files
from flows.io.store import PriceStore
from tests.conftest import REPO_ROOT

CATALOG = REPO_ROOT / "deployments" / "events.toml"
AWS = "amzn-openai-aws-2025"
TICKERS = [f"T{i:02d}" for i in range(60)]
_CAPS_THAT_IGNORE_MODES = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
_PR_CAPBSET_DROP = 24


def cli(home: Path, *args: str, fsize: int | None = None, obey_modes: bool = False) -> subprocess.CompletedProcess:
    """``market-reaction ARGS`` in a child process with ``home`` as its store; ``fsize``: its
    file size limit in bytes (a full disk); ``obey_modes``: root loses what lets it write into
    read-only folders (the child of a user who is not root obeys them anyway)."""

    def limits() -> None:
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if obey_modes and os.geteuid() == 0:
            libc = ctypes.CDLL(None, use_errno=True)
            for cap in _CAPS_THAT_IGNORE_MODES:  # dropped from the bounding set: gone after exec
                if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                    raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MARKET_REACTION_HOME": str(home), "MARKET_REACTION_QUIET": "1"}
    return subprocess.run([sys.executable, "-m", "flows.cli.main", *args], env=env, preexec_fn=limits,
                          capture_output=True, text=True, timeout=300)


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("market-reaction: error: "), err
    return lines[0]


def tree(root: Path) -> dict[str, str]:
    """Every file below ``root`` (hidden ones too) -> sha256 of its bytes."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def price_files(folder: Path) -> list[Path]:
    """60 price CSVs ``T00.csv`` .. ``T59.csv`` of growing length (200 .. 2560 sessions)."""
    rng = np.random.default_rng(60)
    days = exchange_calendar("XNYS").sessions["date"]
    days = days.filter(days.dt.year() >= 2015)
    folder.mkdir()
    for i, ticker in enumerate(TICKERS):
        n = 200 + 40 * i
        close = (100 * np.cumprod(1 + rng.normal(0, 0.01, n))).round(4)
        pl.DataFrame({"date": days[:n], "close": close, "adj_close": close}).write_csv(folder / f"{ticker}.csv")
    return [folder / f"{t}.csv" for t in TICKERS]


def disk_full_on(monkeypatch, folder: str, after: int = 0, polars_style: bool = True) -> None:
    """The (``after`` + 1)-th Parquet file polars writes into a folder named ``folder`` fails
    as on a full disk, as polars reports it (a ComputeError naming no file)."""
    write = pl.DataFrame.write_parquet
    count = [0]

    def failing(frame, file, *args, **kwargs):
        name = str(getattr(file, "name", file))
        if Path(name).parent.name == folder:
            count[0] += 1
            if count[0] > after:
                if polars_style:
                    raise pl.exceptions.ComputeError(
                        "parquet: File out of specification: underlying IO error: No space left on device (os error 28)")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write(frame, file, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", failing)


# --- the store --------------------------------------------------------------------------


def test_import_of_60_tickers_on_a_full_disk_names_the_file_and_stores_none(tmp_path, shared_data):
    """Was: 18 of 60 stored, then "unexpected ComputeError" naming no file."""
    home = tmp_path / "home"
    files = price_files(tmp_path / "csv")
    assert cli(home, "prices", "import", str(shared_data / "prices" / "AMZN.csv")).returncode == 0
    before = tree(home / "prices")
    probe = PriceStore(tmp_path / "probe")
    import_price_files(probe, [files[18]])
    room = probe.path("T18").stat().st_size - 1  # the store files of T18 .. T59 do not fit
    done = cli(home, "prices", "import", *map(str, files), fsize=room)
    assert done.returncode == 1 and done.stdout == ""
    assert one_line(done.stderr) == (
        f"market-reaction: error: {home / 'prices' / 'T18.parquet'}: not written: out of disk space (File too large); "
        "none of the 60 tickers was stored (the store is as it was)")
    assert tree(home / "prices") == before  # AMZN as it was, no ticker of the 60, no temporary file
    again = cli(home, "prices", "import", *map(str, files))  # space freed: the same command imports them all
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in (home / "prices").iterdir()) == sorted(["AMZN.parquet", *(f"{t}.parquet" for t in TICKERS)])


@pytest.mark.parametrize("polars_style", [True, False], ids=["polars-ComputeError", "OSError-ENOSPC"])
def test_import_failing_at_the_19th_file_leaves_the_store_as_it_was(polars_style, mr_home, tmp_path, monkeypatch, capsys):
    files = price_files(tmp_path / "csv")
    assert main(["prices", "import", *map(str, files[:3])]) == 0
    before = tree(mr_home / "prices")
    capsys.readouterr()
    disk_full_on(monkeypatch, "prices", after=18, polars_style=polars_style)
    assert main(["prices", "import", *map(str, files)]) == 1
    line = one_line(capsys.readouterr().err)
    assert f"{mr_home / 'prices' / 'T18.parquet'}: not written: out of disk space (No space left on device)" in line
    assert tree(mr_home / "prices") == before


def test_shares_and_factor_imports_on_a_full_disk_name_the_file(mr_home, shared_data, monkeypatch, capsys):
    disk_full_on(monkeypatch, mr_home.name)
    assert main(["shares", "import", str(shared_data / "shares_outstanding.csv")]) == 1
    assert f"{mr_home / 'shares.parquet'}: not written: out of disk space" in one_line(capsys.readouterr().err)
    disk_full_on(monkeypatch, "factors")
    assert main(["factors", "import", str(shared_data / "factors" / "ff3_daily.csv"), "--name", "ff3"]) == 1
    assert f"{mr_home / 'factors' / 'ff3.parquet'}: not written: out of disk space" in one_line(capsys.readouterr().err)
    assert not (mr_home / "shares.parquet").exists() and not any((mr_home / "factors").iterdir())


def test_yahoo_prices_on_a_full_disk_name_the_store_file_and_store_none(mr_home, fake_yahoo, shared_data, tmp_path,
                                                                       monkeypatch, capsys):
    for ticker, name in (("AMZN", "AMZN"), ("^GSPC", "GSPC"), ("MSFT", "MSFT"), ("NVDA", "NVDA"), ("GOOGL", "GOOGL")):
        frame = pl.read_csv(shared_data / "prices" / f"{name}.csv", try_parse_dates=True,
                            schema_overrides={"adj_close": pl.Float64})
        fake_yahoo.add(ticker, frame.with_columns(pl.col("adj_close").fill_null(pl.col("close"))).drop_nulls("close"))
    disk_full_on(monkeypatch, "prices", after=2)
    assert main(["run", AWS, "--catalog", str(CATALOG), "--out", str(tmp_path / "r")]) == 1
    line = one_line(capsys.readouterr().err)
    assert f"{mr_home / 'prices'}/" in line and ".parquet: not written: out of disk space" in line
    assert "none of the 5 tickers was stored" in line
    assert not list((mr_home / "prices").iterdir()) and not (tmp_path / "r").exists()


def test_calendar_cache_on_a_full_disk_is_skipped(mr_home, monkeypatch):
    """Was: polars' ComputeError escaped the cache's fallback: every command failed."""
    disk_full_on(monkeypatch, "cache")
    exchange_calendar_cached.cache_clear()
    try:
        assert exchange_calendar_cached("XNYS").sessions.height > 10_000
    finally:
        exchange_calendar_cached.cache_clear()
    assert not list((mr_home / "cache").iterdir())


def test_read_only_file_is_not_replaced(amzn_store, shared_data, capsys):
    target = amzn_store / "prices" / "AMZN.parquet"
    before = target.read_bytes()
    target.chmod(0o444)
    assert main(["prices", "import", str(shared_data / "prices" / "AMZN.csv")]) == 1
    line = one_line(capsys.readouterr().err)
    assert f"{target}: not written: the file is read-only (chmod u+w lets it be replaced); AMZN was not stored" in line
    assert target.read_bytes() == before


def test_read_only_store_serves_runs_and_refuses_imports(amzn_store, shared_data, tmp_path):
    """Was: the import named the hidden temporary file it could not create."""
    (amzn_store / ".lock").unlink()  # a run must not need it: none can be made below
    for folder in (amzn_store / "prices", amzn_store):
        folder.chmod(0o555)
    before = tree(amzn_store)
    done = cli(amzn_store, "run", AWS, "--catalog", str(CATALOG), "--out", str(tmp_path / "r"), obey_modes=True)
    assert done.returncode == 0, done.stderr  # --source auto: everything is stored, nothing fetched
    assert (tmp_path / "r" / "car.parquet").is_file()
    aapl = str(shared_data / "prices" / "AAPL.csv")
    done = cli(amzn_store, "prices", "import", aapl, obey_modes=True)
    assert done.returncode == 1
    assert one_line(done.stderr) == f"market-reaction: error: {amzn_store}: not written: Permission denied"
    assert tree(amzn_store) == before  # nothing written: no lock file, no calendar cache
    amzn_store.chmod(0o755)  # the prices folder alone read-only
    done = cli(amzn_store, "prices", "import", aapl, obey_modes=True)
    assert done.returncode == 1
    assert one_line(done.stderr) == (f"market-reaction: error: {amzn_store / 'prices' / 'AAPL.parquet'}: not written: "
                                     "Permission denied; AAPL was not stored (the store is as it was)")


# --- the report -------------------------------------------------------------------------


def report_files(sizes_of: Path) -> list[int]:
    return sorted(p.stat().st_size for p in sizes_of.rglob("*") if p.is_file())


def test_report_on_a_full_disk_names_the_folder_and_keeps_the_previous_report(amzn_store, tmp_path):
    """Was: "File too large" (no path) or "unexpected ComputeError"."""
    out = tmp_path / "reports" / "aws"
    args = ("run", AWS, "--catalog", str(CATALOG), "--source", "store", "--out", str(out))
    assert cli(amzn_store, *args).returncode == 0
    previous = tree(out.parent)
    sizes = report_files(out)
    # fail at the largest file (the page), then at a data file, then with the batches streamed to disk
    for fsize, more in ((sizes[-1] - 1, ()), (sizes[len(sizes) // 2], ()), (2_000, ("--batch-rows", "1"))):
        done = cli(amzn_store, *args, *more, fsize=fsize)
        line = one_line(done.stderr)
        assert done.returncode == 1 and f"error: {out}" in line, line
        assert "not written: out of disk space (File too large); nothing in " in line and ".tmp" not in line
        assert tree(out.parent) == previous  # the previous report and index, byte for byte; no hidden leftover
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".") and p.name != ".publish.lock"]


def test_spilled_batches_on_a_full_disk_name_the_report_file(amzn_store, tmp_path, monkeypatch, capsys):
    out = tmp_path / "r"

    def full(self, table, *args, **kwargs):
        raise OSError(errno.ENOSPC, "[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    code = main(["run", AWS, "--catalog", str(CATALOG), "--source", "store", "--out", str(out), "--batch-rows", "1"])
    line = one_line(capsys.readouterr().err)
    assert code == 1
    assert line == (f"market-reaction: error: {out / 'abnormal_returns.parquet'}: not written: out of disk space "
                    f"(No space left on device); nothing in {out} changed")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [".publish.lock", "home"]


def test_read_only_report_parent_is_refused_before_the_study(amzn_store, tmp_path):
    """Was: refused after the prices were read, naming the hidden lock file."""
    parent = tmp_path / "reports"
    parent.mkdir(mode=0o555)
    parent.chmod(0o555)
    done = cli(amzn_store, "run", AWS, "--catalog", str(CATALOG), "--source", "store", "--out", str(parent / "aws"),
               obey_modes=True)
    assert done.returncode == 1
    assert one_line(done.stderr) == f"market-reaction: error: {parent}: not written: Permission denied; choose another --out"
    assert list(parent.iterdir()) == []
