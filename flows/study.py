"""The ``event-study`` Prefect flow (ad hoc runs) and the tasks it shares with
``refresh-catalog`` (:mod:`flows.refresh`): thin tasks around :mod:`analysis`.

Each task is one step with one side effect at most (read the catalog, download a batch from
Yahoo, write the store, write the report, publish artifacts, update the index); the
arithmetic lives in ``analysis``. Frames move between tasks in memory, so tasks that take
frames have no cache (hashing frames costs seconds and pickles them); the cached tasks are
keyed on small inputs only:

``load-catalog``
    the catalog file's content hash and the event ids (a day);
``fetch-prices``
    the store, tickers and date range of the batch (12 hours), so a retried or repeated run
    does not ask Yahoo twice for the same bars.

Yahoo requests (``fetch-prices``, ``fetch-shares``) carry the tag ``yahoo``; the flow creates
the tag concurrency limit ``yahoo`` (``$MARKET_REACTION_YAHOO_LIMIT``, default 2 concurrent
task runs) on the Prefect server when it does not exist yet (an operator's own setting wins:
``prefect concurrency-limit create yahoo 4``). A batch that finds Yahoo unreachable is
retried with exponential backoff (``$MARKET_REACTION_RETRY_BACKOFF`` seconds, doubled per
retry, default 10), then the run goes on with the store and says what is missing.

Parameters are small JSON values (ids, paths, ISO windows) so both flows can be triggered
from a deployment with ``--param``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff
from prefect.utilities.hashing import hash_objects

from analysis import schema as S
from analysis.calendar import align_events, exchange_calendar
from analysis.catalog import claims
from analysis.claims import HISTORY_SCHEMA, catalog_claims, check_claims
from analysis.engine import BATCH_ROWS, StudyResult, price_requirements
from analysis.errors import DataUnavailableError, InputError
from analysis.regression import PooledCov
from analysis.specs import EventSpec, ModelName, ReturnKind, StudySpec, Window, events_frame, parse_factors_option
from flows import progress
from flows.artifacts import publish_artifacts
from flows.batches import TaskRunnerName, make_task_runner, study_batches
from flows.catalog import default_catalog_path, load_catalog, select_events
from flows.factors import coverage_notes, load_factor_sets
from flows.flagship import brief_files, group_briefs, publish_brief_artifacts
from flows.index import write_index
from flows.prices import (
    FetchBatch, PricePlan, Source, download, ensure_shares, plan_fetches, store_download,
)
from flows.publish import file_sha256, write_report
from flows.settings import home
from flows.store import FactorStore, PriceStore
from flows.tables import headline, headline_sentences

DEFAULT_WINDOWS = ["0:0", "-1:1", "-5:5"]
DEFAULT_REPORTS = "reports"
YAHOO_TAG = "yahoo"


def study_spec(
    estimation: str = "-260:-11", windows: list[str] | None = None, model: str | None = None,
    returns: str = "simple", min_estimation_obs: int = 120, factors: str | None = None,
    risk_free: str | None = None, drop_confounded: bool = False,
) -> StudySpec:
    """Build the :class:`StudySpec` from the flow's / CLI's text parameters.

    ``model`` defaults to ``factors`` when ``factors`` (``NAME:col1,col2``) is given, else to
    ``market``; ``risk_free="none"`` asks the ``factors`` model for raw returns explicitly.
    """
    model = model or ("factors" if factors else "market")
    if factors and model != "factors":
        raise InputError(f"--factors NAME:COLUMNS goes with --model factors, not {model}", field="--factors")
    factor_set, columns = parse_factors_option(factors, field="--factors") if factors else (None, ())
    if risk_free == "none":
        if model != "factors":
            raise InputError(f"the {model} model needs a risk-free rate; 'none' is only for --model factors",
                             field="--risk-free")
        risk_free = None
    return StudySpec(
        estimation=Window.parse(estimation, field="estimation"),
        windows=tuple(Window.parse(w) for w in (windows or DEFAULT_WINDOWS)),
        model=model,  # type: ignore[arg-type]
        returns=returns,  # type: ignore[arg-type]
        min_estimation_obs=min_estimation_obs,
        factor_set=factor_set,
        factors=columns,
        risk_free=risk_free,
        drop_confounded=drop_confounded,
    )


def default_out(events: tuple[EventSpec, ...], now: datetime, reports: Path) -> Path:
    """``<reports>/<UTC time>-<first event id>[-and-N-more]``."""
    name = events[0].id + (f"-and-{len(events) - 1}-more" if len(events) > 1 else "")
    return reports / f"{now:%Y%m%d-%H%M%S}-{name}"


def code_version() -> str:
    try:
        return metadata.version("market-reaction")
    except metadata.PackageNotFoundError:
        return "unknown"


def _catalog_key(_context, parameters: dict[str, Any]) -> str | None:
    path = Path(parameters["catalog"])
    if not path.is_file():
        return None
    layout = [f.name for f in dataclasses.fields(EventSpec)]  # a cached result must unpickle into today's EventSpec
    return hash_objects("load-catalog", code_version(), layout, str(path.resolve()), file_sha256(path), parameters.get("event_ids"))


@task(name="load-catalog", cache_key_fn=_catalog_key, cache_expiration=timedelta(days=1))
def load_events(catalog: str, event_ids: list[str] | None) -> tuple[EventSpec, ...]:
    events = select_events(load_catalog(Path(catalog)), event_ids or [])
    progress.say(f"{len(events)} event(s) from {catalog}")
    return events


@task(name="load-factors", cache_policy=NO_CACHE)
def load_factors(store_root: str, spec: StudySpec) -> dict[str, pl.DataFrame]:
    """The stored factor sets the model reads (none for market, constant-mean, market-adjusted)."""
    sets = load_factor_sets(FactorStore(Path(store_root)), spec)
    if sets:
        progress.say(f"factor sets: {', '.join(sets)}")
    return sets


@task(name="plan-prices", cache_policy=NO_CACHE)
def plan_prices(events: tuple[EventSpec, ...], spec: StudySpec, store_root: str, source: Source) -> PricePlan:
    cal = exchange_calendar(spec.calendar)
    needs = price_requirements(align_events(events_frame(events), cal), spec, cal)
    plan = plan_fetches(PriceStore(Path(store_root)), needs, source, cal, cal.last_closed(datetime.now(timezone.utc)))
    if plan.batches:
        n = sum(len(b.tickers) for b in plan.batches)
        progress.say(f"fetching {n} ticker range(s) from Yahoo in {len(plan.batches)} batch(es)")
    return plan


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


class YahooUnreachable(DataUnavailableError):
    """Every ticker of a batch failed because Yahoo could not be reached (worth a retry)."""


def _fetch_key(_context, parameters: dict[str, Any]) -> str:
    b: FetchBatch = parameters["batch"]
    return hash_objects("fetch-prices", code_version(), parameters["store_root"], b.tickers, str(b.start), str(b.end))


@task(
    name="fetch-prices", tags=[YAHOO_TAG], cache_key_fn=_fetch_key, cache_expiration=timedelta(hours=12),
    retries=2, retry_delay_seconds=exponential_backoff(float(os.environ.get("MARKET_REACTION_RETRY_BACKOFF", "10"))),
    retry_jitter_factor=0.5, retry_condition_fn=lambda _task, _run, state: isinstance(state.result(raise_on_failure=False), YahooUnreachable),
)
def fetch_batch(store_root: str, batch: FetchBatch):
    """One Yahoo download; raises :class:`YahooUnreachable` (and is retried) when nothing came
    back because Yahoo could not be reached."""
    fetched = download(batch, retries=1)
    reasons = list(fetched.failures.values())
    if not fetched.prices.height and reasons and all("unreachable" in r for r in reasons):
        raise YahooUnreachable(reasons[0])
    return fetched


@task(name="store-prices", cache_policy=NO_CACHE)
def store_batch(store_root: str, batch: FetchBatch, prices: pl.DataFrame) -> list[str]:
    return store_download(PriceStore(Path(store_root)), batch, prices)


@task(name="fetch-shares", cache_policy=NO_CACHE, tags=[YAHOO_TAG])
def fetch_shares(store_root: str, events: tuple[EventSpec, ...], source: Source) -> dict[str, str]:
    tickers = sorted({t for e in events for t in (*e.tickers, *e.related)})
    days = [e.announced if not isinstance(e.announced, datetime) else e.announced.date() for e in events]
    return ensure_shares(PriceStore(Path(store_root)), tickers, min(days), max(days), source)


def acquire_prices(events: tuple[EventSpec, ...], spec: StudySpec, root: str, source: Source) -> tuple[PricePlan, list[str]]:
    """Top up the store with what the events need (per ``source``); return the plan and notes
    on what could not be fetched. Called inside a flow: each step is a task."""
    plan = plan_prices(events, spec, root, source)
    notes = list(plan.notes)
    if plan.batches:
        ensure_yahoo_limit()
        fetch = fetch_batch.with_options(refresh_cache=True) if source == "yfinance" else fetch_batch
        for batch, fut in [(b, fetch.submit(root, b)) for b in plan.batches]:  # concurrent, throttled by the tag limit
            try:
                fetched = fut.result()
            except YahooUnreachable as e:
                notes += [f"{t}: {e}" for t in batch.tickers]
                continue
            store_batch(root, batch, fetched.prices)
            notes += [f"{t}: {why}" for t, why in fetched.failures.items()]
    notes += [f"{t}: shares outstanding: {why}" for t, why in fetch_shares(root, events, source).items()]
    return plan, notes


def claim_tickers(events: tuple[EventSpec, ...]) -> list[str]:
    """The primary tickers of the events that carry claims (their whole history is read)."""
    return sorted({t for e in events if claims(e) for t in e.tickers})


@task(name="load-history", cache_policy=NO_CACHE)
def load_history(store_root: str, tickers: list[str]) -> pl.DataFrame:
    """The whole stored history (raw close, high, low) of ``tickers``, for the claim checks
    ("record high" looks back as far as the store goes)."""
    return PriceStore(Path(store_root)).read(tickers).select(S.TICKER, S.DATE, S.CLOSE, S.HIGH, S.LOW)


def analyze(
    events: tuple[EventSpec, ...], spec: StudySpec, store_root: str, needs: pl.DataFrame,
    factors: dict[str, pl.DataFrame], regressors: list[str] | None, pooled_cov: PooledCov,
    history: pl.DataFrame | None = None, context: tuple[EventSpec, ...] = (),
    task_runner: TaskRunnerName = "threads", dask_address: str | None = None, batch_rows: int = BATCH_ROWS,
) -> StudyResult:
    """Run the study on the stored prices ``needs`` in event batches (the subflow
    ``study-batches`` on ``task_runner``; ``context``: further catalog events that may
    confound these) and check the events' claims against ``history``."""
    progress.say(f"analysing {len(events)} event(s): {spec.model} model, estimation {spec.estimation.label}"
                 + (f", batches on Dask ({dask_address or 'local cluster'})" if task_runner == "dask" else ""))
    result = study_batches.with_options(task_runner=make_task_runner(task_runner, dask_address))(
        events_frame(events), spec, store_root, needs, factors, regressors, pooled_cov,
        events_frame(context) if context else None, in_memory=task_runner == "threads", batch_rows=batch_rows,
    )
    stated = catalog_claims(events)
    if stated.height:
        history = history if history is not None else pl.DataFrame(schema=HISTORY_SCHEMA)
        result = dataclasses.replace(result, claims=check_claims(stated, result.events, history))
    return result


