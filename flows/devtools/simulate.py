"""``market-reaction simulate``: size and power of the group tests (Brown & Warner 1985).

Reads the prices (the store, or a simulated market with ``--simulated``), runs
:func:`analysis.size_power.simulate_tests` — pseudo-events through the same engine as
``market-reaction run`` — and writes to ``--out``::

    simulation.md                 the rejection-rate tables (one per window) and the design
    rejection_rates.parquet/.csv  effect x test x window x level: groups, rejected, mc_se, stat_mean, stat_sd
    group_tests.parquet           every group test of every run (effect + the tests.parquet columns)
    pseudo_events.csv             the drawn pseudo-events (event_id, ticker, group, day0)
    manifest.json                 parameters, data, timing, versions (kind "simulation")

and updates the ``index.html`` of the folder holding it. By default that folder is
``simulations/`` (:data:`flows.params.DEFAULT_SIMULATIONS`), beside the demo's report and apart from ``reports/``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl

from analysis import schema as S
from analysis.errors import DataUnavailableError, InputError
from analysis.inference import TESTS
from flows.io.calendars import exchange_calendar
from flows.devtools.market import DEMO_BENCHMARK, DEMO_FIRMS, simulate_market
from analysis.size_power import (
    EFFECT, GROUPS, LEVEL, REJECTED, STAT_MEAN, STAT_SD, SimulationResult, SimulationSpec, simulate_tests,
)
from analysis.specs import StudySpec
from flows import progress
from flows.io.atomic import staged_folder
from flows.reporting.index import write_index
from flows.reporting.ownership import GENERATOR, SIMULATION_KIND
from flows.reporting.publish import versions
from flows.io.store import PriceStore
from flows.params import DEFAULT_SIMULATIONS
from analysis.formats import num
from flows.reporting.tables import Table, to_markdown, window_label

SIMULATED_START, SIMULATED_END = date(2016, 1, 4), date(2025, 12, 31)


@dataclass(frozen=True)
class SimulationRun:
    result: SimulationResult
    source: str  # "store" or "simulated"
    tickers: tuple[str, ...]
    benchmark: str
    seconds: float


def store_prices(store: PriceStore, tickers: list[str] | None, benchmark: str) -> tuple[pl.DataFrame, list[str]]:
    """Prices of ``tickers`` (default: every stored ticker except indices ``^...`` and the
    benchmark) and of the benchmark, from the store."""
    stored = store.tickers()[S.TICKER].to_list()
    if benchmark not in stored:
        raise DataUnavailableError(
            f"no prices for the benchmark {benchmark} in the store ({store.root}); import them with "
            f"`market-reaction prices import FILE --ticker {benchmark}`, or use --simulated"
        )
    chosen = tickers or [t for t in stored if t != benchmark and not t.startswith("^")]
    missing = [t for t in chosen if t not in stored]
    if missing:
        raise DataUnavailableError(f"no prices in the store ({store.root}) for {', '.join(missing)}")
    if not chosen:
        raise DataUnavailableError(f"no ticker besides the benchmark in the store ({store.root}); import prices or use --simulated")
    return store.read([*chosen, benchmark]), chosen


def simulated_prices(seed: int) -> tuple[pl.DataFrame, list[str], str]:
    """The demo's simulated market (market-model returns with normal errors), 2016-2025, no
    planted events."""
    market = simulate_market(exchange_calendar(), seed=seed, start=SIMULATED_START, end=SIMULATED_END, events=())
    return market.prices, list(DEMO_FIRMS), DEMO_BENCHMARK


def run_simulation(
    spec: StudySpec, sim: SimulationSpec, *, simulated: bool = False, store: PriceStore | None = None,
    tickers: list[str] | None = None, benchmark: str = "^GSPC",
) -> SimulationRun:
    """Load the prices and run the simulation; time the simulation itself."""
    if simulated:
        prices, chosen, benchmark = simulated_prices(sim.seed)
    else:
        if store is None:
            raise InputError("a price store is needed unless --simulated", field="store")
        prices, chosen = store_prices(store, tickers, benchmark)
    cal = exchange_calendar(spec.calendar)
    progress.say(f"{sim.groups} groups of {sim.group_size} pseudo-events from {', '.join(chosen)} "
                 f"(benchmark {benchmark}); planted effects {', '.join(f'{e:.2%}' for e in sim.effects) or 'none'}")
    t0 = time.perf_counter()
    result = simulate_tests(prices, chosen, benchmark, spec, cal, sim)
    seconds = time.perf_counter() - t0
    progress.say(f"simulation done in {seconds:.1f}s")
    return SimulationRun(result, "simulated" if simulated else "store", tuple(chosen), benchmark, seconds)


def _rate(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def rates_tables(run: SimulationRun) -> list[Table]:
    """One table per study window: a row per test; size at each level (no planted effect),
    the statistic's mean and s.d. across groups, and power at each level per planted effect."""
    res = run.result
    rates = res.rates
    tables = []
    for w in res.spec.windows:
        r = rates.filter((pl.col(S.WINDOW_START) == w.start) & (pl.col(S.WINDOW_END) == w.end))
        cols: dict[str, list[str]] = {"test": [t.label for t in TESTS]}
        null = r.filter(pl.col(EFFECT) == 0)
        first_level = null.filter(pl.col(LEVEL) == res.sim.levels[0])
        by_test = {row[S.TEST]: row for row in first_level.iter_rows(named=True)}
        cols["groups"] = [str(by_test[t.name][GROUPS]) if t.name in by_test else "0" for t in TESTS]
        for effect in (0.0, *res.sim.effects):
            for level in res.sim.levels:
                part = {row[S.TEST]: row[REJECTED] for row in
                        r.filter((pl.col(EFFECT) == effect) & (pl.col(LEVEL) == level)).iter_rows(named=True)}
                head = f"size {level:.0%}" if effect == 0 else f"+{effect:.1%} at {level:.0%}"
                cols[head] = [_rate(part.get(t.name)) for t in TESTS]
            if effect == 0:
                cols["mean stat"] = [num(by_test[t.name][STAT_MEAN]) if t.name in by_test else "" for t in TESTS]
                cols["s.d. stat"] = [num(by_test[t.name][STAT_SD]) if t.name in by_test else "" for t in TESTS]
        g = res.sim.groups
        notes = (
            f"Rejection rates of two-sided tests over {g} groups of {res.sim.group_size} pseudo-events "
            f"({g * res.sim.group_size} draws; {run.source} prices of {', '.join(run.tickers)}, benchmark {run.benchmark}; "
            f"seed {res.sim.seed}). Size: no planted effect; '+x at a': share of groups rejecting at level a after "
            f"adding x to every day-0 return.",
            f"Monte Carlo s.e. of a rate r: sqrt(r (1 - r) / {g}), e.g. {_rate((0.05 * 0.95 / g) ** 0.5)} at 5%. "
            "mean / s.d. stat: of the statistic across groups without an effect (0 and 1 for a well-specified Z).",
        )
        frame = pl.DataFrame(cols)
        tables.append(Table(f"rejections_{w.start}_{w.end}", f"Size and power, window {window_label(w.start, w.end)}",
                            frame, notes))
    return tables


