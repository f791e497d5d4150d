"""Tracked runs: the Prefect flows ``event-study``, ``refresh-catalog``, ``watch-events`` and the
subflow ``study-batches``, thin wrappers that run the steps of :mod:`flows.orchestration.study`,
:mod:`flows.orchestration.refresh`, :mod:`flows.orchestration.watch` and
:mod:`flows.orchestration.batches` as Prefect tasks (``watch-events`` emits its Prefect events
through :meth:`Tracked.announce`).

The flows have the signatures and docstrings of :func:`flows.orchestration.study.event_study` and
:func:`flows.orchestration.refresh.refresh_catalog` (the deployments' parameters); they run those very
functions with the :class:`Tracked` runner, which calls each step as a task:

- frames move between tasks in memory, so tasks that take frames have no cache (hashing
  frames costs seconds and pickles them); the cached tasks are keyed on small inputs only:
  ``load-catalog`` on the catalog file's content hash and the event ids (a day),
  ``fetch-prices`` on the store, tickers and date range of the batch (12 hours), so a
  repeated run does not ask Yahoo twice for the same bars;
- Yahoo requests (``fetch-prices``, ``fetch-shares``) carry the tag ``yahoo``; the flow
  creates the tag concurrency limit ``yahoo`` (``$MARKET_REACTION_YAHOO_LIMIT``, default 2
  concurrent task runs) on the Prefect server when it does not exist yet (an operator's own
  setting wins: ``prefect concurrency-limit create yahoo 4``). The batches are downloaded
  concurrently; a failure that may pass is retried inside the task by the adapter's bounded
  loop (:func:`flows.io.prices.download`), an absent network is not retried. A download that
  failed ends ``Completed`` with the reason as its state message and one WARNING line (no
  traceback); a batch that got nothing because Yahoo was unreachable is not cached (its
  transaction writes no record), so the next run asks again;
- the report's events, briefs and links are published as Prefect artifacts, and the run's
  skipped and flagged events as WARNING lines and a warnings artifact;
- the progress lines go to the flow run's logger too (:func:`flows.progress.logging_to`);
- the flow run ends ``Completed`` with a message counting the events (``8 events: 5 ok,
  1 flagged, 2 skipped (no prices: ORCL, AMD)``), or ``Failed`` with the reason, without a
  traceback, when the run stops on a :class:`analysis.errors.MarketReactionError` (bad input,
  no data: nothing could be computed); any other exception fails it as Prefect does.

Only tracked runs import this module (``run``/``demo`` with a Prefect API or ``--prefect``,
``serve``, the deployments): a local run (:class:`flows.orchestration.study.Local`) never imports Prefect.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.context import FlowRunContext
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.hashing import hash_objects

from analysis.engine import StudyResult
from analysis.errors import MarketReactionError
from analysis.specs import EventSpec, StudySpec
from flows import progress
from flows.orchestration import batches, refresh, study, watch
from flows.orchestration.artifacts import publish_artifacts, publish_warnings
from flows.orchestration.outcome import run_outcome
from flows.orchestration.batches import DASK_LOCAL_CLUSTER, THREADS
from flows.orchestration.forms import refresh_run_name, run_form_docstring, study_run_name, task_run_name, watch_run_name
from flows.reporting.flagship import publish_brief_artifacts
from flows.params import TaskRunnerName
from flows.io.prices import FetchBatch, StudyData
from flows.reporting.publish import file_sha256
from flows.reporting.answers import answer_sentences

YAHOO_TAG = "yahoo"


def _catalog_key(_context, parameters: dict[str, Any]) -> str | None:
    path = Path(parameters["catalog"])
    if not path.is_file():
        return None
    layout = [f.name for f in dataclasses.fields(EventSpec)]  # a cached result must unpickle into today's EventSpec
    return hash_objects("load-catalog", study.code_version(), layout, str(path.resolve()), file_sha256(path),
                        parameters.get("event_ids"))


def _fetch_key(_context, parameters: dict[str, Any]) -> str:
    b: FetchBatch = parameters["batch"]
    return hash_objects("fetch-prices", study.code_version(), parameters["store_root"], b.tickers, str(b.start), str(b.end))


def _fetch(store_root: str, batch: FetchBatch):
    """:func:`flows.orchestration.study.fetch_batch`; what failed is said in one WARNING line and
    the task run's state message, not as an exception (a traceback). When nothing came back
    because Yahoo could not be reached, the task's transaction writes no cache record, so the
    next run asks Yahoo again."""
    from prefect.transactions import get_transaction

    fetched = study.fetch_batch(store_root, batch)
    if not fetched.failures:
        return fetched
    reasons = list(fetched.failures.values())
    if fetched.prices.is_empty() and all("unreachable" in r for r in reasons):
        txn = get_transaction()
        if txn is not None:
            txn.write_on_commit = False
    said = "; ".join(progress.grouped_notes([f"{t}: {why}" for t, why in fetched.failures.items()]))
    get_run_logger().warning("not fetched: %s", said)
    return Completed(message=f"{len(reasons)} of {len(batch.tickers)} ticker(s) not fetched: {said}", data=fetched)


@task(name="ensure-yahoo-limit", cache_policy=NO_CACHE)
def ensure_yahoo_limit() -> int:
    """Create the tag concurrency limit ``yahoo`` unless it exists; return its value."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            return client.read_concurrency_limit_by_tag(YAHOO_TAG).concurrency_limit
        except ObjectNotFound:
            limit = int(os.environ.get("MARKET_REACTION_YAHOO_LIMIT", "2"))
            client.create_concurrency_limit(tag=YAHOO_TAG, concurrency_limit=limit)
            return limit


