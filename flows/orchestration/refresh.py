"""The ``refresh-catalog`` Prefect flow: keep a catalog's reports up to date, recomputing only
the events whose inputs changed.

Layout under ``<reports>/<catalog name>/``::

    events/<event id>/      the event's own report (output contract) + fingerprint.json
    catalog/                every event of the catalog in one report, with the group tests
and ``<reports>/index.html`` lists every report below ``<reports>``.

Bookkeeping: each event has a *fingerprint*, the sha256 of

* ``event``: the event as the catalog states it (ids, tickers, time, timing, benchmark,
  related, group, description, source, extra fields);
* ``parameters``: the study parameters (windows, model, returns, calendar...);
* ``prices``: per ticker and benchmark, the content of the stored price rows *inside the
  range the event needs* (estimation window to the last reported day) — not the store
  file's hash, which changes whenever unrelated later rows arrive;
* ``shares``: the stored shares outstanding of its tickers (they give the dollar values);
* ``factors``: for factor models, per factor set the content of its rows inside the event's
  range;
* ``confounders``: the other catalog events around it on its tickers (ids, day 0, where they
  fall; :mod:`analysis.confounders`) — a new earnings date in the catalog changes its flags
  (and, with ``drop_confounded``, its estimation window);
* ``code``: the code that computes the numbers: the market-reaction version and the sha256
  of the ``analysis`` package's sources (:func:`flows.orchestration.study.code_version`), so
  an edit of the engine recomputes every event and an edit elsewhere (reporting, docs)
  recomputes none.

It is stored with its parts in ``events/<id>/fingerprint.json``. An event is recomputed when
its fingerprint differs from the stored one (or none is stored, or ``force``); the log says
which part changed. Then the catalog is studied again as a whole, in one vectorised
``run_study`` (the group tests and regressions need every event of a group), the changed
events' reports are written (an event's own report holds its rows; its ``tests`` are empty:
group tests are in the catalog report) and the catalog report is rewritten — also when
events left or joined the catalog (the reports of events that left stay in ``events/``).
Unchanged events' reports are not touched, and when no event changed nothing is computed or
written at all: every file stays byte-identical.

Like ``event_study``, :func:`refresh_catalog` calls its steps through the runner of
:mod:`flows.orchestration.study`: plain calls, or Prefect tasks in the flow ``refresh-catalog`` of
:mod:`flows.orchestration.tracked`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.calendar import align_events
from analysis.confounders import find_confounders
from analysis.engine import StudyResult, price_requirements
from analysis.errors import DataUnavailableError
from analysis.options import BATCH_ROWS, ModelName, PooledCov, ReturnKind
from analysis.specs import EventSpec, StudySpec, events_frame
from flows.io.calendars import exchange_calendar
from flows import progress
from flows.io.catalog import default_catalog_path
from flows.params import DEFAULT_REPORTS, Source, TaskRunnerName, study_spec
from flows.reporting.plots import file_stem, slug
from flows.settings import home
from flows.io.store import PRICE_SCHEMA, PriceStore
from flows.orchestration.study import (
    acquire_prices, analyze, check_inputs, claim_tickers, code_version, confounder_descriptions, event_info, load_data,
    load_discovered, no_result_message, publish_report, run_manifest, runner, update_index,
)

FINGERPRINT = "fingerprint.json"
EVENTS_DIR = "events"
CATALOG_DIR = "catalog"
MAX_NAMED = 20  # changed events named (with why) in the progress line and the run's log
FINGERPRINT_PARTS = ("event", "parameters", "prices", "shares", "factors", "confounders", "code")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _factor_digests(needs: pl.DataFrame, factors: dict[str, pl.DataFrame]) -> dict[str, dict[str, str]]:
    """event id -> {factor set: digest of its rows inside the event's range}.

    Each row gets a 64-bit digest (from sha256 of its text); an event's digest is the sum of
    its rows' digests modulo 2^64 with the range, from prefix sums (vectorised over events)."""
    ranges = needs.group_by(S.EVENT_ID).agg(pl.col("start").min(), pl.col("end").max()).sort(S.EVENT_ID)
    out: dict[str, dict[str, str]] = {e: {} for e in ranges[S.EVENT_ID]}
    for name, frame in sorted(factors.items()):  # a handful of factor sets
        f = frame.sort(S.DATE)
        text = pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in f.columns], separator=",")
        row = np.array([int(_sha(t)[:16], 16) for t in f.select(text).to_series()], dtype=np.uint64)
        cum = np.concatenate([[0], np.cumsum(row, dtype=np.uint64)])  # wraps modulo 2^64
        days = f[S.DATE].to_numpy()
        lo = np.searchsorted(days, ranges["start"].to_numpy(), side="left")
        hi = np.searchsorted(days, ranges["end"].to_numpy(), side="right")
        digest = cum[hi] - cum[lo]
        for event, a, b, d in zip(ranges[S.EVENT_ID], ranges["start"], ranges["end"], digest):
            out[event][name] = f"{a}..{b}:{int(d):016x}"
    return out


