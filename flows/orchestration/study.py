"""The study of catalog events as plain steps, and how the steps are run.

``event_study`` reads the catalog, tops up the price store from Yahoo, runs the engine in event
batches, writes the report and updates the reports index. Each step is a plain function with
one side effect at most (read the catalog, download a batch from Yahoo, write the store, write
the report...); the arithmetic lives in ``analysis``. The body calls every step through the
*runner* of the current context (:func:`runner`):

:class:`Local` (the default)
    a plain call in this process: no Prefect import, no server. Event batches run on two
    threads or a ``distributed`` client (:func:`flows.orchestration.batches.local_batches`); a Yahoo
    download whose failure may pass is retried by the adapter's own bounded loop.
:class:`flows.orchestration.tracked.Tracked`
    the Prefect flow ``event-study`` of :mod:`flows.orchestration.tracked` runs this same function with
    each step as a Prefect task (cached where the inputs are small), the batches as the
    subflow ``study-batches``, and adds the Prefect artifacts.

Parameters are small JSON values (ids, paths, ISO windows) so the flow can be triggered from a
deployment with ``--param``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from analysis import schema as S
from analysis.calendar import align_events
from analysis.catalog import claims
from analysis.claims import catalog_claims, check_claims
from analysis.engine import ABNORMAL_RETURNS, StudyResult, price_requirements
from analysis.errors import DataUnavailableError
from analysis.options import BATCH_ROWS, ModelName, PooledCov, ReturnKind
from analysis.specs import EventSpec, StudySpec, events_frame
from flows.io.calendars import exchange_calendar
from flows import progress
from flows.io.atomic import scratch_folder
from flows.orchestration.batches import local_batches, study_in_batches
from flows.io.catalog import default_catalog_path, select_events
from flows.io.factors import coverage_notes, load_factor_sets
from flows.reporting.figures import OWN_PROCESS, warm_up
from flows.reporting.flagship import Brief, brief_files, displayed_events, group_briefs
from flows.reporting.index import write_index
from flows.params import (
    DEFAULT_ESTIMATION, DEFAULT_REPORTS, Source, StudyInputs, TaskRunnerName, chosen_inputs, read_catalog, study_spec,
)
from flows.io.prices import (
    FetchBatch, PricePlan, StudyData, download, ensure_shares, plan_fetches, read_study_data, store_download,
)
from flows.reporting.publish import Pages, engine_digest, file_sha256, package_version, write_report
from flows.settings import home
from flows.io.store import FactorStore, PriceStore
from flows.reporting.answers import headline
from flows.reporting.tables import MAX_EVENT_ROWS

T = TypeVar("T")
IMPORT_HINT = "market-reaction prices import"


class Local:
    """Runs the steps of a study as plain calls in this process (no Prefect, no server)."""

    def __call__(self, step: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run one step."""
        return step(*args, **kwargs)

    def fetch(self, store_root: str, downloads: tuple[FetchBatch, ...], refetch: bool) -> list:
        """Run every download (:func:`fetch_batch`), one after the other; ``refetch``: ignore
        cached answers (there are none here)."""
        return [fetch_batch(store_root, b) for b in downloads]

    def study_batches(self, task_runner: TaskRunnerName, dask_address: str | None, *args: Any, **kwargs: Any) -> StudyResult:
        """:func:`flows.orchestration.batches.study_in_batches` on ``task_runner``."""
        with local_batches(task_runner, dask_address) as map_batches:
            return study_in_batches(*args, map_batches=map_batches, **kwargs)

    def artifacts(self, result: StudyResult, reports: dict[str, str], root: str, partial: frozenset[str]) -> None:
        """Publish the artifacts of the events in ``reports`` (event id -> report folder) of the
        reports folder ``root``; ``partial``: the groups the run covers only in part (their
        artifacts keep the whole group's). A tracked run only."""

    def brief_artifacts(self, report: str, root: str, partial: frozenset[str]) -> None:
        """Publish the briefs the report in the folder ``report`` lists (as for
        :meth:`artifacts`): a tracked run only."""

    def outcome(self, result: StudyResult | None, notes: list[str], summary: str = "") -> None:
        """Say what the run computed, flagged and skipped (``result``; None: nothing studied),
        the ``notes`` on its data and a ``summary`` of its own: a tracked run only (the
        command line prints the manifest's warnings)."""

    def log(self, message: str) -> None:
        """Log to the flow run: a tracked run only (progress lines say it locally)."""

    def announce(self, event: str, resource: dict[str, str], payload: dict[str, Any]) -> bool:
        """Emit the Prefect event ``event`` about ``resource`` (:mod:`flows.orchestration.watch`):
        a tracked run only; returns whether it was sent."""
        return False

    def deployment_name(self) -> str | None:
        """The name of the deployment whose flow run this is: a tracked run only."""
        return None

    def flow_run(self) -> dict[str, str | None] | None:
        """The flow run (``id``, ``name``, ``flow``, ``deployment_id``) a tracked run records in its
        manifests; None here."""
        return None


