"""``market-reaction bench``: the user's path — ``market-reaction run`` from a fresh process to
the finished report folder — beside the engine, a NumPy floor and a statsmodels loop, on a
synthetic market, at each size of ``--sizes`` (and only those).

The market (:mod:`flows.devtools.floor`: 2,000 tickers x 5,000 sessions by default) is written to a
price store through :meth:`flows.io.store.PriceStore.upsert`, once complete and once with 2% of
the price rows deleted. Then every stage runs in a fresh Python process, so that its time
includes start-up where the user waits for it, and its peak memory is its own:

``cli-N``
    ``market-reaction run --catalog <the first N events as CSV> --source store --out DIR``
    with the complete store as ``$MARKET_REACTION_HOME``: wall time from the command's start to
    its exit (start-up, imports, catalog, prices, engine with the default test battery and
    regressions, every file of the report folder, the index), its peak memory, the size of the
    report folder and of its human-readable part (pages and ``tables/``). Its progress lines,
    with the time of each stage, are kept in the raw results.
``one-event``, ``imports``, ``reject``
    The ad hoc path: ``cli`` on one event, against the import floor ``python -c "import
    polars, numpy, scipy.stats, statsmodels.api, matplotlib"`` (alternating), and the time to
    reject an unknown event id (exit 2).
``engine``
    End to end from Parquet inside one process, as the flows do it: the price requirements of
    the events, :func:`flows.io.prices.read_study_prices` (the store's own reader) and
    :func:`analysis.engine.run_study` (market model, AR, CAR, per-event t; by default the
    group tests Patell Z and BMP t, or the whole battery; no statsmodels regressions).
``floor``
    The same statistics in plain NumPy (:func:`flows.devtools.floor.numpy_floor`) on a
    tickers x sessions matrix built from the same Parquet files (read with pyarrow).
``statsmodels``
    One statsmodels OLS per event (:func:`analysis.regression.market_model_loop`) on NumPy
    slices, timed on a sample and extrapolated.
``catalog``
    The input side: a CSV catalog of the events through
    :func:`analysis.catalog.parse_catalog_csv` and :func:`analysis.specs.events_frame`.
``check``
    Not timed: the engine's observation counts, CARs and t-statistics on the 2%-missing
    store equal the floor's direct counts and numbers.

``engine`` and ``floor`` times exclude start-up, imports and a warm-up run on 100 events; the
command-line times include everything. At every size the command line, the engine and the
floor alternate, one run per process, ``--repeat`` times (the median is reported): a shared
machine's speed drifts over minutes, and the ratios must compare runs made close together.
Peak memory is ``ru_maxrss`` of the stage's process (imports, data and results included).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis import schema as S
from flows.io.calendars import exchange_calendar
from flows.devtools.floor import (
    BENCH_BENCHMARK, BENCH_SPEC, FLOOR_WINDOWS, SyntheticSpec, bench_dates, bench_events, bench_prices, catalog_csv,
    dense_returns, numpy_floor,
)
from analysis.errors import InputError
from flows import progress
from flows.io.atomic import replace_file
from flows.io.store import PriceStore

STORES = {"complete": 0.0, "missing": 0.02}
EVENTS_FILE = "events.parquet"
CATALOG_FILE = "catalog.csv"
SPEC_FILE = "market.json"
WARM_UP = 100


@dataclass(frozen=True)
class BenchOptions:
    """What ``market-reaction bench`` runs (see ``--help``)."""

    market: SyntheticSpec = SyntheticSpec()
    sizes: tuple[int, ...] = (100, 10_000, 100_000)
    sample: int = 2_000
    repeat: int = 3
    workdir: Path | None = None


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    what: str
    events: int
    seconds: float
    peak_mb: float
    note: str = ""

    @property
    def us_per_event(self) -> float:
        return self.seconds / self.events * 1e6


# --- the parent: generate, run the stages, print the table ---------------------------------------


def run_bench(options: BenchOptions) -> tuple[list[Row], dict[str, Any]]:
    """Generate the market (or reuse the one in ``options.workdir``), run every stage in its
    own process, and return the table rows and the raw stage results."""
    keep = options.workdir is not None
    workdir = Path(options.workdir) if keep else Path(tempfile.mkdtemp(prefix="market-reaction-bench-"))
    try:
        write_market(workdir, options.market)
        return run_stages(workdir, options)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def write_market(workdir: Path, market: SyntheticSpec) -> None:
    """The two price stores (complete, 2% of rows deleted), the events and their CSV catalog;
    nothing is rewritten when ``workdir`` already holds this market."""
    stamp = json.dumps(asdict(market), default=str, sort_keys=True)
    if (workdir / SPEC_FILE).is_file() and (workdir / SPEC_FILE).read_text() == stamp:
        progress.say(f"reusing the synthetic market in {workdir}")
        return
    workdir.mkdir(parents=True, exist_ok=True)
    cal = exchange_calendar()
    for name, missing in STORES.items():
        started = time.perf_counter()
        spec = SyntheticSpec(**{**asdict(market), "missing": missing})
        prices = bench_prices(spec, cal)
        store = PriceStore(workdir / name)
        for (ticker,), rows in prices.group_by(S.TICKER, maintain_order=True):
            store.upsert(ticker, rows.drop(S.TICKER), (rows[S.DATE].min(), rows[S.DATE].max()), "market-reaction bench")
        progress.say(f"wrote the {name} store: {prices.height:,} price rows of {market.tickers + 1} tickers "
                     f"in {time.perf_counter() - started:.0f} s")
    events = bench_events(market, cal)
    events.write_parquet(workdir / EVENTS_FILE)
    (workdir / CATALOG_FILE).write_text(catalog_csv(events), encoding="utf-8")
    (workdir / SPEC_FILE).write_text(stamp)


def run_stages(workdir: Path, options: BenchOptions) -> tuple[list[Row], dict[str, Any]]:
    sizes = sorted({n for n in options.sizes if n <= options.market.events})
    if not sizes:
        raise InputError(f"no size of --sizes is at most --events {options.market.events:,}", field="--sizes")
    top = sizes[-1]
    raw: dict[str, Any] = {}
    rows: list[Row] = []

    def stage(key: str, *args: Any) -> dict[str, Any]:
        progress.say(f"stage {key} ...")
        raw[key] = run_stage(*args)
        return raw[key]

    one = _catalog_file(workdir, 1)
    progress.say(f"stage one-event and imports, alternating, {options.repeat} time(s) ...")
    pair = [(_cli_run(workdir, one, "one-event"), _command([sys.executable, "-c", IMPORT_FLOOR]))
            for _ in range(options.repeat)]
    solo, imports = (_median_run([p[k] for p in pair]) for k in (0, 1))
    raw["one-event"], raw["imports"] = solo, imports
    raw["reject"] = reject = _command(_cli_command("run", "no-such-event", "--catalog", str(one), "--source", "store"),
                                      expect=2)
    rows += [
        Row("command line, one event, catalog to report folder", 1, solo["seconds"], solo["peak_mb"],
            f"{solo['report_mb']:.1f} MB written"),
        Row("import floor: polars, numpy, scipy.stats, statsmodels.api, matplotlib", 1, imports["seconds"],
            imports["peak_mb"], "python -c 'import ...' in a fresh process"),
        Row("command line, reject an unknown event id", 1, reject["seconds"], reject["peak_mb"], "exit 2"),
    ]
    cli_rows, engine_rows, floor_rows = [], [], []
    for n in sizes:  # the three alternate, one run per process: the machine's speed drifts over
        progress.say(f"stage cli-{n}, engine-{n} and floor-{n}, alternating, {options.repeat} time(s) ...")
        catalog = _catalog_file(workdir, n)  # minutes, and the ratios must compare like with like
        triple = [
            (_cli_run(workdir, catalog, f"cli-{n}"), run_stage("engine", workdir, "complete", n, None, 1),
             run_stage("floor", workdir, n, 1))
            for _ in range(options.repeat)
        ]
        c, r, f = (_median_run([t[k] for t in triple]) for k in (0, 1, 2))
        raw[f"cli-{n}"], raw[f"engine-{n}"], raw[f"floor-{n}"] = c, r, f
        cli_rows.append(Row("command line, catalog CSV to report folder", n, c["seconds"], c["peak_mb"],
                            f"{c['report_mb']:.1f} MB written, {c['human_mb']:.2f} MB of it for people; "
                            f"writing the report {report_seconds(c['stderr']):.2f} s"))
        engine_rows.append(Row("engine, end to end from Parquet", n, r["seconds"], r["peak_mb"],
                               f"read {r['read']:.2f} s + run_study {r['study']:.2f} s"))
        floor_rows.append(Row("NumPy floor, from Parquet", n, f["seconds"], f["peak_mb"],
                              f"read and build {f['read']:.2f} s + compute {f['compute']:.2f} s"))
    rows += cli_rows + engine_rows + floor_rows
    r = stage("statsmodels", "statsmodels", workdir, min(options.sample, top))
    rows.append(Row(f"statsmodels loop (sample {r['sample']:,}, extrapolated)", top, r["per_event"] * top,
                    r["peak_mb"], f"{r['per_event'] * 1e3:.3f} ms per event"))
    r = stage("missing", "engine", workdir, "missing", top, None, options.repeat)
    rows.append(Row("engine, 2% of price rows missing", top, r["seconds"], r["peak_mb"],
                    f"read {r['read']:.2f} s + run_study {r['study']:.2f} s"))
    r = stage("battery", "engine", workdir, "complete", top, "all", options.repeat)
    rows.append(Row("engine, full test battery (12 tests, rank tests included)", top, r["seconds"], r["peak_mb"],
                    f"read {r['read']:.2f} s + run_study {r['study']:.2f} s"))
    r = stage("catalog", "catalog", workdir, top, options.repeat)
    rows.append(Row("input: CSV catalog -> EventSpec -> events frame", top, r["seconds"], r["peak_mb"],
                    "parse_catalog_csv + events_frame; equals the generated events"))
    raw["check"] = run_stage("check", workdir, top)
    return rows, raw


IMPORT_FLOOR = "import polars, numpy, scipy.stats, statsmodels.api, matplotlib"
"""What the issue measures a one-event run against: importing the libraries a run needs."""


def _catalog_file(workdir: Path, n: int) -> Path:
    """The CSV catalog of the market's first ``n`` events (written once)."""
    path = workdir / f"catalog-{n}.csv"
    if not path.is_file():
        replace_file(path, catalog_csv(_events(workdir, n)).encode())
    return path