def fingerprints(
    events: tuple[EventSpec, ...], spec: StudySpec, store: PriceStore, factors: dict[str, pl.DataFrame] | None = None,
    context: tuple[EventSpec, ...] = (),
) -> dict[str, dict[str, Any]]:
    """The fingerprint of every event and its parts (see the module docstring); ``context``:
    events not studied that may confound them (the SEC filings discovered for their tickers).

    Returns
    -------
    dict
        event id -> ``{"fingerprint": sha256, "parts": {"event", "parameters", "prices":
        {ticker: sha256}, "shares", "factors", "confounders", "code"}}``.
    """
    cal = exchange_calendar(spec.calendar)
    aligned = align_events(events_frame(events), cal)
    needs = price_requirements(aligned, spec, cal, per_event=True)
    around: dict[str, list[list[Any]]] = {}
    others = align_events(events_frame(context), cal) if context else None
    for row in find_confounders(aligned, spec, others).iter_rows():  # a few per event
        around.setdefault(row[0], []).append([str(v) for v in row])
    tickers = needs[S.TICKER].unique().sort().to_list()
    prices = store.read(tickers, needs["start"].min(), needs["end"].max()) if tickers else store.read([])
    row_text = pl.concat_str(
        [pl.col(c).cast(pl.String).fill_null("") for c in PRICE_SCHEMA.names()], separator=","
    )
    price_hashes = (
        needs.join(prices, on=S.TICKER, how="left")
        .filter(pl.col(S.DATE).is_between(pl.col("start"), pl.col("end")) | pl.col(S.DATE).is_null())
        .sort(S.EVENT_ID, S.TICKER, S.DATE)
        .group_by(S.EVENT_ID, S.TICKER, maintain_order=True)
        .agg(pl.format("{}..{}\n", pl.col("start").first(), pl.col("end").first()).alias("_range"),
             row_text.str.join("\n").alias("_rows"))
        .with_columns(pl.concat_str("_range", "_rows").map_elements(_sha, return_dtype=pl.String).alias("_sha"))
    )
    by_event: dict[str, dict[str, str]] = {}
    for event, ticker, sha in price_hashes.select(S.EVENT_ID, S.TICKER, "_sha").iter_rows():
        by_event.setdefault(event, {})[ticker] = sha
    shares = store.read_shares(sorted({t for e in events for t in (*e.tickers, *e.related)}))
    shares_text = dict(
        shares.group_by(S.TICKER).agg(
            pl.concat_str([pl.col(S.AS_OF_DATE).cast(pl.String), pl.col(S.SHARES).cast(pl.String)], separator=",")
            .sort().str.join(";")
        ).iter_rows()
    )
    factor_parts = _factor_digests(needs, factors) if factors else {}
    params = _sha(json.dumps(spec.as_dict(), sort_keys=True))
    info = event_info(events)
    out = {}
    for e, described in zip(events, info):  # one small dict per event (the hashing above is vectorised)
        parts = {
            "event": _sha(json.dumps(described, sort_keys=True, default=str)),
            "parameters": params,
            "prices": by_event.get(e.id, {}),
            "shares": _sha(json.dumps({t: shares_text.get(t, "") for t in (*e.tickers, *e.related)}, sort_keys=True)),
            "factors": factor_parts.get(e.id, {}),
            "confounders": _sha(json.dumps(around.get(e.id, []))),
            "code": code_version(),
        }
        out[e.id] = {"fingerprint": _sha(json.dumps(parts, sort_keys=True)), "parts": parts}
    return out