def write_simulation(run: SimulationRun, out: Path) -> Path:
    """Write the simulation's files (see the module docstring) to ``out``, atomically (a
    hidden sibling folder swapped into place: :func:`flows.io.atomic.staged_folder`), and
    the index of the folder holding it (:func:`flows.reporting.index.write_index`), which lists it."""
    with staged_folder(out) as tmp:
        _write_simulation(run, tmp)
    write_index(Path(out).parent)
    return out


def _write_simulation(run: SimulationRun, out: Path) -> None:
    res = run.result
    tables = rates_tables(run)
    (out / "simulation.md").write_text(
        f"# Size and power of the group tests\n\nSimulation took {run.seconds:.1f}s.\n\n"
        + "\n".join(to_markdown(t) for t in tables), encoding="utf-8",
    )
    res.rates.write_parquet(out / "rejection_rates.parquet")
    res.rates.write_csv(out / "rejection_rates.csv")
    res.tests.write_parquet(out / "group_tests.parquet")
    res.pseudo_events.write_csv(out / "pseudo_events.csv")
    manifest = {
        "generator": GENERATOR, "kind": SIMULATION_KIND,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": run.source, "tickers": list(run.tickers), "benchmark": run.benchmark,
        "study": res.spec.as_dict(),
        "simulation": {"events": res.sim.groups * res.sim.group_size, "groups": res.sim.groups,
                       "group_size": res.sim.group_size, "effects": list(res.sim.effects),
                       "levels": list(res.sim.levels), "seed": res.sim.seed},
        "seconds": round(run.seconds, 2),
        "versions": versions(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def default_out(now: datetime) -> Path:
    return Path(DEFAULT_SIMULATIONS) / f"{now:%Y%m%d-%H%M%S}-simulate"