def _cli_command(*args: str) -> list[str]:
    """``market-reaction ARGS`` in a fresh Python process (what the console script runs)."""
    return [sys.executable, "-m", "flows.cli.main", *args]


def _command(argv: list[str], env: dict[str, str] | None = None, expect: int = 0) -> dict[str, Any]:
    """Run ``argv``; its wall time, its peak memory (``ru_maxrss`` of that child alone) and its
    progress lines (stderr)."""
    with tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env or dict(os.environ))
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().splitlines()
    if child.returncode != expect:
        raise RuntimeError(f"{' '.join(argv[3:])} exited {child.returncode}, expected {expect}: {lines[-3:]}")
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024, "stderr": lines}


REPORT_SHARE_GOAL = 0.25
"""Of a 10^5-event command line's time, what writing its report may take (issue: "a small share")."""


def report_seconds(progress_lines: list[str]) -> float:
    """The seconds of the stage "writing the report" in a run's progress lines (0 without it)."""
    found = [re.search(r"writing the report: ([\d.]+) s", line) for line in progress_lines]
    return next((float(m.group(1)) for m in found if m), 0.0)


def _folder_mb(folder: Path, human: bool = False) -> float:
    """Megabytes under ``folder`` (``human``: only the pages and ``tables/``, what people read)."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    if human:
        files = [p for p in files if p.suffix in (".html", ".md", ".tex") or p.parent.name == "tables"]
    return sum(p.stat().st_size for p in files) / 1e6


def _cli_run(workdir: Path, catalog: Path, name: str) -> dict[str, Any]:
    """``market-reaction run`` on ``catalog`` with the synthetic store, from a fresh process to
    the finished report folder (the folder is measured, then removed)."""
    out = workdir / "reports" / name
    shutil.rmtree(out.parent, ignore_errors=True)
    windows = [f"--window={w.start}:{w.end}" for w in BENCH_SPEC.windows]
    argv = _cli_command("run", "--catalog", str(catalog), "--source", "store", "--out", str(out),
                        f"--estimation={BENCH_SPEC.estimation.start}:{BENCH_SPEC.estimation.end}", *windows)
    env = {**os.environ, "MARKET_REACTION_HOME": str(workdir / "complete"), "MARKET_REACTION_QUIET": "0"}
    result = _command(argv, env)
    result |= {"report_mb": _folder_mb(out), "human_mb": _folder_mb(out, human=True)}
    shutil.rmtree(out.parent, ignore_errors=True)
    return result


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median time among single-run stage results, with the largest peak memory."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return {**ordered[(len(ordered) - 1) // 2], "peak_mb": max(r["peak_mb"] for r in runs), "runs": len(runs)}


def run_stage(*args: Any) -> dict[str, Any]:
    """Run one stage in a fresh Python process; its result is the last line of its output."""
    done = subprocess.run(
        [sys.executable, "-m", "flows.devtools.bench", json.dumps([str(a) if isinstance(a, Path) else a for a in args])],
        capture_output=True, text=True, check=False, env={**os.environ, "MARKET_REACTION_QUIET": "1"},
    )
    if done.returncode:
        raise RuntimeError(f"bench stage {args[0]} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: Sequence[Row], raw: dict[str, Any], options: BenchOptions) -> str:
    """The results as Markdown: the table, the ratios and the check."""
    cores = os.cpu_count()
    m = options.market
    lines = [
        f"Synthetic market: {m.tickers:,} tickers x {m.sessions:,} sessions, {m.events:,} events, seed {m.seed}; "
        f"market model, estimation {BENCH_SPEC.estimation}, windows "
        f"{', '.join(str(w) for w in BENCH_SPEC.windows)}; {cores} cores; median of {options.repeat} run(s).",
        "",
        "| what | events | seconds | µs / event | peak memory (MB) | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {r.what} | {r.events:,} | {r.seconds:.2f} | {r.us_per_event:.1f} | {r.peak_mb:,.0f} | {r.note} |" for r in rows]
    def by_size(prefix: str) -> dict[int, Row]:
        return {r.events: r for r in rows if r.what.startswith(prefix)}

    cli, engine, floor = by_size("command line, catalog"), by_size("engine, end to end"), by_size("NumPy floor")
    lines.append("")
    solo, imports = raw.get("one-event"), raw.get("imports")
    if solo and imports:
        lines.append(f"- one event on the command line / import floor: {solo['seconds']:.2f} s / "
                     f"{imports['seconds']:.2f} s = {solo['seconds'] / imports['seconds']:.2f}; an unknown event id "
                     f"is rejected in {raw['reject']['seconds']:.2f} s")
    for n in sorted(floor):
        parts = [f"{name} {size[n].seconds / floor[n].seconds:.2f}" for name, size in (("command line", cli),
                                                                                        ("engine", engine)) if n in size]
        lines.append(f"- at {n:,} events, time / NumPy floor: {', '.join(parts)}")
    for n in sorted(cli):
        share = report_seconds(raw[f"cli-{n}"]["stderr"]) / cli[n].seconds
        lines.append(f"- at {n:,} events, writing the report / the command line: {share:.0%} (the goal: at most "
                     f"{REPORT_SHARE_GOAL:.0%} at 100,000 events)")
    if len(cli) > 1:
        small, top = sorted(cli)[-2:]
        lines.append(f"- command line {top:,} / {small:,} events: {cli[top].seconds / cli[small].seconds:.1f} x the "
                     f"time for {top / small:.0f} x the events, peak memory {cli[top].peak_mb:,.0f} MB "
                     f"vs {cli[small].peak_mb:,.0f} MB")
    check = raw.get("check")
    if check:
        same = lambda ok: "equal" if ok else "DIFFER from"  # noqa: E731
        lines.append(f"- check, 2% missing: {check['rows']:,} event rows; estimation counts {same(check['n_obs_equal'])} "
                     f"a direct count, window day counts {same(check['n_days_equal'])} it, missing CARs "
                     f"{same(check['nulls_equal'])} the floor's; largest difference from the floor: "
                     f"CAR {check['car_diff']:.1e}, t {check['t_diff']:.1e}, Patell Z {check['patell_diff']:.1e}, "
                     f"BMP t {check['bmp_diff']:.1e}")
    return "\n".join(lines)


# --- the stages (each in its own process) ---------------------------------------------------------


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def _events(workdir: Path, n: int) -> pl.DataFrame:
    return pl.read_parquet(workdir / EVENTS_FILE).head(n)


def _market(workdir: Path) -> SyntheticSpec:
    values = json.loads((workdir / SPEC_FILE).read_text())
    return SyntheticSpec(**{**values, "end": pl.Series([values["end"]]).str.to_date()[0]})


def _stage_engine(workdir: str, store: str, n: int, tests: str | None, repeat: int) -> dict[str, Any]:
    from analysis.calendar import align_events
    from analysis.engine import price_requirements, run_study
    from analysis.inference import TEST_NAMES
    from flows.io.prices import read_study_prices

    root = Path(workdir)
    cal = exchange_calendar()
    prices_store = PriceStore(root / store)
    chosen = TEST_NAMES if tests == "all" else ("patell_z", "bmp_t")

    def once(events: pl.DataFrame) -> tuple[float, float]:
        started = time.perf_counter()
        needs = price_requirements(align_events(events, cal), BENCH_SPEC, cal)
        prices, shares = read_study_prices(prices_store, needs)
        read = time.perf_counter()
        run_study(events, prices, replace(BENCH_SPEC, tests=chosen), cal, shares, max_regressions=0)
        return read - started, time.perf_counter() - read

    events = _events(root, n)
    once(events.head(WARM_UP))
    runs = [once(events) for _ in range(repeat)]
    total = [a + b for a, b in runs]
    best = runs[total.index(statistics.median_low(total))]
    return {"seconds": sum(best), "read": best[0], "study": best[1], "peak_mb": _peak_mb(), "runs": runs}


def _sessions(root: Path) -> np.ndarray:
    """The market's sessions as day numbers."""
    return bench_dates(_market(root), exchange_calendar()).cast(pl.Int32).to_numpy()