_RUNNER: ContextVar[Local] = ContextVar("market_reaction_runner", default=Local())


def runner() -> Local:
    """The runner of the steps in the current context (:class:`Local` unless :func:`running` says otherwise)."""
    return _RUNNER.get()


@contextmanager
def running(run: Local) -> Iterator[None]:
    """Run the steps of the block with ``run``."""
    token = _RUNNER.set(run)
    try:
        yield
    finally:
        _RUNNER.reset(token)


def default_out(events: tuple[EventSpec, ...], now: datetime, reports: Path) -> Path:
    """``<reports>/<UTC time>-<first event id>[-and-N-more]``."""
    name = events[0].id + (f"-and-{len(events) - 1}-more" if len(events) > 1 else "")
    return reports / f"{now:%Y%m%d-%H%M%S}-{name}"


def code_version() -> dict[str, str]:
    """The code that computes the numbers, as a refresh fingerprint and the tracked runs' cache
    keys see it: the market-reaction version and the sha256 of the ``analysis`` sources
    (:func:`flows.reporting.publish.engine_digest`), so an edit of the engine recomputes."""
    return {"version": package_version("market-reaction"), "analysis": engine_digest()}


def load_events(catalog: str, event_ids: list[str] | None) -> tuple[EventSpec, ...]:
    events = select_events(read_catalog(catalog), event_ids or [])
    progress.say(f"{len(events)} event(s) from {catalog}")
    return events


def load_factors(store_root: str, spec: StudySpec) -> dict[str, pl.DataFrame]:
    """The stored factor sets the model reads (none for market, constant-mean, market-adjusted)."""
    sets = load_factor_sets(FactorStore(Path(store_root)), spec)
    if sets:
        progress.say(f"factor sets: {', '.join(sets)}")
    return sets


def plan_prices(events: tuple[EventSpec, ...], spec: StudySpec, store_root: str, source: Source) -> PricePlan:
    cal = exchange_calendar(spec.calendar)
    needs = price_requirements(align_events(events_frame(events), cal), spec, cal)
    plan = plan_fetches(PriceStore(Path(store_root)), needs, source, cal, cal.last_closed(datetime.now(timezone.utc)))
    if plan.batches:
        n = sum(len(b.tickers) for b in plan.batches)
        progress.say(f"fetching {n} ticker range(s) from Yahoo in {len(plan.batches)} batch(es)")
    return plan


def fetch_batch(store_root: str, batch: FetchBatch):
    """One Yahoo download (its failures that may pass retried with backoff; ``store_root``
    keys the tracked run's cache)."""
    return download(batch)


def store_batch(store_root: str, batch: FetchBatch, prices: pl.DataFrame) -> list[str]:
    return store_download(PriceStore(Path(store_root)), batch, prices)


def fetch_shares(store_root: str, events: tuple[EventSpec, ...], source: Source) -> dict[str, str]:
    tickers = sorted({t for e in events for t in (*e.tickers, *e.related)})
    days = [e.announced if not isinstance(e.announced, datetime) else e.announced.date() for e in events]
    return ensure_shares(PriceStore(Path(store_root)), tickers, min(days), max(days), source)