def what_changed(old: dict[str, Any] | None, new: dict[str, Any]) -> str | None:
    """Why an event must be recomputed (None: it need not)."""
    if old is None:
        return "no previous report"
    if old.get("fingerprint") == new["fingerprint"]:
        return None
    before, after = old.get("parts", {}), new["parts"]
    reasons = []
    for part in FINGERPRINT_PARTS:
        if part == "prices":
            moved = sorted(t for t in set(before.get("prices", {})) | set(after["prices"])
                           if before.get("prices", {}).get(t) != after["prices"].get(t))
            if moved:
                reasons.append("prices of " + ", ".join(moved) + " changed inside its window")
        elif before.get(part) != after[part]:
            reasons.append({"event": "catalog entry changed", "parameters": "study parameters changed",
                            "shares": "shares outstanding changed", "factors": "factor data changed inside its window",
                            "confounders": "confounding events changed",
                            "code": "engine code changed (analysis/ or the version)"}[part])
    return "; ".join(reasons) or "fingerprint changed"


def event_folder(folder: str | Path, event_id: str) -> Path:
    """``<folder>/events/<event_id>``; refuses an id that is not a safe file name (ids are
    checked when the catalog is read; this keeps a forged one from leaving the folder)."""
    if file_stem(event_id) != event_id:
        raise ValueError(f"event id {event_id!r} is not a safe folder name")
    return Path(folder) / EVENTS_DIR / event_id


