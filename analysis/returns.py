"""Daily returns on the exchange calendar, laid out densely by ticker and session.

Returns are computed from adjusted closes (split- and dividend-adjusted), per ticker:

* simple: ``R_t = P_t / P_{t-1} − 1``
* log:    ``r_t = ln(P_t / P_{t-1})``

where ``t−1`` is the *previous exchange session*. When a ticker has no price on the previous
session (a halt, a gap in the data, the first day of a listing), ``R_t`` is null rather than a
multi-day return silently treated as one day; the day after a gap is therefore missing too.
A price that is missing, zero, negative, NaN or infinite counts as no price (for the close
too, which market capitalizations use). Rows dated on non-sessions are dropped (see
:func:`off_calendar_rows`). :func:`analysis.quality.price_quality` reports all of these.

**Layout** (:class:`SessionGrid`): each ticker occupies one contiguous stretch of a flat array,
one cell per session from its first to its last on-calendar price row, so that the cell of
session ``s`` of ticker ``k`` is ``offset_k + s − first_k``. A session without a price row is a
NaN cell; the return of a cell is computed from it and the cell before, so a gap (NaN) makes
the return of that session and of the next one NaN — exactly the rule above, without sorting
or shifting millions of rows. The panel (:mod:`analysis.panel`), the market capitalizations
(:mod:`analysis.valuation`) and :func:`session_returns` all read this one layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from analysis import schema as S
from analysis.calendar import SessionCalendar
from analysis.specs import ReturnKind, Window

FIRST = "_first"  # layout columns of SessionGrid.tickers
SPAN = "_span"
OFFSET = "_offset"


@dataclass(frozen=True, eq=False)
class SessionGrid:
    """Returns, closes and log volumes of every ticker, one cell per session (module docstring).

    Attributes
    ----------
    tickers
        ``ticker, _first, _span, _offset``: one row per ticker (sorted), its first session,
        the number of sessions from its first to its last price row, and where its stretch
        starts in the arrays.
    ret
        Returns (simple or log), NaN where missing.
    close
        Raw closes (positive and finite, else NaN).
    log_volume
        ``ln(1 + volume)``, NaN where missing; None when the prices carry no volume at all.
    present
        True on the cells that have a price row.
    """

    tickers: pl.DataFrame
    ret: np.ndarray
    close: np.ndarray
    log_volume: np.ndarray | None
    present: np.ndarray

    def gather(self, tickers: pl.Series, day0: np.ndarray, days: Window, *arrays: np.ndarray) -> list[np.ndarray]:
        """Each of ``arrays`` (arrays of the grid) at ticker ``tickers[i]`` and session
        ``day0[i] + τ`` for ``τ`` in ``days``: ``E x L`` each, NaN (False for ``present``) where
        the ticker is unknown or has no cell on that session."""
        lay = tickers.rename(S.TICKER).to_frame().join(self.tickers, on=S.TICKER, how="left", maintain_order="left")
        known = lay[SPAN].is_not_null().to_numpy()
        first, span, offset = (lay[c].fill_null(0).to_numpy().astype(np.int64) for c in (FIRST, SPAN, OFFSET))
        return window_gather(arrays, offset, np.asarray(day0, dtype=np.int64) + days.start - first, span, known, days.length)

    def only(self, tickers: pl.Series) -> SessionGrid:
        """The grid of those of its tickers that are in ``tickers``: their stretches copied
        into new arrays, cell for cell, so every gather of them equals the whole grid's (this
        grid itself when it holds no other ticker)."""
        lay = self.tickers.filter(pl.col(S.TICKER).is_in(tickers.implode()))
        if lay.height == self.tickers.height:
            return self
        span = lay[SPAN].to_numpy()
        offset = np.cumsum(span) - span
        cells = np.repeat(lay[OFFSET].to_numpy() - offset, span) + np.arange(int(span.sum()), dtype=np.int64)
        return SessionGrid(
            lay.with_columns(pl.Series(OFFSET, offset, dtype=pl.Int64)), self.ret[cells], self.close[cells],
            None if self.log_volume is None else self.log_volume[cells], self.present[cells],
        )

    def to_frame(self, cal: SessionCalendar) -> pl.DataFrame:
        """The long form: one row per price row on a session (:func:`session_returns`)."""
        lay = self.tickers
        owner = np.repeat(np.arange(lay.height, dtype=np.uint32), lay[SPAN].to_numpy())
        session = (
            np.arange(self.ret.size, dtype=np.int64)
            - lay[OFFSET].to_numpy()[owner] + lay[FIRST].to_numpy()[owner]
        )
        keep = self.present
        columns = [
            lay[S.TICKER].gather(pl.Series(owner[keep])),
            pl.Series(S.SESSION, session[keep], dtype=pl.Int32),
            cal.sessions[S.DATE].gather(pl.Series(session[keep])),
            pl.Series(S.RET, self.ret[keep], nan_to_null=True),
            pl.Series(S.CLOSE, self.close[keep], nan_to_null=True),
        ]
        if self.log_volume is not None:
            columns.append(pl.Series(S.LOG_VOLUME, self.log_volume[keep], nan_to_null=True))
        return pl.DataFrame(columns)


def window_gather(
    arrays: tuple[np.ndarray, ...], offset: np.ndarray, rel: np.ndarray, span: np.ndarray, known: np.ndarray, length: int,
) -> list[np.ndarray]:
    """Row ``i`` of each result: cells ``rel[i] .. rel[i] + length − 1`` of the stretch
    ``offset[i] .. offset[i] + span[i] − 1`` of each array (NaN, or False, outside the stretch
    or where ``known[i]`` is False).

    Each row is one contiguous slice, so the rows are copied from a sliding-window view of the
    array (a block copy per row); only rows that run past their stretch are masked cell by cell.
    """
    inside = known & (rel >= 0) & (rel + length <= span)
    out = []
    for values in arrays:
        fill = np.nan if values.dtype.kind == "f" else 0
        if values.size >= length:
            top = values.size - length
            got = sliding_window_view(values, length)[np.clip(offset + rel, 0, top)]
        else:
            got = np.full((rel.size, length), fill, dtype=values.dtype)
        edge = np.flatnonzero(~inside)
        if edge.size:
            cells = rel[edge, None] + np.arange(length)
            ok = known[edge, None] & (cells >= 0) & (cells < span[edge, None])
            part = values.take(np.where(ok, offset[edge, None] + cells, 0)) if values.size else np.full(ok.shape, fill)
            part[~ok] = fill
            got[edge] = part
        out.append(got)
    return out


@dataclass(frozen=True, eq=False)
class PlacedPrices:
    """Price rows placed on the calendar, each ticker's rows together and in date order.

    Attributes
    ----------
    rows
        The price rows (``ticker, date, close, adj_close[, volume]``), grouped by ticker and
        sorted by date within each ticker.
    tickers, starts
        The ticker of each group and the index of its first row.
    session
        Session index of every row (-1 when its date is no session).
    close, adj_close
        The prices as NumPy arrays, NaN where not a positive finite number (no price).
    """

    rows: pl.DataFrame
    tickers: pl.Series
    starts: np.ndarray
    session: np.ndarray
    close: np.ndarray
    adj_close: np.ndarray


def place_prices(prices: pl.DataFrame | PlacedPrices, cal: SessionCalendar) -> PlacedPrices:
    """Place long prices on ``cal`` (module docstring): a frame in the store's order (grouped by
    ticker, dates ascending) is only checked, in one pass, not sorted again."""
    if isinstance(prices, PlacedPrices):
        return prices
    rows = prices
    tickers, starts = ticker_runs(rows[S.TICKER])
    if not _grouped(rows, tickers, starts):
        rows = rows.sort(S.TICKER, S.DATE)
        tickers, starts = ticker_runs(rows[S.TICKER])
    return PlacedPrices(
        rows, tickers, starts, cal.session_numbers(rows[S.DATE]), _positive(rows[S.CLOSE]), _positive(rows[S.ADJ_CLOSE]),
    )


def ticker_runs(tickers: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """The values of the runs of equal consecutive values, and the index where each run starts."""
    if tickers.is_empty():
        return tickers, np.zeros(0, dtype=np.int64)
    runs = tickers.rle().struct.unnest()
    lengths = runs["len"].to_numpy().astype(np.int64)
    return runs["value"], np.cumsum(lengths) - lengths


def _grouped(rows: pl.DataFrame, tickers: pl.Series, starts: np.ndarray) -> bool:
    """Whether every ticker's rows are contiguous and in date order."""
    if not tickers.is_unique().all():
        return False
    days = rows[S.DATE].cast(pl.Date).to_physical()
    if days.null_count():
        return False
    steps = np.diff(days.to_numpy())
    steps[starts[1:] - 1] = 0  # where one ticker's rows end and the next one's begin
    return bool((steps >= 0).all())


