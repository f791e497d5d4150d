"""Size and power of the group tests by simulation (Brown & Warner 1980, 1985).

Pseudo-events are drawn at random from real (or simulated) return histories: a firm uniformly
among the tickers, then day 0 uniformly among that firm's sessions with a full estimation and
event window of prices (the firm's and the benchmark's). They are put into groups of
``group_size`` and run through :func:`analysis.engine.run_study` — the same engine as
``market-reaction run`` — once as drawn (no abnormal return: the rejection rate is the test's
*size*) and once per planted effect δ, added to each pseudo-event's day-0 return (the rejection
rate is its *power*)::

    R*_i0 = R_i0 + δ       (log returns: r*_i0 = r_i0 + δ)

Planting uses a private copy of the firm's prices per pseudo-event (ticker ``AMZN~e00017``),
multiplied from day 0 on by ``(1 + R_i0 + δ) / (1 + R_i0)``, so the planted return touches
neither other pseudo-events of the same firm nor the estimation window: the model and every
other day are unchanged and ``AR*_i0 = AR_i0 + δ`` exactly.

Design (see the README, "Tests"): a rejection rate of a *group* test is a share of groups, so
its Monte Carlo standard error is ``√(r (1 − r) / G)`` for ``G`` groups: 20 groups of 50 (1,000
pseudo-events) give ±4.9 points at 5%, too coarse to tell 5% from 10%; 1,000 groups of 50
give ±0.7 points. Each group is drawn independently; within a group a (firm, day 0) pair
appears at most once (events of different firms may share a day 0, as in random samples).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.calendar import SessionCalendar
from analysis.engine import run_study
from analysis.errors import InputError
from analysis.specs import StudySpec

EFFECT = "effect"  # planted abnormal return on day 0
LEVEL = "level"  # nominal significance level
GROUPS = "groups"  # groups in which the test could be computed
REJECTED = "rejected"  # share of those groups where p < level
MC_SE = "mc_se"  # Monte Carlo standard error of the share
STAT_MEAN = "stat_mean"
STAT_SD = "stat_sd"
PLANT_SEP = "~"


@dataclass(frozen=True)
class SimulationSpec:
    """What to simulate.

    Attributes
    ----------
    events
        Pseudo-events to draw (default 1,000); ``events // group_size`` groups are formed.
    group_size
        Events per group (default 50, as Brown & Warner).
    effects
        Abnormal returns planted on day 0 for the power runs (default 0.5%, 1%, 2%).
    levels
        Nominal significance levels (default 1% and 5%).
    seed
        Seed of the draw; the same seed, data and spec give the same pseudo-events.
    chunk_events
        At most this many event rows per :func:`run_study` call (bounds memory).
    """

    events: int = 1000
    group_size: int = 50
    effects: tuple[float, ...] = (0.005, 0.01, 0.02)
    levels: tuple[float, ...] = (0.01, 0.05)
    seed: int = 1985
    chunk_events: int = 10_000
    groups: int = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.group_size, int) or self.group_size < 2:
            raise InputError(f"expected an integer of at least 2, got {self.group_size!r}", field="group_size")
        if not isinstance(self.events, int) or self.events < self.group_size:
            raise InputError(f"expected at least one group of {self.group_size} events, got {self.events!r}", field="events")
        if any(not 0 < lv < 1 for lv in self.levels):
            raise InputError(f"significance levels must lie in (0, 1), got {self.levels}", field="levels")
        object.__setattr__(self, "effects", tuple(float(e) for e in self.effects if e != 0))
        object.__setattr__(self, "groups", self.events // self.group_size)


@dataclass(frozen=True)
class SimulationResult:
    """Pseudo-events, every group test of every run, and the rejection rates."""

    spec: StudySpec
    sim: SimulationSpec
    pseudo_events: pl.DataFrame  # event_id, ticker, group, day0
    tests: pl.DataFrame  # effect + the tests table of run_study
    rates: pl.DataFrame  # effect, test, window_start, window_end, level, groups, rejected, mc_se, stat_mean, stat_sd


def eligible_days(prices: pl.DataFrame, tickers: list[str], benchmark: str, spec: StudySpec,
                  cal: SessionCalendar) -> pl.DataFrame:
    """The range of possible days 0 of each ticker: every session ``s`` such that the ticker and
    the benchmark have prices from session ``s + first_day − 1`` (the base of the first
    estimation return) to ``s + last reported day``.

    Returns
    -------
    pl.DataFrame
        ``ticker, first, last`` (session indices, ``first <= last``), sorted by ticker; tickers
        with too short a history are left out.
    """
    span = (
        prices.filter(pl.col(S.TICKER).is_in([*tickers, benchmark]))
        .join(cal.sessions.select(S.DATE, S.SESSION), on=S.DATE)
        .group_by(S.TICKER)
        .agg(pl.col(S.SESSION).min().alias("_lo"), pl.col(S.SESSION).max().alias("_hi"))
    )
    bench = span.filter(pl.col(S.TICKER) == benchmark)
    if bench.is_empty():
        raise InputError(f"no prices for the benchmark {benchmark}", field="benchmark")
    lo_b, hi_b = bench.row(0)[1:]
    before, after = 1 - spec.first_day, spec.report_days.end
    return (
        span.filter(pl.col(S.TICKER) != benchmark)
        .select(
            S.TICKER,
            (pl.max_horizontal("_lo", pl.lit(lo_b)) + before).alias("first"),
            (pl.min_horizontal("_hi", pl.lit(hi_b)) - after).alias("last"),
        )
        .filter(pl.col("first") <= pl.col("last"))
        .sort(S.TICKER)
    )


def draw_pseudo_events(eligible: pl.DataFrame, sim: SimulationSpec, benchmark: str, cal: SessionCalendar) -> pl.DataFrame:
    """Draw ``sim.groups`` groups of ``sim.group_size`` pseudo-events (seeded).

    Each event: a ticker uniformly among ``eligible``'s, then day 0 uniformly in its range.
    A (ticker, day 0) pair drawn twice within a group is drawn again (a few vectorised rounds).

    Returns
    -------
    pl.DataFrame
        An events frame for :func:`run_study` (``event_id, ticker, role, benchmark, group,
        announced, announced_date, announced_utc, timing``) plus ``day0_session``; timing
        ``pre-open`` on the session's date puts day 0 on that session.
    """
    if eligible.is_empty():
        raise InputError("no ticker has a long enough price history for the estimation window", field="tickers")
    rng = np.random.default_rng(sim.seed)
    tickers = eligible[S.TICKER].to_numpy()
    first, last = eligible["first"].to_numpy(), eligible["last"].to_numpy()
    n = sim.groups * sim.group_size
    group = np.repeat(np.arange(sim.groups), sim.group_size)
    pick = np.empty(n, dtype=np.int64)
    day0 = np.empty(n, dtype=np.int64)
    todo = np.ones(n, dtype=bool)
    while todo.any():  # redraw the slots that repeat a (ticker, day 0) already in their group
        k = int(todo.sum())
        pick[todo] = rng.integers(0, len(tickers), k)
        day0[todo] = first[pick[todo]] + np.floor(rng.random(k) * (last[pick[todo]] - first[pick[todo]] + 1)).astype(np.int64)
        key = (group * len(tickers) + pick) * (int(last.max()) + 1) + day0
        _, index = np.unique(key, return_index=True)
        todo = np.ones(n, dtype=bool)
        todo[index] = False
    width = len(str(n - 1))
    frame = pl.DataFrame({
        S.EVENT_ID: [f"e{i:0{width}d}" for i in range(n)],
        S.TICKER: tickers[pick],
        S.GROUP: [f"g{g:0{len(str(sim.groups - 1))}d}" for g in group],
        S.DAY0_SESSION: day0.astype(np.int32),
    })
    return frame.with_columns(cal.dates_of(pl.col(S.DAY0_SESSION)).alias("announced_date")).select(
        S.EVENT_ID, S.TICKER, pl.lit("primary").alias(S.ROLE), pl.lit(benchmark).alias(S.BENCHMARK), S.GROUP,
        pl.col("announced_date").cast(pl.String).alias(S.ANNOUNCED), "announced_date",
        pl.lit(None, pl.Datetime("us", "UTC")).alias("announced_utc"), pl.lit("pre-open").alias(S.TIMING),
        S.DAY0_SESSION,
    )


def plant_abnormal_returns(events: pl.DataFrame, prices: pl.DataFrame, effect: float, spec: StudySpec,
                           cal: SessionCalendar) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Give every pseudo-event its own copy of its firm's prices with ``effect`` added to the
    day-0 return (see the module docstring); the benchmark is kept as is.

    Returns
    -------
    (events, prices)
        ``events`` with ``ticker`` replaced by the private copy ``<ticker>~<event_id>``;
        ``prices`` holding the copies (sessions ``day0 + first_day − 1`` to the last reported
        day) and the benchmark.
    """
    before, after = spec.first_day - 1, spec.report_days.end
    alias = pl.concat_str(S.TICKER, pl.lit(PLANT_SEP), S.EVENT_ID)
    cells = (
        events.select(S.EVENT_ID, S.TICKER, S.DAY0_SESSION, alias.alias("_alias"))
        .with_columns(pl.int_ranges(pl.col(S.DAY0_SESSION) + before, pl.col(S.DAY0_SESSION) + after + 1).alias(S.SESSION))
        .explode(S.SESSION)
        .join(cal.sessions.select(S.SESSION, S.DATE), on=S.SESSION)
        .join(prices.select(S.TICKER, S.DATE, S.CLOSE, S.ADJ_CLOSE), on=[S.TICKER, S.DATE])
        .sort("_alias", S.SESSION)
    )
    is_day0 = pl.col(S.SESSION) == pl.col(S.DAY0_SESSION)
    prev = pl.col(S.ADJ_CLOSE).shift(1).over("_alias")
    consecutive = (pl.col(S.SESSION) - pl.col(S.SESSION).shift(1).over("_alias")) == 1
    r0 = pl.when(is_day0 & consecutive).then(pl.col(S.ADJ_CLOSE) / prev - 1.0)
    if spec.returns == "log":
        factor0 = pl.when(r0.is_not_null()).then(pl.lit(float(np.exp(effect))))
    else:
        factor0 = (1.0 + r0 + effect) / (1.0 + r0)
    planted = (
        cells.with_columns(factor0.alias("_f0"))
        .with_columns(
            pl.when(pl.col(S.SESSION) >= pl.col(S.DAY0_SESSION))
            .then(pl.col("_f0").max().over("_alias").fill_null(1.0))
            .otherwise(1.0)
            .alias("_f")
        )
        .select(
            pl.col("_alias").alias(S.TICKER), S.DATE,
            (pl.col(S.CLOSE) * pl.col("_f")).alias(S.CLOSE), (pl.col(S.ADJ_CLOSE) * pl.col("_f")).alias(S.ADJ_CLOSE),
        )
    )
    benchmarks = prices.filter(pl.col(S.TICKER).is_in(events[S.BENCHMARK].unique().to_list())).select(planted.columns)
    return events.with_columns(alias.alias(S.TICKER)), pl.concat([planted, benchmarks])


