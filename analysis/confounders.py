"""Confounding events, contaminated estimation days and estimation-window outliers.

A reaction is *confounded* when other news moved the same stock inside its windows: Amazon's
Q3 2025 results (2025-10-30 after the close, day 0 2025-10-31) sit on day −1 of the
AWS–OpenAI deal (day 0 2025-11-03), inside its [−1,+1] and [−5,+5] windows. For every event
row (event × ticker, primary or related) the other catalog events naming the same ticker (as
a primary or a related ticker) are found by one self-join on the ticker, with day-0 session
arithmetic on the exchange calendar::

    o = s₀(other) − s₀(event)          the other event's day 0 in this event's time

With [E₁, E₂] the estimation window and [A, B] the span of the event windows
(``spec.report_days``), the other event is listed when its day 0 falls anywhere from the start
of the estimation window to the last event-window day (``E₁ ≤ o ≤ B``) or when its own
event-window days ``[o + A, o + B]`` reach into the estimation window. Its *contaminated days*
are those own event-window days inside this event's estimation window::

    [o + A, o + B] ∩ [E₁, E₂],    count = max(0, min(o + B, E₂) − max(o + A, E₁) + 1)

(MacKinlay 1997, section 5: the estimation window should not contain the event — nor, by the
same argument, other events of the firm). With ``StudySpec.drop_confounded`` those days leave
the estimation sample (:func:`drop_estimation_days`); otherwise they stay and the event is
flagged. A confounder inside an event window cannot be removed by any estimation choice: it is
flagged, and the event's abnormal return on the confounder's day 0 is reported beside it
(``ar_at_offset``) so a reader can take it out of the CAR.

*Estimation outliers*: estimation days whose standardized residual ``|e_t| / σ̂`` exceeds
:data:`OUTLIER_Z` (4) — a day 4 residual standard deviations out has probability 6e-5 under
normal errors, so one in a 250-day window is worth a look (often the firm's own earnings).
They are reported, not removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.panel import ROW, EventPanel
from analysis.specs import StudySpec, Window

OUTLIER_Z = 4.0
EVENT_WINDOW = "event window"
ESTIMATION_WINDOW = "estimation window"
BETWEEN = "between the windows"
BEFORE = "before the estimation window"

CONFOUNDER_SCHEMA = {
    S.EVENT_ID: pl.String, S.TICKER: pl.String, S.ROLE: pl.String, S.CONFOUNDER_ID: pl.String,
    S.CONFOUNDER_ROLE: pl.String, S.CONFOUNDER_DAY0: pl.Date, S.OFFSET: pl.Int32, S.LOCATION: pl.String,
    S.WINDOWS: pl.String, S.CONTAMINATED_DAYS: pl.Int32, S.IN_STUDY: pl.Boolean, S.DISCOVERED: pl.Boolean,
}
OUTLIER_SCHEMA = {ROW: pl.UInt32, S.EVENT_DAY: pl.Int32, S.ABNORMAL_RET: pl.Float64, S.STD_RESID: pl.Float64}


def find_confounders(rows: pl.DataFrame, spec: StudySpec, others: pl.DataFrame | None = None) -> pl.DataFrame:
    """Other events of the same ticker around every event row (see the module docstring).

    Parameters
    ----------
    rows
        The study's event rows with a day 0: ``event_id, ticker, role, day0, day0_session``
        (and ``row``, kept in front of the result when present).
    spec
        Study parameters (estimation window, event windows).
    others
        Further catalog event rows, not studied, in the same form: they can confound the
        study's events (``in_study`` false) but are not listed themselves. A Boolean column
        ``discovered`` marks the SEC filings found by ``events discover`` among them.

    Returns
    -------
    pl.DataFrame
        :data:`CONFOUNDER_SCHEMA`: ``event_id, ticker, role, confounder_id, confounder_role,
        confounder_day0, offset`` (o), ``location`` (``event window``, ``between the windows``,
        ``estimation window`` or ``before the estimation window``), ``windows`` (labels of the
        event windows holding o, comma-separated, null if none), ``contaminated_days``,
        ``in_study``, ``discovered`` (an SEC filing of ``events discover``, from ``others``);
        sorted by event, ticker, offset and confounder.
    """
    keys = [S.EVENT_ID, S.TICKER, S.ROLE, S.DAY0, S.DAY0_SESSION]
    row = [ROW] if ROW in rows.columns else []
    mine = rows.select(*row, *keys).filter(pl.col(S.DAY0_SESSION).is_not_null())
    pool = mine.select(keys).with_columns(pl.lit(True).alias(S.IN_STUDY), pl.lit(False).alias(S.DISCOVERED))
    if others is not None:
        found = pl.col(S.DISCOVERED).fill_null(False) if S.DISCOVERED in others.columns else pl.lit(False)
        placed = others.select(*keys, found.alias(S.DISCOVERED)).filter(pl.col(S.DAY0_SESSION).is_not_null())
        pool = pl.concat([pool, placed.with_columns(pl.lit(False).alias(S.IN_STUDY))], how="diagonal")
    est, span = spec.estimation, spec.report_days
    # Every listed pair has o in [lo, hi]: its day 0 before the last event-window day, its event
    # window not entirely before the estimation window. Sessions in buckets of that width: a pair
    # lies in the event's bucket of s + lo or of s + hi, so the self-join on (ticker, bucket)
    # meets only nearby events, not every pair of events of a ticker. The pairs are found and
    # ordered on integer codes; the text columns are gathered onto the listed pairs only.
    lo, hi = min(est.start, est.start - span.end), max(span.end, est.end - span.start)
    width = hi - lo + 1
    ticker = _codes(mine[S.TICKER], pool[S.TICKER])
    event = _codes(mine[S.EVENT_ID], pool[S.EVENT_ID])
    o = pl.col(S.OFFSET)
    contaminated = (pl.min_horizontal(o + span.end, pl.lit(est.end)) - pl.max_horizontal(o + span.start, pl.lit(est.start)) + 1).clip(lower_bound=0)
    pairs = (
        pl.LazyFrame({
            "_i": pl.int_range(mine.height, dtype=pl.UInt32, eager=True), "_t": ticker[0], "_e": event[0],
            "_s": mine[S.DAY0_SESSION].cast(pl.Int64), "_rank": _ranks(mine, S.EVENT_ID, S.TICKER),
        })
        .with_columns(
            pl.concat_list((pl.col("_s") + lo) // width, (pl.col("_s") + hi) // width).list.unique().alias("_bucket")
        )
        .explode("_bucket")
        .join(pl.LazyFrame({
            "_j": pl.int_range(pool.height, dtype=pl.UInt32, eager=True), "_t": ticker[1], "_their_e": event[1],
            "_bucket": pool[S.DAY0_SESSION].cast(pl.Int64) // width, "_their_s": pool[S.DAY0_SESSION].cast(pl.Int64),
            "_their_rank": _ranks(pool, S.EVENT_ID),
        }), on=["_t", "_bucket"])
        .filter(pl.col("_e") != pl.col("_their_e"))
        .with_columns((pl.col("_their_s") - pl.col("_s")).cast(pl.Int32).alias(S.OFFSET))
        .filter(o.is_between(est.start, span.end) | (contaminated > 0))
        .sort("_rank", S.OFFSET, "_their_rank")
        .select("_i", "_j", S.OFFSET)
        .collect(engine="in-memory")
    )
    labels = [pl.when(o.is_between(w.start, w.end)).then(pl.lit(w.label)) for w in spec.windows]
    i, j = pairs["_i"], pairs["_j"]
    return (
        pl.DataFrame([
            *(mine[c].gather(i) for c in (*row, S.EVENT_ID, S.TICKER, S.ROLE)),
            pool[S.EVENT_ID].gather(j).alias(S.CONFOUNDER_ID), pool[S.ROLE].gather(j).alias(S.CONFOUNDER_ROLE),
            pool[S.DAY0].gather(j).alias(S.CONFOUNDER_DAY0), pairs[S.OFFSET], pool[S.IN_STUDY].gather(j),
            pool[S.DISCOVERED].gather(j),
        ])
        .with_columns(contaminated.cast(pl.Int32).alias(S.CONTAMINATED_DAYS),
                      pl.concat_str(labels, separator=", ", ignore_nulls=True).replace("", None).alias(S.WINDOWS))
        .with_columns(
            pl.when(pl.col(S.WINDOWS).is_not_null()).then(pl.lit(EVENT_WINDOW))
            .when(o.is_between(est.start, est.end)).then(pl.lit(ESTIMATION_WINDOW))
            .when(o > est.end).then(pl.lit(BETWEEN))
            .otherwise(pl.lit(BEFORE))
            .alias(S.LOCATION)
        )
        .select(*row, *CONFOUNDER_SCHEMA)
        .cast(CONFOUNDER_SCHEMA)  # type: ignore[arg-type]
    )


def _codes(a: pl.Series, b: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The values of ``a`` and ``b`` as integer codes (equal values, equal codes)."""
    both = pl.concat([a, b]).to_frame("_v")
    code = both.select(pl.col("_v").rank("dense").cast(pl.UInt32))["_v"]
    return code.head(a.len()), code.tail(b.len())