def session_grid(prices: pl.DataFrame | PlacedPrices, cal: SessionCalendar, kind: ReturnKind = "simple") -> SessionGrid:
    """Lay out prices by ticker and session and compute the returns (module docstring).

    Parameters
    ----------
    prices
        Long frame with ``ticker, date, close, adj_close`` and optionally ``volume`` (or the
        output of :func:`place_prices`).
    cal
        Exchange calendar defining sessions.
    kind
        ``simple`` or ``log``.
    """
    placed = place_prices(prices, cal)
    rows, session, starts = placed.rows, placed.session, placed.starts
    n = rows.height
    on = session >= 0
    ends = np.append(starts[1:], n)[: starts.size] - 1
    if on.all():  # sorted by date within each ticker
        first, last = session[starts], session[ends]
    elif n:
        first = np.minimum.reduceat(np.where(on, session, np.iinfo(np.int32).max), starts)
        last = np.maximum.reduceat(session, starts)
    else:
        first = last = np.zeros(0, dtype=np.int64)
    first, last = first.astype(np.int64), last.astype(np.int64)
    listed = last >= 0  # tickers with a row on a session
    span = np.where(listed, last - first + 1, 0)
    offset = np.cumsum(span) - span
    size = int(span.sum())
    steps = np.diff(session)
    steps[starts[1:] - 1] = 1
    if size == n and (steps == 1).all():  # one row per session, no gap: the rows are the cells already
        def lay(values: np.ndarray) -> np.ndarray:
            return values

        present = np.ones(n, dtype=bool)
    else:
        code = np.repeat(np.arange(starts.size), ends - starts + 1)
        pos = ((offset - first)[code] + session)[on]

        def lay(values: np.ndarray) -> np.ndarray:
            dense = np.full(size, np.nan)
            dense[pos] = values[on]
            return dense

        present = np.zeros(size, dtype=bool)
        present[pos] = True
    adj = lay(placed.adj_close)
    ret = np.empty(size)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(adj[1:], adj[:-1], out=ret[1:])
        if kind == "log":
            np.log(ret[1:], out=ret[1:])
        else:
            ret[1:] -= 1.0
    ret[offset[listed]] = np.nan  # a ticker's first session has no previous price
    has_volume = S.VOLUME in rows.columns and rows[S.VOLUME].is_not_null().any()
    volume = lay(np.log1p(rows[S.VOLUME].cast(pl.Float64).to_numpy())) if has_volume else None
    tickers = pl.DataFrame({
        S.TICKER: placed.tickers.cast(pl.String),
        FIRST: pl.Series(np.where(listed, first, 0), dtype=pl.Int32),
        SPAN: pl.Series(span, dtype=pl.Int64),
        OFFSET: pl.Series(offset, dtype=pl.Int64),
    }).filter(pl.Series(listed))
    return SessionGrid(tickers, ret, lay(placed.close), volume, present)