def _floor_inputs(
    root: Path, events: pl.DataFrame, dates: np.ndarray, store_name: str = "complete"
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray]:
    """The floor's arrays, built plainly: a tickers x sessions matrix of adjusted closes from the
    store's Parquet files (pyarrow, a few threads), returns, and each event's row, day 0 and group."""
    import pyarrow.parquet as pq

    names = [BENCH_BENCHMARK, *sorted(set(events[S.TICKER].to_list()))]
    store = PriceStore(root / store_name)

    def load(ticker: str) -> tuple[np.ndarray, np.ndarray]:
        table = pq.read_table(store.path(ticker), columns=[S.DATE, S.ADJ_CLOSE])
        return np.searchsorted(dates, table[S.DATE].to_numpy().astype("datetime64[D]").astype(np.int64)), \
            table[S.ADJ_CLOSE].to_numpy()

    matrix = np.full((len(names), dates.size), np.nan)
    with ThreadPoolExecutor(4) as pool:
        for k, (cols, values) in enumerate(pool.map(load, names)):
            matrix[k, cols] = values
    row = {t: k for k, t in enumerate(names)}
    firm = np.array([row[t] for t in events[S.TICKER].to_list()])
    announced = np.searchsorted(dates, events["announced_date"].cast(pl.Int32).to_numpy())
    day0 = announced + (events[S.TIMING] == "after-close").to_numpy()
    _, group = np.unique(events[S.GROUP].to_numpy(), return_inverse=True)
    return dense_returns(matrix), firm, 0, day0, group