def run_pseudo_events(events: pl.DataFrame, prices: pl.DataFrame, spec: StudySpec, cal: SessionCalendar,
                      sim: SimulationSpec) -> pl.DataFrame:
    """The group tests of every run: ``effect`` (0, then each planted effect) + the tests
    table of :func:`run_study`, in chunks of whole groups of at most ``sim.chunk_events``."""
    per_chunk = max(1, sim.chunk_events // sim.group_size)
    groups = events[S.GROUP].unique(maintain_order=True).to_list()
    out = []
    for start in range(0, len(groups), per_chunk):  # chunks of groups, each one vectorised run
        chunk = events.filter(pl.col(S.GROUP).is_in(groups[start : start + per_chunk]))
        for effect in (0.0, *sim.effects):
            ev, px = (chunk, prices) if effect == 0 else plant_abnormal_returns(chunk, prices, effect, spec, cal)
            tests = run_study(ev.drop(S.DAY0_SESSION), px, spec, cal, max_regressions=0, confounders=False).tests
            out.append(tests.select(pl.lit(effect).alias(EFFECT), pl.all()))
    return pl.concat(out)


def rejection_rates(tests: pl.DataFrame, levels: tuple[float, ...]) -> pl.DataFrame:
    """Share of groups whose two-sided p-value is below each level, per effect, test and window.

    Groups where a test could not be computed are left out of its share (``groups`` counts
    the others). ``mc_se = √(r (1 − r) / groups)``; ``stat_mean``, ``stat_sd``: the mean and
    standard deviation of the statistic across groups (≈ 0 and ≈ 1 for a well-specified Z or t
    with many degrees of freedom under no effect).
    """
    lv = pl.DataFrame({LEVEL: list(levels)}, schema={LEVEL: pl.Float64})
    keys = [EFFECT, S.TEST, S.WINDOW_START, S.WINDOW_END]
    return (
        tests.filter(pl.col(S.P_VALUE).is_not_null())
        .join(lv, how="cross")
        .group_by(*keys, LEVEL)
        .agg(
            pl.len().cast(pl.Int32).alias(GROUPS),
            (pl.col(S.P_VALUE) < pl.col(LEVEL)).mean().alias(REJECTED),
            pl.col(S.STATISTIC).mean().alias(STAT_MEAN),
            pl.col(S.STATISTIC).std().alias(STAT_SD),
        )
        .with_columns((pl.col(REJECTED) * (1 - pl.col(REJECTED)) / pl.col(GROUPS)).sqrt().alias(MC_SE))
        .sort(EFFECT, S.WINDOW_START, S.WINDOW_END, S.TEST, LEVEL)
    )


def simulate_tests(prices: pl.DataFrame, tickers: list[str], benchmark: str, spec: StudySpec,
                   cal: SessionCalendar, sim: SimulationSpec) -> SimulationResult:
    """Draw the pseudo-events, run them with and without planted effects, tally rejections."""
    eligible = eligible_days(prices, tickers, benchmark, spec, cal)
    events = draw_pseudo_events(eligible, sim, benchmark, cal)
    tests = run_pseudo_events(events, prices, spec, cal, sim)
    pseudo = events.select(S.EVENT_ID, S.TICKER, S.GROUP, pl.col("announced_date").alias(S.DAY0))
    return SimulationResult(spec, sim, pseudo, tests, rejection_rates(tests, sim.levels))