def _ranks(frame: pl.DataFrame, *by: str) -> pl.Series:
    """Each row's position when ``frame`` is sorted by ``by`` (ties in input order)."""
    return frame.with_row_index("_at").sort(*by, maintain_order=True)["_at"].arg_sort().cast(pl.UInt32)


def contaminated_days(confounders: pl.DataFrame, spec: StudySpec) -> pl.DataFrame:
    """The estimation days of each event row that fall in another event's event window.

    Returns
    -------
    pl.DataFrame
        ``event_id, ticker, event_day`` (unique, sorted): the days
        ``[o + A, o + B] ∩ [E₁, E₂]`` of every confounder.
    """
    est, span = spec.estimation, spec.report_days
    o = pl.col(S.OFFSET)
    return (
        confounders.filter(pl.col(S.CONTAMINATED_DAYS) > 0)
        .select(
            S.EVENT_ID, S.TICKER,
            pl.int_ranges(
                pl.max_horizontal(o + span.start, pl.lit(est.start)),
                pl.min_horizontal(o + span.end, pl.lit(est.end)) + 1,
                dtype=pl.Int32,
            ).alias(S.EVENT_DAY),
        )
        .explode(S.EVENT_DAY)
        .unique()
        .sort(S.EVENT_ID, S.TICKER, S.EVENT_DAY)
    )