def _stage_floor(workdir: str, n: int, repeat: int) -> dict[str, Any]:
    root = Path(workdir)
    events = _events(root, n)
    dates = _sessions(root)
    numpy_floor(*_floor_inputs(root, events.head(WARM_UP), dates))  # warm-up
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        ret, firm, market, day0, group = _floor_inputs(root, events, dates)
        built = time.perf_counter()
        numpy_floor(ret, firm, market, day0, group)
        runs.append((built - started, time.perf_counter() - built))
    total = [a + b for a, b in runs]
    best = runs[total.index(statistics.median_low(total))]
    return {"seconds": sum(best), "read": best[0], "compute": best[1], "peak_mb": _peak_mb()}


def _stage_statsmodels(workdir: str, sample: int) -> dict[str, Any]:
    from analysis.regression import market_model_loop

    root = Path(workdir)
    events = _events(root, sample)
    ret, firm, market, day0, _ = _floor_inputs(root, events, _sessions(root))
    tau = np.arange(BENCH_SPEC.estimation.start, BENCH_SPEC.report_days.end + 1)
    cols = day0[:, None] + tau[None, :]
    r, m = ret[firm[:, None], cols], ret[market, cols]
    start = BENCH_SPEC.estimation.start
    windows = [slice(w.start - start, w.end - start + 1) for w in FLOOR_WINDOWS]
    market_model_loop(r[:5], m[:5], slice(0, BENCH_SPEC.estimation.length), windows)  # warm-up (imports)
    started = time.perf_counter()
    market_model_loop(r, m, slice(0, BENCH_SPEC.estimation.length), windows)
    return {"per_event": (time.perf_counter() - started) / sample, "sample": sample, "peak_mb": _peak_mb()}