@task(name="write-report", cache_policy=NO_CACHE)
def publish_report(
    result: StudyResult, out: str, manifest: dict[str, Any], title: str, latex: bool, extra: dict[str, str] | None = None,
    briefs: bool = True,
) -> str:
    """Write the report; with ``briefs``, also the brief of every event group in it
    (:mod:`flows.flagship`), listed in the manifest's ``briefs``."""
    line = headline(result)
    pages = group_briefs(result, {e["id"]: e.get("description", "") for e in manifest.get("event_info", [])}, title) if briefs else []
    path = write_report(
        result, Path(out), {**manifest, "headline": line, "briefs": [b.manifest_entry() for b in pages]},
        title=title, headline=line, latex=latex, extra={**(extra or {}), **brief_files(pages)},
        links=tuple((b.file, f"brief: {b.group}") for b in pages),
    )
    progress.say(f"report written to {path}" + (f" (briefs: {', '.join(b.file for b in pages)})" if pages else ""))
    return str(path)


@task(name="publish-briefs", cache_policy=NO_CACHE)
def brief_artifacts(report: str) -> list[str]:
    """The markdown artifact ``<group>-brief`` of every brief the report at ``report`` lists."""
    manifest = json.loads((Path(report) / "manifest.json").read_text(encoding="utf-8"))
    return publish_brief_artifacts(manifest.get("briefs", []), Path(report))


