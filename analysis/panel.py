"""The returns panel: one row per event x ticker ("event row") x event day.

Event rows are numbered ``0..E-1`` (column ``row``); every event row gets the same span of
event days ``τ = first..last`` (estimation window start to the last event-window day), so the
panel is a dense ``E x L`` block stored long, ordered by row then τ.

Returns are fetched by a dense gather rather than by joins: each ticker's returns are laid out
on a contiguous stretch of one array indexed by exchange session, and each panel cell reads
``array[offset(ticker) + day0_session + τ − first_session(ticker)]``. Missing days (halts, late
listings, gaps) stay null, so observation counts per window are exact.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.specs import Window

ROW = "row"


def _dense(returns: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
    """Lay the returns of every ticker on one array indexed by session.

    Returns the per-ticker layout (``ticker, _first, _span, _offset``) and the array (NaN
    where a ticker has no return).
    """
    layout = (
        returns.group_by(S.TICKER)
        .agg(pl.col(S.SESSION).min().alias("_first"), pl.col(S.SESSION).max().alias("_last"))
        .sort(S.TICKER)
        .with_columns((pl.col("_last") - pl.col("_first") + 1).cast(pl.Int64).alias("_span"))
        .with_columns((pl.col("_span").cum_sum() - pl.col("_span")).alias("_offset"))
        .drop("_last")
    )
    total = int(layout["_span"].sum() or 0)
    dense = np.full(total, np.nan)
    pos = returns.join(layout, on=S.TICKER).select(
        pl.col("_offset") + pl.col(S.SESSION) - pl.col("_first"), pl.col(S.RET).fill_null(np.nan)
    )
    dense[pos.to_series(0).to_numpy()] = pos.to_series(1).to_numpy()
    return layout, dense


def _gather(rows: pl.DataFrame, key: str, layout: pl.DataFrame, dense: np.ndarray, days: Window) -> np.ndarray:
    """Values of ``dense`` for ticker column ``key`` of every row over ``days`` (E*L, NaN if missing)."""
    lay = rows.select(key, S.DAY0_SESSION).join(layout, left_on=key, right_on=S.TICKER, how="left", maintain_order="left")
    first = lay["_first"].fill_null(0).to_numpy().astype(np.int64)
    span = lay["_span"].fill_null(0).to_numpy()
    offset = lay["_offset"].fill_null(0).to_numpy()
    day0 = lay[S.DAY0_SESSION].to_numpy().astype(np.int64)
    tau = np.arange(days.start, days.end + 1, dtype=np.int64)
    rel = (day0 - first)[:, None] + tau[None, :]  # session minus the ticker's first session
    ok = (rel >= 0) & (rel < span[:, None])
    if dense.size == 0:
        return np.full(ok.size, np.nan)
    idx = np.where(ok, offset[:, None] + rel, 0)
    return np.where(ok, dense[idx], np.nan).ravel()


def event_panel(rows: pl.DataFrame, returns: pl.DataFrame, days: Window) -> pl.DataFrame:
    """Returns of every event row and its benchmark over event days ``days``.

    Parameters
    ----------
    rows
        Event rows in order ``row = 0..E-1``: ``ticker, benchmark, day0_session`` (non-null).
    returns
        ``ticker, session, ret`` for every ticker and benchmark (from
        :func:`analysis.returns.session_returns`).
    days
        The event days to gather, e.g. ``[-260, +5]``.

    Returns
    -------
    pl.DataFrame
        ``row`` (UInt32), ``event_day`` (Int32), ``ret``, ``benchmark_ret`` (Float64, null when
        missing); ``E * L`` rows ordered by row then event day.
    """
    layout, dense = _dense(returns.select(S.TICKER, S.SESSION, S.RET))
    n = rows.height
    length = days.length
    return pl.DataFrame(
        {
            ROW: np.repeat(np.arange(n, dtype=np.uint32), length),
            S.EVENT_DAY: np.tile(np.arange(days.start, days.end + 1, dtype=np.int32), n),
            S.RET: pl.Series(_gather(rows, S.TICKER, layout, dense, days), nan_to_null=True),
            S.BENCHMARK_RET: pl.Series(_gather(rows, S.BENCHMARK, layout, dense, days), nan_to_null=True),
        }
    )
