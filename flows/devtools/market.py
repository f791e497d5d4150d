"""A simulated market with planted abnormal returns (the demo's data).

Returns follow the market model exactly, so the engine should recover what was planted::

    R_mt ~ N(μ_m, σ_m²)                       (the benchmark "^MKT")
    R_it = α_i + β_i R_mt + ε_it + A_it,      ε_it ~ N(0, σ_i²)

where ``A_it`` is the planted abnormal return (non-zero only on chosen event days). Prices are
``100 · Π(1 + R)``; seeded, so the same seed gives the same market bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.calendar import SessionCalendar
from analysis.specs import EventSpec

DEMO_BENCHMARK = "^MKT"
PLANTED_AR = "planted_ar"


@dataclass(frozen=True)
class PlantedEvent:
    """An event to plant: abnormal returns ``ars`` on event days ``0, 1, ...`` of ``ticker``."""

    id: str
    ticker: str
    day0: date
    ars: tuple[float, ...]
    timing: str = "pre-open"
    description: str = ""


@dataclass(frozen=True)
class SimulatedMarket:
    prices: pl.DataFrame  # ticker, date, open, high, low, close, adj_close, volume
    shares: pl.DataFrame  # ticker, as_of_date, shares_outstanding
    events: tuple[EventSpec, ...]
    planted: pl.DataFrame  # event_id, ticker, event_day, planted_ar


DEMO_FIRMS = {  # ticker: (alpha, beta, sigma, shares outstanding)
    "ACME": (0.0002, 1.10, 0.015, 2_000_000_000),
    "BOLT": (0.0000, 0.80, 0.012, 900_000_000),
    "CRUX": (-0.0001, 1.40, 0.020, 450_000_000),
    "DYNA": (0.0003, 0.95, 0.010, 5_000_000_000),
}
DEMO_EVENTS = (
    PlantedEvent("acme-merger", "ACME", date(2025, 6, 16), (0.08,), "pre-open", "ACME agrees to buy a rival (planted +8% on day 0)"),
    PlantedEvent("bolt-recall", "BOLT", date(2025, 7, 22), (-0.05, -0.02), "after-close", "BOLT product recall, after the close (planted -5% day 0, -2% day +1)"),
    PlantedEvent("crux-guidance", "CRUX", date(2025, 9, 8), (0.06,), "intraday", "CRUX raises guidance intraday (planted +6% on day 0)"),
    PlantedEvent("dyna-placebo", "DYNA", date(2025, 10, 14), (0.0,), "pre-open", "DYNA routine filing (placebo: nothing planted)"),
)


def simulate_market(
    cal: SessionCalendar,
    *,
    seed: int = 20251103,
    start: date = date(2023, 1, 3),
    end: date = date(2025, 12, 31),
    firms: dict[str, tuple[float, float, float, int]] = DEMO_FIRMS,
    events: tuple[PlantedEvent, ...] = DEMO_EVENTS,
    market: tuple[float, float] = (0.0004, 0.010),
) -> SimulatedMarket:
    """Simulate daily prices on the sessions of ``cal`` between ``start`` and ``end``.

    ``PlantedEvent.day0`` is the session the abnormal return lands on (day 0); the event's
    announcement is placed so that the calendar rules put day 0 there (after-close events are
    announced at 16:30 New York time on the previous session).
    """
    rng = np.random.default_rng(seed)
    sessions = cal.sessions.filter(pl.col(S.DATE).is_between(start, end))
    dates = sessions[S.DATE]
    n = dates.len()
    rm = rng.normal(market[0], market[1], n)
    index_of = {d: i for i, d in enumerate(dates.to_list())}
    frames, planted, specs = [_prices(DEMO_BENCHMARK, dates, rm, rng)], [], []
    for ticker, (alpha, beta, sigma, _) in firms.items():
        ret = alpha + beta * rm + rng.normal(0.0, sigma, n)
        for ev in (e for e in events if e.ticker == ticker):
            i0 = index_of[ev.day0]
            for k, a in enumerate(ev.ars):
                ret[i0 + k] += a
                planted.append((ev.id, ticker, k, a))
        frames.append(_prices(ticker, dates, ret, rng))
    for ev in events:
        i0 = index_of[ev.day0]
        if ev.timing == "after-close":
            prev = dates[i0 - 1]
            announced: date | datetime = datetime(prev.year, prev.month, prev.day, 20, 30, tzinfo=timezone.utc)
        else:
            announced = ev.day0
        specs.append(
            EventSpec(
                id=ev.id, tickers=(ev.ticker,), announced=announced, timing=ev.timing, benchmark=DEMO_BENCHMARK,
                group="demo", description=ev.description, source="simulated (market_reaction demo)",
            )
        )
    shares = pl.DataFrame(
        {
            S.TICKER: list(firms),
            S.AS_OF_DATE: [start - timedelta(days=1)] * len(firms),
            S.SHARES: [f[3] for f in firms.values()],
        },
        schema={S.TICKER: pl.String, S.AS_OF_DATE: pl.Date, S.SHARES: pl.Int64},
    )
    planted_frame = pl.DataFrame(
        planted, schema={S.EVENT_ID: pl.String, S.TICKER: pl.String, S.EVENT_DAY: pl.Int32, PLANTED_AR: pl.Float64},
        orient="row",
    )
    return SimulatedMarket(pl.concat(frames), shares, tuple(specs), planted_frame)


def _prices(ticker: str, dates: pl.Series, ret: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    close = 100.0 * np.cumprod(1.0 + ret)
    prev = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.004, len(ret)))
    high = np.maximum(prev, close) * (1 + spread)
    low = np.minimum(prev, close) * (1 - spread)
    return pl.DataFrame(
        {
            S.TICKER: ticker, S.DATE: dates, S.OPEN: prev.round(4), S.HIGH: high.round(4), S.LOW: low.round(4),
            S.CLOSE: close.round(4), S.ADJ_CLOSE: close.round(4),
            S.VOLUME: rng.integers(1_000_000, 5_000_000, len(ret)).astype(float),
        }
    )