@task(name="publish-artifacts", cache_policy=NO_CACHE)
def artifacts(result: StudyResult, reports: dict[str, str]) -> list[str]:
    """Artifacts of the events in ``reports`` (event id -> its report folder)."""
    return publish_artifacts(result, {e: Path(r) for e, r in reports.items()}, headline_sentences(result))


@task(name="update-index", cache_policy=NO_CACHE)
def update_index(reports: str) -> str:
    path = write_index(Path(reports))
    progress.say(f"index: {path}")
    return str(path)


def event_info(events: tuple[EventSpec, ...]) -> list[dict[str, Any]]:
    """The catalog's view of each event (JSON-able; descriptions and sources are user text)."""
    return [
        {**{k: v for k, v in dataclasses.asdict(e).items() if k != "extra"}, "announced": e.announced_text,
         "extra": {k: v for k, v in e.extra}}
        for e in events
    ]


def run_manifest(
    catalog: Path, events: tuple[EventSpec, ...], spec: StudySpec, source: str, store: PriceStore,
    needs: pl.DataFrame, notes: list[str], factors: dict[str, pl.DataFrame] | None = None, kind: str = "run",
    **extra_parameters: Any,
) -> dict[str, Any]:
    """Inputs, parameters and data coverage of a run (versions and outputs are added on write).

    ``kind``: ``run`` (an ad hoc ``event-study``), ``event`` (one event of ``refresh-catalog``)
    or ``catalog`` (the whole catalog of ``refresh-catalog``)."""
    coverage = {
        t: {"needed": [str(a), str(b)], "covered": [str(x) for x in (store.coverage(t) or ())],
            "sha256": store.content_hash(t)}
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
        "catalog": {"path": str(catalog), "sha256": file_sha256(catalog) if catalog.is_file() else None},
        "events": [e.id for e in events],
        "event_info": event_info(events),
        "parameters": {**spec.as_dict(), **extra_parameters, "source": source},
        "store": str(store.root),
        "data": coverage,
        "factors": factor_coverage,
        "warnings": notes,
    }


