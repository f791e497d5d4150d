"""Dask workers need no price store (issues 12 and 13). The run reads each store file once in
its own process and every batch carries the prices of its tickers, so a cluster whose workers
cannot see the store (separate processes on 127.0.0.1: one started in an empty folder with an
empty ``MARKET_REACTION_HOME``; the store itself moved away once the run has read it) computes
every event, with the numbers of a threads run, and the manifest names the version read.
Before, each worker read its batch's tickers from the store: a worker without it skipped its
batches' events (exit 0, 1,000 of 5,000 events skipped), and here, with no store left at all,
the run ended "no event could be analysed"."""

from __future__ import annotations

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis import schema as S
from analysis.calendar import exchange_calendar
from analysis.engine import STATUS
from flows.cli.main import main
from flows.devtools.floor import SyntheticSpec, bench_events, bench_prices, catalog_csv
from flows.io.store import PriceStore
from flows.orchestration import study

MARKET = SyntheticSpec(tickers=12, sessions=420, events=60, seed=11)


@pytest.mark.dask
def test_a_cluster_whose_workers_see_no_store_computes_every_event(mr_home, tmp_path, dask_cluster, monkeypatch):
    cal = exchange_calendar()
    store = PriceStore(mr_home)
    for (ticker,), rows in bench_prices(MARKET, cal).group_by(S.TICKER, maintain_order=True):
        store.upsert(ticker, rows.drop(S.TICKER), (rows[S.DATE].min(), rows[S.DATE].max()), "test")
    catalog = tmp_path / "events.csv"
    catalog.write_text(catalog_csv(bench_events(MARKET, cal)))
    run = ["run", "--catalog", str(catalog), "--source", "store", "--batch-rows", "8"]  # 8 batches
    threads, dask = tmp_path / "threads", tmp_path / "dask"
    assert main([*run, "--out", str(threads)]) == 0

    analyze = study.analyze

    def store_gone(*args, **kwargs):  # after the run has read the store, before the batches run
        mr_home.rename(tmp_path / "moved-away")
        return analyze(*args, **kwargs)

    monkeypatch.setattr(study, "analyze", store_gone)
    empty = tmp_path / "empty-home"
    empty.mkdir()
    with dask_cluster([None, empty]) as address:  # the first worker inherits the moved store's path
        assert main([*run, "--out", str(dask), "--task-runner", "dask", "--dask-address", address]) == 0
    assert not mr_home.exists()

    events = pl.read_parquet(dask / "events.parquet")
    assert events.height == MARKET.events
    assert (events[STATUS] != "skipped").all(), events.filter(pl.col(STATUS) == "skipped")
    for path in sorted(threads.glob("*.parquet")):
        assert_frame_equal(pl.read_parquet(dask / path.name), pl.read_parquet(path), check_exact=True)
    want, got = (json.loads((out / "manifest.json").read_text())["data"] for out in (threads, dask))
    assert got == want and all(entry["sha256"] for entry in got.values())
