"""Daily returns on the exchange calendar.

Returns are computed from adjusted closes (split- and dividend-adjusted), per ticker:

* simple: ``R_t = P_t / P_{t-1} − 1``
* log:    ``r_t = ln(P_t / P_{t-1})``

where ``t−1`` is the *previous exchange session*. When a ticker has no price on the previous
session (a halt, a gap in the data, the first day of a listing), ``R_t`` is null rather than a
multi-day return silently treated as one day; the day after a gap is therefore missing too.
A price that is missing, zero, negative, NaN or infinite counts as no price (for the close
too, which market capitalizations use). Rows dated on non-sessions are dropped (see
:func:`off_calendar_rows`). :func:`analysis.quality.price_quality` reports all of these.
"""

from __future__ import annotations

import polars as pl

from analysis import schema as S
from analysis.calendar import SessionCalendar
from analysis.specs import ReturnKind


def session_returns(prices: pl.DataFrame, cal: SessionCalendar, kind: ReturnKind = "simple") -> pl.DataFrame:
    """Returns of every ticker in a long price frame.

    Parameters
    ----------
    prices
        Long frame with ``ticker, date, close, adj_close``.
    cal
        Exchange calendar defining sessions.
    kind
        ``simple`` or ``log``.

    Returns
    -------
    pl.DataFrame
        ``ticker, session, date, ret, close``, sorted by ticker and session; ``close`` is
        null where it is not a positive finite number.
    """
    adj = _positive(S.ADJ_CLOSE)
    prev = adj.shift(1).over(S.TICKER)
    consecutive = (pl.col(S.SESSION) - pl.col(S.SESSION).shift(1).over(S.TICKER)) == 1
    ratio = adj / prev
    ret = ratio.log() if kind == "log" else ratio - 1.0
    return (
        prices.lazy()
        .select(S.TICKER, S.DATE, S.CLOSE, S.ADJ_CLOSE)
        .join(cal.sessions.lazy().select(S.DATE, S.SESSION), on=S.DATE, how="inner")
        .sort(S.TICKER, S.SESSION)
        .select(
            S.TICKER, S.SESSION, S.DATE,
            pl.when(consecutive).then(ret).alias(S.RET),
            _positive(S.CLOSE).alias(S.CLOSE),
        )
        .collect(engine="in-memory")
    )


def _positive(column: str) -> pl.Expr:
    """``column`` where it is a positive finite number, else null."""
    c = pl.col(column).cast(pl.Float64)
    return pl.when(c.is_finite() & (c > 0)).then(c)


def off_calendar_rows(prices: pl.DataFrame, cal: SessionCalendar) -> pl.DataFrame:
    """Price rows dated on days that are not sessions of ``cal`` (``ticker, date``)."""
    return prices.select(S.TICKER, S.DATE).join(cal.sessions.select(S.DATE), on=S.DATE, how="anti").sort(S.TICKER, S.DATE)