def read_fingerprint(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / FINGERPRINT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def listed_events(report: Path) -> list[str] | None:
    """The event ids of the report in ``report`` (None when there is none)."""
    try:
        return json.loads((report / "manifest.json").read_text(encoding="utf-8"))["events"]
    except (OSError, ValueError, KeyError):
        return None


def split_by_event(result: StudyResult, event_ids: list[str]) -> dict[str, StudyResult]:
    """The results of each of ``event_ids``: its rows of every frame. The group tests and group
    regressions depend on the other events of the group, so an event's own report leaves them
    out (its ``tests`` frame is empty); the catalog report has them."""
    parts: dict[str, dict[str, pl.DataFrame]] = {}
    for name in ("events", "abnormal_returns", "models", "car", "regressions", "paths", "confounders", "outliers", "claims"):
        frame: pl.DataFrame = getattr(result, name)
        by_id = {k[0]: v for k, v in frame.partition_by(S.EVENT_ID, as_dict=True, maintain_order=True).items()}
        parts[name] = {e: by_id.get(e, frame.clear()) for e in event_ids}
    return {e: StudyResult(result.spec, tests=result.tests.clear(), **{n: p[e] for n, p in parts.items()}) for e in event_ids}


def fingerprint_events(
    events: tuple[EventSpec, ...], spec: StudySpec, store_root: str, factors: dict[str, pl.DataFrame],
    context: tuple[EventSpec, ...] = (),
) -> dict[str, dict[str, Any]]:
    return fingerprints(events, spec, PriceStore(Path(store_root)), factors, context)


def changed_events(prints: dict[str, dict[str, Any]], folder: str, force: bool) -> dict[str, str]:
    """event id -> why it is recomputed, for the events whose fingerprint changed."""
    changed = {}
    for event, new in prints.items():
        why = "forced" if force else what_changed(read_fingerprint(event_folder(folder, event)), new)
        if why:
            changed[event] = why
    return changed


def write_event_reports(
    result: StudyResult, folder: str, manifest: dict[str, Any], prints: dict[str, dict[str, Any]],
    events: tuple[EventSpec, ...], latex: bool, context: dict[str, str] | None = None,
) -> list[str]:
    """Write ``<folder>/events/<id>/`` for every event of ``events``, each with its fingerprint
    (``context``: event id -> description of the events around them, not studied)."""
    by_id = {e.id: e for e in events}
    written = []
    for event, part in split_by_event(result, list(by_id)).items():  # one report (files) per event
        ev = by_id[event]
        tickers = {*ev.tickers, *ev.related, ev.benchmark}
        own = {
            **manifest, "kind": "event", "events": [event], "event_info": event_info((ev,)),
            "data": {t: c for t, c in manifest["data"].items() if t in tickers},
            "fingerprint": prints[event]["fingerprint"],
            "warnings": [w for w in manifest["warnings"] if w.split(":", 1)[0] in tickers],
        }
        fp = json.dumps(prints[event], indent=2, sort_keys=True) + "\n"
        written.append(publish_report(part, str(event_folder(folder, event)), own,
                                      f"Market reaction: {event}", latex, {FINGERPRINT: fp}, briefs=False, context=context))
    return written


def refresh_catalog(
    catalog: str | None = None,
    source: Source = "auto",
    reports: str = DEFAULT_REPORTS,
    estimation: str = "-260:-11",
    windows: list[str] | None = None,
    model: ModelName = "market",
    returns: ReturnKind = "simple",
    min_estimation_obs: int = 120,
    latex: bool = False,
    store: str | None = None,
    force: bool = False,
    factors: str | None = None,
    risk_free: str | None = None,
    drop_confounded: bool = False,
    task_runner: TaskRunnerName = "threads",
    dask_address: str | None = None,
    regressors: list[str] | None = None,
    pooled_cov: PooledCov = "cluster",
    batch_rows: int = BATCH_ROWS,
    discovered: bool = True,
) -> dict[str, Any]:
    """Fetch new prices for every event of a catalog, recompute the events whose fingerprint
    changed, skip the rest, and republish.

    Parameters
    ----------
    catalog
        TOML or CSV catalog (default: ``deployments/events.toml``).
    source
        ``auto`` (store, topped up from Yahoo; default), ``store`` or ``yfinance``.
    reports
        Reports folder; the catalog's reports go to ``<reports>/<catalog name>/``.
    estimation, windows, model, returns, min_estimation_obs, latex, store, factors, risk_free, drop_confounded, task_runner, dask_address, regressors, pooled_cov, batch_rows, discovered
        As for ``event-study`` (one spec: :func:`flows.params.study_spec`).
    force
        Recompute every event.

    Returns
    -------
    dict
        ``reports`` (the catalog's reports folder), ``recomputed`` (event id -> why) and
        ``unchanged`` (event ids skipped).
    """
    run = runner()
    spec = study_spec(estimation, windows, model, returns, min_estimation_obs, factors, risk_free, drop_confounded,
                      regressors, pooled_cov, batch_rows)
    root = store or str(home())
    catalog_path = Path(catalog) if catalog else default_catalog_path()
    folder = Path(reports) / slug(catalog_path.stem)
    with progress.stage("catalog"):
        inputs = check_inputs(spec, catalog_path, None, root)
        events, factor_sets = inputs.events, inputs.factors
    context = run(load_discovered, root, events, events) if discovered else ()  # SEC filings as confounders
    with progress.stage("prices"):
        plan, notes = acquire_prices(events, spec, root, source)
    with progress.stage("fingerprints"):
        prints = run(fingerprint_events, events, spec, root, factor_sets, context)
        changed = run(changed_events, prints, str(folder), force)
    ids = [e.id for e in events]
    if not changed:
        summary = f"nothing to recompute: all {len(events)} events unchanged"
        progress.say(summary)
    else:
        summary = f"recomputed {len(changed)} of {len(events)} events"
        named = "; ".join(f"{e} ({why})" for e, why in list(changed.items())[:MAX_NAMED])
        more = f"; and {len(changed) - MAX_NAMED:,} more" if len(changed) > MAX_NAMED else ""
        progress.say(f"recomputing {len(changed)} of {len(events)} events: {named}{more}")
    everything = None
    if changed or listed_events(folder / CATALOG_DIR) != ids:  # an event changed, or left / joined the catalog
        # One vectorised study of the whole catalog: the group tests and regressions need every
        # event of a group; only the changed events' own reports are written.
        data = run(load_data, root, plan.needs, claim_tickers(events))
        with progress.stage("engine"):
            everything = analyze(events, spec, data, factor_sets, context, task_runner, dask_address,
                                 discovered=frozenset(e.id for e in context))
        run.outcome(everything, notes, summary)
        if not everything.car[S.CAR].is_not_null().any():
            raise DataUnavailableError(no_result_message(everything, notes, root))
        with progress.stage("writing the reports"):
            store_ = PriceStore(Path(root))
            named = confounder_descriptions(everything, context)
            if changed:
                todo = tuple(e for e in events if e.id in changed)
                manifest = run_manifest(catalog_path, todo, spec, source, store_, plan.needs, notes, factor_sets, kind="event",
                                        data=data)
                run(write_event_reports, everything, str(folder), manifest, prints, todo, latex, named)
            whole = run_manifest(catalog_path, events, spec, source, store_, plan.needs, notes, factor_sets, kind="catalog",
                                 result=everything, data=data)
            whole["fingerprints"] = {e: p["fingerprint"] for e, p in prints.items()}
            report = run(publish_report, everything, str(folder / CATALOG_DIR), whole,
                         f"Market reaction: catalog {catalog_path.name}", latex, context=named)
            run.brief_artifacts(report, reports, frozenset())
            if changed:
                run.artifacts(everything, {e: str(event_folder(folder, e)) for e in changed}, reports, frozenset())
    if everything is None:
        run.outcome(None, notes, summary)
    run(update_index, reports)
    return {"reports": str(folder), "recomputed": changed, "unchanged": [e.id for e in events if e.id not in changed]}
