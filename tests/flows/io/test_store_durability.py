"""The store under faults: writers killed with SIGKILL at random moments, concurrent writers
and readers (processes, and whole ``market-reaction prices import`` commands), reproducible
bytes, and ticker names that try to leave the store's folder."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from analysis import schema as S
from analysis.errors import InputError
from flows.io.store import PriceStore
from tests.conftest import REPO_ROOT

D0 = date(2000, 1, 3)
ROWS = 4000

# A writer that never stops: version v writes ROWS dates with close = v and coverage ending
# v days after the last row (so rows and metadata can be matched to one version), then the
# shares file with shares = v. It resumes from the version it finds.
WRITER = textwrap.dedent(f"""
    import sys
    from datetime import date, timedelta
    from pathlib import Path
    import polars as pl
    from flows.io.store import PriceStore

    store = PriceStore(Path(sys.argv[1]))
    d0 = date.fromisoformat("{D0}")
    dates = [d0 + timedelta(days=i) for i in range({ROWS})]
    have = store.read(["X"])
    v = int(have["close"][0]) + 1 if have.height else 1
    print("ready", flush=True)
    while True:
        frame = pl.DataFrame({{"date": dates, "close": [float(v)] * {ROWS}, "adj_close": [float(v)] * {ROWS}}})
        store.upsert("X", frame, (d0, dates[-1] + timedelta(days=v)), "writer")
        store.upsert_shares(pl.DataFrame({{"ticker": ["X"], "as_of_date": [d0], "shares_outstanding": [v]}}), "writer")
        v += 1
