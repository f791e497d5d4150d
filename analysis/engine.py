"""The event study, end to end, as pure functions over frames.

``run_study`` chains the pieces of ``analysis``: calendar alignment → returns → panel →
normal-return model → abnormal returns → CARs → dollar values → group tests, vectorised over
all event rows at once (no loop over events). The CLI, the Prefect flows, the demo and the
benchmark all call it.

It runs in three steps, which the batched flow (``flows/orchestration/batches.py``) also runs, one batch of
event rows per task:

1. :func:`plan_study` — day 0 of every event and the global row numbers (cheap, all rows);
2. :func:`event_batch` — every per-event number of a contiguous batch of event rows (models,
   ARs, CARs, dollar values, data checks, and the daily abnormal returns the rank tests need),
   from the batch's prices (:func:`prepare_prices`). Nothing in it depends on the other rows,
   so batches give exactly the numbers of one run;
3. :func:`combine_batches` — the group statistics (tests, regressions) on the *combined*
   per-event results, and the tables. It takes the batches one by one: the group tests keep
   only the tested rows' daily series they read, in per-batch blocks
   (:class:`analysis.inference.DailySummary`), never a batch's other ``E x L`` arrays; the
   rows' long notes (confounders, outliers) are joined into their reasons batch by batch
   once those series are released; and an optional *sink* receives the abnormal-return rows
   batch by batch, to write them out.

Within one process, ``run_study`` splits large studies into batches of ``spec.batch_rows``
rows and runs them in two threads (NumPy and polars release the GIL), at most
:data:`AHEAD` batches ahead of the one being combined, so that with a sink its memory is
bounded by the per-event results, not by the event-day rows.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TypeVar

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.abnormal import abnormal_returns, cumulative_abnormal_returns, window_statistics
from analysis.calendar import SessionCalendar, align_events
from analysis.catalog import check_regressors
from analysis.claims import CLAIM_SCHEMA
from analysis.confounders import (
    CONFOUNDER_SCHEMA, confounder_reasons, contaminated_days, drop_estimation_days, estimation_outliers, find_confounders,
    outlier_reasons,
)
from analysis.factors import factor_sessions, study_factors
from analysis.inference import (
    NEEDS_DAILY, DailyAbnormalReturns, DailySummary, WindowObservations, check_tests, combine_daily, group_tests,
    summarise_daily, windows_tested,
)
from analysis.models import EST_FIRST_DAY, EST_LAST_DAY, fit_models
from analysis.panel import ROW, event_panel
from analysis.paths import car_paths
from analysis.quality import QUALITY_SCHEMA, event_quality, price_quality
from analysis.regression import (
    COV_TYPE, SummaryTable, cross_sectional_regressions, event_regressions, pooled_event_regressions,
)
from analysis.returns import FIRST, SPAN, SessionGrid, place_prices, session_grid
from analysis.specs import CHAR_PREFIX, StudySpec, Window, numeric_characteristics
from analysis.spillovers import battery_rows
from analysis.valuation import CAP_NOTE, market_caps

STATUS = "status"  # "ok", "skipped" (no result) or "flagged" (a result with a caveat)
DAY0_WARNING = "day0_warning"  # analysis.calendar.align_events: a note on how day 0 was placed
ROW_KEYS = (S.EVENT_ID, S.TICKER, S.ROLE, S.GROUP)
AHEAD = 2
"""Batches computed ahead of the one being combined (``run_study``): with two threads, both
keep working while a batch goes to the sink, and at most ``AHEAD + 1`` batches are in memory."""
ABNORMAL_RETURNS = "abnormal_returns"
Sink = Callable[[str, pl.DataFrame], None]
"""Receives per-row output frames batch by batch: ``sink(name, frame)`` (see :func:`combine_batches`)."""
StageTimer = Callable[[str, float], None]
"""Receives the wall time of each stage of the engine: ``on_stage(stage, seconds)``."""
AR_AT_OFFSET = "ar_at_offset"  # confounders: the event row's AR on the confounder's day 0
PATH_SCHEMA = {
    S.EVENT_ID: pl.String, S.TICKER: pl.String, S.ROLE: pl.String, S.GROUP: pl.String, S.EVENT_DAY: pl.Int32,
    S.N_DAYS: pl.Int32, S.CAR: pl.Float64, S.CAR_SE: pl.Float64,
}
OUTLIERS_SCHEMA = {
    S.EVENT_ID: pl.String, S.TICKER: pl.String, S.ROLE: pl.String, S.GROUP: pl.String, S.DATE: pl.Date,
    S.EVENT_DAY: pl.Int32, S.ABNORMAL_RET: pl.Float64, S.STD_RESID: pl.Float64,
}


@dataclass(frozen=True)
class StudyResult:
    """Read-only results of one study; every frame is tidy and keyed by ``event_id, ticker``.

    Attributes
    ----------
    events
        One row per event x ticker: the inputs, day 0 and the rule that placed it, the market
        capitalization used for dollar values, ``status`` and ``reason``.
    abnormal_returns, models, car, tests
        The tables of the output contract (DESIGN.md), with extra columns after the contract's.
        When the study ran with a ``sink`` (:func:`run_study`), every abnormal-return row
        went to the sink and ``abnormal_returns`` holds only the day-0 rows (what the
        spillover, confounder and brief tables read); the other tables are complete.
    regressions
        Every statsmodels regression as one tidy frame (see :mod:`analysis.regression`):
        per event row the market model and the dummy-variable event regression (for the
        first ``max_regressions`` event rows; ``window_*`` null), per group and window the
        cross-sectional regression of CARs on the catalog's characteristics (HC3), and per
        group the pooled dummy-variable regression (``event_id``/``ticker`` null).
    regression_tables
        The group regressions in the summary_col layout, rendered (Markdown, HTML, LaTeX).
    quality
        Findings of :func:`analysis.quality.price_quality` on the prices the study was given
        (``ticker, date, check, ratio, detail``); those inside an event row's data range are
        also in that row's ``reason``.
    paths
        CAR from the first reported day to each reported day with its standard error, for the
        first ``max_paths`` event rows (:func:`analysis.paths.car_paths`; the plots' lines).
    confounders
        Per event row, the other catalog events on the same ticker around it
        (:func:`analysis.confounders.find_confounders`), with ``ar_at_offset``: the event
        row's own abnormal return on the confounder's day 0 (null outside the reported days).
    outliers
        Estimation days with a standardized residual beyond 4 (``event_id, ticker, role,
        group, date, event_day, abnormal_ret, std_resid``).
    claims
        The catalog's headline claims checked against the prices
        (:func:`analysis.claims.check_claims`; the flows fill it, empty otherwise).
    """

    spec: StudySpec
    events: pl.DataFrame
    abnormal_returns: pl.DataFrame
    models: pl.DataFrame
    car: pl.DataFrame
    tests: pl.DataFrame
    regressions: pl.DataFrame
    regression_tables: tuple[SummaryTable, ...] = ()
    quality: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=QUALITY_SCHEMA))
    paths: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PATH_SCHEMA))
    confounders: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CONFOUNDER_SCHEMA | {AR_AT_OFFSET: pl.Float64}))
    outliers: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=OUTLIERS_SCHEMA))
    claims: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CLAIM_SCHEMA))

    @property
    def warnings(self) -> list[str]:
        """One line per event row that was skipped or flagged, with its reason."""
        bad = self.events.filter(pl.col(STATUS) != "ok")
        return [f"{r[S.EVENT_ID]} {r[S.TICKER]}: {r[STATUS]}: {r[S.REASON]}" for r in bad.iter_rows(named=True)]


def _join_reasons(*parts: pl.Expr) -> pl.Expr:
    return pl.concat_str(*parts, separator="; ", ignore_nulls=True).replace("", None)


def _verdict(skip: list[pl.Expr], flag: list[pl.Expr]) -> tuple[pl.Expr, pl.Expr]:
    """``status`` and ``reason`` of event rows: ``skipped`` if any of ``skip`` holds a note,
    else ``flagged`` if any of ``flag`` does, else ``ok``; the reason joins them all."""
    skipped, flagged = _join_reasons(*skip), _join_reasons(*flag)
    status = pl.when(skipped.is_not_null()).then(pl.lit("skipped")).when(flagged.is_not_null()).then(pl.lit("flagged"))
    return status.otherwise(pl.lit("ok")).alias(STATUS), _join_reasons(skipped, flagged).alias(S.REASON)


def _no_prices(known: Collection[str]) -> tuple[pl.Expr, pl.Expr]:
    """The notes of event rows whose ticker, or benchmark, is not among the tickers with prices."""
    known = list(known)
    return (pl.when(~pl.col(S.TICKER).is_in(known)).then(pl.format("no prices for {}", pl.col(S.TICKER))),
            pl.when(~pl.col(S.BENCHMARK).is_in(known)).then(pl.format("no prices for benchmark {}", pl.col(S.BENCHMARK))))


class _Stages:
    """Hands the wall time of each stage to an optional :data:`StageTimer`."""

    def __init__(self, on_stage: StageTimer | None) -> None:
        self.on_stage, self.last = on_stage, time.perf_counter()

    def add(self, stage: str, seconds: float) -> None:
        if self.on_stage is not None:
            self.on_stage(stage, seconds)

    def lap(self, stage: str) -> None:
        """``stage`` took the time since the previous lap (or since the start)."""
        now = time.perf_counter()
        self.add(stage, now - self.last)
        self.last = now


_T = TypeVar("_T")
_R = TypeVar("_R")


def in_order(pool: Executor, fn: Callable[[_T], _R], items: Iterable[_T], ahead: int) -> Iterator[_R]:
    """``fn(item)`` of every item, computed on ``pool`` and yielded in order, with at most
    ``ahead`` items submitted beyond the one being waited for (bounded memory)."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) > ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _test_events(test_rows: pl.DataFrame, models: pl.DataFrame) -> pl.DataFrame:
    """The group tests' ``events``: the tested rows with their model's ``sigma, df_resid``."""
    return test_rows.join(models.select(ROW, S.SIGMA, S.DF_RESID), on=ROW, how="left", maintain_order="left")


# --- 1. the plan ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StudyPlan:
    """What a study computes, decided before any price is read.

    Attributes
    ----------
    spec
        The study parameters.
    aligned
        Every input event row with its day 0 (:func:`analysis.calendar.align_events`).
    rows
        The rows with a day 0, numbered ``row = 0..E-1`` in input order.
    tests
        The group tests to run (battery order).
    regressors
        The ``char.`` columns of the cross-sectional regressions.
    regression_rows
        The rows whose returns the statsmodels regressions read: the first
        ``max_regressions`` rows (per-event regressions) and the primary rows of groups with
        2 to ``max_regressions`` primary rows (pooled regression).
    max_paths
        The first this many rows get a CAR path (the plots).
    confounders
        Other events of the same ticker around every row
        (:func:`analysis.confounders.find_confounders`).
    test_rows
        ``row, group, day0_session`` of the rows the group tests run on
        (:func:`analysis.spillovers.battery_rows`).
    dropped
        ``row, event_day``: the estimation days left out of the rows' models
        (``spec.drop_confounded``; empty otherwise).
    """

    spec: StudySpec
    aligned: pl.DataFrame
    rows: pl.DataFrame
    tests: tuple[str, ...]
    regressors: tuple[str, ...]
    max_regressions: int
    regression_rows: np.ndarray
    max_paths: int
    confounders: pl.DataFrame
    test_rows: pl.DataFrame
    dropped: pl.DataFrame

    def batches(self) -> list[pl.DataFrame]:
        """The rows in contiguous batches of at most ``spec.batch_rows`` (at least one batch)."""
        size = self.spec.batch_rows
        return [self.rows.slice(i, size) for i in range(0, self.rows.height, size)] or [self.rows]

    def part(self, rows: pl.DataFrame) -> StudyPlan:
        """What :func:`event_batch` reads of the plan for ``rows`` (one of :meth:`batches`):
        the frames of the other rows left out, so a batch sent to another process carries
        its own rows only."""
        first = int(rows[ROW][0]) if rows.height else 0
        mine = pl.col(ROW).is_between(first, first + rows.height - 1)
        wanted = self.regression_rows
        return replace(
            self, aligned=self.aligned.clear(), rows=rows, confounders=self.confounders.clear(),
            test_rows=self.test_rows.filter(mine), dropped=self.dropped.filter(mine),
            regression_rows=wanted[(wanted >= first) & (wanted < first + rows.height)],
        )


def plan_study(
    events: pl.DataFrame, spec: StudySpec, cal: SessionCalendar, max_regressions: int = 100,
    max_paths: int = 50, context: pl.DataFrame | None = None, confounders: bool = True,
) -> StudyPlan:
    """Place every event on the calendar and decide what the study computes (see
    :func:`run_study` for the parameters); regressors that are not numeric characteristics of
    the events are an ``InputError``."""
    numeric = numeric_characteristics(events)
    if spec.regressors is not None:
        check_regressors(numeric, spec.regressors)
        numeric = list(spec.regressors)
    aligned = align_events(events, cal)
    rows = aligned.filter(pl.col(S.DAY0_SESSION).is_not_null()).with_row_index(ROW)
    primary = pl.col(S.ROLE) == "primary"
    pooled = rows.filter(primary & pl.len().over(S.GROUP, primary).is_between(2, max_regressions))
    regression_rows = np.union1d(np.arange(min(max_regressions, rows.height)), pooled[ROW].to_numpy())
    others = None
    if context is not None and context.height:
        others = align_events(context.join(events.select(S.EVENT_ID).unique(), on=S.EVENT_ID, how="anti"), cal)
    found = find_confounders(rows if confounders else rows.clear(), spec, others)
    dropped = pl.DataFrame(schema={ROW: pl.UInt32, S.EVENT_DAY: pl.Int32})
    if spec.drop_confounded:
        dropped = contaminated_days(found, spec).join(rows.select(ROW, S.EVENT_ID, S.TICKER), on=[S.EVENT_ID, S.TICKER]).select(
            ROW, S.EVENT_DAY).sort(ROW, S.EVENT_DAY)
    return StudyPlan(spec, aligned, rows, check_tests(spec.tests), tuple(CHAR_PREFIX + r for r in numeric), max_regressions, regression_rows,
                     max_paths, found, battery_rows(rows).select(ROW, S.GROUP, S.DAY0_SESSION), dropped)


# --- 2. per-event numbers, batch by batch -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PreparedPrices:
    """The prices of a study (or of a batch) laid out for the engine: returns by session, the
    data-check findings and the factor values by session."""

    grid: SessionGrid
    findings: pl.DataFrame
    factors: pl.DataFrame | None

    def only(self, tickers: pl.Series) -> PreparedPrices:
        """The prices and findings of those of its tickers in ``tickers`` (a batch that reads
        only them computes the same numbers on these as on the whole)."""
        return PreparedPrices(
            self.grid.only(tickers), self.findings.filter(pl.col(S.TICKER).is_in(tickers.implode())), self.factors,
        )


def prepare_prices(
    prices: pl.DataFrame, spec: StudySpec, cal: SessionCalendar, factors: Mapping[str, pl.DataFrame] | None = None
) -> PreparedPrices:
    """Returns by session (:func:`analysis.returns.session_grid`), the findings of
    :func:`analysis.quality.price_quality` and the study's factors by session."""
    placed = place_prices(prices, cal)
    wide = study_factors(factors or {}, spec)
    return PreparedPrices(
        session_grid(placed, cal, spec.returns), price_quality(placed, cal),
        None if wide is None else factor_sessions(wide, cal),
    )


@dataclass(frozen=True, eq=False)
class EventBatch:
    """Every per-event result of a batch of event rows (``row`` numbers are the study's).

    ``models``, ``abnormal_returns``, ``car``, ``outliers`` and ``paths`` are output tables
    (with ``row``); ``status`` holds the batch's notes for the events table (:func:`_row_status`
    joins them with the confounder and outlier notes); ``window_obs`` (each
    row's CAR and s.e. per test window) and ``daily`` (what the batch's daily abnormal returns
    contribute to the group tests, :func:`analysis.inference.summarise_daily`; None when no
    test reads them) feed the group tests; ``regression_panel`` is the long panel of the
    plan's regression rows.
    """

    models: pl.DataFrame
    abnormal_returns: pl.DataFrame
    car: pl.DataFrame
    status: pl.DataFrame
    window_obs: WindowObservations
    daily: DailySummary | None
    regression_panel: pl.DataFrame
    outliers: pl.DataFrame
    paths: pl.DataFrame


def event_batch(
    plan: StudyPlan, rows: pl.DataFrame, prices: PreparedPrices, cal: SessionCalendar, shares: pl.DataFrame | None = None,
) -> EventBatch:
    """The per-event results of ``rows`` (a contiguous slice of ``plan.rows``).

    Parameters
    ----------
    plan
        The study's plan.
    rows
        The batch's event rows.
    prices
        The prices of (at least) the batch's tickers and benchmarks (:func:`prepare_prices`).
    cal
        Exchange calendar.
    shares
        Shares outstanding ``ticker, as_of_date, shares_outstanding`` for dollar values.
    """
    spec = plan.spec
    offset = int(rows[ROW][0]) if rows.height else 0
    days = Window(spec.first_day, spec.report_days.end)
    panel = event_panel(rows, prices.grid, days, prices.factors)
    drop = plan.dropped.filter(pl.col(ROW).is_between(offset, offset + rows.height - 1))
    panel = drop_estimation_days(panel, drop[ROW].to_numpy().astype(np.int64) - offset, drop[S.EVENT_DAY].to_numpy())
    fits = fit_models(panel, spec)
    models = fits.frame.with_columns(pl.col(ROW) + offset)
    ar = abnormal_returns(panel, fits, spec)
    ws = window_statistics(ar, fits, spec)  # each window's CAR and variance, once: the car table and the tests
    car = cumulative_abnormal_returns(ar, fits, spec, ws=ws).with_columns(pl.col(ROW) + offset)
    if shares is None:
        shares = pl.DataFrame(schema={S.TICKER: pl.String, S.AS_OF_DATE: pl.Date, S.SHARES: pl.Int64})
    caps = market_caps(rows.select(ROW, S.TICKER, S.DAY0_SESSION), prices.grid, shares, cal)

    label = rows.select(ROW, *ROW_KEYS, S.DAY0_SESSION)
    causes = _missing_data(rows, prices.grid, cal)
    cause = causes.to_series()
    models_out = (
        models.join(label, on=ROW, maintain_order="left")
        .with_columns(
            cal.dates_of(pl.col(S.DAY0_SESSION) + pl.col(EST_FIRST_DAY)).alias(S.ESTIMATION_START),
            cal.dates_of(pl.col(S.DAY0_SESSION) + pl.col(EST_LAST_DAY)).alias(S.ESTIMATION_END),
        )
        .select(
            *S.MODEL_COLUMNS, *(c for c in models.columns if c.startswith(S.LOADING_PREFIX)),
            S.DF_RESID, S.MKT_MEAN, S.MKT_SXX, S.LOG_VOLUME_MEAN, S.LOG_VOLUME_SD, S.VOLUME_N_OBS,
            S.ROLE, S.GROUP, S.REASON, S.VOLUME_REASON, ROW,
        )
        # a model not fitted for want of data says so, not how few returns that left
        .with_columns(pl.when(pl.col(S.REASON).is_not_null()).then(pl.coalesce(cause, pl.col(S.REASON))).alias(S.REASON))
    )
    tau = np.arange(ar.days.start, ar.days.end + 1)
    day0 = rows[S.DAY0_SESSION].to_numpy().astype(np.int64)
    idx = pl.Series(np.repeat(np.arange(rows.height, dtype=np.uint32), tau.size))
    ar_out = ar.to_frame().select(
        *(label[c].gather(idx) for c in (S.EVENT_ID, S.TICKER)),
        cal.dates_at((day0[:, None] + tau[None, :]).ravel()).alias(S.DATE),
        S.EVENT_DAY, S.RET, S.BENCHMARK_RET, S.NORMAL_RET, S.ABNORMAL_RET, S.CUM_ABNORMAL_RET,
        S.AR_SE, S.AR_T, S.AR_P, S.ABNORMAL_VOLUME, S.ABNORMAL_VOLUME_T,
        *(label[c].gather(idx) for c in (S.ROLE, S.GROUP)),
    )
    # Per window: the batch's rows repeat (row-major), so labels are gathered, not joined.
    k = len(spec.windows)
    each = pl.Series(np.repeat(np.arange(rows.height, dtype=np.uint32), k))
    per_row = pl.concat([label, models.select(S.REASON, S.DF_RESID, S.VOLUME_REASON), caps.select(S.MARKET_CAP)],
                        how="horizontal")
    window_len = pl.col(S.WINDOW_END) - pl.col(S.WINDOW_START) + 1
    car_out = (
        car.with_columns(per_row.select(pl.all().gather(each)))
        .with_columns(
            (pl.col(S.CAR) * pl.col(S.MARKET_CAP)).alias(S.DOLLAR_ABNORMAL),
            (pl.col(S.RAW_RETURN) * pl.col(S.MARKET_CAP)).alias(S.DOLLAR_RAW),
            pl.coalesce(cause.gather(each), _join_reasons(
                pl.col(S.REASON),
                pl.when(pl.col(S.REASON).is_null() & (pl.col(S.N_DAYS) < window_len)).then(
                    pl.format("{} of {} window days without an abnormal return", window_len - pl.col(S.N_DAYS), window_len)
                ),
            )).alias(S.REASON),
        )
        .select(
            *S.CAR_COLUMNS, S.N_DAYS, S.RAW_RETURN, S.MARKET_CAP, S.DOLLAR_RAW, S.ABNORMAL_VOLUME, S.ABNORMAL_VOLUME_T,
            S.DF_RESID, S.ROLE, S.GROUP, S.REASON, S.VOLUME_REASON,
        )
    )
    # Coverage of the rows with a model: no CAR at all, a short estimation window, windows lacking days.
    n_days = car[S.N_DAYS].to_numpy().reshape(-1, k)
    has_car = car[S.CAR].is_not_null().to_numpy().reshape(-1, k)
    missing = np.array([w.length for w in spec.windows]) - n_days
    fitted = models[S.REASON].is_null()
    lacking = [
        pl.when(pl.Series(missing[:, j] > 0)).then(pl.format(
            f"window {w.start}:{w.end}: {{}} of {w.length} days without an abnormal return", pl.Series(missing[:, j]),
        ))
        for j, w in enumerate(spec.windows)
    ]
    quality = event_quality(prices.findings, rows, spec.first_day, spec.report_days.end, cal)
    status = (
        pl.concat([models.select(ROW, S.N_OBS, pl.col(S.REASON).alias("_model_reason")), caps.drop(ROW),
                   rows.select(DAY0_WARNING), causes],
                  how="horizontal")
        .with_columns(
            pl.when(fitted).then(pl.Series(has_car.any(axis=1))).alias("_any_car"),
            pl.when(fitted & (pl.col(S.N_OBS) < spec.estimation.length)).then(
                pl.format(f"{{}} of {spec.estimation.length} estimation returns", pl.col(S.N_OBS))
            ).alias("_short"),
            pl.when(fitted).then(_join_reasons(*lacking)).alias("_windows"),
        )
        .join(quality.rename({S.REASON: "_quality"}), on=ROW, how="left", maintain_order="left")
    )

    # The group tests' windows: every reported day (its AR), then the longer windows (of spec.windows).
    longer = [spec.windows.index(w) for w in windows_tested(spec)[spec.report_days.length:]]
    with np.errstate(invalid="ignore"):
        window_obs = WindowObservations(
            np.concatenate([ar.ar, ws.car[:, longer]], axis=1),
            np.sqrt(np.concatenate([ar.ar_var, ws.car_var[:, longer]], axis=1)),
        )
    residuals = abnormal_returns(panel, fits, spec, days=spec.estimation).ar
    daily = None
    if NEEDS_DAILY.intersection(plan.tests):
        daily = summarise_daily(
            _test_events(plan.test_rows.filter(pl.col(ROW).is_between(offset, offset + rows.height - 1)), models),
            DailyAbnormalReturns(residuals, ar.ar, spec.estimation, spec.report_days), plan.tests, offset,
        )
    outliers = (
        estimation_outliers(residuals, fits.array(S.SIGMA), spec.estimation)
        .with_columns(pl.col(ROW) + offset)
        .join(label, on=ROW, maintain_order="left")
        .with_columns(cal.dates_of(pl.col(S.DAY0_SESSION) + pl.col(S.EVENT_DAY)).alias(S.DATE))
        .select(ROW, *OUTLIERS_SCHEMA)
    )
    n_paths = max(0, min(plan.max_paths - offset, rows.height))
    paths = (
        car_paths(ar.head(n_paths), fits.head(n_paths), spec)
        .with_columns(pl.col(ROW) + offset)
        .join(label, on=ROW, maintain_order="left")
        .select(*PATH_SCHEMA)
    )
    mine = plan.regression_rows[(plan.regression_rows >= offset) & (plan.regression_rows < offset + rows.height)]
    regression_panel = panel.to_frame(mine - offset).with_columns(pl.col(ROW) + offset)
    return EventBatch(models_out, ar_out, car_out, status, window_obs, daily, regression_panel, outliers, paths)


def _missing_data(rows: pl.DataFrame, grid: SessionGrid, cal: SessionCalendar) -> pl.DataFrame:
    """``_cause``: why an event row can have no result whatever its model says, else null: no
    prices for its ticker or its benchmark, or day 0 after the last price of either (naming
    that day). It is the row's reason in every table (events, models, car), not the model's
    count of the estimation returns this left."""
    last = grid.tickers.select(S.TICKER, (pl.col(FIRST) + pl.col(SPAN) - 1).alias("_last"))
    placed = (
        rows.select(S.TICKER, S.BENCHMARK, S.DAY0_SESSION)
        .join(last, on=S.TICKER, how="left", maintain_order="left")
        .join(last.rename({S.TICKER: S.BENCHMARK, "_last": "_last_b"}), on=S.BENCHMARK, how="left", maintain_order="left")
    )
    day0 = pl.col(S.DAY0_SESSION)
    return placed.select(_join_reasons(
        pl.when(pl.col("_last").is_null()).then(pl.format("no prices for {}", pl.col(S.TICKER))),
        pl.when(pl.col("_last_b").is_null()).then(pl.format("no prices for benchmark {}", pl.col(S.BENCHMARK))),
        pl.when(day0 > pl.col("_last")).then(pl.format(
            "day 0 ({}) is after the data: the last price of {} is on {}",
            cal.dates_of(day0), pl.col(S.TICKER), cal.dates_of(pl.col("_last")),
        )).when(day0 > pl.col("_last_b")).then(pl.format(
            "day 0 ({}) is after the data: the last price of the benchmark {} is on {}",
            cal.dates_of(day0), pl.col(S.BENCHMARK), cal.dates_of(pl.col("_last_b")),
        )),
    ).alias("_cause"))


def _row_status(plan: StudyPlan, status: pl.DataFrame, outliers: pl.DataFrame) -> pl.DataFrame:
    """The events table's columns of a batch's event rows: ``row, n_obs``, the market-cap
    columns, ``n_confounders, n_outliers, outlier_dates, n_dropped, status, reason``, from the
    batch's ``status`` and ``outliers`` (:class:`EventBatch`) and the plan's confounders and
    dropped days of its rows."""
    spec, reported = plan.spec, plan.spec.report_days
    first = int(status[ROW][0]) if status.height else 0
    mine = pl.col(ROW).is_between(first, first + status.height - 1)
    return (
        status.join(confounder_reasons(plan.confounders.filter(mine), spec.drop_confounded, [ROW])
                    .rename({S.REASON: "_confounded"}), on=ROW, how="left", maintain_order="left")
        .join(outlier_reasons(outliers, by=[ROW]).rename({S.REASON: "_outliers"}), on=ROW, how="left",
              maintain_order="left")
        .join(plan.dropped.filter(mine).group_by(ROW).agg(pl.len().cast(pl.Int32).alias(S.N_DROPPED)), on=ROW,
              how="left", maintain_order="left")
        .with_columns(*_verdict(
            [pl.coalesce("_cause", "_model_reason"),
             pl.when(~pl.col("_any_car")).then(pl.lit(
                 f"no abnormal return on any event-window day ({reported.start:+d}..{reported.end:+d}): "
                 "the ticker's or the benchmark's returns are missing there"
             ))],
            [pl.col(DAY0_WARNING), pl.col(CAP_NOTE), pl.col("_short"), pl.when(pl.col("_any_car")).then(pl.col("_windows")),
             pl.col("_quality"), pl.col("_confounded"), pl.col("_outliers")],
        ))
        .with_columns(pl.col(S.N_CONFOUNDERS, S.N_OUTLIERS, S.N_DROPPED).fill_null(0))
        .drop(DAY0_WARNING, "_model_reason", "_any_car", "_short", "_windows", "_quality", "_confounded", "_outliers",
              "_cause")
    )


# --- 3. group statistics on the combined batches --------------------------------------------------------


def _regressions(
    plan: StudyPlan, models: pl.DataFrame, car: pl.DataFrame, panel: pl.DataFrame,
) -> tuple[pl.DataFrame, tuple[SummaryTable, ...]]:
    """The statsmodels regressions of :func:`combine_batches` (see :attr:`StudyResult.regressions`)
    and their summary_col tables."""
    spec, rows = plan.spec, plan.rows
    label = rows.select(ROW, S.EVENT_ID, S.TICKER, S.GROUP)
    primary_ok = rows.filter(pl.col(S.ROLE) == "primary").join(models.filter(pl.col(S.REASON).is_null()).select(ROW), on=ROW)
    numeric = list(plan.regressors)
    cross, cross_tables = cross_sectional_regressions(
        car.filter(pl.col(S.ROLE) == "primary").join(
            rows.select(S.EVENT_ID, S.TICKER, *numeric), on=[S.EVENT_ID, S.TICKER], how="left"
        ),
        numeric,
    )
    pooled, pooled_tables = pooled_event_regressions(
        panel, primary_ok.select(ROW, S.GROUP, S.DAY0_SESSION), spec, spec.pooled_cov, max_rows=plan.max_regressions
    )
    per_event = (
        event_regressions(panel, spec, rows=list(range(min(plan.max_regressions, rows.height))))
        .join(label, on=ROW)
        .with_columns(pl.lit("nonrobust").alias(COV_TYPE))
    )
    regressions = pl.concat([per_event.drop(ROW), cross, pooled], how="diagonal_relaxed").select(
        "regression", S.GROUP, S.EVENT_ID, S.TICKER, S.WINDOW_START, S.WINDOW_END, COV_TYPE, "term", "estimate",
        "std_error", S.T_STAT, S.P_VALUE, S.N_OBS, S.R_SQUARED, S.SIGMA, S.REASON,
    )
    return regressions, (*cross_tables, *pooled_tables)


def combine_batches(
    plan: StudyPlan, batches: Iterable[EventBatch], quality: pl.DataFrame, known: Collection[str],
    sink: Sink | None = None, on_stage: StageTimer | None = None,
) -> StudyResult:
    """The study's result from the per-event results of all its batches (in row order): the
    group tests and regressions on the combined rows, and the tables.

    The batches are consumed one at a time (``batches`` may be a generator that computes
    them): each one's abnormal returns go to ``sink`` and to the confounders'
    ``ar_at_offset``, and the group tests keep only what they read of it
    (:class:`analysis.inference.DailySummary`); after the group tests, each batch's rows get
    their status and reason (:func:`_row_status`).

    Parameters
    ----------
    plan
        The study's plan.
    batches
        :func:`event_batch` of every batch of ``plan.batches(...)``, in order.
    quality
        The findings of :func:`analysis.quality.price_quality` on the study's prices.
    known
        The tickers that have prices: an event row without a day 0 whose ticker or benchmark
        is not among them also says "no prices for ..." (the rows with a day 0 got that
        note in their batch, :func:`_missing_data`).
    sink
        Called as ``sink("abnormal_returns", frame)`` with each batch's rows of the
        abnormal-returns table, in row order (every row exactly once), for the caller to
        write them out; the result then keeps only their day-0 rows (see :class:`StudyResult`).
        Without a sink the result keeps every row.
    on_stage
        Called as ``on_stage(stage, seconds)`` after each stage: ``models and CARs`` (the
        time spent waiting for the batches; about 0 when they were computed beforehand),
        ``confounders`` (their ARs, batch by batch), ``sink`` (in ``sink``), ``group
        tests``, ``regressions`` and ``events table``.
    """
    spec = plan.spec
    rows = plan.rows
    reported = spec.report_days
    kept: dict[str, list] = {k: [] for k in ("models", "car", "status", "car_obs", "se_obs", "daily", "panel",
                                            "ar", "outliers", "paths")}
    # Each batch's confounders (by row): the row's AR on the confounder's day 0.
    conf_row = plan.confounders[ROW].to_numpy().astype(np.int64)
    by_row = np.argsort(conf_row, kind="stable")
    conf_offset = plan.confounders[S.OFFSET].to_numpy()
    at_offset = np.full(conf_offset.size, np.nan)
    waited = sunk = noted = 0.0
    stream = iter(batches)
    while True:
        started = time.perf_counter()
        b = next(stream, None)
        waited += time.perf_counter() - started
        if b is None:
            break
        started = time.perf_counter()
        first = int(b.models[ROW][0]) if b.models.height else 0
        lo, hi = np.searchsorted(conf_row, [first, first + b.models.height], sorter=by_row)
        mine = by_row[lo:hi]  # the batch's confounders
        near = mine[(conf_offset[mine] >= reported.start) & (conf_offset[mine] <= reported.end)]
        at_offset[near] = b.abnormal_returns[S.ABNORMAL_RET].to_numpy()[
            (conf_row[near] - first) * reported.length + conf_offset[near] - reported.start
        ]
        noted += time.perf_counter() - started
        if sink is None:
            kept["ar"].append(b.abnormal_returns)
        else:
            started = time.perf_counter()
            sink(ABNORMAL_RETURNS, b.abnormal_returns)
            sunk += time.perf_counter() - started
            kept["ar"].append(b.abnormal_returns.filter(pl.col(S.EVENT_DAY) == 0))
        for name, part in (("models", b.models), ("car", b.car), ("status", b.status), ("car_obs", b.window_obs.car),
                           ("se_obs", b.window_obs.se), ("daily", b.daily), ("panel", b.regression_panel),
                           ("outliers", b.outliers), ("paths", b.paths)):
            kept[name].append(part)
        del b
    timed = _Stages(on_stage)
    timed.add("models and CARs", waited)
    timed.add("confounders", noted)
    if sink is not None:
        timed.add("sink", sunk)
    models = pl.concat(kept.pop("models"))
    car_out = pl.concat(kept.pop("car"))
    daily = combine_daily(kept.pop("daily")) if NEEDS_DAILY.intersection(plan.tests) else None
    obs = WindowObservations(np.concatenate(kept.pop("car_obs")), np.concatenate(kept.pop("se_obs")))
    tests = group_tests(_test_events(plan.test_rows, models), obs, daily, windows_tested(spec), plan.tests)
    del daily, obs  # before the regressions: run beside the group tests, 10^6 events peaked at 8.27 GiB, not 7.39
    timed.lap("group tests")
    regressions, regression_tables = _regressions(plan, models, car_out, pl.concat(kept["panel"]))
    timed.lap("regressions")
    confounders = plan.confounders.drop(ROW).with_columns(pl.Series(AR_AT_OFFSET, at_offset, nan_to_null=True))
    # The rows' notes are joined batch by batch, once the group tests have released their daily
    # series: the long texts (confounder notes) are made once and never held with those series.
    status = pl.concat([_row_status(plan, *part) for part in zip(kept.pop("status"), kept["outliers"], strict=True)],
                       how="diagonal_relaxed")
    no_prices, no_bench = _no_prices(known)
    unplaced = _verdict([pl.format("day 0: {}", pl.col(S.DAY0_RULE)), no_prices, no_bench], [pl.col(DAY0_WARNING)])
    events_out = (
        plan.aligned.lazy()
        .join(rows.lazy().select(S.EVENT_ID, S.TICKER, ROW), on=[S.EVENT_ID, S.TICKER], how="left",
              maintain_order="left")
        .join(status.lazy(), on=ROW, how="left", maintain_order="left")
        .with_columns(pl.when(pl.col(ROW).is_null()).then(e).otherwise(pl.col(e.meta.output_name())) for e in unplaced)
        .with_columns(pl.col(S.N_CONFOUNDERS, S.N_OUTLIERS, S.N_DROPPED).fill_null(0))
        .collect(engine="in-memory")
    )
    timed.lap("events table")
    return StudyResult(
        spec, events_out, pl.concat(kept["ar"]), models.drop(ROW), car_out, tests, regressions,
        regression_tables=regression_tables, quality=quality,
        paths=pl.concat(kept["paths"]).sort(S.EVENT_ID, S.TICKER, S.EVENT_DAY),
        confounders=confounders, outliers=pl.concat(kept["outliers"]).drop(ROW),
    )


# --- the whole study in one process -----------------------------------------------------------------------


def run_study(
    events: pl.DataFrame,
    prices: pl.DataFrame,
    spec: StudySpec,
    cal: SessionCalendar,
    shares: pl.DataFrame | None = None,
    max_regressions: int = 100,
    factors: Mapping[str, pl.DataFrame] | None = None,
    max_paths: int = 50,
    context: pl.DataFrame | None = None,
    confounders: bool = True,
    sink: Sink | None = None,
    on_stage: StageTimer | None = None,
) -> StudyResult:
    """Run an event study.

    Parameters
    ----------
    events
        One row per event x ticker, as made by :func:`analysis.specs.events_frame`.
    prices
        Long daily prices ``ticker, date, close, adj_close`` (and ``volume`` for abnormal
        volume) of every ticker and benchmark.
    spec
        Study parameters (also the regressors, the pooled regression's errors, the tests and
        the batch size).
    cal
        Exchange calendar.
    shares
        Shares outstanding ``ticker, as_of_date, shares_outstanding`` for dollar values.
    max_regressions
        Fit the statsmodels regressions for at most this many event rows (they loop over
        events; the vectorised statistics cover every row regardless), and pool only groups
        of 2 to this many primary event rows. 0 skips them (what large studies want).
    factors
        Factor sets by name (``date`` + factor columns in decimals, see
        :mod:`analysis.factors`): those of ``spec.factor_sets`` for the factor models.
    max_paths
        Compute the day-by-day CAR paths (the plots) for at most this many event rows.
    context
        Further catalog events (:func:`analysis.specs.events_frame`) that are not studied
        but can confound the studied ones (:mod:`analysis.confounders`).
    confounders
        Look for confounding events among the events (and ``context``). Off for pseudo-events
        (:mod:`analysis.size_power`), which are not news and would confound each other by the
        million.
    sink
        Receives each batch's abnormal-return rows as they are computed, in row order
        (``sink("abnormal_returns", frame)``), to write them out; the result then keeps only
        the day-0 rows (:func:`combine_batches`). With a sink, memory does not grow with the
        event-day rows: the batches are computed at most :data:`AHEAD` ahead of the sink.
    on_stage
        Receives ``(stage, seconds)`` for ``prices and plan`` (prices laid out, data checks,
        day 0 and confounders) and then the stages of :func:`combine_batches`.

    Returns
    -------
    StudyResult
        Every input event row is in ``events``: ``skipped`` (no result: no day 0, no prices,
        too few estimation returns, or no abnormal return in any window) or ``flagged`` (a
        result with a caveat: a day-0 or market-cap note, fewer estimation returns than the
        window has days, window days without an abnormal return, findings of
        :func:`analysis.quality.price_quality` in the event's data range, other events of
        the ticker in its windows (confounders) or estimation outliers), with the reasons.
        Related tickers of an event with two or more of them are also tested as the group
        ``<event>:related`` (:func:`analysis.spillovers.battery_rows`).
    """
    timed = _Stages(on_stage)
    with ThreadPoolExecutor(2) as pool:  # the plan (confounders) and the prices are independent
        laid_out = pool.submit(prepare_prices, prices, spec, cal, factors)
        plan = plan_study(events, spec, cal, max_regressions, max_paths, context, confounders)
        prepared = laid_out.result()
        timed.lap("prices and plan")
        findings, known = prepared.findings, prepared.grid.tickers[S.TICKER]
        results = in_order(pool, partial(event_batch, plan, prices=prepared, cal=cal, shares=shares),
                           plan.batches(), AHEAD)
        del laid_out, prepared  # only the batches hold the laid-out prices, until the last one is done
        return combine_batches(plan, results, findings, known, sink, on_stage)


def price_requirements(
    events: pl.DataFrame, spec: StudySpec, cal: SessionCalendar, per_event: bool = False
) -> pl.DataFrame:
    """The date range of prices each ticker and benchmark needs (of each event, with
    ``per_event``).

    From the session before the estimation window's first day (its close is the base of the
    first return) to the last reported event day, clipped to the calendar.

    Parameters
    ----------
    events
        Aligned events (``ticker, benchmark, day0_session``) from
        :func:`analysis.calendar.align_events`; rows without a day 0 are ignored.
    per_event
        One row per event and ticker instead of per ticker.

    Returns
    -------
    pl.DataFrame
        ``ticker, start, end`` (Date), one row per ticker (``event_id, ticker, start, end``
        per event and ticker with ``per_event``), sorted.
    """
    last = cal.sessions.height - 1
    placed = events.filter(pl.col(S.DAY0_SESSION).is_not_null())
    keys = [S.EVENT_ID, S.TICKER] if per_event else [S.TICKER]
    spans = placed.select(
        *keys[:-1],
        pl.concat_list(S.TICKER, S.BENCHMARK).alias(S.TICKER),
        (pl.col(S.DAY0_SESSION) + spec.first_day - 1).clip(0, last).alias("start"),
        (pl.col(S.DAY0_SESSION) + spec.report_days.end).clip(0, last).alias("end"),
    ).explode(S.TICKER)
    return (
        spans.group_by(keys)
        .agg(pl.col("start").min(), pl.col("end").max())
        .with_columns(cal.dates_of(pl.col("start")).alias("start"), cal.dates_of(pl.col("end")).alias("end"))
        .sort(keys)
    )
