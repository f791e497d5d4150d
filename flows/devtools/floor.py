"""The benchmark's synthetic market and its NumPy floor (pure: no I/O; ``flows/devtools/bench.py`` runs it).

**Market.** ``tickers`` firms and one benchmark ``^MKT`` on the last ``sessions`` sessions of
the exchange calendar up to ``end``, with market-model returns (seeded: the same spec gives the
same prices bit for bit)::

    R_mt ~ N(0.0003, 0.010²)
    R_it = α_i + β_i R_mt + ε_it,   α_i ~ N(0, 0.0005²), β_i ~ U(0.5, 1.5), ε_it ~ N(0, σ_i²), σ_i ~ U(0.01, 0.03)

Prices are ``50 · Π(1 + R)`` (``close = adj_close``; no volume). With ``missing = p`` every
price row (the benchmark's too) is deleted with probability ``p``, so returns go missing on
the day of a deleted row and the day after (the engine never bridges a gap).

**Events.** ``events`` events, each one firm drawn uniformly and day 0 drawn uniformly among
the sessions whose estimation window [-260, -11] and event window [-10, +10] lie inside the
data; half announced ``pre-open`` on day 0's date, half ``after-close`` on the previous
session's date (so the calendar rules move them to day 0). Grouped by the year of day 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from analysis import schema as S
from analysis.calendar import SessionCalendar
from analysis.specs import StudySpec, Window

BENCH_BENCHMARK = "^MKT"
ESTIMATION = Window(-260, -11)
EVENT_DAYS = Window(-10, 10)
BENCH_SPEC = StudySpec(estimation=ESTIMATION, windows=(Window(0, 0), Window(-1, 1), EVENT_DAYS))
"""The study the benchmark times: market model, estimation [-260, -11], windows [0, 0],
[-1, +1] and [-10, +10] (so the reported days are -10..+10)."""


@dataclass(frozen=True)
class SyntheticSpec:
    """Size and seed of the synthetic market (see the module docstring)."""

    tickers: int = 2000
    sessions: int = 5000
    events: int = 100_000
    missing: float = 0.0
    seed: int = 1976
    end: date = date(2025, 12, 31)

    def __post_init__(self) -> None:
        if self.tickers < 1 or self.events < 1:
            raise ValueError("tickers and events must be positive")
        if self.sessions < ESTIMATION.length + EVENT_DAYS.length + 12:
            raise ValueError(f"needs at least {ESTIMATION.length + EVENT_DAYS.length + 12} sessions")
        if not 0.0 <= self.missing < 1.0:
            raise ValueError("missing is a share in [0, 1)")


def ticker_names(n: int) -> list[str]:
    """``T0000, T0001, ...`` (sorted as they are numbered)."""
    return [f"T{i:04d}" for i in range(n)]


def bench_dates(spec: SyntheticSpec, cal: SessionCalendar) -> pl.Series:
    """The last ``spec.sessions`` sessions of ``cal`` on or before ``spec.end``."""
    dates = cal.sessions.filter(pl.col(S.DATE) <= spec.end)[S.DATE]
    if dates.len() < spec.sessions:
        raise ValueError(f"the calendar has only {dates.len()} sessions before {spec.end}")
    return dates.tail(spec.sessions)


def bench_prices(spec: SyntheticSpec, cal: SessionCalendar) -> pl.DataFrame:
    """Long prices ``ticker, date, close, adj_close`` of every firm and of ``^MKT``, sorted by
    ticker and date (the benchmark first: ``^`` sorts before letters)."""
    rng = np.random.default_rng(spec.seed)
    dates = bench_dates(spec, cal)
    n, k = spec.sessions, spec.tickers
    rm = rng.normal(0.0003, 0.010, n)
    alpha = rng.normal(0.0, 0.0005, k)
    beta = rng.uniform(0.5, 1.5, k)
    sigma = rng.uniform(0.01, 0.03, k)
    ret = np.empty((k + 1, n))
    ret[0] = rm
    ret[1:] = alpha[:, None] + beta[:, None] * rm[None, :] + sigma[:, None] * rng.standard_normal((k, n))
    ret[:, 0] = 0.0
    price = 50.0 * np.cumprod(1.0 + ret, axis=1)
    keep = rng.random((k + 1, n)) >= spec.missing if spec.missing > 0 else np.ones((k + 1, n), dtype=bool)
    names = np.array([BENCH_BENCHMARK, *ticker_names(k)])
    rows, cols = np.nonzero(keep)
    close = price[rows, cols]
    return pl.DataFrame({
        S.TICKER: pl.Series(names[rows], dtype=pl.String),
        S.DATE: dates.gather(cols),
        S.CLOSE: close,
        S.ADJ_CLOSE: close,
    })


def bench_events(spec: SyntheticSpec, cal: SessionCalendar) -> pl.DataFrame:
    """The events, as :func:`analysis.specs.events_frame` makes them from the catalog
    (one primary ticker per event; date-only announcements)."""
    rng = np.random.default_rng([spec.seed, 1])
    dates = bench_dates(spec, cal)
    lo, hi = -ESTIMATION.start + 1, spec.sessions - 1 - EVENT_DAYS.end  # day 0 index in the data
    day0 = rng.integers(lo, hi + 1, spec.events)
    firm = rng.integers(0, spec.tickers, spec.events)
    after = rng.random(spec.events) < 0.5
    announced = dates.gather(np.where(after, day0 - 1, day0))
    names = np.array(ticker_names(spec.tickers))
    return pl.DataFrame({
        S.EVENT_ID: [f"e{i:06d}" for i in range(spec.events)],
        S.TICKER: pl.Series(names[firm], dtype=pl.String),
        S.ROLE: "primary",
        S.BENCHMARK: BENCH_BENCHMARK,
        S.GROUP: dates.gather(day0).dt.year().cast(pl.String).str.replace(r"^", "y"),
        S.ANNOUNCED: announced.cast(pl.String),
        "announced_date": announced,
        "announced_utc": pl.Series([None] * spec.events, dtype=pl.Datetime("us", "UTC")),
        S.TIMING: pl.Series(np.where(after, "after-close", "pre-open"), dtype=pl.String),
    })


def catalog_csv(events: pl.DataFrame) -> str:
    """The events as a CSV catalog (``event_id,ticker,announced,timing,benchmark,group``)."""
    return events.select(S.EVENT_ID, S.TICKER, S.ANNOUNCED, S.TIMING, S.BENCHMARK, S.GROUP).write_csv()


# --- the NumPy floor: the same statistics, written plainly -------------------------------------------

FLOOR_WINDOWS = (Window(0, 0), Window(-1, 1), EVENT_DAYS)


@dataclass(frozen=True, eq=False)
class FloorResult:
    """The floor's numbers: per event, the market model and each window's CAR and t; per group
    and test window (every event day, then [-1, +1] and [-10, +10]), Patell Z and BMP t."""

    n_obs: np.ndarray  # (E,) estimation days with both returns
    alpha: np.ndarray
    beta: np.ndarray
    sigma: np.ndarray
    n_days: np.ndarray  # (E, windows) days with an abnormal return
    car: np.ndarray  # (E, windows)
    car_t: np.ndarray  # (E, windows)
    ar_t: np.ndarray  # (E, event days)
    patell: np.ndarray  # (groups, test windows)
    bmp: np.ndarray  # (groups, test windows)


def dense_returns(prices: np.ndarray) -> np.ndarray:
    """Simple returns of a (tickers x sessions) price matrix with NaN for missing prices."""
    out = np.full(prices.shape, np.nan)
    out[:, 1:] = prices[:, 1:] / prices[:, :-1] - 1.0
    return out


def numpy_floor(ret: np.ndarray, firm: np.ndarray, market: int, day0: np.ndarray, group: np.ndarray,
                min_obs: int = 120) -> FloorResult:
    """Market model, ARs, CARs, per-event t, Patell Z and BMP t for every event, in plain NumPy.

    ``ret`` is (tickers x sessions) with NaN for missing returns; event ``i`` is firm
    ``firm[i]`` with day 0 at column ``day0[i]``; ``market`` is the benchmark's row; ``group``
    numbers the events' groups 0..G-1. The formulas are those of :mod:`analysis.abnormal` and
    :mod:`analysis.inference` for the market model (MacKinlay 1997; Patell 1976; Boehmer,
    Musumeci & Poulsen 1991), written out for this one model without the engine's generality.
    """
    length = EVENT_DAYS.end - ESTIMATION.start + 1
    first = day0 + ESTIMATION.start
    if first.min(initial=0) < 0 or (first + length).max(initial=0) > ret.shape[1]:
        raise ValueError("every event's days must lie inside the matrix")
    rows = sliding_window_view(ret.ravel(), length)  # row k: the `length` returns from flat cell k on
    r, m = rows[firm * ret.shape[1] + first], rows[market * ret.shape[1] + first]
    est = slice(0, ESTIMATION.length)
    ev = slice(EVENT_DAYS.start - ESTIMATION.start, None)
    y, x = r[:, est], m[:, est]
    ok = ~(np.isnan(y) | np.isnan(x))
    y0, x0 = np.where(ok, y, 0.0), np.where(ok, x, 0.0)
    n = ok.sum(axis=1).astype(np.float64)
    dot = lambda a, b: np.einsum("ij,ij->i", a, b)  # noqa: E731  (row-wise sums of products)
    with np.errstate(invalid="ignore", divide="ignore"):
        xbar, ybar = x0.sum(axis=1) / n, y0.sum(axis=1) / n
        sxx = dot(x0, x0) - n * xbar**2
        sxy = dot(x0, y0) - n * xbar * ybar
        syy = dot(y0, y0) - n * ybar**2
        beta = sxy / sxx
        alpha = ybar - beta * xbar
        dof = n - 2
        s2 = (syy - beta * sxy) / dof
        s2 = np.where(n >= min_obs, s2, np.nan)
        ar = r[:, ev] - (alpha[:, None] + beta[:, None] * m[:, ev])
        ar_var = s2[:, None] * (1 + 1 / n[:, None] + (m[:, ev] - xbar[:, None]) ** 2 / sxx[:, None])
        ar_t = ar / np.sqrt(ar_var)
        has = ~np.isnan(ar)
        windows = []
        for w in FLOOR_WINDOWS:
            sl = slice(w.start - EVENT_DAYS.start, w.end - EVENT_DAYS.start + 1)
            days = has[:, sl].sum(axis=1).astype(np.float64)
            car = np.where(has[:, sl], ar[:, sl], 0.0).sum(axis=1)
            dev = np.where(has[:, sl], m[:, ev][:, sl], 0.0).sum(axis=1) - days * xbar
            var = s2 * (days + days**2 / n + dev**2 / sxx)
            car = np.where(days > 0, car, np.nan)
            windows.append((days, car, car / np.sqrt(var)))
        n_days, car, car_t = (np.stack(v, axis=1) for v in zip(*windows, strict=True))
        # Patell Z and BMP t per group and test window: each event day, then the longer windows.
        scar = np.concatenate([ar_t, car_t[:, 1:]], axis=1)
        use = np.isfinite(scar)
        z = np.where(use, scar, 0.0)
        groups = int(group.max()) + 1 if group.size else 0
        count = np.stack([np.bincount(group, use[:, j], groups) for j in range(scar.shape[1])], axis=1)
        zsum = np.stack([np.bincount(group, z[:, j], groups) for j in range(scar.shape[1])], axis=1)
        vsum = np.stack([np.bincount(group, use[:, j] * dof / (dof - 2), groups) for j in range(scar.shape[1])], axis=1)
        zmean = zsum / count
        dev2 = np.where(use, z - zmean[group], 0.0) ** 2
        zsd = np.sqrt(np.stack([np.bincount(group, dev2[:, j], groups) for j in range(scar.shape[1])], axis=1) / (count - 1))
        patell = zsum / np.sqrt(vsum)
        bmp = zmean / (zsd / np.sqrt(count))
    return FloorResult(n.astype(np.int64), alpha, beta, np.sqrt(s2), n_days.astype(np.int64), car, car_t, ar_t, patell, bmp)