def _stage_catalog(workdir: str, n: int, repeat: int) -> dict[str, Any]:
    from analysis.catalog import parse_catalog_csv
    from analysis.specs import events_frame

    root = Path(workdir)
    lines = (root / CATALOG_FILE).read_text(encoding="utf-8").splitlines(keepends=True)
    text = "".join(lines[: n + 1])
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        frame = events_frame(parse_catalog_csv(text, CATALOG_FILE))
        times.append(time.perf_counter() - started)
    if not frame.equals(_events(root, n)):
        raise RuntimeError("the catalog's events frame differs from the generated events")
    return {"seconds": statistics.median(times), "peak_mb": _peak_mb()}


def _stage_check(workdir: str, n: int) -> dict[str, Any]:
    """The engine on the 2%-missing store against the floor's direct counts and numbers."""
    from analysis.calendar import align_events
    from analysis.engine import price_requirements, run_study
    from flows.io.prices import read_study_prices

    root = Path(workdir)
    cal = exchange_calendar()
    events = _events(root, n)
    needs = price_requirements(align_events(events, cal), BENCH_SPEC, cal)
    prices, shares = read_study_prices(PriceStore(root / "missing"), needs)
    result = run_study(events, prices, replace(BENCH_SPEC, tests=("patell_z", "bmp_t")), cal, shares, max_regressions=0)
    floor = numpy_floor(*_floor_inputs(root, events, _sessions(root), "missing"))
    k = len(FLOOR_WINDOWS)
    car = result.car  # in event order, then window order
    got = {c: car[c].to_numpy().reshape(-1, k) for c in (S.N_DAYS, S.CAR, S.T_STAT)}
    return {
        "rows": int(result.models.height),
        "n_obs_equal": bool((result.models[S.N_OBS].to_numpy() == floor.n_obs).all()),
        "n_days_equal": bool((got[S.N_DAYS] == floor.n_days).all()),
        "nulls_equal": bool((np.isnan(got[S.CAR]) == np.isnan(floor.car)).all()),
        "car_diff": float(np.nanmax(np.abs(got[S.CAR] - floor.car))),
        "t_diff": float(np.nanmax(np.abs(got[S.T_STAT] - floor.car_t))),
        "patell_diff": _test_diff(result.tests, "patell_z", floor.patell, events),
        "bmp_diff": _test_diff(result.tests, "bmp_t", floor.bmp, events),
        "peak_mb": _peak_mb(),
    }