def acquire_prices(events: tuple[EventSpec, ...], spec: StudySpec, root: str, source: Source) -> tuple[PricePlan, list[str]]:
    """Top up the store with what the events need (per ``source``); return the plan and notes
    on what could not be fetched. When the network is absent, no further Yahoo request is made
    (shares outstanding come from the store alone)."""
    run = runner()
    plan = run(plan_prices, events, spec, root, source)
    notes = list(plan.notes)
    offline = False
    for batch, fetched in zip(plan.batches, run.fetch(root, plan.batches, source == "yfinance")):
        if not fetched.prices.is_empty():
            run(store_batch, root, batch, fetched.prices)
        notes += [f"{t}: {why}" for t, why in fetched.failures.items()]
        offline = offline or fetched.offline
    shares = run(fetch_shares, root, events, "store" if offline else source)
    notes += [f"{t}: shares outstanding: {why}" for t, why in shares.items()]
    return plan, notes


def claim_tickers(events: tuple[EventSpec, ...]) -> list[str]:
    """The primary tickers of the events that carry claims (their whole history is read)."""
    return sorted({t for e in events if claims(e) for t in e.tickers})


def load_data(store_root: str, needs: pl.DataFrame, tickers: list[str]) -> StudyData:
    """The prices of ``needs`` with the whole history of ``tickers`` (for the claims), each
    store file read once (:func:`flows.io.prices.read_study_data`): the report's numbers, claims
    and manifest hashes come from the same version of every file."""
    return read_study_data(PriceStore(Path(store_root)), needs, tickers)


def load_discovered(root: str, events: tuple[EventSpec, ...], known: tuple[EventSpec, ...]) -> tuple[EventSpec, ...]:
    """The SEC filings ``events discover`` stored for the tickers of ``events`` (primary and
    related), less those among ``known`` (:func:`flows.io.edgar.discovered_events`: the store
    only, no network)."""
    from flows.io.edgar import discovered_events

    return discovered_events(root, [t for e in events for t in (*e.tickers, *e.related)], known)


def analyze(
    events: tuple[EventSpec, ...], spec: StudySpec, data: StudyData, factors: dict[str, pl.DataFrame],
    context: tuple[EventSpec, ...] = (), task_runner: TaskRunnerName = "threads", dask_address: str | None = None,
    spill: str | None = None, discovered: frozenset[str] = frozenset(),
) -> StudyResult:
    """Run the study on the prices and shares of ``data`` (:func:`load_data`, taken from it) in
    event batches on ``task_runner`` (``context``: further catalog events that may confound
    these, the ids ``discovered`` among them being SEC filings of ``events discover``; ``spill``:
    a folder the abnormal-return rows of a study of several batches are streamed to,
    :func:`flows.orchestration.batches.study_in_batches`) and check the events' claims against
    ``data.history``."""
    progress.say(f"analysing {len(events)} event(s): {spec.model} model, estimation {spec.estimation.label}"
                 + (f", batches on Dask ({dask_address or 'local cluster'})" if task_runner == "dask" else ""))
    others = events_frame(context).with_columns(pl.col(S.EVENT_ID).is_in(list(discovered)).alias(S.DISCOVERED)) if context else None
    result = runner().study_batches(
        task_runner, dask_address, events_frame(events), spec, data, factors, others, remote=task_runner == "dask", spill=spill,
    )
    stated = catalog_claims(events)
    if stated.height:
        result = dataclasses.replace(result, claims=check_claims(stated, result.events, data.history))
    return result


def publish_report(
    result: StudyResult, out: str, manifest: dict[str, Any], title: str, latex: bool, extra: dict[str, str] | None = None,
    briefs: bool = True, spilled: dict[str, str] | None = None, context: dict[str, str] | None = None,
    xlsx: bool = False,
) -> str:
    """Write the report; with ``briefs``, also the brief of every event group in it
    (:mod:`flows.reporting.flagship`), listed in the manifest's ``briefs``; ``spilled``: data files
    already written (:func:`flows.reporting.publish.write_report`); ``context``: event id ->
    description of the catalog events around them, not studied (the answers name them); ``xlsx``:
    also ``report.xlsx``."""
    descriptions = (context or {}) | {e["id"]: e.get("description", "") for e in manifest.get("event_info", [])}
    line = headline(result, descriptions=descriptions)
    pages: list[Brief] = []

    def make_briefs() -> Pages:  # while the data files are written (write_report)
        pages.extend(group_briefs(result, descriptions, title) if briefs else [])
        return Pages(brief_files(pages), tuple((b.file, f"brief: {b.group}") for b in pages),
                     {"briefs": [b.manifest_entry() for b in pages]})

    path = write_report(
        result, Path(out), {**manifest, "headline": line}, title=title, headline=line, latex=latex, xlsx=xlsx,
        extra=extra, spilled={name: Path(path) for name, path in (spilled or {}).items()}, pages=make_briefs,
        descriptions=descriptions,
    )
    progress.say(f"report written to {path}" + (f" (briefs: {', '.join(b.file for b in pages)})" if pages else ""))
    return str(path)


