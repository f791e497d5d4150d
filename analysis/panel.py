"""The returns panel: every event row ("row" ``i = 0..E-1``: one event x ticker) x event day.

Every event row gets the same span of event days ``τ = first..last`` (estimation window start
to the last event-window day), so the panel is a dense ``E x L`` block: :class:`EventPanel`
holds one ``E x L`` NumPy array per variable (NaN where missing), and the models, abnormal
returns, CARs and group tests work on these arrays with batched NumPy (reductions along the
event-day axis; no loop over events). A long tidy frame (one row per event row and day) is
only built where one is reported or handed to statsmodels (:meth:`EventPanel.to_frame`).

Values are fetched by a dense gather rather than by joins (see
:class:`analysis.returns.SessionGrid`): the cell ``(i, τ)`` reads the ticker's cell of session
``day0_session_i + τ``. Missing days (halts, late listings, gaps) stay NaN, so observation
counts per window are exact. Factors are per *date*, not per ticker: they are laid out once by
session and gathered the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.returns import SessionGrid, window_gather
from analysis.specs import Window

ROW = "row"


@dataclass(frozen=True, eq=False)
class EventPanel:
    """Dense ``E x L`` arrays of the event rows over event days ``days`` (NaN = missing).

    Attributes
    ----------
    days
        The event days of the columns: column ``j`` is ``τ = days.start + j``.
    ret, benchmark_ret
        Returns of the event row's ticker and of its benchmark.
    log_volume
        ``ln(1 + volume)`` of the ticker, or None when the prices carry no volume.
    factors
        Factor values by factor name (``mkt_rf``, ``smb``, ``rf``, ...), same shape.
    """

    days: Window
    ret: np.ndarray
    benchmark_ret: np.ndarray
    log_volume: np.ndarray | None = None
    factors: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return self.ret.shape[0]

    def span(self, days: Window) -> slice:
        """The columns of event days ``days`` (which must lie inside the panel's days)."""
        return slice(days.start - self.days.start, days.end - self.days.start + 1)

    def column(self, name: str) -> np.ndarray:
        """The array of panel column ``name`` (``ret``, ``benchmark_ret``, ``log_volume``, ``factor_<f>``)."""
        if name == S.RET:
            return self.ret
        if name == S.BENCHMARK_RET:
            return self.benchmark_ret
        if name == S.LOG_VOLUME and self.log_volume is not None:
            return self.log_volume
        if name.startswith(S.FACTOR_PREFIX) and name.removeprefix(S.FACTOR_PREFIX) in self.factors:
            return self.factors[name.removeprefix(S.FACTOR_PREFIX)]
        raise KeyError(f"the panel has no column {name!r}")

    def to_frame(self, rows: np.ndarray | None = None) -> pl.DataFrame:
        """The long form: ``row`` (UInt32), ``event_day`` (Int32), ``ret``, ``benchmark_ret``
        (then ``log_volume`` and ``factor_<f>`` when present), null where missing, ordered by
        row then event day; only ``rows`` when given."""
        rows = np.arange(self.n_rows) if rows is None else np.asarray(rows, dtype=np.int64)
        length = self.days.length
        arrays = {S.RET: self.ret, S.BENCHMARK_RET: self.benchmark_ret}
        if self.log_volume is not None:
            arrays[S.LOG_VOLUME] = self.log_volume
        arrays |= {S.factor_column(name): values for name, values in self.factors.items()}
        return pl.DataFrame({
            ROW: np.repeat(rows.astype(np.uint32), length),
            S.EVENT_DAY: np.tile(np.arange(self.days.start, self.days.end + 1, dtype=np.int32), rows.size),
            **{name: pl.Series(values[rows].ravel(), nan_to_null=True) for name, values in arrays.items()},
        })


def event_panel(
    rows: pl.DataFrame, grid: SessionGrid, days: Window, factors: pl.DataFrame | None = None
) -> EventPanel:
    """Returns of every event row and its benchmark over event days ``days``.

    Parameters
    ----------
    rows
        Event rows in order ``row = 0..E-1``: ``ticker, benchmark, day0_session`` (non-null).
    grid
        The returns of every ticker and benchmark (:func:`analysis.returns.session_grid`).
    days
        The event days to gather, e.g. ``[-260, +5]``.
    factors
        Optional factor values per session: ``session`` and one column per factor (e.g.
        ``mkt_rf, smb, hml, rf``), at most one row per session.

    Returns
    -------
    EventPanel
        ``E x L`` arrays: ``ret`` and ``log_volume`` of the row's ticker, ``benchmark_ret``,
        and the factors (NaN on sessions without a value).
    """
    day0 = rows[S.DAY0_SESSION].to_numpy().astype(np.int64)
    mine = grid.gather(rows[S.TICKER], day0, days, grid.ret, *([] if grid.log_volume is None else [grid.log_volume]))
    (bench,) = grid.gather(rows[S.BENCHMARK], day0, days, grid.ret)
    by_factor: dict[str, np.ndarray] = {}
    if factors is not None:
        names = [c for c in factors.columns if c != S.SESSION]
        first = int(factors[S.SESSION].min() or 0)
        width = int(factors[S.SESSION].max() or 0) - first + 1 if factors.height else 0
        idx = factors[S.SESSION].to_numpy().astype(np.int64) - first
        dense = []
        for name in names:
            values = np.full(width, np.nan)
            values[idx] = factors[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
            dense.append(values)
        e = day0.size
        gathered = window_gather(tuple(dense), np.zeros(e, dtype=np.int64), day0 + days.start - first,
                                 np.full(e, width, dtype=np.int64), np.ones(e, dtype=bool), days.length)
        by_factor = dict(zip(names, gathered, strict=True))
    return EventPanel(days, mine[0], bench, mine[1] if len(mine) > 1 else None, by_factor)
