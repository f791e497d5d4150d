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

The flow process reads the prices once, on either runner: one version of every store file
(:func:`flows.io.prices.read_study_data`, or the Python API's frames), laid out once
(:func:`analysis.engine.prepare_prices`). On threads every batch reads them in memory. On
Dask each batch carries its part of the plan and the laid-out prices, data-check findings and
shares outstanding of its own tickers and benchmarks (:func:`own_batch`), and the calendar:
a worker reads no file, so it needs no price store, no ``MARKET_REACTION_HOME`` and no shared
disk, only the same market-reaction version, and every batch reads the same version of each
file, the one the manifest's sha256 names. A ticker's numbers do not depend on which other
tickers a batch holds (:meth:`analysis.returns.SessionGrid.only`). The batches are made and
submitted as the results are combined (:func:`submit_in_order`), so the flow process holds a
bounded number of them.

Nothing in a batch depends on another batch, and the group statistics run once on the
combined rows, so every runner gives exactly the frames of :func:`analysis.engine.run_study`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from analysis import schema as S
from analysis.engine import (
    AHEAD, EventBatch, PreparedPrices, StudyPlan, StudyResult, combine_batches, event_batch, in_order,
    plan_study, prepare_prices,
)
from analysis.calendar import SessionCalendar
from analysis.specs import StudySpec
from flows.io.calendars import exchange_calendar
from flows import progress
from flows.params import TaskRunnerName
from flows.io.prices import StudyData
from flows.io.spill import FrameSpill

THREADS = 2  # batch tasks at once in one process (the engine's NumPy and polars work releases the GIL)
DASK_LOCAL_CLUSTER = {"n_workers": 2, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
"""The local Dask cluster when no scheduler address is given: two worker processes of one thread."""

BatchMap = Callable[..., Iterable[Any]]
"""``map_batches(step, batches, **shared)``: ``step(batch, **shared)`` of each batch, run
concurrently, the results in the order of ``batches`` (an iterable consumed once)."""


@dataclass(frozen=True, eq=False)
class Batch:
    """One batch of event rows with the plan, laid-out prices and shares outstanding it reads."""

    rows: pl.DataFrame
    plan: StudyPlan
    prices: PreparedPrices
    shares: pl.DataFrame


def own_batch(rows: pl.DataFrame, plan: StudyPlan, prices: PreparedPrices, shares: pl.DataFrame) -> Batch:
    """``rows`` with their part of the plan (:meth:`analysis.engine.StudyPlan.part`) and the
    prices, findings and shares outstanding of their tickers and benchmarks only
    (:meth:`analysis.engine.PreparedPrices.only`): what a Dask task carries to its worker."""
    tickers = pl.concat([rows[S.TICKER], rows[S.BENCHMARK]]).unique()
    return Batch(rows, plan.part(rows), prices.only(tickers), shares.filter(pl.col(S.TICKER).is_in(tickers.implode())))


def study_batch(batch: Batch, cal: SessionCalendar) -> EventBatch:
    """The per-event numbers of one batch of event rows (:func:`analysis.engine.event_batch`)."""
    return event_batch(batch.plan, batch.rows, batch.prices, cal, batch.shares)


def study_in_batches(
    events: pl.DataFrame, spec: StudySpec, data: StudyData, factors: dict[str, pl.DataFrame],
    context: pl.DataFrame | None = None, remote: bool = False, spill: str | None = None, *, map_batches: BatchMap,
) -> StudyResult:
    """The study of ``events`` (:func:`analysis.specs.events_frame`) on the prices and shares
    outstanding of ``data``, batch by batch (module docstring).

    Parameters
    ----------
    data
        The prices and shares outstanding read once (:class:`flows.io.prices.StudyData`: one
        version of each store file, or the Python API's frames), taken from it
        (:meth:`flows.io.prices.StudyData.take`) so the raw prices are freed once laid out.
    factors
        The factor sets of the study's model (:func:`analysis.engine.prepare_prices`).
    context
        Further catalog events that may confound these (:func:`analysis.engine.run_study`).
    remote
        The batches run in other processes (Dask): each carries only its own tickers'
        prices and shares (:func:`own_batch`); else every batch shares them all.
    spill
        A folder: with more than one batch, each batch's abnormal-return rows are appended to
        ``<spill>/abnormal_returns.parquet`` as the batch is combined
        (:class:`flows.io.spill.FrameSpill`), and the result keeps their day-0 rows only
        (:func:`analysis.engine.combine_batches`), so memory does not grow with the event days.
    map_batches
        How the batches run (:data:`BatchMap`); its results are consumed one by one.
    """
    cal = exchange_calendar(spec.calendar)
    plan = plan_study(events, spec, cal, context=context)
    raw, shares = data.take()
    prices = prepare_prices(raw, spec, cal, factors)
    del raw
    findings, known = prices.findings, prices.grid.tickers[S.TICKER]
    rows = plan.batches()
    progress.say(f"{plan.rows.height} event row(s) in {len(rows)} batch(es) of at most {spec.batch_rows}")
    parts = map_batches(study_batch, _batches(rows, plan, prices, shares, remote), cal=cal)
    del prices  # the laid-out prices are freed once the last batch has taken them, before the group statistics
    timings: list[tuple[str, float]] = []
    with FrameSpill(Path(spill)) if spill and len(rows) > 1 else nullcontext() as sink:
        result = combine_batches(plan, parts, findings, known, sink=sink and sink.append,
                                 on_stage=lambda name, seconds: timings.append((name, seconds)))
    progress.stages((f"engine, {name}", seconds) for name, seconds in timings)
    return result


def _batches(
    rows: list[pl.DataFrame], plan: StudyPlan, prices: PreparedPrices, shares: pl.DataFrame, remote: bool,
) -> Iterator[Batch]:
    """Each batch of ``rows`` with what it reads, made as the batch is handed out."""
    for part in rows:
        yield own_batch(part, plan, prices, shares) if remote else Batch(part, plan, prices, shares)


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
        yield lambda step, batches, **shared: submit_in_order(
            partial(client.submit, step, pure=False, **shared), batches, client)


def submit_in_order(submit: Callable[[Any], Any], items: Iterable[Any], client: Any = None) -> Iterator[Any]:
    """The result of the future ``submit(item)`` of every item, in order, each item submitted
    when at most :data:`analysis.engine.AHEAD` are waiting beyond the one being combined, or on
    a Dask cluster (``client``, a ``distributed.Client``) as many as it has worker threads, if
    more: every worker is busy and the flow process holds a bounded number of batches."""
    ahead = AHEAD if client is None else max(AHEAD, sum(client.nthreads().values()))
    return in_order(_Calls(), submit, items, ahead)


class _Calls:
    """:func:`analysis.engine.in_order`'s pool for functions that submit: ``submit(fn, item)`` is ``fn(item)``."""

    @staticmethod
    def submit(fn: Callable[[Any], Any], item: Any) -> Any:
        return fn(item)