def update_index(reports: str) -> str:
    path = write_index(Path(reports))
    progress.say(f"index: {path}")
    return str(path)


EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(EventSpec))


def event_info(events: tuple[EventSpec, ...]) -> list[dict[str, Any]]:
    """The catalog's view of each event (JSON-able; descriptions and sources are user text):
    its fields in order, ``announced`` as written, ``extra`` as a dict (a shallow copy per
    event: ``dataclasses.asdict`` deep-copies and took seconds at 10^5 events)."""
    return [
        {**{name: getattr(e, name) for name in EVENT_FIELDS}, "announced": e.announced_text, "extra": dict(e.extra)}
        for e in events
    ]


def run_manifest(
    catalog: Path | None, events: tuple[EventSpec, ...], spec: StudySpec, source: str, store: PriceStore,
    needs: pl.DataFrame, notes: list[str], factors: dict[str, pl.DataFrame] | None = None, kind: str = "run",
    result: StudyResult | None = None, data: StudyData | None = None,
) -> dict[str, Any]:
    """Inputs, parameters and data coverage of a run, and the flow run of a tracked one
    (versions, the code revision and outputs are added on write).

    ``kind``: ``run`` (an ad hoc ``event-study``), ``event`` (one event of ``refresh-catalog``)
    or ``catalog`` (the whole catalog of ``refresh-catalog``). ``event_info`` holds the
    catalog's view of every event of a study of at most :data:`MAX_EVENT_ROWS` events; of a
    larger one (given its ``result``), that of the events the pages list
    (:func:`flows.reporting.flagship.displayed_events`), as the pages' tables are bounded:
    every event's inputs are in ``events.parquet`` (10^5 events' info took 1.2 s and 28 MB).
    With the run's ``data``, the coverage and sha256 of each price file are those of the
    version the run read (:func:`load_data`), else the store's now."""
    if result is not None and len(events) > MAX_EVENT_ROWS:
        shown = set(displayed_events(result))
        described = tuple(e for e in events if e.id in shown)
    else:
        described = events
    covered = data.covered.get if data is not None else store.coverage
    sha256 = data.sha256.get if data is not None else store.content_hash
    coverage = {
        t: {"needed": [str(a), str(b)], "covered": [str(x) for x in (covered(t) or ())], "sha256": sha256(t)}
        for t, a, b in needs.select(S.TICKER, "start", "end").iter_rows()
    }
    factor_store = FactorStore(store.root)
    factor_coverage = {
        name: {"covered": [str(frame[S.DATE].min()), str(frame[S.DATE].max())], "columns": frame.columns[1:],
               "source": factor_store.source(name), "sha256": factor_store.content_hash(name)}
        for name, frame in (factors or {}).items()
    }
    return {
        "kind": kind,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "flow_run": runner().flow_run(),
        "catalog": catalog and {"path": str(catalog), "sha256": file_sha256(catalog) if catalog.is_file() else None},
        "events": [e.id for e in events],
        "event_info": event_info(described),
        "parameters": {**spec.as_dict(), "source": source},
        "store": str(store.root),
        "data": coverage,
        "factors": factor_coverage,
        "warnings": notes,
    }


def check_inputs(spec: StudySpec, catalog: Path, event_ids: list[str] | None, store_root: str) -> StudyInputs:
    """The study's inputs (:func:`flows.params.chosen_inputs`), the catalog and the factor sets
    read by the runner's steps."""
    run = runner()
    return chosen_inputs(spec, catalog, run(load_events, str(catalog), None), event_ids,
                         lambda: run(load_factors, store_root, spec))