""")


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), **extra}


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def stored_version(store: PriceStore) -> int:
    """The one version the store holds; fails on a torn or mixed file."""
    prices = store.read(["X"])
    assert prices.height == ROWS
    assert prices[S.CLOSE].n_unique() == 1 and prices[S.ADJ_CLOSE].n_unique() == 1
    v = int(prices[S.CLOSE][0])
    assert store.coverage("X") == (D0, D0 + timedelta(days=ROWS - 1 + v))  # metadata of the same version
    shares = store.read_shares(["X"])[S.SHARES].to_list()
    assert len(shares) == 1 and shares[0] <= v  # prices are written first
    return v


@pytest.mark.slow
def test_writers_killed_at_random_moments_leave_old_or_new_content(tmp_path):
    store = PriceStore(tmp_path / "store")
    rng = random.Random(20251103)
    versions, leftovers = [0], 0
    for _ in range(20):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store.root)], stdout=subprocess.PIPE, env=env())
        assert writer.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(writer.pid, signal.SIGKILL)
        assert writer.wait(timeout=30) == -signal.SIGKILL
        writer.stdout.close()
        if store.path("X").exists():
            versions.append(stored_version(store))
            assert versions[-1] >= versions[-2]  # never back to an older version
            assert store.tickers()[S.TICKER].to_list() == ["X"]  # stale temporary files are ignored
        leftovers += len(temp_files(store.root))
    assert versions[-1] >= 5  # the writers got far: the kills hit them in the middle of their work
    # a rerun completes, and removes what killed writers left behind
    frame = pl.DataFrame({S.DATE: [D0 + timedelta(days=i) for i in range(ROWS)], S.CLOSE: [1e6] * ROWS, S.ADJ_CLOSE: [1e6] * ROWS})
    store.upsert("X", frame, (D0, D0), "rerun")
    assert store.read(["X"])[S.CLOSE].unique().to_list() == [1e6]
    assert temp_files(store.root) == []
    print(f"{len(versions) - 1} kills, versions {versions[1:]}, {leftovers} temporary files seen after kills")


def test_stale_temporary_files_are_ignored_by_readers_and_removed_by_the_next_writer(tmp_path):
    store = PriceStore(tmp_path / "store")
    store.upsert("X", pl.DataFrame({S.DATE: [D0], S.CLOSE: [1.0]}), (D0, D0), "a")
    stale = [store.path("X").parent / f".X.parquet.{'0' * 32}.tmp", store.root / f".shares.parquet.{'1' * 32}.tmp"]
    for p in stale:
        p.write_bytes(b"half a parquet fi")
    other = store.path("X").parent / "notes.txt"
    other.write_text("not ours")
    assert store.read(["X"]).height == 1 and store.tickers().height == 1
    store.upsert("X", pl.DataFrame({S.DATE: [D0 + timedelta(days=1)], S.CLOSE: [2.0]}), (D0, D0), "b")
    assert not any(p.exists() for p in stale) and other.exists()


def _run_cli(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli.main", *args], env=env(MARKET_REACTION_HOME=str(home)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def price_csv(path: Path, close: float, rows: int = 6000) -> Path:
    dates = [D0 + timedelta(days=i) for i in range(rows)]
    pl.DataFrame({S.DATE: dates, S.CLOSE: [close] * rows, S.ADJ_CLOSE: [close] * rows}).write_csv(path)
    return path


@pytest.mark.slow
def test_concurrent_price_imports_do_not_corrupt_the_store(tmp_path):
    home = tmp_path / "home"
    runs = []
    for k in range(3):  # three imports at once; each writes AAA (with its own close) and its own ticker
        folder = tmp_path / f"in{k}"
        folder.mkdir()
        files = [price_csv(folder / "AAA.csv", 10.0 + k), price_csv(folder / f"B{k}.csv", 20.0 + k)]
        runs.append(_run_cli(home, "prices", "import", *map(str, files)))
    results = [(r.wait(timeout=300), *r.communicate()) for r in runs]
    assert [code for code, *_ in results] == [0, 0, 0], results
    store = PriceStore(home)
    assert store.tickers()[S.TICKER].to_list() == ["AAA", "B0", "B1", "B2"]
    aaa = store.read(["AAA"])
    assert aaa.height == 6000 and aaa[S.CLOSE].n_unique() == 1 and aaa[S.CLOSE][0] in (10.0, 11.0, 12.0)
    assert temp_files(home) == []
    shown = _run_cli(home, "prices", "show")
    assert shown.wait(timeout=120) == 0 and shown.communicate()[0].decode().count("6000 rows") == 4


def _upsert_shares_many(root: str, offset: int, count: int) -> None:
    store = PriceStore(Path(root))
    for n in range(offset, offset + 2 * count, 2):
        store.upsert_shares(pl.DataFrame({S.TICKER: ["X"], S.AS_OF_DATE: [D0 + timedelta(days=n)], S.SHARES: [n + 1]}), "w")


@pytest.mark.slow
def test_concurrent_share_writers_lose_nothing(tmp_path):
    import multiprocessing

    store = PriceStore(tmp_path / "store")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_upsert_shares_many, args=(str(store.root), k, 30)) for k in (0, 1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    assert store.read_shares(["X"])[S.SHARES].to_list() == list(range(1, 61))


def _rewrite_forever(root: str, stop) -> None:
    store = PriceStore(Path(root))
    dates = [D0 + timedelta(days=i) for i in range(3000)]
    v = 0
    while not stop.is_set():
        v += 1
        # close = v + a pattern whose period depends on v: files of different sizes and layouts
        close = [v + (i % (v % 97 + 1)) / 1000 for i in range(len(dates))]
        store.upsert("X", pl.DataFrame({S.DATE: dates, S.CLOSE: close}), (D0, dates[-1]), "w")


@pytest.mark.slow
def test_readers_see_one_version_while_a_writer_replaces_the_file(tmp_path):
    """Reading a Parquet file by path twice (layout, then data) can mix two versions and crash
    polars; the store reads each file through one open handle."""
    import multiprocessing

    store = PriceStore(tmp_path / "store")
    store.upsert("X", pl.DataFrame({S.DATE: [D0], S.CLOSE: [0.0]}), (D0, D0), "w")
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    writer = ctx.Process(target=_rewrite_forever, args=(str(store.root), stop))
    writer.start()
    try:
        reads, deadline = 0, time.monotonic() + 4
        while time.monotonic() < deadline or reads < 50:
            prices = store.read(["X"])
            assert prices.height in (1, 3000) and prices[S.CLOSE].floor().n_unique() == 1  # one version
            assert store.tickers().height == 1
            reads += 1
    finally:
        stop.set()
        writer.join(timeout=60)
    assert writer.exitcode == 0


# --- reproducible bytes --------------------------------------------------------------------------


def test_the_same_input_gives_byte_identical_store_files(tmp_path, shared_data):
    from flows.io.importers import import_price_files, read_shares_file

    files = [shared_data / "prices" / "AMZN.csv", shared_data / "prices" / "MSFT.csv"]
    stores = [PriceStore(tmp_path / name) for name in ("one", "two")]
    for store in stores:
        import_price_files(store, files)
        import_price_files(store, [shared_data / "prices" / "GSPC.csv"], ticker="^GSPC")
        store.upsert_shares(read_shares_file(shared_data / "shares_outstanding.csv"), "import:shares_outstanding.csv")
    one, two = (sorted(p.relative_to(s.root) for p in s.root.rglob("*.parquet")) for s in stores)
    assert one == two and len(one) == 4
    for rel in one:
        assert (stores[0].root / rel).read_bytes() == (stores[1].root / rel).read_bytes(), rel
    # importing the same file again changes nothing
    before = stores[0].content_hash("AMZN")
    import_price_files(stores[0], files[:1])
    assert stores[0].content_hash("AMZN") == before


# --- names that try to leave the folder -------------------------------------------------------------

BAD_NAMES = ["../X", "../../etc/passwd", "/abs", "X/Y", "..", ".", "", "X\x00Y", "A" * 33, "x" * 300, "amzn", " AMZN"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=range(len(BAD_NAMES)))
def test_ticker_names_never_become_paths_outside_the_store(tmp_path, name):
    store = PriceStore(tmp_path / "store")
    with pytest.raises(InputError, match="not a ticker symbol the store can hold"):
        store.path(name)
    with pytest.raises(InputError):
        store.upsert(name, pl.DataFrame({S.DATE: [D0], S.CLOSE: [1.0]}), (D0, D0), "x")
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.parquet"))
    assert list(tmp_path.iterdir()) in ([], [tmp_path / "store"])


@pytest.mark.parametrize("ticker", ["^GSPC", "BRK-B", "BRK.B", "EURUSD=X", "0700.HK", "A" * 32])
def test_every_valid_symbol_maps_to_one_file_inside_prices(tmp_path, ticker):
    store = PriceStore(tmp_path / "store")
    store.upsert(ticker, pl.DataFrame({S.DATE: [D0], S.CLOSE: [1.0]}), (D0, D0), "x")
    path = store.path(ticker)
    assert path.parent == store.root / "prices" and path.resolve().parent == (store.root / "prices").resolve()
    assert store.tickers()[S.TICKER].to_list() == [ticker]
