"""Test helper: a hand-written long panel (one row per event row and day) as the engine's dense
:class:`analysis.panel.EventPanel`."""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.panel import ROW, EventPanel
from analysis.specs import Window


def panel_of(frame: pl.DataFrame, n_rows: int | None = None) -> EventPanel:
    """``row, event_day, ret, benchmark_ret[, log_volume][, factor_<f> ...]`` as dense arrays
    over the frame's event days (rows and days absent from the frame are missing)."""
    n = int(frame[ROW].max()) + 1 if n_rows is None else n_rows
    days = Window(int(frame[S.EVENT_DAY].min()), int(frame[S.EVENT_DAY].max()))
    i, j = frame[ROW].to_numpy(), frame[S.EVENT_DAY].to_numpy() - days.start

    def dense(column: str) -> np.ndarray:
        out = np.full((n, days.length), np.nan)
        out[i, j] = frame[column].cast(pl.Float64).fill_null(np.nan).to_numpy()
        return out

    factors = {c.removeprefix(S.FACTOR_PREFIX): dense(c) for c in frame.columns if c.startswith(S.FACTOR_PREFIX)}
    volume = dense(S.LOG_VOLUME) if S.LOG_VOLUME in frame.columns else None
    return EventPanel(days, dense(S.RET), dense(S.BENCHMARK_RET), volume, factors)