def event_study(
    event_ids: list[str] | None = None,
    catalog: str | None = None,
    source: Source = "auto",
    out: str | None = None,
    estimation: str = DEFAULT_ESTIMATION,
    windows: list[str] | None = None,
    model: ModelName | None = None,
    returns: ReturnKind = "simple",
    min_estimation_obs: int = 120,
    latex: bool = False,
    store: str | None = None,
    regressors: list[str] | None = None,
    pooled_cov: PooledCov = "cluster",
    factors: str | None = None,
    risk_free: str | None = None,
    reports: str | None = None,
    drop_confounded: bool = False,
    task_runner: TaskRunnerName = "threads",
    dask_address: str | None = None,
    batch_rows: int = BATCH_ROWS,
    xlsx: bool = False,
    discovered: bool = True,
) -> str:
    """Measure the market reaction to catalog events; write the report and the index of the
    reports folder (and, in a tracked run, the Prefect artifacts).

    Parameters
    ----------
    event_ids
        Events of the catalog to study (default: all of them).
    catalog
        TOML or CSV catalog (default: ``deployments/events.toml``).
    source
        ``auto`` (store, topped up from Yahoo), ``store`` (no network) or ``yfinance``.
    out
        Report folder (default ``<reports>/<UTC time>-<event>``).
    estimation
        Estimation window in sessions relative to day 0, as ``START:END`` (default ``-260:-11``).
    windows
        Event windows as ``START:END`` (default ``["0:0", "-1:1", "-5:5"]``).
    model
        Normal-return model (:class:`analysis.specs.StudySpec`): ``market``, ``constant-mean``,
        ``market-adjusted``, ``capm``, ``ff3``, ``carhart4``, ``ff5`` or ``factors`` (default
        ``market``, or ``factors`` when ``factors`` is given).
    returns
        ``simple`` or ``log`` returns of the adjusted closes.
    min_estimation_obs
        Fewest estimation-window returns an event needs; with fewer it is skipped.
    factors
        ``NAME:col1,col2``: a stored factor set and its columns, for the ``factors`` model.
    risk_free
        The factor set whose ``rf`` is the risk-free rate (default: ``ff3``, or ``ff5`` for the
        ff5 model; ``none`` for raw returns with the ``factors`` model).
    latex
        Also write LaTeX tables.
    xlsx
        Also write ``report.xlsx``: the data tables as Excel sheets (:mod:`flows.reporting.workbook`).
    store
        Price store folder (default ``$MARKET_REACTION_HOME``).
    regressors
        Characteristics for the cross-sectional regression of CARs (default: every numeric
        one in the catalog; ``[]`` for none).
    pooled_cov
        Errors of the pooled dummy-variable regression: ``cluster`` (by date) or ``hac``.
    reports
        Folder whose ``index.html`` lists this report (default: the folder holding ``out``,
        else ``reports``).
    drop_confounded
        Leave the event-window days of other catalog events on the same ticker out of each
        estimation window (:mod:`analysis.confounders`).
    task_runner
        Where the event batches run: ``threads`` (two, in this process) or ``dask``
        (:mod:`flows.orchestration.batches`).
    dask_address
        The Dask scheduler of ``task_runner="dask"``, e.g. ``tcp://10.0.0.5:8786`` (default: a
        local cluster).
    batch_rows
        Event rows per batch task.
    discovered
        Take the SEC filings ``market-reaction events discover`` stored for the study's
        tickers as candidate confounders (read from the store, no network; never studied
        themselves): default true.

    Returns
    -------
    str
        The report folder.
    """
    spec = study_spec(estimation, windows, model, returns, min_estimation_obs, factors, risk_free, drop_confounded,
                      regressors, pooled_cov, batch_rows)
    root = store or str(home())
    with progress.stage("catalog"):
        inputs = check_inputs(spec, Path(catalog) if catalog else default_catalog_path(), event_ids, root)
    return study_events(inputs, root, source, out, latex, reports, task_runner, dask_address, xlsx, discovered)


