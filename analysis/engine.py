"""The event study, end to end, as one pure function over frames.

``run_study`` chains the pieces of ``analysis``: calendar alignment → returns → panel →
normal-return model → abnormal returns → CARs → dollar values → group tests, vectorised over
all event rows at once (no loop over events). The CLI, the Prefect flows, the demo and the
benchmark all call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from analysis import schema as S
from analysis.abnormal import abnormal_returns, cumulative_abnormal_returns
from analysis.calendar import SessionCalendar, align_events
from analysis.claims import CLAIM_SCHEMA
from analysis.confounders import (
    CONFOUNDER_SCHEMA, confounder_reasons, contaminated_days, drop_estimation_days, estimation_outliers, find_confounders,
    outlier_reasons,
)
from analysis.factors import factor_sessions, study_factors
from analysis.models import EST_FIRST_DAY, EST_LAST_DAY, fit_models
from analysis.panel import ROW, event_panel
from analysis.paths import car_paths
from analysis.quality import QUALITY_SCHEMA, event_quality, price_quality
from analysis.regression import (
    COV_TYPE, PooledCov, SummaryTable, cross_sectional_regressions, event_regressions, pooled_event_regressions,
)
from analysis.returns import session_returns
from analysis.errors import InputError
from analysis.inference import group_tests
from analysis.specs import CHAR_PREFIX, StudySpec, Window
from analysis.spillovers import battery_rows
from analysis.valuation import CAP_NOTE, market_caps

STATUS = "status"  # "ok", "skipped" (no result) or "flagged" (a result with a caveat)
AR_AT_OFFSET = "ar_at_offset"  # confounders: the event row's AR on the confounder's day 0
ROW_KEYS = (S.EVENT_ID, S.TICKER, S.ROLE, S.GROUP)
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
    regressions
        Every statsmodels regression as one tidy frame (see :mod:`analysis.regression`):
        per event row the market model and the dummy-variable event regression (for the
        first ``max_regressions`` event rows; ``window_*`` null), per group and window the
        cross-sectional regression of CARs on the catalog's characteristics (HC3), and per
        group the pooled dummy-variable regression (``event_id``/``ticker`` null).
    regression_tables
        The group regressions in the summary_col layout, rendered (Markdown, HTML, LaTeX).
    paths
        CAR from the first reported day to each reported day with its standard error, for the
        first ``max_paths`` event rows (:func:`analysis.paths.car_paths`; the plots' lines).
    quality
        Findings of :func:`analysis.quality.price_quality` on the prices the study was given
        (``ticker, date, check, ratio, detail``); those inside an event row's data range are
        also in that row's ``reason``.
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


def run_study(
    events: pl.DataFrame,
    prices: pl.DataFrame,
    spec: StudySpec,
    cal: SessionCalendar,
    shares: pl.DataFrame | None = None,
    max_regressions: int = 100,
    regressors: list[str] | None = None,
    pooled_cov: PooledCov = "cluster",
    factors: Mapping[str, pl.DataFrame] | None = None,
    max_paths: int = 50,
    context: pl.DataFrame | None = None,
    confounders: bool = True,
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
        Study parameters.
    cal
        Exchange calendar.
    shares
        Shares outstanding ``ticker, as_of_date, shares_outstanding`` for dollar values.
    max_regressions
        Fit the statsmodels regressions for at most this many event rows (they loop over
        events; the vectorised statistics cover every row regardless). Groups with more
        event rows are not pooled either.
    regressors
        Characteristics (catalog names, without ``char.``) for the cross-sectional regression
        of CARs; default all numeric characteristics; ``[]`` for none.
    pooled_cov
        Standard errors of the pooled regression: ``cluster`` by date or ``hac`` within firm.
    max_paths
        Compute the day-by-day CAR paths (the plots) for at most this many event rows.
    factors
        Factor sets by name (``date`` + factor columns in decimals, see
        :mod:`analysis.factors`): those of ``spec.factor_sets`` for the factor models.
    context
        Further catalog events (:func:`analysis.specs.events_frame`) that are not studied
        but can confound the studied ones (:mod:`analysis.confounders`).
    confounders
        Look for confounding events among the events (and ``context``). Off for pseudo-events
        (:mod:`analysis.size_power`), which are not news and would confound each other by the
        million.

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
    aligned = align_events(events, cal)
    placed = aligned.filter(pl.col(S.DAY0_SESSION).is_not_null())
    rows = placed.with_row_index(ROW)
    returns = session_returns(prices, cal, spec.returns)
    days = Window(spec.first_day, spec.report_days.end)
    wide = study_factors(factors or {}, spec)
    panel = event_panel(rows, returns, days, None if wide is None else factor_sessions(wide, cal))
    others = None
    if context is not None and context.height:
        others = align_events(context.join(events.select(S.EVENT_ID).unique(), on=S.EVENT_ID, how="anti"), cal)
    confounders = find_confounders(rows if confounders else rows.clear(), spec, others)
    dropped = (
        contaminated_days(confounders, spec).join(rows.select(ROW, S.EVENT_ID, S.TICKER), on=[S.EVENT_ID, S.TICKER])
        .select(ROW, S.EVENT_DAY)
        if spec.drop_confounded else pl.DataFrame(schema={ROW: pl.UInt32, S.EVENT_DAY: pl.Int32})
    )
    panel = drop_estimation_days(panel, dropped)  # a separate step on the panel: no-op unless drop_confounded
    models = fit_models(panel, rows.height, spec)
    ar = abnormal_returns(panel, models, spec)
    car = cumulative_abnormal_returns(ar, models, spec)
    if shares is None:
        shares = pl.DataFrame(schema={S.TICKER: pl.String, S.AS_OF_DATE: pl.Date, S.SHARES: pl.Int64})
    caps = market_caps(rows.select(ROW, S.TICKER, S.DAY0_SESSION), returns, shares)

    # Labels: ids and dates instead of row numbers and session indices.
    label = rows.select(ROW, *ROW_KEYS, S.DAY0_SESSION)
    date_of = cal.dates_of
    known = set(returns[S.TICKER].unique().to_list())
    no_prices = (
        pl.when(~pl.col(S.TICKER).is_in(known)).then(pl.format("no prices for {}", pl.col(S.TICKER)))
    )
    no_bench = (
        pl.when(~pl.col(S.BENCHMARK).is_in(known)).then(pl.format("no prices for benchmark {}", pl.col(S.BENCHMARK)))
    )
    models_out = (
        models.join(label, on=ROW)
        .with_columns(
            date_of(pl.col(S.DAY0_SESSION) + pl.col(EST_FIRST_DAY)).alias(S.ESTIMATION_START),
            date_of(pl.col(S.DAY0_SESSION) + pl.col(EST_LAST_DAY)).alias(S.ESTIMATION_END),
        )
        .select(
            *S.MODEL_COLUMNS, *(c for c in models.columns if c.startswith(S.LOADING_PREFIX)),
            S.DF_RESID, S.MKT_MEAN, S.MKT_SXX, S.LOG_VOLUME_MEAN, S.LOG_VOLUME_SD, S.VOLUME_N_OBS,
            S.ROLE, S.GROUP, S.REASON, S.VOLUME_REASON, ROW,
        )
    )
    reported = spec.report_days
    ar_out = (
        ar.filter(pl.col(S.EVENT_DAY).is_between(reported.start, reported.end))
        .join(label, on=ROW)
        .with_columns(date_of(pl.col(S.DAY0_SESSION) + pl.col(S.EVENT_DAY)).alias(S.DATE))
        .select(*S.AR_COLUMNS, S.AR_SE, S.AR_T, S.AR_P, S.ABNORMAL_VOLUME, S.ABNORMAL_VOLUME_T, S.ROLE, S.GROUP)
    )
    window_len = pl.col(S.WINDOW_END) - pl.col(S.WINDOW_START) + 1
    car_out = (
        car.join(label, on=ROW)
        .join(caps.select(ROW, S.MARKET_CAP), on=ROW, how="left")
        .join(models.select(ROW, S.REASON, S.DF_RESID, S.VOLUME_REASON), on=ROW, how="left")
        .with_columns(
            (pl.col(S.CAR) * pl.col(S.MARKET_CAP)).alias(S.DOLLAR_ABNORMAL),
            (pl.col(S.RAW_RETURN) * pl.col(S.MARKET_CAP)).alias(S.DOLLAR_RAW),
            _join_reasons(
                pl.col(S.REASON),
                pl.when(pl.col(S.REASON).is_null() & (pl.col(S.N_DAYS) < window_len)).then(
                    pl.format("{} of {} window days without an abnormal return", window_len - pl.col(S.N_DAYS), window_len)
                ),
            ).alias(S.REASON),
        )
        .select(
            *S.CAR_COLUMNS, S.N_DAYS, S.RAW_RETURN, S.MARKET_CAP, S.DOLLAR_RAW, S.ABNORMAL_VOLUME, S.ABNORMAL_VOLUME_T,
            S.DF_RESID, S.ROLE, S.GROUP, S.REASON, S.VOLUME_REASON,
        )
    )
    quality = price_quality(prices, cal)
    quality_reasons = event_quality(quality, rows, spec.first_day, spec.report_days.end, cal)
    missing_days = window_len - pl.col(S.N_DAYS)
    coverage = (  # rows with a model: short estimation, windows lacking days, no CAR at all
        car.join(models.select(ROW, S.N_OBS, pl.col(S.REASON).alias("_model_reason")), on=ROW)
        .filter(pl.col("_model_reason").is_null())
        .sort(ROW, S.WINDOW_START, S.WINDOW_END)
        .group_by(ROW, maintain_order=True)
        .agg(
            pl.col(S.CAR).is_not_null().any().alias("_any_car"),
            pl.when(pl.col(S.N_OBS).first() < spec.estimation.length).then(pl.format(
                "{} of {} estimation returns", pl.col(S.N_OBS).first(), pl.lit(spec.estimation.length),
            )).alias("_short"),
            pl.format(
                "window {}:{}: {} of {} days without an abnormal return",
                S.WINDOW_START, S.WINDOW_END, missing_days, window_len,
            ).filter(missing_days > 0).str.join("; ").replace("", None).alias("_windows"),
        )
    )
    tests = group_tests(ar, models, battery_rows(rows), spec)
    outliers = (
        estimation_outliers(ar, models, spec).join(label, on=ROW)
        .with_columns(date_of(pl.col(S.DAY0_SESSION) + pl.col(S.EVENT_DAY)).alias(S.DATE))
        .select(*OUTLIERS_SCHEMA)
    )
    confounders_out = confounders.join(
        ar_out.select(S.EVENT_ID, S.TICKER, pl.col(S.EVENT_DAY).alias(S.OFFSET), pl.col(S.ABNORMAL_RET).alias(AR_AT_OFFSET)),
        on=[S.EVENT_ID, S.TICKER, S.OFFSET], how="left", maintain_order="left",
    )
    per_row_notes = (
        rows.select(ROW, S.EVENT_ID, S.TICKER)
        .join(confounder_reasons(confounders, spec.drop_confounded).rename({S.REASON: "_confounded"}),
              on=[S.EVENT_ID, S.TICKER], how="left")
        .join(outlier_reasons(outliers).rename({S.REASON: "_outliers"}), on=[S.EVENT_ID, S.TICKER], how="left")
        .join(dropped.group_by(ROW).agg(pl.len().cast(pl.Int32).alias(S.N_DROPPED)), on=ROW, how="left")
        .select(
            ROW, pl.col(S.N_CONFOUNDERS).fill_null(0), pl.col(S.N_OUTLIERS).fill_null(0), S.OUTLIER_DATES,
            pl.col(S.N_DROPPED).fill_null(0), "_confounded", "_outliers",
        )
    )
    numeric = [c for c, t in events.schema.items() if c.startswith(CHAR_PREFIX) and t == pl.Float64]
    if regressors is not None:
        unknown = [r for r in regressors if CHAR_PREFIX + r not in numeric]
        if unknown:
            known = ", ".join(c.removeprefix(CHAR_PREFIX) for c in numeric) or "none"
            raise InputError(f"not a numeric characteristic of the catalog: {', '.join(unknown)} (numeric ones: {known})", field="regressors")
        numeric = [CHAR_PREFIX + r for r in regressors]
    primary_ok = rows.filter(pl.col(S.ROLE) == "primary").join(models.filter(pl.col(S.REASON).is_null()).select(ROW), on=ROW)
    cross, cross_tables = cross_sectional_regressions(
        car_out.filter(pl.col(S.ROLE) == "primary").join(
            rows.select(S.EVENT_ID, S.TICKER, *numeric), on=[S.EVENT_ID, S.TICKER], how="left"
        ),
        numeric,
    )
    pooled, pooled_tables = pooled_event_regressions(
        panel, primary_ok.select(ROW, S.GROUP, S.DAY0_SESSION), spec, pooled_cov, max_rows=max_regressions
    )
    per_event = (
        event_regressions(panel, spec, rows=list(range(min(max_regressions, rows.height))))
        .join(label.select(ROW, S.EVENT_ID, S.TICKER, S.GROUP), on=ROW)
        .with_columns(pl.lit("nonrobust").alias(COV_TYPE))
    )
    regressions = pl.concat([per_event.drop(ROW), cross, pooled], how="diagonal_relaxed").select(
        "regression", S.GROUP, S.EVENT_ID, S.TICKER, S.WINDOW_START, S.WINDOW_END, COV_TYPE, "term", "estimate",
        "std_error", S.T_STAT, S.P_VALUE, S.N_OBS, S.R_SQUARED, S.SIGMA, S.REASON,
    )

    events_out = (
        aligned.with_row_index("_order")
        .join(rows.select(S.EVENT_ID, S.TICKER, ROW), on=[S.EVENT_ID, S.TICKER], how="left")
        .join(models.select(ROW, S.N_OBS, pl.col(S.REASON).alias("_model_reason")), on=ROW, how="left")
        .join(caps, on=ROW, how="left")
        .join(coverage, on=ROW, how="left")
        .join(quality_reasons.rename({S.REASON: "_quality"}), on=ROW, how="left")
        .join(per_row_notes, on=ROW, how="left")
        .with_columns(
            _join_reasons(
                pl.when(pl.col(S.DAY0_SESSION).is_null()).then(pl.format("day 0: {}", pl.col(S.DAY0_RULE))),
                no_prices, no_bench,
                pl.when(no_prices.is_null() & no_bench.is_null()).then(pl.col("_model_reason")),
                pl.when(~pl.col("_any_car")).then(pl.lit(
                    f"no abnormal return on any event-window day ({reported.start:+d}..{reported.end:+d}): "
                    "the ticker's or the benchmark's returns are missing there"
                )),
            ).alias("_skip"),
            _join_reasons(
                pl.col("day0_warning"), pl.col(CAP_NOTE), pl.col("_short"),
                pl.when(pl.col("_any_car")).then(pl.col("_windows")), pl.col("_quality"),
                pl.col("_confounded"), pl.col("_outliers"),
            ).alias("_flag"),
        )
        .with_columns(
            pl.when(pl.col("_skip").is_not_null()).then(pl.lit("skipped"))
            .when(pl.col("_flag").is_not_null()).then(pl.lit("flagged"))
            .otherwise(pl.lit("ok"))
            .alias(STATUS),
            _join_reasons(pl.col("_skip"), pl.col("_flag")).alias(S.REASON),
        )
        .with_columns(pl.col(S.N_CONFOUNDERS, S.N_OUTLIERS, S.N_DROPPED).fill_null(0))
        .sort("_order")
        .drop("_skip", "_flag", "_model_reason", "_order", "_any_car", "_short", "_windows", "_quality", "_confounded",
              "_outliers")
    )
    first = pl.col(ROW) < max_paths
    paths = (
        car_paths(ar.filter(first), models.filter(first), spec)
        .join(label.select(ROW, *ROW_KEYS), on=ROW)
        .select(*PATH_SCHEMA)
        .sort(S.EVENT_ID, S.TICKER, S.EVENT_DAY)
    )
    return StudyResult(
        spec, events_out, ar_out, models_out.drop(ROW), car_out, tests, regressions,
        regression_tables=(*cross_tables, *pooled_tables), quality=quality, paths=paths,
        confounders=confounders_out, outliers=outliers,
    )


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
