"""The local price store: round trip, coverage, merging, atomic and locked writes, corrupt files."""

from __future__ import annotations

import io
import multiprocessing
import os
import threading
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from analysis import schema as S
from analysis.errors import DataUnavailableError
from flows import settings
from flows.io.store import PRICE_SCHEMA, PriceStore, rebased

D = date(2025, 1, 1)


def day(n: int) -> date:
    return D + timedelta(days=n)


def prices(days: list[int], close: float = 1.0) -> pl.DataFrame:
    return pl.DataFrame({S.DATE: [day(n) for n in days], S.CLOSE: [close + n for n in days]})


@pytest.fixture
def store(tmp_path) -> PriceStore:
    return PriceStore(tmp_path / "store")


def test_settings_home(mr_home, monkeypatch):
    assert settings.home() == mr_home and settings.cache_dir() == mr_home / "cache"
    assert not mr_home.exists()
    monkeypatch.delenv(settings.HOME_ENV)
    assert settings.home().name == settings.APP_NAME


def test_round_trip(store):
    frame = pl.DataFrame({
        S.DATE: [day(1), day(0)], S.OPEN: [1.0, None], S.HIGH: [2.0, None], S.LOW: [0.5, None],
        S.CLOSE: [1.5, 1.2], S.ADJ_CLOSE: [1.4, 1.1], S.VOLUME: [10, None],
    })
    store.upsert("^GSPC", frame, (day(-2), day(3)), "yfinance")
    assert store.path("^GSPC").name == "%5EGSPC.parquet"
    out = store.read(["^GSPC", "NOPE"])
    assert out.columns == [S.TICKER, *PRICE_SCHEMA.names()]
    assert out.get_column(S.DATE).to_list() == [day(0), day(1)]
    assert out.get_column(S.VOLUME).to_list() == [None, 10.0]
    assert store.read("^GSPC", start=day(1), end=day(1)).height == 1
    assert store.read(["NOPE"]).columns == out.columns
    shown = store.tickers().row(0, named=True)
    assert shown == {
        S.TICKER: "^GSPC", "rows": 2, "first_date": day(0), "last_date": day(1),
        "covered_start": day(-2), "covered_end": day(3), "source": "yfinance",
    }
    assert len(store.content_hash("^GSPC")) == 64 and store.content_hash("NOPE") is None


def test_read_sorts_by_ticker_then_date(store):
    store.upsert("MSFT", prices([2, 1]), (day(1), day(2)), "yfinance")
    store.upsert("AMZN", prices([3]), (day(3), day(3)), "yfinance")
    out = store.read(["MSFT", "AMZN"])
    assert out.select(S.TICKER, S.DATE).rows() == [("AMZN", day(3)), ("MSFT", day(1)), ("MSFT", day(2))]


def test_read_of_several_tickers_within_dates(store):
    store.upsert("AMZN", prices(list(range(0, 30))), (day(0), day(29)), "yfinance")
    store.upsert("MSFT", prices(list(range(5, 40))), (day(5), day(39)), "yfinance")
    store.upsert("NVDA", prices([20]), (day(20), day(20)), "yfinance")
    out = store.read(["NVDA", "MSFT", "AMZN"], start=day(10), end=day(25))
    expected = [("AMZN", day(n)) for n in range(10, 26)] + [("MSFT", day(n)) for n in range(10, 26)] + [("NVDA", day(20))]
    assert out.select(S.TICKER, S.DATE).rows() == expected


def test_read_ignores_metadata_that_is_not_utf8(store):
    # a file rewritten by another tool; polars panics on such metadata unless it is dropped
    store.upsert("X", prices([1, 2]), (day(1), day(2)), "yfinance")
    table = pq.read_table(store.path("X"))
    pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), b"junk\xff": b"\xfe\xff"}), store.path("X"))
    assert store.read(["X"]).select(S.DATE).rows() == [(day(1),), (day(2),)]


@pytest.mark.parametrize(("start", "end", "expected"), [
    (10, 20, []),  # inside
    (12, 15, []),
    (5, 15, [(5, 16)]),  # overlaps the start (each part reaches OVERLAP, 7 days, into the covered range)
    (15, 25, [(14, 25)]),  # overlaps the end
    (5, 25, [(5, 16), (14, 25)]),  # around
    (1, 3, [(1, 16)]),  # before, bridged
    (25, 30, [(14, 30)]),  # after, bridged
])
def test_missing_ranges(store, start, end, expected):
    store.upsert("X", prices([]), (day(10), day(20)), "yfinance")
    assert store.missing_ranges("X", day(start), day(end)) == [(day(a), day(b)) for a, b in expected]


