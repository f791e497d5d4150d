"""The returns panel: one row per event x ticker ("event row") x event day.

Event rows are numbered ``0..E-1`` (column ``row``); every event row gets the same span of
event days ``τ = first..last`` (estimation window start to the last event-window day), so the
panel is a dense ``E x L`` block stored long, ordered by row then τ.

Values are fetched by a dense gather rather than by joins: each ticker's returns are laid out
on a contiguous stretch of one array indexed by exchange session, and each panel cell reads
``array[offset(ticker) + day0_session + τ − first_session(ticker)]``. Missing days (halts, late
listings, gaps) stay null, so observation counts per window are exact. Factors are per
*date*, not per ticker: they are laid out once by session and gathered the same way (the
cell of event day τ reads the factor of session ``day0_session + τ``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.specs import Window

ROW = "row"


def _layout(frame: pl.DataFrame) -> pl.DataFrame:
    """Where each ticker's sessions sit on one array: ``ticker, _first, _span, _offset``."""
    return (
        frame.group_by(S.TICKER)
        .agg(pl.col(S.SESSION).min().alias("_first"), pl.col(S.SESSION).max().alias("_last"))
        .sort(S.TICKER)
        .with_columns((pl.col("_last") - pl.col("_first") + 1).cast(pl.Int64).alias("_span"))
        .with_columns((pl.col("_span").cum_sum() - pl.col("_span")).alias("_offset"))
        .drop("_last")
    )


def _dense(frame: pl.DataFrame, layout: pl.DataFrame, column: pl.Expr) -> np.ndarray:
    """The values of ``column`` laid out by ``layout`` (NaN where a ticker has no value)."""
    dense = np.full(int(layout["_span"].sum() or 0), np.nan)
    pos = frame.join(layout, on=S.TICKER).select(
        pl.col("_offset") + pl.col(S.SESSION) - pl.col("_first"), column.cast(pl.Float64).fill_null(np.nan)
    )
    dense[pos.to_series(0).to_numpy()] = pos.to_series(1).to_numpy()
    return dense


def _gather(rows: pl.DataFrame, key: str, layout: pl.DataFrame, dense: list[np.ndarray], days: Window) -> list[np.ndarray]:
    """Values of each array of ``dense`` for ticker column ``key`` of every row over ``days``
    (E*L each, NaN where missing)."""
    lay = rows.select(key, S.DAY0_SESSION).join(layout, left_on=key, right_on=S.TICKER, how="left", maintain_order="left")
    first = lay["_first"].fill_null(0).to_numpy().astype(np.int64)
    span = lay["_span"].fill_null(0).to_numpy()
    offset = lay["_offset"].fill_null(0).to_numpy()
    day0 = lay[S.DAY0_SESSION].to_numpy().astype(np.int64)
    tau = np.arange(days.start, days.end + 1, dtype=np.int64)
    rel = (day0 - first)[:, None] + tau[None, :]  # session minus the ticker's first session
    ok = (rel >= 0) & (rel < span[:, None])
    idx = np.where(ok, offset[:, None] + rel, 0)
    return [np.where(ok, d[idx], np.nan).ravel() if d.size else np.full(ok.size, np.nan) for d in dense]


def event_panel(
    rows: pl.DataFrame, returns: pl.DataFrame, days: Window, factors: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Returns of every event row and its benchmark over event days ``days``.

    Parameters
    ----------
    rows
        Event rows in order ``row = 0..E-1``: ``ticker, benchmark, day0_session`` (non-null).
    returns
        ``ticker, session, ret`` for every ticker and benchmark (from
        :func:`analysis.returns.session_returns`), and optionally ``volume``.
    days
        The event days to gather, e.g. ``[-260, +5]``.
    factors
        Optional factor values per session: ``session`` and one column per factor (e.g.
        ``mkt_rf, smb, hml, rf``), at most one row per session.

    Returns
    -------
    pl.DataFrame
        ``row`` (UInt32), ``event_day`` (Int32), ``ret``, ``benchmark_ret`` (Float64, null when
        missing); with a ``volume`` column in ``returns`` also ``log_volume`` = ln(1 + volume)
        of the event row's ticker; with ``factors`` also ``factor_<name>`` for each factor
        (null on sessions without a value). ``E * L`` rows ordered by row then event day.
    """
    has_volume = S.VOLUME in returns.columns
    layout = _layout(returns)
    ret = _dense(returns, layout, pl.col(S.RET))
    bench = _gather(rows, S.BENCHMARK, layout, [ret], days)
    mine = _gather(rows, S.TICKER, layout, [ret, *([_dense(returns, layout, pl.col(S.VOLUME).log1p())] if has_volume else [])], days)
    n, length = rows.height, days.length
    columns: dict[str, object] = {
        ROW: np.repeat(np.arange(n, dtype=np.uint32), length),
        S.EVENT_DAY: np.tile(np.arange(days.start, days.end + 1, dtype=np.int32), n),
        S.RET: pl.Series(mine[0], nan_to_null=True),
        S.BENCHMARK_RET: pl.Series(bench[0], nan_to_null=True),
    }
    if has_volume:
        columns[S.LOG_VOLUME] = pl.Series(mine[1], nan_to_null=True)
    if factors is not None:
        names = [c for c in factors.columns if c != S.SESSION]
        by_session = factors.with_columns(pl.lit("", pl.String).alias(S.TICKER))
        flat = _layout(by_session)
        arrays = _gather(
            rows.select(pl.lit("", pl.String).alias(S.TICKER), S.DAY0_SESSION), S.TICKER, flat,
            [_dense(by_session, flat, pl.col(c)) for c in names], days,
        )
        columns |= {S.factor_column(c): pl.Series(a, nan_to_null=True) for c, a in zip(names, arrays, strict=True)}
    return pl.DataFrame(columns)