@flow(name="event-study")
def event_study(
    event_ids: list[str] | None = None,
    catalog: str | None = None,
    source: Source = "auto",
    out: str | None = None,
    estimation: str = "-260:-11",
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
) -> str:
    """Measure the market reaction to catalog events; write the report, its Prefect artifacts
    and the index of the reports folder.

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
    estimation, windows
        Event-day windows as ``START:END``.
    model, returns, min_estimation_obs
        See :class:`analysis.specs.StudySpec` (``model`` defaults to ``market``, or to
        ``factors`` when ``factors`` is given).
    factors
        ``NAME:col1,col2``: a stored factor set and its columns, for the ``factors`` model.
    risk_free
        The factor set whose ``rf`` is the risk-free rate (default: ``ff3``, or ``ff5`` for the
        ff5 model; ``none`` for raw returns with the ``factors`` model).
    latex
        Also write LaTeX tables.
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
    task_runner, dask_address
        Where the event batches run: ``threads`` (two, in this process) or ``dask`` (the
        cluster at ``dask_address``, else a local one; :mod:`flows.batches`).
    batch_rows
        Event rows per batch task.

    Returns
    -------
    str
        The report folder.
    """
    spec = study_spec(estimation, windows, model, returns, min_estimation_obs, factors, risk_free, drop_confounded)
    root = store or str(home())
    catalog_path = Path(catalog) if catalog else default_catalog_path()
    everything = load_events(str(catalog_path), None)
    events = select_events(everything, event_ids or [])
    chosen = {e.id for e in events}
    context = tuple(e for e in everything if e.id not in chosen)  # not studied, but they may confound the events
    factor_sets = load_factors(root, spec)  # before any download: a missing set stops the run at once
    plan, notes = acquire_prices(events, spec, root, source)
    if factor_sets and plan.needs.height:
        notes += coverage_notes(factor_sets, plan.needs["start"].min(), plan.needs["end"].max())
    history = load_history(root, claim_tickers(events))
    result = analyze(events, spec, root, plan.needs, factor_sets, regressors, pooled_cov, history, context,
                     task_runner, dask_address, batch_rows)
    if not result.car[S.CAR].is_not_null().any():
        raise DataUnavailableError(no_result_message(result, notes, root))
    manifest = run_manifest(
        catalog_path, events, spec, source, PriceStore(Path(root)), plan.needs, notes, factor_sets,
        regressors=regressors, pooled_cov=pooled_cov,
    )
    folder = Path(reports) if reports else Path(out).parent if out else Path(DEFAULT_REPORTS)
    target = out or str(default_out(events, datetime.now(timezone.utc), folder))
    title = "Market reaction: " + ", ".join(e.id for e in events[:5]) + (" ..." if len(events) > 5 else "")
    report = publish_report(result, target, manifest, title, latex)
    artifacts(result, dict.fromkeys(result.events[S.EVENT_ID].unique(maintain_order=True).to_list(), report))
    brief_artifacts(report)
    update_index(str(folder))
    get_run_logger().info("%s", headline(result))
    return report


def no_result_message(result: StudyResult, notes: list[str], root: str) -> str:
    """One paragraph saying why no event got a result and how to fix it."""
    reasons = sorted(set(result.warnings))
    fix = (
        f"The price store ({root}) lacks the data. Import prices with "
        "`market-reaction prices import FILE --ticker SYMBOL` (CSV/Parquet with date and close), "
        "or run with network access to Yahoo Finance."
    )
    return "no event could be analysed: " + "; ".join(reasons[:5] + notes[:5]) + ". " + fix
