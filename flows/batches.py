"""A study in event batches, each a Prefect task, on threads or on a Dask cluster.

The engine runs in three steps (:mod:`analysis.engine`): a plan of all event rows, the
per-event numbers of each contiguous batch of rows (:func:`analysis.engine.event_batch`),
and the group statistics on the combined batches (:func:`analysis.engine.combine_batches`).
The subflow ``study-batches`` maps the middle step over the batches as ``event-batch`` tasks:

- ``threads`` (default): two threads in the flow's process; the prices are read from the
  store and laid out once, and every batch task gets them in memory.
- ``dask``: the tasks run on a Dask cluster through prefect-dask's ``DaskTaskRunner`` — the
  scheduler at ``dask_address``, or a LocalCluster of two worker processes. Each task reads
  its batch's tickers from the price store (the workers must see the store's folder), over
  the same date span as the whole study, so every ticker's prices, data checks and numbers
  are those of a single-process run.

Nothing in a batch depends on another batch, and the group statistics run once on the
combined rows, so both runners give exactly the frames of :func:`analysis.engine.run_study`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import polars as pl
from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from analysis import schema as S
from analysis.calendar import exchange_calendar
from analysis.engine import (
    BATCH_ROWS, EventBatch, PreparedPrices, StudyPlan, StudyResult, combine_batches, event_batch, plan_study, prepare_prices,
)
from analysis.quality import merge_findings
from analysis.regression import PooledCov
from analysis.specs import StudySpec
from flows import progress
from flows.prices import read_study_prices
from flows.store import PriceStore

TaskRunnerName = Literal["threads", "dask"]
TASK_RUNNERS: tuple[TaskRunnerName, ...] = ("threads", "dask")
THREADS = 2  # batch tasks at once in one process (the engine's NumPy and polars work releases the GIL)


def make_task_runner(name: TaskRunnerName, dask_address: str | None = None) -> TaskRunner:
    """The task runner of the batch tasks: two threads, or Dask (the cluster at
    ``dask_address``, e.g. ``tcp://10.0.0.5:8786``, else a LocalCluster of two worker
    processes with one thread each)."""
    if name == "threads":
        return ThreadPoolTaskRunner(max_workers=THREADS)
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_kwargs={
        "n_workers": 2, "threads_per_worker": 1, "processes": True, "dashboard_address": None,
    })


@task(name="event-batch", cache_policy=NO_CACHE)
def study_batch(
    plan: StudyPlan, rows: pl.DataFrame, prices: PreparedPrices | None, shares: pl.DataFrame | None,
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


@flow(name="study-batches", validate_parameters=False)
def study_batches(
    events: pl.DataFrame, spec: StudySpec, store_root: str, needs: pl.DataFrame, factors: dict[str, pl.DataFrame],
    regressors: list[str] | None = None, pooled_cov: PooledCov = "cluster", context: pl.DataFrame | None = None,
    in_memory: bool = True, batch_rows: int = BATCH_ROWS,
) -> StudyResult:
    """The study of ``events`` (:func:`analysis.specs.events_frame`) on the prices in the store,
    batch by batch (module docstring); run it with ``.with_options(task_runner=...)``.

    Parameters
    ----------
    needs
        ``ticker, start, end``: the prices the study reads
        (:func:`analysis.engine.price_requirements`).
    context
        Further catalog events that may confound these (:func:`analysis.engine.run_study`).
    in_memory
        Read and lay out the prices once here and hand them to the tasks (threads); else each
        task reads its own tickers (Dask workers).
    batch_rows
        Event rows per batch task.
    """
    cal = exchange_calendar(spec.calendar)
    plan = plan_study(events, spec, cal, regressors=regressors, pooled_cov=pooled_cov, context=context)
    batches = plan.batches(batch_rows)
    prices = shares = None
    if in_memory:
        raw, shares = read_study_prices(PriceStore(Path(store_root)), needs)
        prices = prepare_prices(raw, spec, cal, factors)
    progress.say(f"{plan.rows.height} event row(s) in {len(batches)} batch(es) of at most {batch_rows}")
    parts = study_batch.map(
        unmapped(plan), batches, unmapped(prices), unmapped(shares), unmapped(store_root), unmapped(needs),
        unmapped(factors),
    ).result()
    known = sorted({t for _, _, tickers in parts for t in tickers})
    findings = prices.findings if prices is not None else merge_findings([f for _, f, _ in parts])
    return combine_batches(plan, [b for b, _, _ in parts], findings, known)
