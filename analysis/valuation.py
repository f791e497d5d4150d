"""Dollar value of a reaction.

The market capitalization before the news is taken at the close of day −1::

    MC_i = shares outstanding_i × P_i,−1      (P = raw close, not the adjusted close)

and a window's reaction is valued as (DESIGN.md)::

    dollar_abnormal = CAR × MC_i        (the part of the move the model does not explain)
    dollar_raw      = raw return × MC_i (the whole move, market and firm news included)

Shares outstanding are the latest count dated on or before day −1; when only later counts
exist the earliest of them is used and the note says so.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.calendar import SessionCalendar
from analysis.panel import ROW
from analysis.returns import SessionGrid
from analysis.specs import Window

CAP_NOTE = "cap_note"
CAP_DATE = "cap_date"


def market_caps(rows: pl.DataFrame, grid: SessionGrid, shares: pl.DataFrame, cal: SessionCalendar) -> pl.DataFrame:
    """Market capitalization of every event row at the close of day −1.

    Parameters
    ----------
    rows
        ``row, ticker, day0_session``.
    grid
        The prices laid out by session (:func:`analysis.returns.session_grid`).
    shares
        ``ticker, as_of_date, shares_outstanding`` (may be empty).
    cal
        The calendar of the sessions.

    Returns
    -------
    pl.DataFrame
        ``row, cap_date, close, shares_outstanding, as_of_date, market_cap, cap_note``
        (``cap_date``: the date of day −1 when the ticker has a price row there).
    """
    day0 = rows[S.DAY0_SESSION].to_numpy()
    close, present = (a[:, 0] for a in grid.gather(rows[S.TICKER], day0, Window(-1, -1), grid.close, grid.present))
    dates = cal.sessions[S.DATE].gather(pl.Series(np.clip(day0 - 1, 0, None)))
    day_before = rows.select(ROW, S.TICKER).with_columns(
        pl.when(pl.Series(present)).then(dates).alias(CAP_DATE),
        pl.Series(S.CLOSE, close, nan_to_null=True),
    )
    sh = shares.select(
        pl.col(S.TICKER).cast(pl.String), pl.col(S.AS_OF_DATE).cast(pl.Date), pl.col(S.SHARES).cast(pl.Int64)
    ).sort(S.AS_OF_DATE)
    if sh.height:
        left = day_before.with_columns(pl.col(CAP_DATE).fill_null(pl.date(1900, 1, 1)).alias("_on")).sort("_on")
        back = left.join_asof(
            sh.rename({S.AS_OF_DATE: "_on_r"}).with_columns(pl.col("_on_r").alias(S.AS_OF_DATE)),
            left_on="_on", right_on="_on_r", by=S.TICKER, strategy="backward", check_sortedness=False,
        )
        fwd = left.join_asof(
            sh.rename({S.AS_OF_DATE: "_on_r", S.SHARES: "_fwd_shares"}).with_columns(pl.col("_on_r").alias("_fwd_date")),
            left_on="_on", right_on="_on_r", by=S.TICKER, strategy="forward", check_sortedness=False,
        ).select(ROW, "_fwd_shares", "_fwd_date")
        out = back.join(fwd, on=ROW, how="left")
    else:  # no shares at all: skip the joins
        out = day_before.with_columns(
            pl.lit(None, pl.Int64).alias(S.SHARES), pl.lit(None, pl.Date).alias(S.AS_OF_DATE),
            pl.lit(None, pl.Int64).alias("_fwd_shares"), pl.lit(None, pl.Date).alias("_fwd_date"),
        )
    out = out.with_columns(
        pl.col(S.SHARES).fill_null(pl.col("_fwd_shares")),
        pl.col(S.AS_OF_DATE).fill_null(pl.col("_fwd_date")),
        pl.when(pl.col(S.CLOSE).is_null())
        .then(pl.lit("no close on day -1"))
        .when(pl.col(S.SHARES).is_null() & pl.col("_fwd_shares").is_null())
        .then(pl.lit("no shares outstanding for this ticker"))
        .when(pl.col(S.SHARES).is_null())
        .then(pl.format("shares outstanding dated {} (after day -1; no earlier count)", pl.col("_fwd_date")))
        .alias(CAP_NOTE),
    )
    has_close = pl.col(S.CLOSE).is_not_null()
    return out.select(
        ROW, CAP_DATE, S.CLOSE, pl.when(has_close).then(pl.col(S.SHARES)).alias(S.SHARES),
        pl.when(has_close).then(pl.col(S.AS_OF_DATE)).alias(S.AS_OF_DATE),
        (pl.col(S.CLOSE) * pl.col(S.SHARES).cast(pl.Float64)).alias(S.MARKET_CAP),
        CAP_NOTE,
    ).sort(ROW)
