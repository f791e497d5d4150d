"""Price-data checks: what in a price history could make a result wrong without a word.

Prices are never rejected here (the importer rejects what is certainly wrong); these checks
*flag* what is suspicious, so that the engine can mark the events whose estimation or event
window it touches as ``flagged`` with the reason, and the importer can warn. One finding per
ticker, date and check:

``off-calendar``
    A row dated on a day that is no session of the exchange calendar (weekend, holiday, or
    outside the calendar's years). Returns ignore such rows.
``bad-price``
    A row whose close or adjusted close is missing, zero, negative, NaN or infinite (only
    possible for prices that did not come through the importer, e.g. from Yahoo). Returns
    treat the price as missing.
``gap``
    A session between a ticker's first and last on-calendar row that has no row. The return
    of that session and of the next one are missing (never a two-day return counted as one).
``jump``
    Consecutive rows whose adjusted closes differ by more than a factor :data:`JUMP_RATIO`
    (1.8) either way: ``max(a, 1/a) > 1.8`` with ``a = P^adj_t / P^adj_{t-1}``. A genuine
    crash or rally, or a split the adjusted close does not account for (then the returns
    across it are wrong).
``split-like``
    Consecutive rows whose raw closes jump like a split — beyond 1:1.8 either way, or within
    3 % of 3:2 or 2:3 — while the adjusted close stays within a factor 1.25. The usual sign of
    a split in the raw close: returns (adjusted) are fine, but market capitalizations
    (close × shares outstanding) before and after it are on different share bases.

Ratios are taken between consecutive valid on-calendar rows of a ticker (across a gap too).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import polars as pl

from analysis import schema as S
from analysis.calendar import SessionCalendar
from analysis.panel import ROW

QualityCheck = Literal["off-calendar", "bad-price", "gap", "jump", "split-like"]
CHECKS: tuple[str, ...] = get_args(QualityCheck)
JUMP_RATIO = 1.8
SPLIT_FACTORS = (1.5, 1 / 1.5)
SPLIT_TOLERANCE = 0.03
ADJ_STEADY = 1.25
MAX_LISTED = 3  # dates quoted per finding in a note

QUALITY_SCHEMA = pl.Schema({
    S.TICKER: pl.String, S.DATE: pl.Date, S.CHECK: pl.String, S.RATIO: pl.Float64, S.DETAIL: pl.String,
})
"""Columns of :func:`price_quality`."""

_LABELS = {  # check -> (one, many); the notes read "<ticker>: <n> <label>: <details>"
    "off-calendar": ("row on a day that is not an {cal} session (ignored)",
                     "rows on days that are not {cal} sessions (ignored)"),
    "bad-price": ("row with a missing, zero or negative price (treated as missing)",
                  "rows with a missing, zero or negative price (treated as missing)"),
    "gap": ("{cal} session without a price (its return and the next are missing)",
            "{cal} sessions without a price (their returns and the next are missing)"),
    "jump": ("adj_close jump beyond 1:1.8 (if an unadjusted split, the returns across it are wrong)",
             "adj_close jumps beyond 1:1.8 (if unadjusted splits, the returns across them are wrong)"),
    "split-like": ("split-like close jump with a steady adj_close (market caps before and after "
                   "use different share bases)",
                   "split-like close jumps with a steady adj_close (market caps before and after "
                   "use different share bases)"),
}


def _valid(col: str) -> pl.Expr:
    c = pl.col(col)
    return c.is_not_null() & c.is_finite() & (c > 0)


def _big(ratio: pl.Expr, factor: float) -> pl.Expr:
    return ratio.log().abs() > math.log(factor)


def price_quality(prices: pl.DataFrame, cal: SessionCalendar) -> pl.DataFrame:
    """Find off-calendar rows, bad prices, gaps, jumps and split-like jumps (module docstring).

    Parameters
    ----------
    prices
        Long frame with ``ticker, date, close, adj_close`` (dates unique per ticker).
    cal
        The exchange calendar that defines sessions.

    Returns
    -------
    pl.DataFrame
        :data:`QUALITY_SCHEMA`: ``ticker, date, check, ratio`` (the jump's factor, null for
        other checks) and ``detail`` (the date, with the factor or the bad values), one row
        per finding, sorted by ticker, date and check.
    """
    rows = (
        prices.lazy()
        .select(S.TICKER, S.DATE, pl.col(S.CLOSE).cast(pl.Float64), pl.col(S.ADJ_CLOSE).cast(pl.Float64))
        .join(cal.sessions.lazy().select(S.DATE, S.SESSION), on=S.DATE, how="left")
    )
    date_text = pl.col(S.DATE).cast(pl.String)

    def finding(check: str, ratio: pl.Expr | None = None, detail: pl.Expr | None = None) -> list[pl.Expr]:
        return [
            pl.col(S.TICKER), pl.col(S.DATE), pl.lit(check).alias(S.CHECK),
            (pl.lit(None, pl.Float64) if ratio is None else ratio).alias(S.RATIO),
            (date_text if detail is None else detail).alias(S.DETAIL),
        ]

    off = rows.filter(pl.col(S.SESSION).is_null()).select(finding("off-calendar"))
    on = rows.filter(pl.col(S.SESSION).is_not_null())
    value = lambda c: pl.col(c).cast(pl.String).fill_null("missing")  # noqa: E731
    bad = on.filter(~(_valid(S.CLOSE) & _valid(S.ADJ_CLOSE))).select(finding(
        "bad-price", detail=pl.format("{} (close {}, adj_close {})", date_text, value(S.CLOSE), value(S.ADJ_CLOSE)),
    ))
    previous = pl.col(S.SESSION).shift(1).over(S.TICKER, order_by=S.SESSION)
    gaps = (
        on.select(S.TICKER, pl.int_ranges(previous + 1, pl.col(S.SESSION), dtype=pl.Int32).alias(S.SESSION))
        .explode(S.SESSION)
        .drop_nulls(S.SESSION)
        .select(S.TICKER, cal.dates_of(pl.col(S.SESSION)).alias(S.DATE))
        .select(finding("gap"))
    )
    good = on.filter(_valid(S.CLOSE) & _valid(S.ADJ_CLOSE))
    step = lambda c: pl.col(c) / pl.col(c).shift(1).over(S.TICKER, order_by=S.SESSION)  # noqa: E731
    ratios = good.with_columns(step(S.CLOSE).alias("_close"), step(S.ADJ_CLOSE).alias("_adj"))
    factor = lambda c: pl.format("{} ×{}", date_text, pl.col(c).round(3))  # noqa: E731
    jumps = ratios.filter(_big(pl.col("_adj"), JUMP_RATIO)).select(finding("jump", pl.col("_adj"), factor("_adj")))
    close = pl.col("_close")
    split_like = _big(close, JUMP_RATIO) | pl.any_horizontal(
        *((close / f - 1).abs() <= SPLIT_TOLERANCE for f in SPLIT_FACTORS)
    )
    splits = ratios.filter(split_like & ~_big(pl.col("_adj"), ADJ_STEADY)).select(
        finding("split-like", close, factor("_close"))
    )
    order = pl.col(S.CHECK).replace_strict(CHECKS, range(len(CHECKS)), return_dtype=pl.Int8)
    return (
        pl.concat([off, bad, gaps, jumps, splits])
        .collect(engine="in-memory")
        .cast(dict(QUALITY_SCHEMA))
        .sort(S.TICKER, S.DATE, order)
    )


def _note(who: pl.Expr, cal: SessionCalendar) -> pl.Expr:
    """``"<ticker>: <n> <label>: <first details>[, ...]"`` from aggregated ``_n`` and ``_details``."""
    n = pl.col("_n")
    label = pl.lit(None, pl.String)
    for check, (one, many) in _LABELS.items():
        label = pl.when(pl.col(S.CHECK) == check).then(
            pl.when(n == 1).then(pl.lit(one.format(cal=cal.name))).otherwise(pl.lit(many.format(cal=cal.name)))
        ).otherwise(label)
    more = pl.when(n > MAX_LISTED).then(pl.lit(", ...")).otherwise(pl.lit(""))
    return pl.format("{}: {} {}: {}{}", who, n, label, pl.col("_details").list.join(", "), more)


def _aggregate(findings: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    return findings.sort(S.DATE).group_by(*keys, S.CHECK).agg(
        pl.len().alias("_n"), pl.col(S.DETAIL).head(MAX_LISTED).alias("_details"), pl.col(S.DATE).min().alias("_first"),
    )


def quality_notes(findings: pl.DataFrame, cal: SessionCalendar) -> pl.DataFrame:
    """One note per ticker and check: the count and the first dates (for import warnings).

    Returns
    -------
    pl.DataFrame
        ``ticker, check, note``, sorted by ticker and check order.
    """
    order = pl.col(S.CHECK).replace_strict(CHECKS, range(len(CHECKS)), return_dtype=pl.Int8)
    return (
        _aggregate(findings.lazy(), [S.TICKER])
        .select(S.TICKER, S.CHECK, _note(pl.col(S.TICKER), cal).alias(S.REASON))
        .sort(S.TICKER, order)
        .collect(engine="in-memory")
    )


def event_quality(
    findings: pl.DataFrame, rows: pl.DataFrame, first_day: int, last_day: int, cal: SessionCalendar
) -> pl.DataFrame:
    """The findings that touch each event row's data, as one reason per row.

    An event row uses its ticker and its benchmark from the session before event day
    ``first_day`` (the base of the first return) to event day ``last_day``; a finding of
    either ticker dated in that range (calendar dates, so off-calendar rows count too)
    concerns the row.

    Parameters
    ----------
    findings
        Output of :func:`price_quality`.
    rows
        Event rows: ``key`` column ``row`` plus ``ticker, benchmark, day0_session``.
    first_day, last_day
        The event days the study uses (estimation start, last event-window day).
    cal
        The calendar the findings were computed on.

    Returns
    -------
    pl.DataFrame
        ``row, reason`` for the rows with at least one finding: notes joined by ``"; "``,
        the event's own ticker first, then the benchmark, each in :data:`CHECKS` order.
    """
    last = cal.sessions.height - 1
    spans = rows.lazy().select(
        ROW,
        pl.concat_list(S.TICKER, S.BENCHMARK).alias("_who"),
        pl.int_ranges(0, 2, dtype=pl.Int8).alias("_rank"),  # 0 = the ticker, 1 = the benchmark
        cal.dates_of((pl.col(S.DAY0_SESSION) + first_day - 1).clip(0, last)).alias("_lo"),
        cal.dates_of((pl.col(S.DAY0_SESSION) + last_day).clip(0, last)).alias("_hi"),
    ).explode("_who", "_rank").unique([ROW, "_who"], keep="first")
    hits = spans.join(findings.lazy(), left_on="_who", right_on=S.TICKER).filter(
        pl.col(S.DATE).is_between(pl.col("_lo"), pl.col("_hi"))
    )
    order = pl.col(S.CHECK).replace_strict(CHECKS, range(len(CHECKS)), return_dtype=pl.Int8)
    return (
        _aggregate(hits, [ROW, "_rank", "_who"])
        .with_columns(_note(pl.col("_who"), cal).alias(S.REASON))
        .sort(ROW, "_rank", "_who", order)
        .group_by(ROW, maintain_order=True)
        .agg(pl.col(S.REASON).str.join("; "))
        .sort(ROW)
        .collect(engine="in-memory")
    )