def drop_estimation_days(panel: EventPanel, rows: np.ndarray, event_days: np.ndarray) -> EventPanel:
    """The panel with the return (and log volume) of the event rows ``rows`` on ``event_days``
    set to missing, so the model, the abnormal-volume model and the rank tests leave those days
    out (estimation days only; see :func:`contaminated_days`). The panel's arrays are copied."""
    if not rows.size:
        return panel
    cols = np.asarray(event_days, dtype=np.int64) - panel.days.start

    def without(values: np.ndarray | None) -> np.ndarray | None:
        if values is None:
            return None
        out = values.copy()
        out[rows, cols] = np.nan
        return out

    return replace(panel, ret=without(panel.ret), log_volume=without(panel.log_volume))


def estimation_outliers(residuals: np.ndarray, sigma: np.ndarray, days: Window, threshold: float = OUTLIER_Z) -> pl.DataFrame:
    """Estimation days with ``|e_t| / σ̂ > threshold``.

    Parameters
    ----------
    residuals
        ``E x L`` residuals of the models on the estimation days ``days``
        (:func:`analysis.abnormal.abnormal_returns` with ``days=spec.estimation``; NaN = missing).
    sigma
        ``σ̂`` of every row's model (NaN without one).

    Returns
    -------
    pl.DataFrame
        :data:`OUTLIER_SCHEMA`: ``row, event_day, abnormal_ret, std_resid`` sorted by row and day.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        z = residuals / sigma[:, None]
        row, col = np.nonzero(np.abs(z) > threshold)  # NaN compares False
    return pl.DataFrame({
        ROW: row.astype(np.uint32), S.EVENT_DAY: (col + days.start).astype(np.int32),
        S.ABNORMAL_RET: residuals[row, col], S.STD_RESID: z[row, col],
    }, schema=OUTLIER_SCHEMA)


def confounder_reasons(
    confounders: pl.DataFrame, dropped: bool, by: Sequence[str] = (S.EVENT_ID, S.TICKER)
) -> pl.DataFrame:
    """One note per event row that has confounders, for the events table.

    E.g. ``confounding events: amzn-q3-2025-earnings (day 0 2025-10-31 = day -1, in [-1,+1],
    [-5,+5])``; estimation-window confounders say how many days were dropped (``dropped``)
    or kept.

    Returns
    -------
    pl.DataFrame
        ``by`` (default ``event_id, ticker``), ``n_confounders, reason``.
    """
    o = pl.col(S.OFFSET)
    day = pl.format("day 0 {} = day {}", S.CONFOUNDER_DAY0, pl.when(o > 0).then(pl.format("+{}", o)).otherwise(o.cast(pl.String)))
    days = pl.col(S.CONTAMINATED_DAYS)
    est = pl.format(
        "{} estimation day(s) {}", days,
        pl.lit("dropped" if dropped else "kept (drop_confounded leaves them out)"),
    )
    where = (
        pl.when(pl.col(S.LOCATION) == EVENT_WINDOW).then(pl.concat_str(pl.lit("in "), S.WINDOWS))
        .when(pl.col(S.LOCATION) == BETWEEN).then(pl.col(S.LOCATION))
        .otherwise(pl.concat_str(pl.lit("in the "), S.LOCATION).str.replace("in the before", "before"))
    )
    detail = pl.concat_str(
        S.CONFOUNDER_ID, pl.lit(" ("), day, pl.lit(", "), where,
        pl.when(days > 0).then(pl.concat_str(pl.lit("; "), est)).otherwise(pl.lit("")), pl.lit(")"),
    )
    return (
        confounders.sort(*by, S.OFFSET, S.CONFOUNDER_ID)
        .group_by(*by, maintain_order=True)
        .agg(pl.len().cast(pl.Int32).alias(S.N_CONFOUNDERS), detail.str.join("; ").alias(S.REASON))
        .with_columns(pl.concat_str(pl.lit("confounding events: "), S.REASON).alias(S.REASON))
    )


def outlier_reasons(
    outliers: pl.DataFrame, threshold: float = OUTLIER_Z, by: Sequence[str] = (S.EVENT_ID, S.TICKER)
) -> pl.DataFrame:
    """Per event row: the count and dates of its estimation outliers.

    Parameters
    ----------
    outliers
        ``event_id, ticker, date, std_resid`` (labelled :func:`estimation_outliers`).

    Returns
    -------
    pl.DataFrame
        ``by`` (default ``event_id, ticker``), ``n_outliers, outlier_dates`` (``2025-08-01 (-4.4σ); ...``) and
        ``reason`` (``2 estimation-window outliers beyond 4σ: ...``).
    """
    z = pl.col(S.STD_RESID)
    one = pl.format("{} ({}σ)", S.DATE, pl.when(z > 0).then(pl.lit("+")).otherwise(pl.lit("")) + z.round(1).cast(pl.String))
    return (
        outliers.sort(*by, S.DATE)
        .group_by(*by, maintain_order=True)
        .agg(pl.len().cast(pl.Int32).alias(S.N_OUTLIERS), one.str.join("; ").alias(S.OUTLIER_DATES))
        .with_columns(pl.format(f"{{}} estimation-window outlier(s) beyond {threshold:g}σ: {{}}", S.N_OUTLIERS, S.OUTLIER_DATES).alias(S.REASON))
    )


CONFOUNDER_AR0 = "confounder_ar0"
CONFOUNDER_AR0_T = "confounder_ar0_t"
CONFOUNDER_AR0_P = "confounder_ar0_p"
CONFOUNDER_DOLLARS = "confounder_dollar_abnormal"


def confounder_effects(confounders: pl.DataFrame, abnormal_returns: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """``confounders`` with the confounder's own day-0 reaction on the same ticker, when it is
    an event of the study: ``confounder_ar0, confounder_ar0_t, confounder_ar0_p`` and
    ``confounder_dollar_abnormal`` = AR(0) × its market cap at the close of its day −1
    (null otherwise)."""
    own = (
        abnormal_returns.filter(pl.col(S.EVENT_DAY) == 0)
        .select(S.EVENT_ID, S.TICKER, S.ABNORMAL_RET, S.AR_T, S.AR_P)
        .join(events.select(S.EVENT_ID, S.TICKER, S.MARKET_CAP), on=[S.EVENT_ID, S.TICKER], how="left")
        .select(
            pl.col(S.EVENT_ID).alias(S.CONFOUNDER_ID), S.TICKER,
            pl.col(S.ABNORMAL_RET).alias(CONFOUNDER_AR0), pl.col(S.AR_T).alias(CONFOUNDER_AR0_T),
            pl.col(S.AR_P).alias(CONFOUNDER_AR0_P),
            (pl.col(S.ABNORMAL_RET) * pl.col(S.MARKET_CAP)).alias(CONFOUNDER_DOLLARS),
        )
    )
    return confounders.join(own, on=[S.CONFOUNDER_ID, S.TICKER], how="left", maintain_order="left")
