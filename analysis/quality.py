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
``seam``
    Consecutive rows where the adjusted close falls against the close: the ratio
    ``q = P^adj / P`` drops, ``q_t / q_{t-1} < 1 - tol`` with ``tol`` = :data:`SEAM_TOLERANCE`
    (0.1 %) plus half a cent of rounding on each of the four prices (``0.005 / P`` each). In
    one consistent history ``q`` only rises (on ex-dividend days, where the adjustment ends),
    so a fall is where two histories on different bases meet: raw closes followed by
    adjusted ones, or adjusted closes downloaded on different dates (Yahoo's ``adj_close``
    is relative to the day it was fetched; a later top-up starts lower). The adjusted return
    across it is off by the factor ``q_t / q_{t-1}``. (Adjusted closes followed by raw ones
    make ``q`` rise, like a dividend: the importer refuses to store that seam.) A pair that is
    a ``jump`` or ``split-like`` is not also a seam.

Ratios are taken between consecutive valid on-calendar rows of a ticker (across a gap too).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.calendar import SessionCalendar
from analysis.panel import ROW
from analysis.returns import PlacedPrices, place_prices

QualityCheck = Literal["off-calendar", "bad-price", "gap", "jump", "split-like", "seam"]
CHECKS: tuple[str, ...] = get_args(QualityCheck)
JUMP_RATIO = 1.8
SPLIT_FACTORS = (1.5, 1 / 1.5)
SPLIT_TOLERANCE = 0.03
ADJ_STEADY = 1.25
SEAM_TOLERANCE = 1e-3
HALF_CENT = 0.005
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
    "seam": ("seam: adj_close falls against close (histories on different bases meet; the return "
             "across it is off by the factor; re-import one file over the whole history, or re-fetch "
             "with --source yfinance)",
             "seams: adj_close falls against close (histories on different bases meet; the returns "
             "across them are off by the factors; re-import one file over the whole history, or re-fetch "
             "with --source yfinance)"),
}


def _valid(col: str) -> pl.Expr:
    c = pl.col(col)
    return c.is_not_null() & c.is_finite() & (c > 0)


def _big(ratio: pl.Expr, factor: float) -> pl.Expr:
    return ratio.log().abs() > math.log(factor)