fetch_prices = task(name="fetch-prices", tags=[YAHOO_TAG], cache_key_fn=_fetch_key,
                    cache_expiration=timedelta(hours=12), task_run_name=task_run_name("fetch-prices"))(_fetch)


@task(name="publish-artifacts", cache_policy=NO_CACHE, task_run_name=task_run_name("publish-artifacts"))
def artifacts(result: StudyResult, reports: dict[str, str], root: str, partial: frozenset[str]) -> list[str]:
    """Artifacts of the events in ``reports`` (event id -> its report folder) of the reports
    folder ``root`` (``partial``: groups the run covers only in part)."""
    sentences = [(a.event_id, a.ticker, a.sentence) for a in answer_sentences(result)]
    return publish_artifacts(result, {e: Path(r) for e, r in reports.items()}, sentences, Path(root), partial)


@task(name="publish-briefs", cache_policy=NO_CACHE, task_run_name=task_run_name("publish-briefs"))
def brief_artifacts(report: str, root: str, partial: frozenset[str]) -> list[str]:
    """The markdown artifact ``<group>-brief`` of every brief the report at ``report`` lists
    (no key for the groups in ``partial``)."""
    manifest = json.loads((Path(report) / "manifest.json").read_text(encoding="utf-8"))
    return publish_brief_artifacts(manifest.get("briefs", []), Path(report), Path(root), partial)


def _no_cache(name: str, step: Callable[..., Any], **options: Any):
    return task(name=name, cache_policy=NO_CACHE, task_run_name=task_run_name(name), **options)(step)


TASKS = {
    study.load_events: task(name="load-catalog", cache_key_fn=_catalog_key, cache_expiration=timedelta(days=1),
                            task_run_name=task_run_name("load-catalog"))(study.load_events),
    study.load_factors: _no_cache("load-factors", study.load_factors),
    study.load_discovered: _no_cache("load-discovered-filings", study.load_discovered),
    study.plan_prices: _no_cache("plan-prices", study.plan_prices),
    study.store_batch: _no_cache("store-prices", study.store_batch),
    study.fetch_shares: _no_cache("fetch-shares", study.fetch_shares, tags=[YAHOO_TAG]),
    study.load_data: _no_cache("load-data", study.load_data),
    study.publish_report: _no_cache("write-report", study.publish_report),
    study.update_index: _no_cache("update-index", study.update_index),
    refresh.fingerprint_events: _no_cache("fingerprint-events", refresh.fingerprint_events),
    refresh.changed_events: _no_cache("find-changed-events", refresh.changed_events),
    refresh.write_event_reports: _no_cache("write-event-reports", refresh.write_event_reports),
    batches.study_batch: _no_cache("event-batch", batches.study_batch),
}
"""Each step as its task."""


def make_task_runner(name: TaskRunnerName, dask_address: str | None = None) -> TaskRunner:
    """The task runner of the batch tasks: two threads, or Dask (the cluster at
    ``dask_address``, e.g. ``tcp://10.0.0.5:8786``, else a LocalCluster of two worker
    processes with one thread each)."""
    if name == "threads":
        return ThreadPoolTaskRunner(max_workers=THREADS)
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_kwargs=DASK_LOCAL_CLUSTER)


def _task_map(step: Callable[..., Any], items: Iterable[Any], **shared: Any) -> Iterator[Any]:
    """:data:`flows.orchestration.batches.BatchMap` of the step's tasks on the flow's task runner,
    submitted as the results are consumed (:func:`flows.orchestration.batches.submit_in_order`)."""
    client = getattr(FlowRunContext.get().task_runner, "client", None)  # DaskTaskRunner's
    return batches.submit_in_order(functools.partial(TASKS[step].submit, **shared), items, client)