def test_a_later_download_rebases_the_stored_adjusted_closes(store):
    """Yahoo re-adjusts a whole history after each dividend: rows fetched after one (sharing
    the overlap's dates with the stored rows) carry a factor the stored rows lack. The stored
    adj_close is rebased on them (one factor for all: the returns of the old rows unchanged),
    so no seam is left where they meet; without a shared date nothing is rebased."""
    from analysis.quality import price_quality
    from flows.io.calendars import exchange_calendar

    sessions = [d for d in (D + timedelta(days=n) for n in range(60)) if d.weekday() < 5]
    close = pl.Series([100.0 + i for i in range(len(sessions))])
    first = pl.DataFrame({S.DATE: sessions[:30], S.CLOSE: close[:30], S.ADJ_CLOSE: close[:30]})
    store.upsert("X", first, (sessions[0], sessions[29]), "yfinance")
    f = 0.99  # a dividend of 1% went ex on sessions[32]: the later download scales every earlier day by f
    later = pl.DataFrame({S.DATE: sessions[25:], S.CLOSE: close[25:],
                          S.ADJ_CLOSE: close[25:] * pl.Series([f if i < 32 else 1.0 for i in range(25, len(sessions))])})
    store.upsert("X", later, (sessions[25], sessions[-1]), "yfinance")

    got = store.read(["X"], columns=[S.CLOSE, S.ADJ_CLOSE])
    assert got[S.ADJ_CLOSE].to_list() == pytest.approx((close * pl.Series([f if i < 32 else 1.0 for i in range(len(sessions))])).to_list(), rel=1e-12)
    checks = price_quality(got, exchange_calendar())
    assert checks.filter(pl.col(S.CHECK) == "seam").is_empty()
    assert store.read(["X"]).filter(pl.col(S.DATE) < sessions[25])[S.ADJ_CLOSE].to_list() == pytest.approx((close[:25] * f).to_list())

    separate = pl.DataFrame({S.DATE: sessions[40:], S.CLOSE: close[40:], S.ADJ_CLOSE: close[40:] * 0.5})
    assert rebased(got.drop(S.TICKER), separate.head(0)).equals(got.drop(S.TICKER))


def test_missing_ranges_without_data(store):
    assert store.coverage("X") is None
    assert store.missing_ranges("X", day(1), day(2)) == [(day(1), day(2))]


def test_upsert_merges_new_wins_and_bridges_coverage(store):
    store.upsert("X", prices([1, 2, 3]), (day(0), day(4)), "yfinance")
    store.upsert("X", prices([3, 10], close=100.0), (day(9), day(10)), "import:X.csv")
    out = store.read(["X"])
    assert out.select(S.DATE, S.CLOSE).rows() == [(day(1), 2.0), (day(2), 3.0), (day(3), 103.0), (day(10), 110.0)]
    assert store.coverage("X") == (day(0), day(10))
    assert store.tickers().get_column("source").to_list() == ["yfinance; import:X.csv"]