def _test_diff(tests: pl.DataFrame, name: str, floor: np.ndarray, events: pl.DataFrame) -> float:
    """The largest difference between the engine's statistic ``name`` and the floor's (groups in
    sorted order x test windows: each event day, then the longer windows)."""
    days = BENCH_SPEC.report_days
    windows = [(t, t) for t in range(days.start, days.end + 1)] + [(w.start, w.end) for w in FLOOR_WINDOWS[1:]]
    groups = np.unique(events[S.GROUP].to_numpy())
    want = pl.DataFrame({
        S.GROUP: np.repeat(groups, len(windows)),
        S.WINDOW_START: pl.Series([w[0] for w in windows] * len(groups), dtype=pl.Int32),
        S.WINDOW_END: pl.Series([w[1] for w in windows] * len(groups), dtype=pl.Int32),
        "_floor": floor.ravel(),
    })
    both = tests.filter(pl.col(S.TEST) == name).join(want, on=[S.GROUP, S.WINDOW_START, S.WINDOW_END])
    if both.height != want.height:
        raise RuntimeError(f"{name}: the engine's groups and windows differ from the floor's")
    return float((both[S.STATISTIC] - both["_floor"]).abs().max())


STAGES = {
    "engine": _stage_engine, "floor": _stage_floor, "statsmodels": _stage_statsmodels, "catalog": _stage_catalog,
    "check": _stage_check,
}


if __name__ == "__main__":
    name, *arguments = json.loads(sys.argv[1])
    print(json.dumps(STAGES[name](*arguments)))