@flow(name="study-batches", validate_parameters=False)
def study_batches(
    events: pl.DataFrame, spec: StudySpec, data: StudyData, factors: dict[str, pl.DataFrame],
    context: pl.DataFrame | None = None, remote: bool = False, spill: str | None = None,
) -> StudyResult:
    """:func:`flows.orchestration.batches.study_in_batches` with each batch an ``event-batch`` task; run it
    with ``.with_options(task_runner=make_task_runner(...))``."""
    return batches.study_in_batches(events, spec, data, factors, context, remote, spill, map_batches=_task_map)


class Tracked(study.Local):
    """Runs the steps of a study as Prefect tasks inside a flow run (module docstring);
    ``message`` is the final state's message, once the study has said its outcome."""

    def __init__(self) -> None:
        self.message: str | None = None

    def __call__(self, step, /, *args, **kwargs):
        return TASKS[step](*args, **kwargs)

    def fetch(self, store_root: str, downloads: tuple[FetchBatch, ...], refetch: bool) -> list:
        """The downloads run concurrently, throttled by the tag limit ``yahoo``."""
        if not downloads:
            return []
        ensure_yahoo_limit()
        fetch = fetch_prices.with_options(refresh_cache=True) if refetch else fetch_prices
        return [fut.result() for fut in [fetch.submit(store_root, b) for b in downloads]]

    def study_batches(self, task_runner, dask_address, *args, **kwargs) -> StudyResult:
        return study_batches.with_options(task_runner=make_task_runner(task_runner, dask_address))(*args, **kwargs)

    def artifacts(self, result: StudyResult, reports: dict[str, str], root: str, partial: frozenset[str]) -> None:
        artifacts(result, reports, root, partial)

    def brief_artifacts(self, report: str, root: str, partial: frozenset[str]) -> None:
        brief_artifacts(report, root, partial)

    def outcome(self, result: StudyResult | None, notes: list[str], summary: str = "") -> None:
        """A WARNING line per skipped or flagged event and per note on the data, the warnings
        artifact, and the final state's message (the counts, then ``summary``)."""
        said = run_outcome(result, progress.grouped_notes(notes))
        self.message = "; ".join(m for m in (said.message(), summary) if m) or None
        lines, logger = said.warnings(), get_run_logger()
        for line in lines:
            logger.warning("%s", line)
        if lines:
            publish_warnings(said.markdown())

    def log(self, message: str) -> None:
        get_run_logger().info("%s", message)

    def announce(self, event: str, resource: dict[str, str], payload: dict[str, Any]) -> bool:
        """Emit the Prefect event (sent by the process's events worker, flushed when the flow
        run ends)."""
        from prefect.events import emit_event

        emit_event(event=event, resource=resource, payload=payload)
        get_run_logger().info("emitted %s for %s", event, resource["prefect.resource.id"])
        return True

    def deployment_name(self) -> str | None:
        from prefect.runtime import deployment

        return deployment.name

    def flow_run(self) -> dict[str, str | None] | None:
        from prefect.context import FlowRunContext

        ctx = FlowRunContext.get()
        if ctx is None or ctx.flow_run is None:
            return None
        run = ctx.flow_run
        return {"id": str(run.id), "name": run.name, "flow": ctx.flow.name,
                "deployment_id": str(run.deployment_id) if run.deployment_id else None}


def _tracked(body: Callable[..., Any], said: Callable[[Any], str | None] | None = None) -> Callable[..., Any]:
    """``body`` with its steps run by :class:`Tracked` and its progress lines in the flow run's
    logs (same signature; its docstring in the style Prefect reads, for the run form:
    :func:`flows.orchestration.forms.run_form_docstring`); it returns the final state:
    ``Completed`` with the outcome (or ``said(value)``) as its message and ``body``'s value as its data, or ``Failed``
    with the reason of a :class:`analysis.errors.MarketReactionError` (logged as one ERROR line;
    the caller of the flow gets the exception back, as from ``body``)."""

    @functools.wraps(body)
    def run_tracked(*args: Any, **kwargs: Any) -> Any:
        tracked, logger = Tracked(), get_run_logger()
        with study.running(tracked), progress.logging_to(logger):
            try:
                value = body(*args, **kwargs)
            except MarketReactionError as e:
                logger.error("%s", e)
                return Failed(message=str(e), data=e)
        return Completed(message=said(value) if said else tracked.message, data=value)

    run_tracked.__signature__ = inspect.signature(body, eval_str=True)  # types resolved where written (Prefect validates)
    run_tracked.__doc__ = run_form_docstring(body, {"event-study": study.event_study})
    run_tracked.__module__ = __name__  # a deployment's entrypoint is this module's flow, not the plain function
    return run_tracked


event_study = flow(name="event-study", flow_run_name=study_run_name)(_tracked(study.event_study))
refresh_catalog = flow(name="refresh-catalog", flow_run_name=refresh_run_name)(_tracked(refresh.refresh_catalog))
watch_events = flow(name="watch-events", flow_run_name=watch_run_name)(_tracked(watch.watch_events, lambda w: w.message))