def price_quality(prices: pl.DataFrame | PlacedPrices, cal: SessionCalendar) -> pl.DataFrame:
    """Find off-calendar rows, bad prices, gaps, jumps, split-like jumps and seams (module docstring).

    The rows of each ticker are together and in date order (:func:`analysis.returns.place_prices`),
    so consecutive rows are compared as whole NumPy columns (no sorting, no shifting of text);
    the few candidate rows go through the exact checks as polars expressions, so millions of
    rows take a fraction of a second.

    Parameters
    ----------
    prices
        Long frame with ``ticker, date, close, adj_close`` (dates unique per ticker), or the
        output of :func:`analysis.returns.place_prices`.
    cal
        The exchange calendar that defines sessions.

    Returns
    -------
    pl.DataFrame
        :data:`QUALITY_SCHEMA`: ``ticker, date, check, ratio`` (the factor of a jump or a
        seam, null for other checks) and ``detail`` (the date, with the factor or the bad values), one row
        per finding, sorted by ticker, date and check.
    """
    placed = place_prices(prices, cal)
    rows, session, close, adj = placed.rows, placed.session, placed.close, placed.adj_close
    date_text = pl.col(S.DATE).cast(pl.String)

    def finding(check: str, ratio: pl.Expr | None = None, detail: pl.Expr | None = None) -> list[pl.Expr]:
        return [
            pl.col(S.TICKER), pl.col(S.DATE), pl.lit(check).alias(S.CHECK),
            (pl.lit(None, pl.Float64) if ratio is None else ratio).alias(S.RATIO),
            (date_text if detail is None else detail).alias(S.DETAIL),
        ]

    n = rows.height
    valid = ~(np.isnan(close) | np.isnan(adj))
    on = session >= 0
    first_row = np.zeros(n, dtype=bool)  # a ticker's first row
    first_row[placed.starts] = True

    def pairs(keep: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """The rows of ``keep`` whose previous kept row is of the same ticker (a mask over
        those rows) and, for each of ``values``, its (value, previous value) pairs."""
        if keep.all():  # the common case: every row, no gathering
            return ~first_row[1:], [(v[1:], v[:-1]) for v in values]
        idx = np.flatnonzero(keep)
        run = np.cumsum(first_row)[idx]
        return run[1:] == run[:-1], [(v[idx[1:]], v[idx[:-1]]) for v in values]

    def at(index: np.ndarray) -> pl.DataFrame:  # a few rows, gathered (filtering 10^7 rows costs more)
        return rows[index].select(S.TICKER, S.DATE, pl.col(S.CLOSE).cast(pl.Float64), pl.col(S.ADJ_CLOSE).cast(pl.Float64))

    parts = [at(np.flatnonzero(~on)).select(finding("off-calendar"))]
    value = lambda c: pl.col(c).cast(pl.String).fill_null("missing")  # noqa: E731
    parts.append(at(np.flatnonzero(on & ~valid)).select(finding(
        "bad-price", detail=pl.format("{} (close {}, adj_close {})", date_text, value(S.CLOSE), value(S.ADJ_CLOSE)),
    )))
    index = np.arange(n)
    same, ((now, before), (s_now, s_before)) = pairs(on, index, session)
    gap = same & (s_now - s_before > 1)  # sessions between two rows: a few, expanded here
    parts.append(
        pl.DataFrame({S.TICKER: rows[S.TICKER].gather(pl.Series(now[gap])),
                      "_from": s_before[gap] + 1, "_to": s_now[gap]})
        .select(S.TICKER, pl.int_ranges("_from", "_to", dtype=pl.Int32).alias(S.SESSION))
        .explode(S.SESSION)
        .select(S.TICKER, cal.dates_of(pl.col(S.SESSION)).alias(S.DATE))
        .select(finding("gap"))
    )
    same, ((now, _), (a_now, a_before), (c_now, c_before)) = pairs(on & valid, index, adj, close)
    candidate = _candidates(a_now, a_before, c_now, c_before, same)
    ratios = at(now[candidate]).with_columns(
        pl.Series("_adj", a_now[candidate] / a_before[candidate]),
        pl.Series("_close", c_now[candidate] / c_before[candidate]),
        pl.Series("_rounding", HALF_CENT * (1 / a_now[candidate] + 1 / a_before[candidate]
                                            + 1 / c_now[candidate] + 1 / c_before[candidate])),
    )
    adj_r, close_r = pl.col("_adj"), pl.col("_close")
    # concat_str, not pl.format: polars 2.1 panicked ("i < self.len()") formatting a rounded ratio
    factor = lambda r: pl.concat_str(date_text, pl.lit(" ×"), r.round(3).cast(pl.String))  # noqa: E731
    parts.append(ratios.filter(_big(adj_r, JUMP_RATIO)).select(finding("jump", adj_r, factor(adj_r))))
    split_like = _big(close_r, JUMP_RATIO) | pl.any_horizontal(
        *((close_r / f - 1).abs() <= SPLIT_TOLERANCE for f in SPLIT_FACTORS)
    )
    split_like = split_like & ~_big(adj_r, ADJ_STEADY)
    parts.append(ratios.filter(split_like).select(finding("split-like", close_r, factor(close_r))))
    step = adj_r / close_r  # q_t / q_{t-1}
    seam = (step < 1 - SEAM_TOLERANCE - pl.col("_rounding")) & ~_big(adj_r, JUMP_RATIO) & ~split_like
    parts.append(ratios.filter(seam).select(finding("seam", step, factor(step))))
    return _sorted(pl.concat([p.cast(dict(QUALITY_SCHEMA)) for p in parts]))


def _sorted(findings: pl.DataFrame) -> pl.DataFrame:
    order = pl.col(S.CHECK).replace_strict(CHECKS, range(len(CHECKS)), return_dtype=pl.Int8)
    return findings.sort(S.TICKER, S.DATE, order)


def shows_adjustment(prices: pl.DataFrame) -> bool:
    """Whether some row's ``adj_close`` differs from its ``close`` by more than
    :data:`SEAM_TOLERANCE` (0.1 %) and a cent: a dividend adjustment, not rounding."""
    adj, close = pl.col(S.ADJ_CLOSE), pl.col(S.CLOSE)
    return bool(prices.select(((adj - close).abs() > SEAM_TOLERANCE * close + 4 * HALF_CENT).any()).item())


def merge_findings(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The findings of :func:`price_quality` on several sets of prices that share tickers (each
    ticker with the same prices in every set, e.g. event batches read over the same span) as
    one frame, in :func:`price_quality`'s order: each finding once."""
    return _sorted(pl.concat(parts).unique(maintain_order=True)) if parts else pl.DataFrame(schema=QUALITY_SCHEMA)


BLOCK = 1 << 20  # rows per block of the candidate search (temporaries stay small and reused)


def _candidates(
    a_now: np.ndarray, a_before: np.ndarray, c_now: np.ndarray, c_before: np.ndarray, same: np.ndarray
) -> np.ndarray:
    """Positions of the consecutive pairs (of one ticker) whose adjusted-close or close ratio
    comes near a jump or a split, or whose adjusted close falls against the close: a cheap
    superset of the findings, which the exact checks then confirm. Done in blocks of rows, so
    no temporary is as long as the prices."""
    jump_hi, jump_lo = JUMP_RATIO * 0.99, 1 / (JUMP_RATIO * 0.99)
    near = [(f * (1 - SPLIT_TOLERANCE * 1.01), f * (1 + SPLIT_TOLERANCE * 1.01)) for f in SPLIT_FACTORS]
    found = []
    for lo in range(0, same.size, BLOCK):  # blocks of rows, each vectorised
        hi = min(lo + BLOCK, same.size)
        r_adj, r_close = a_now[lo:hi] / a_before[lo:hi], c_now[lo:hi] / c_before[lo:hi]
        hit = (r_adj > jump_hi) | (r_adj < jump_lo) | (r_close > jump_hi) | (r_close < jump_lo)
        hit |= r_adj < r_close * (1 - SEAM_TOLERANCE * 0.99)
        for a, b in near:
            hit |= (r_close >= a) & (r_close <= b)
        found.append(np.flatnonzero(hit & same[lo:hi]) + lo)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


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
    concerns the row. The findings of each (ticker, check) in a row's range are counted by
    binary search in the sorted findings (no join of rows with findings).

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
    out_schema = {ROW: rows.schema[ROW], S.REASON: pl.String}
    if findings.is_empty() or rows.is_empty():
        return pl.DataFrame(schema=out_schema)
    order = pl.col(S.CHECK).replace_strict(CHECKS, range(len(CHECKS)), return_dtype=pl.Int64)
    names = findings[S.TICKER].unique().sort()
    code_of = lambda tickers: tickers.replace_strict(names, range(names.len()), default=-1, return_dtype=pl.Int64)  # noqa: E731

    def key(code: np.ndarray, check: np.ndarray | int, day: np.ndarray) -> np.ndarray:  # sorts as (ticker, check, date)
        return ((code * len(CHECKS) + check) << 32) + day + (1 << 31)

    f = findings.sort(pl.col(S.TICKER), order, pl.col(S.DATE))
    keys = key(code_of(f[S.TICKER]).to_numpy(), f.select(order).to_series().to_numpy(), f[S.DATE].cast(pl.Int64).to_numpy())
    last = cal.sessions.height - 1
    day0 = rows[S.DAY0_SESSION].cast(pl.Int64).to_numpy()
    dates = cal.sessions[S.DATE].cast(pl.Int64).to_numpy()
    lo, hi = dates[np.clip(day0 + first_day - 1, 0, last)], dates[np.clip(day0 + last_day, 0, last)]
    who = [rows[S.TICKER], rows[S.BENCHMARK]]
    notes = []
    for rank, tickers in enumerate(who):  # the ticker, then the benchmark (unless it is the ticker)
        code = code_of(tickers).to_numpy()
        known = (code >= 0) if rank == 0 else (code >= 0) & (tickers != who[0]).to_numpy()
        for c in range(len(CHECKS)):
            start = np.searchsorted(keys, key(code, c, lo), "left")
            n = np.searchsorted(keys, key(code, c, hi), "right") - start
            hit = np.flatnonzero(known & (n > 0))
            if hit.size:
                notes.append(pl.DataFrame({
                    ROW: rows[ROW].gather(pl.Series(hit)), "_rank": rank, "_who": tickers.gather(pl.Series(hit)),
                    S.CHECK: CHECKS[c], "_n": pl.Series(n[hit], dtype=pl.UInt32),
                    **{f"_d{k}": f[S.DETAIL].gather(pl.Series(np.minimum(start[hit] + k, f.height - 1)))
                       for k in range(MAX_LISTED)},
                }).select(
                    ROW, "_rank", "_who", S.CHECK, "_n",
                    pl.concat_list(pl.when(pl.col("_n") > k).then(pl.col(f"_d{k}")) for k in range(MAX_LISTED))
                    .list.drop_nulls().alias("_details"),
                ))
    if not notes:
        return pl.DataFrame(schema=out_schema)
    return (
        pl.concat(notes)
        .with_columns(_note(pl.col("_who"), cal).alias(S.REASON))
        .sort(ROW, "_rank", order)
        .group_by(ROW, maintain_order=True)
        .agg(pl.col(S.REASON).str.join("; "))
        .sort(ROW)
    )


SMALL_CAP = 1e7  # a market value under $10m ...
BUSY_VOLUME = 1e5  # ... with a median volume above 100,000 shares a day: shares typed in millions?


def shares_notes(new: pl.DataFrame, stored: pl.DataFrame, prices: pl.DataFrame) -> list[str]:
    """Warnings for implausible shares-outstanding counts (typed in thousands or millions).

    A count ``n`` is implausible when, for some whole ``k ≠ 0``,
    ``|ln(n / n_stored) − k ln 1000| < ln 2``: within a factor of 2 of ``1000^k`` times the
    nearest stored count of the ticker; or when its market value ``n × close`` (the close on or
    before its date) is under :data:`SMALL_CAP` while the ticker's median daily volume exceeds
    :data:`BUSY_VOLUME`.

    Parameters
    ----------
    new, stored
        ``ticker, as_of_date, shares_outstanding``: the counts imported, and those stored before.
    prices
        ``ticker, date, close, volume`` of the stored prices of these tickers.
    """
    notes = []
    keyed = new.select(S.TICKER, S.AS_OF_DATE, pl.col(S.SHARES).cast(pl.Float64)).sort(S.TICKER, S.AS_OF_DATE)
    if stored.height:
        near = keyed.join_asof(
            stored.select(S.TICKER, S.AS_OF_DATE, pl.col(S.AS_OF_DATE).alias("_then"), pl.col(S.SHARES).cast(pl.Float64).alias("_old"))
            .sort(S.TICKER, S.AS_OF_DATE), on=S.AS_OF_DATE, by=S.TICKER, strategy="nearest", check_sortedness=False,
        ).drop_nulls("_old")  # both sides sorted by ticker and date above
        ratio = (near[S.SHARES] / near["_old"]).log().to_numpy() / math.log(1000)
        k = np.round(ratio)
        odd = (k != 0) & (np.abs(ratio - k) * math.log(1000) < math.log(2))
        for row, power in zip(near.filter(pl.Series(odd)).iter_rows(named=True), k[odd], strict=True):
            notes.append(f"{row[S.TICKER]}: {row[S.SHARES]:,.0f} shares as of {row[S.AS_OF_DATE]} is about 1000^{power:+.0f} "
                         f"times the stored {row['_old']:,.0f} as of {row['_then']}: typed in thousands or millions?")
    if prices.height:
        close = prices.select(S.TICKER, S.DATE, S.CLOSE).drop_nulls(S.CLOSE).sort(S.TICKER, S.DATE)
        volume = prices.group_by(S.TICKER).agg(pl.col(S.VOLUME).median().alias("_volume")) if S.VOLUME in prices.columns else None
        valued = keyed.join_asof(close, left_on=S.AS_OF_DATE, right_on=S.DATE, by=S.TICKER, check_sortedness=False).drop_nulls(
            S.CLOSE)
        if volume is not None:
            valued = valued.join(volume, on=S.TICKER, how="left").filter(
                (pl.col(S.SHARES) * pl.col(S.CLOSE) < SMALL_CAP) & (pl.col("_volume") > BUSY_VOLUME))
            for row in valued.iter_rows(named=True):
                notes.append(f"{row[S.TICKER]}: {row[S.SHARES]:,.0f} shares as of {row[S.AS_OF_DATE]} x close "
                             f"{row[S.CLOSE]:,.2f} = ${row[S.SHARES] * row[S.CLOSE]:,.0f} of market value, with a median "
                             f"volume of {row['_volume']:,.0f} shares a day: shares typed in millions?")
    return notes