def test_failed_write_leaves_old_file_and_no_temp_files(store, monkeypatch):
    store.upsert("X", prices([1]), (day(1), day(1)), "yfinance")
    before = store.path("X").read_bytes()

    def crash(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk on fire"):
        store.upsert("X", prices([2]), (day(2), day(2)), "yfinance")
    assert store.path("X").read_bytes() == before
    assert sorted(p.name for p in store.path("X").parent.iterdir()) == ["X.parquet"]


def test_store_files_are_read_on_the_calling_thread(store, monkeypatch):
    """An Arrow thread reading a Python file object (``pq.ParquetFile(f).read()``) could still
    hold it at exit: 1 in 20-30 ``market-reaction prices import`` ended "terminate called
    without an active exception" (exit 134) after their work was done."""
    store.upsert("X", prices(list(range(300))), (day(0), day(299)), "a")
    readers = set()
    opened = Path.open

    class Watched(io.FileIO):
        def readinto(self, buffer):
            readers.add(threading.current_thread().name)
            return super().readinto(buffer)

        def read(self, *args):
            readers.add(threading.current_thread().name)
            return super().read(*args)

    monkeypatch.setattr(Path, "open", lambda self, mode="r", *a, **k: Watched(self, "rb") if mode == "rb"
                        else opened(self, mode, *a, **k))
    store.upsert("X", prices([400]), (day(400), day(400)), "b")  # reads the stored rows to merge them
    assert store.tickers().height == 1 and store.coverage("X") == (day(0), day(400))
    assert readers == {threading.current_thread().name}


def _upsert_many(root: str, offset: int, count: int, start) -> None:
    store = PriceStore(Path(root))
    start.wait()
    for n in range(offset, offset + 2 * count, 2):
        store.upsert("X", prices([n]), (day(n), day(n)), f"worker{offset}")


def test_two_processes_writing_at_once_lose_no_rows(store):
    count = 40
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe once polars' threads run
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=_upsert_many, args=(str(store.root), offset, count, start)) for offset in (0, 1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    assert store.read(["X"]).get_column(S.DATE).to_list() == [day(n) for n in range(2 * count)]
    assert store.coverage("X") == (day(0), day(2 * count - 1))


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_file_is_reported_with_its_name(store, damage):
    store.upsert("X", prices(list(range(50))), (day(0), day(49)), "yfinance")
    store.upsert("Y", prices([1]), (day(1), day(1)), "yfinance")
    path = store.path("X")
    data = path.read_bytes()
    path.write_bytes(b"garbage" if damage == "garbage" else data[: len(data) // 2])
    for call in (
        lambda: store.read(["Y", "X"]), lambda: store.coverage("X"), store.tickers,
        lambda: store.upsert("X", prices([60]), (day(60), day(60)), "yfinance"),
    ):
        with pytest.raises(DataUnavailableError, match=r"X\.parquet.*re-import.*delete the file"):
            call()
    assert store.read(["Y"]).height == 1


def test_shares(store):
    first = pl.DataFrame({
        S.TICKER: ["AMZN", "AMZN", "MSFT"], S.AS_OF_DATE: [day(0), day(30), day(0)], S.SHARES: [10, 11, 20],
    })
    store.upsert_shares(first, "import:a.csv")
    store.upsert_shares(first.filter(pl.col(S.TICKER) == "MSFT").with_columns(pl.lit(21).alias(S.SHARES)), "import:b.csv")
    assert store.read_shares(["MSFT", "NOPE"]).rows() == [("MSFT", day(0), 21, "import:b.csv")]
    assert store.read_shares(["AMZN"]).get_column(S.SHARES).to_list() == [10, 11]
    store.shares_path.write_bytes(b"junk")
    with pytest.raises(DataUnavailableError, match=r"shares\.parquet"):
        store.read_shares(["AMZN"])


def test_a_file_copied_under_another_ticker_is_refused(tmp_path):
    """AMZN's prices copied as META's file were used as META's."""
    import shutil

    from analysis.errors import DataUnavailableError

    store = PriceStore(tmp_path)
    store.upsert("AMZN", pl.DataFrame({"date": [date(2025, 1, 2)], "close": [220.0]}), (date(2025, 1, 2), date(2025, 1, 2)), "test")
    shutil.copy(store.path("AMZN"), store.path("META"))
    for read in (lambda: store.read(["META"]), lambda: store.coverage("META")):
        with pytest.raises(DataUnavailableError, match=r"holds the prices of AMZN, not META \(copied or renamed\?\)"):
            read()
    assert store.read(["AMZN"])["close"].to_list() == [220.0]


def test_a_history_keeps_one_adj_close_basis(store):
    """A Yahoo top-up (adj_close dividend-adjusted) after an import without adj_close put
    adjusted closes beside raw ones: the return where they met was off, and no event said so."""
    from flows.io.prices import FetchBatch, store_download

    store.upsert("A", prices([0, 1]).with_columns(pl.col(S.CLOSE).alias(S.ADJ_CLOSE)), (day(0), day(1)), "import:A.csv",
                 close_only=True)
    fetched = prices([2, 3]).with_columns((pl.col(S.CLOSE) * 0.99).alias(S.ADJ_CLOSE), pl.lit("A").alias(S.TICKER))
    store_download(store, FetchBatch(("A",), day(2), day(3)), fetched)
    rows = store.read(["A"])
    assert rows[S.ADJ_CLOSE].to_list() == rows[S.CLOSE].to_list() and store.close_only("A")
    # a file that replaces every stored row gives the history its own basis
    store.upsert("A", prices([0, 1, 2, 3]).with_columns((pl.col(S.CLOSE) * 0.99).alias(S.ADJ_CLOSE)),
                 (day(0), day(3)), "import:B.csv")
    assert store.close_only("A") is False and store.read(["A"])[S.ADJ_CLOSE][0] == pytest.approx(0.99)


def test_the_basis_of_a_file_written_before_it_was_recorded(store):
    frame = prices([0, 1]).with_columns(pl.col(S.CLOSE).alias(S.ADJ_CLOSE))
    for ticker, source, adj, close_only in [
        ("A", "import:A.csv", 1.0, True), ("B", "yfinance", 1.0, False), ("C", "import:C.csv", 0.99, False),
    ]:
        store.upsert(ticker, frame.with_columns(pl.col(S.ADJ_CLOSE) * adj), (day(0), day(1)), source)
        table, kv = pq.read_table(store.path(ticker)), pq.read_metadata(store.path(ticker)).metadata
        meta = {k: v for k, v in kv.items() if k not in (b"adj_close", b"ARROW:schema")}
        pq.write_table(table.replace_schema_metadata(meta), store.path(ticker))
        assert store.close_only(ticker) is close_only, ticker