def study_events(
    inputs: StudyInputs, root: str, source: Source = "auto", out: str | None = None, latex: bool = False,
    reports: str | None = None, task_runner: TaskRunnerName = "threads", dask_address: str | None = None,
    xlsx: bool = False, discovered: bool = True,
) -> str:
    """The study of checked inputs (:func:`event_study` for the parameters): prices, engine,
    report, index; return the report folder."""
    run = runner()
    spec, events = inputs.spec, inputs.events
    if discovered:
        found = run(load_discovered, root, events, events + inputs.context)
        inputs = dataclasses.replace(inputs, context=inputs.context + found)
        discovered_ids = frozenset(e.id for e in found)
    else:
        discovered_ids = frozenset()
    with progress.stage("prices"):
        plan, notes = acquire_prices(events, spec, root, source)
        if inputs.factors and plan.needs.height:
            notes += coverage_notes(inputs.factors, plan.needs["start"].min(), plan.needs["end"].max())
        data = run(load_data, root, plan.needs, claim_tickers(events))
    folder = Path(reports) if reports else Path(out).parent if out else Path(DEFAULT_REPORTS)
    target = out or str(default_out(events, datetime.now(timezone.utc), folder))
    if len(events) >= OWN_PROCESS:  # its plots will be saved in a process of their own: start it now
        warm_up()
    with scratch_folder(Path(target)) as scratch:  # for the rows a study of several batches streams to disk
        with progress.stage("engine"):
            result = analyze(events, spec, data, inputs.factors, inputs.context, task_runner, dask_address, str(scratch),
                             discovered_ids)
        run.outcome(result, notes)
        if not result.car[S.CAR].is_not_null().any():
            raise DataUnavailableError(no_result_message(result, notes, root))
        streamed = scratch / f"{ABNORMAL_RETURNS}.parquet"
        spilled = {ABNORMAL_RETURNS: str(streamed)} if streamed.is_file() else {}
        if spilled:
            result = with_displayed_days(result, streamed)
        with progress.stage("writing the report"):
            manifest = run_manifest(inputs.catalog, events, spec, source, PriceStore(Path(root)), plan.needs, notes,
                                    inputs.factors, result=result, data=data)
            report = run(publish_report, result, target, manifest, report_title(events), latex, spilled=spilled,
                         context=confounder_descriptions(result, inputs.context), xlsx=xlsx)
            partial = frozenset(e.group for e in inputs.context if e.group and e.id not in discovered_ids)
            run.artifacts(result, dict.fromkeys(result.events[S.EVENT_ID].unique(maintain_order=True).to_list(), report),
                          str(folder), partial)
            run.brief_artifacts(report, str(folder), partial)
            run(update_index, str(folder))
    run.log(headline(result))
    return report


def confounder_descriptions(result: StudyResult, context: tuple[EventSpec, ...]) -> dict[str, str]:
    """Event id -> description of the catalog events of ``context`` that confound an event of
    ``result`` (the answers name them)."""
    named = set(result.confounders[S.CONFOUNDER_ID].unique().to_list())
    return {e.id: e.description for e in context if e.id in named and e.description}


def report_title(events: tuple[EventSpec, ...]) -> str:
    """``Market reaction: <the first five event ids> ...``"""
    return "Market reaction: " + ", ".join(e.id for e in events[:5]) + (" ..." if len(events) > 5 else "")


def with_displayed_days(result: StudyResult, parquet: Path) -> StudyResult:
    """``result`` whose ``abnormal_returns`` holds, besides the day-0 rows the engine kept, every
    day of the events a page lists (:func:`flows.reporting.flagship.displayed_events`), read back from
    the streamed ``parquet``."""
    ids = displayed_events(result)
    shown = pl.scan_parquet(parquet).filter(pl.col(S.EVENT_ID).is_in(ids)).collect()
    rest = result.abnormal_returns.filter(~pl.col(S.EVENT_ID).is_in(ids))
    return dataclasses.replace(result, abnormal_returns=pl.concat([shown, rest]))


def no_result_message(result: StudyResult, notes: list[str], root: str) -> str:
    """One paragraph saying why no event got a result and how to fix it (each fix once)."""
    reasons = sorted(set(result.warnings))
    notes = progress.grouped_notes(notes)
    fix = f"The price store ({root}) lacks the data."
    if not any(IMPORT_HINT in n for n in notes):
        fix += (f" Import prices with `{IMPORT_HINT} FILE --ticker SYMBOL` (CSV/Parquet with date and close), "
                "or run with network access to Yahoo Finance.")
    return "no event could be analysed: " + "; ".join(reasons[:5] + notes[:5]) + ". " + fix


