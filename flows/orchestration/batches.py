"""A study in event batches, on threads or on a Dask cluster, with or without Prefect.

The engine runs in three steps (:mod:`analysis.engine`): a plan of all event rows, the
per-event numbers of each contiguous batch of rows (:func:`analysis.engine.event_batch`),
and the group statistics on the combined batches (:func:`analysis.engine.combine_batches`).
:func:`study_in_batches` maps the middle step (:func:`study_batch`) over the batches with the
``map_batches`` it is given:

- locally (:func:`local_batches`): ``threads`` are two threads in this process; ``dask`` is
  a ``distributed`` client of the scheduler at ``dask_address``, or of a LocalCluster of two
  worker processes;
- tracked (:mod:`flows.orchestration.tracked`): the same steps as ``event-batch`` tasks of the Prefect
  subflow ``study-batches``, on a ``ThreadPoolTaskRunner`` or prefect-dask's ``DaskTaskRunner``.

On threads the prices are read from the store and laid out once, and every batch gets them
in memory. On Dask each batch reads its own tickers from the price store (the workers must see
the store's folder), over the same date span as the whole study, so every ticker's prices,
data checks and numbers are those of a single-process run.

Nothing in a batch depends on another batch, and the group statistics run once on the
combined rows, so every runner gives exactly the frames of :func:`analysis.engine.run_study`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from analysis import schema as S
from analysis.engine import (
    AHEAD, EventBatch, PreparedPrices, StudyPlan, StudyResult, combine_batches, event_batch, in_order,
    plan_study, prepare_prices,
)
from analysis.quality import merge_findings
from analysis.specs import StudySpec
from flows.io.calendars import exchange_calendar
from flows import progress
from flows.params import TaskRunnerName
from flows.io.prices import StudyData, read_study_prices
from flows.io.spill import FrameSpill
from flows.io.store import PriceStore

THREADS = 2  # batch tasks at once in one process (the engine's NumPy and polars work releases the GIL)
DASK_LOCAL_CLUSTER = {"n_workers": 2, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
"""The local Dask cluster when no scheduler address is given: two worker processes of one thread."""

BatchMap = Callable[..., Iterable[Any]]
"""``map_batches(step, batches, **shared)``: ``step(batch, **shared)`` of each batch, run
concurrently, the results in the order of ``batches`` (an iterable consumed once)."""


def study_batch(
    rows: pl.DataFrame, plan: StudyPlan, prices: PreparedPrices | None, shares: pl.DataFrame | None,
    store_root: str, needs: pl.DataFrame, factors: dict[str, pl.DataFrame],
) -> tuple[EventBatch, pl.DataFrame, list[str]]:
    """The per-event numbers of one batch of event rows, the data-check findings and the
    tickers with prices. Without ``prices``, the batch's tickers are read from the store at
    ``store_root`` over the span of ``needs`` (what a Dask worker does)."""
    cal = exchange_calendar(plan.spec.calendar)
    if prices is None:
        mine = set(rows[S.TICKER].to_list()) | set(rows[S.BENCHMARK].to_list())
        raw, shares = read_study_prices(PriceStore(Path(store_root)), needs, mine)
        prices = prepare_prices(raw, plan.spec, cal, factors)
    batch = event_batch(plan, rows, prices, cal, shares)
    return batch, prices.findings, prices.grid.tickers[S.TICKER].to_list()


def study_in_batches(
    events: pl.DataFrame, spec: StudySpec, store_root: str, needs: pl.DataFrame, factors: dict[str, pl.DataFrame],
    context: pl.DataFrame | None = None, in_memory: bool = True, spill: str | None = None, *, map_batches: BatchMap,
    given: StudyData | None = None,
) -> StudyResult:
    """The study of ``events`` (:func:`analysis.specs.events_frame`) on the prices in the store,
    batch by batch (module docstring).

    Parameters
    ----------
    needs
        ``ticker, start, end``: the prices the study reads
        (:func:`analysis.engine.price_requirements`).
    context
        Further catalog events that may confound these (:func:`analysis.engine.run_study`).
    in_memory
        Read and lay out the prices once here and hand them to the batches (threads); else
        each batch reads its own tickers (Dask workers).
    spill
        A folder: with more than one batch, each batch's abnormal-return rows are appended to
        ``<spill>/abnormal_returns.parquet`` as the batch is combined
        (:class:`flows.io.spill.FrameSpill`), and the result keeps their day-0 rows only
        (:func:`analysis.engine.combine_batches`), so memory does not grow with the event days.
    map_batches
        How the batches run (:data:`BatchMap`); its results are consumed one by one.
    given
        The prices and shares outstanding already read (:class:`flows.io.prices.StudyData`:
        one version of each store file, or the Python API's frames), taken from it once;
        with ``in_memory`` only.
    """
    cal = exchange_calendar(spec.calendar)
    plan = plan_study(events, spec, cal, context=context)
    batches = plan.batches()
    prices = shares = None
    if in_memory:
        raw, shares = given.take() if given is not None else read_study_prices(PriceStore(Path(store_root)), needs)
        prices = prepare_prices(raw, spec, cal, factors)
        del raw
    progress.say(f"{plan.rows.height} event row(s) in {len(batches)} batch(es) of at most {spec.batch_rows}")
    parts = map_batches(
        study_batch, batches, plan=plan, prices=prices, shares=shares, store_root=store_root, needs=needs, factors=factors,
    )
    quality = prices.findings if prices is not None else None
    del prices  # the laid-out prices are freed once the last batch is computed, before the group statistics
    known: set[str] = set()  # filled as the batches come in; read once they all have
    findings: list[pl.DataFrame] = []

    def computed() -> Iterator[EventBatch]:
        for batch, found, tickers in parts:
            known.update(tickers)
            findings.append(found)
            yield batch

    timings: list[tuple[str, float]] = []
    with FrameSpill(Path(spill)) if spill and len(batches) > 1 else nullcontext() as sink:
        result = combine_batches(plan, computed(), pl.DataFrame(), known, sink=sink and sink.append,
                                 on_stage=lambda name, seconds: timings.append((name, seconds)))
    progress.stages((f"engine, {name}", seconds) for name, seconds in timings)
    return dataclasses.replace(result, quality=quality if quality is not None else merge_findings(findings))


@contextmanager
def local_batches(task_runner: TaskRunnerName, dask_address: str | None = None) -> Iterator[BatchMap]:
    """A :data:`BatchMap` without Prefect: two threads here, or a Dask client of the
    scheduler at ``dask_address``, else of a LocalCluster of its own (shut down on exit)."""
    if task_runner == "threads":
        pool = ThreadPoolExecutor(THREADS, thread_name_prefix="event-batch")
        try:
            yield lambda step, batches, **shared: in_order(pool, partial(step, **shared), batches, AHEAD)
        finally:  # interrupted (Ctrl-C): the batches not started yet are dropped
            pool.shutdown(cancel_futures=True)
        return
    from distributed import Client

    local = {} if dask_address else {**DASK_LOCAL_CLUSTER, "silence_logs": logging.ERROR}
    with Client(dask_address, **local) as client:  # without an address, the client's own LocalCluster (closed with it)
        yield lambda step, batches, **shared: (f.result() for f in client.map(step, batches, **shared, pure=False))