def session_returns(prices: pl.DataFrame, cal: SessionCalendar, kind: ReturnKind = "simple") -> pl.DataFrame:
    """Returns of every ticker in a long price frame, one row per price row on a session.

    Parameters
    ----------
    prices
        Long frame with ``ticker, date, close, adj_close`` and optionally ``volume``.
    cal
        Exchange calendar defining sessions.
    kind
        ``simple`` or ``log``.

    Returns
    -------
    pl.DataFrame
        ``ticker, session, date, ret, close`` (and ``log_volume`` = ln(1 + volume) when
        ``prices`` has a volume), sorted by ticker and session; ``close`` is null where it is
        not a positive finite number. The long form of :func:`session_grid`.
    """
    return session_grid(prices, cal, kind).to_frame(cal)


def _positive(column: pl.Series) -> np.ndarray:
    """``column`` where it is a positive finite number, else NaN (null is NaN)."""
    values = column.cast(pl.Float64).to_numpy()
    with np.errstate(invalid="ignore"):
        ok = (values > 0) & (values < np.inf)
    return values if ok.all() else np.where(ok, values, np.nan)


def off_calendar_rows(prices: pl.DataFrame, cal: SessionCalendar) -> pl.DataFrame:
    """Price rows dated on days that are not sessions of ``cal`` (``ticker, date``)."""
    return prices.select(S.TICKER, S.DATE).join(cal.sessions.select(S.DATE), on=S.DATE, how="anti").sort(S.TICKER, S.DATE)
