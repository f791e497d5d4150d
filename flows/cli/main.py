"""The ``market-reaction`` command line.

::

    market-reaction prices import FILE... [--ticker SYMBOL] [--date-format M/D/YYYY|D/M/YYYY] [--replace]
    market-reaction prices remove TICKER...
    market-reaction prices show [TICKER ...]
    market-reaction shares import FILE
    market-reaction factors import FILE --name NAME [--units percent|decimal]
    market-reaction factors fetch ff3|ff5|mom ...
    market-reaction factors show
    market-reaction rates import FILE [--name dtb3]
    market-reaction events validate|list [--catalog PATH]
    market-reaction events discover TICKER... [--source edgar|earnings] [--since DATE] [--until DATE] [--catalog PATH]
                                   [--format toml|csv]
                                   edgar (default): [--forms 8-K,6-K] [--items 2.02,1.01] [--max-age SECONDS]
                                   earnings: [--upcoming]
    market-reaction run [EVENT_ID ...] [--catalog PATH] [--source auto|store|yfinance] [--out DIR]
                        [--estimation -260:-11] [--window 0:0 --window -1:1 ...] [--model NAME] [--latex] [--xlsx]
                        [--factors NAME:COL,COL] [--risk-free NAME|none] [--drop-confounded] [--no-discovered]
                        [--task-runner threads|dask] [--dask-address ADDRESS] [--batch-rows N] [--prefect]
    market-reaction demo [--out DIR] [--prefect]
    market-reaction serve [--catalog PATH] [--reports DIR] [--source auto|store|yfinance]
                          [--cron "30 17 * * 1-5"] [--timezone America/New_York] [--limit N]
                          [--watchlist TICKER,...] [--watch-cron "*/30 6-21 * * 1-5"]
    market-reaction simulate [--events 1000] [--group-size 50] [--effects 0.005,0.01,0.02] [--seed N]
                             [--tickers A,B,...] [--benchmark ^GSPC] [--simulated] [--out DIR] [study options]
    market-reaction bench [--events 100000] [--tickers 2000] [--sessions 5000] [--sizes 100,10000,100000]
                          [--sample 2000] [--repeat 3] [--seed 1976] [--workdir DIR] [--out DIR]

Exit codes: 0 success; 1 unexpected failure, or a file that cannot be written (the message
names it); 2 bad input (arguments, catalog, price or factor file); 3 data unavailable (no
prices in the store and none from Yahoo, a store file that cannot be read, a factor set not in
the store, a failed factor download, no earnings dates for any ticker); 130 interrupted.
Errors are one line on stderr: ``market-reaction: error: <what and where>``.

``run`` and ``demo`` run the study in this process with no Prefect at all, unless a Prefect
API is configured (``PREFECT_API_URL`` in the environment or in the active Prefect profile)
or ``--prefect`` is given: then the run is a tracked Prefect flow run (``event-study``) with
its artifacts, on that API or on a temporary local server this process starts and stops
(:mod:`flows.orchestration.study`, :mod:`flows.orchestration.tracked`,
:mod:`flows.orchestration.ephemeral`). Arguments and the catalog are checked first, before the engine's
libraries (or Prefect) are imported, so mistakes are reported at once; then ``PREFECT_HOME``.
Ctrl-C ends any command with 130 within :data:`INTERRUPT_DEADLINE` seconds (:class:`_Interrupts`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from analysis.errors import InputError, MarketReactionError

if TYPE_CHECKING:
    from analysis.specs import EventSpec
    from flows.params import StudyInputs

PROG = "market-reaction"
MAX_WARNINGS = 20  # warnings printed after a run; the manifest lists them all
PREFECT_HELP = ("a tracked Prefect flow run even without a configured Prefect API (on a temporary local server "
                "started for the run; default: tracked only when PREFECT_API_URL is set in the environment or profile)")


def _prefect_env(verbose: bool, command: str) -> None:
    """Defaults for Prefect before it is imported (each can be overridden by the environment).
    Flow runs log at INFO, so the server holds their progress lines and warnings; the
    terminal shows Prefect's lines only with ``--verbose`` and for ``serve`` (elsewhere the
    progress lines and warnings are printed by market-reaction itself)."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    if not (verbose or command == "serve"):
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def _parser() -> argparse.ArgumentParser:
    from flows.params import (
        BATCH_ROWS, DATE_FORMATS, DEFAULT_SIMULATIONS, FACTOR_UNITS, FRENCH_SETS, MODELS, PLAIN_MODELS, POOLED_COVS,
        RETURN_KINDS, SOURCES, TASK_RUNNERS,
    )
    from flows.orchestration.serve import ADHOC, DEFAULT_CRON, DEFAULT_TIMEZONE, NIGHTLY, ON_FILING, WATCH, WATCH_CRON

    p = argparse.ArgumentParser(prog=PROG, description="Event studies: how the market reacted to announcements.")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("-v", "--verbose", action="store_true", help="Prefect logs and full tracebacks")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prices = sub.add_parser("prices", help="import or show stored prices").add_subparsers(dest="action", required=True)
    imp = prices.add_parser("import", help="import CSV/Parquet price files into the store")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--ticker", help="ticker of a single-ticker file (default: the file name, e.g. AMZN.csv -> AMZN)")
    imp.add_argument("--date-format", choices=DATE_FORMATS, dest="date_format",
                     help="order of slashed dates such as 01/02/2025 (default: month first, or day first when a day "
                          "exceeds 12; dates that read both ways are refused without it)")
    imp.add_argument("--replace", action="store_true",
                     help="make each file the ticker's whole stored history (shorten or restart it) instead of merging")
    rm = prices.add_parser("remove", help="delete the stored prices of tickers")
    rm.add_argument("tickers", nargs="+", metavar="TICKER")
    show = prices.add_parser("show", help="list stored tickers and their coverage")
    show.add_argument("tickers", nargs="*", metavar="TICKER")

    shares = sub.add_parser("shares", help="import shares outstanding").add_subparsers(dest="action", required=True)
    simp = shares.add_parser("import", help="import a CSV with ticker,shares_outstanding,as_of_date")
    simp.add_argument("file", type=Path, metavar="FILE")

    factors = sub.add_parser("factors", help="import, download or list factor sets").add_subparsers(
        dest="action", required=True)
    fimp = factors.add_parser("import", help="import a factor file (Ken French CSV or date,col,... in percent) as a set")
    fimp.add_argument("file", type=Path, metavar="FILE")
    fimp.add_argument("--name", required=True, help="name of the set, e.g. ff3, ff5, mom or your own")
    fimp.add_argument("--units", choices=FACTOR_UNITS, default="percent", help="units of the values (default: percent)")
    fetch = factors.add_parser("fetch", help="download daily factors from the Kenneth French data library")
    fetch.add_argument("names", nargs="+", choices=FRENCH_SETS, metavar="SET", help="ff3, ff5 and/or mom")
    fetch.add_argument("--timeout", type=float, default=60.0, help="seconds per download (default 60)")
    factors.add_parser("show", help="list the stored factor sets")

    rates = sub.add_parser("rates", help="import a risk-free rate").add_subparsers(dest="action", required=True)
    rimp = rates.add_parser("import", help="import 3-month T-bill rates (FRED DTB3: date,dtb3 in percent per year)")
    rimp.add_argument("file", type=Path, metavar="FILE")
    rimp.add_argument("--name", default="dtb3", help="name of the set holding the per-session rate rf (default dtb3)")

    events = sub.add_parser("events", help="check or list a catalog; discover events (SEC filings, earnings dates)"
                            ).add_subparsers(dest="action", required=True)
    for action, what in (("validate", "check a catalog"), ("list", "list a catalog's events")):
        events.add_parser(action, help=what).add_argument(
            "--catalog", type=Path, help="TOML or CSV catalog (default: deployments/events.toml)")
    disc = events.add_parser("discover", help="find events of tickers: their SEC EDGAR filings (8-K, 6-K), timed to the "
                                              "second from their SEC headers, or Yahoo's earnings dates")
    disc.add_argument("tickers", nargs="*", metavar="TICKER", help="the companies")
    disc.add_argument("--source", choices=["edgar", "earnings"], default="edgar",
                      help="edgar: SEC EDGAR filings (default); earnings: Yahoo's earnings calendar")
    disc.add_argument("--since", type=_day, help="first filing (edgar) or announcement (earnings) date, YYYY-MM-DD")
    disc.add_argument("--until", type=_day, help="last filing or announcement date, YYYY-MM-DD")
    disc.add_argument("--catalog", type=Path,
                      help="append the new events to this TOML or CSV catalog (created when missing; default: print "
                           "them); earnings dates are also checked against its filings (default: deployments/events.toml)")
    disc.add_argument("--forms", default="8-K,6-K", help="edgar: forms, comma-separated (default 8-K,6-K; 8-K/A for amendments)")
    disc.add_argument("--items", help="edgar: 8-K items, comma-separated, e.g. 2.02,1.01 (default: all)")
    disc.add_argument("--format", choices=["toml", "csv"], default="toml",
                      help="printed format without --catalog (default toml; with --catalog, the catalog's own)")
    disc.add_argument("--max-age", type=float, default=600.0, dest="max_age", metavar="SECONDS",
                      help="edgar: use a cached submissions file younger than this (default 600; 0 asks EDGAR again)")
    disc.add_argument("--upcoming", action="store_true",
                      help="earnings: also the entries whose day 0 has not closed yet (Yahoo's estimates, which may move)")

    run = sub.add_parser("run", help="run an event study and write the report")
    run.add_argument("event_ids", nargs="*", metavar="EVENT_ID", help="events of the catalog (default: all)")
    run.add_argument("--catalog", type=Path)
    run.add_argument("--source", choices=SOURCES, default="auto",
                     help="auto: store, topped up from Yahoo (default); store: no network; yfinance: refetch")
    run.add_argument("--out", type=Path, help="report folder (default: reports/<time>-<event>)")
    run.add_argument("--estimation", default="-260:-11", help="estimation window in sessions (default -260:-11)")
    run.add_argument("--window", action="append", dest="windows", metavar="START:END",
                     help="event window, repeatable (default 0:0, -1:1, -5:5)")
    run.add_argument("--model", choices=MODELS, default=None,
                     help="normal-return model (default: market; factors when --factors is given)")
    run.add_argument("--factors", metavar="NAME:COL,COL",
                     help="your own factors: a stored factor set and the columns to use (implies --model factors)")
    run.add_argument("--risk-free", dest="risk_free", metavar="NAME",
                     help="factor set whose rf column is the risk-free rate (default ff3; ff5 for --model ff5; "
                          "'none' for raw returns with --factors)")
    run.add_argument("--returns", choices=RETURN_KINDS, default="simple")
    run.add_argument("--min-obs", type=int, default=120, dest="min_obs", help="minimum estimation returns (default 120)")
    run.add_argument("--latex", action="store_true", help="also write LaTeX tables")
    run.add_argument("--xlsx", action="store_true",
                     help="also write report.xlsx: a sheet per data table, numbers as numbers in the tables' formats")
    run.add_argument("--regressor", action="append", dest="regressors", metavar="NAME",
                     help="catalog characteristic for the cross-sectional CAR regression, repeatable "
                          "(default: every numeric one; --no-regressors for none)")
    run.add_argument("--no-regressors", action="store_const", const=[], dest="regressors")
    run.add_argument("--pooled-cov", choices=POOLED_COVS, default="cluster",
                     help="errors of the pooled dummy regression: cluster by date (default) or HAC within firm")
    run.add_argument("--drop-confounded", action="store_true", dest="drop_confounded",
                     help="leave the event-window days of other catalog events on the same ticker out of the estimation window")
    run.add_argument("--no-discovered", action="store_false", dest="discovered",
                     help="leave out the SEC filings `events discover` stored for the study's tickers (by default "
                          "they are candidate confounders, read from the store without the network)")
    run.add_argument("--task-runner", choices=TASK_RUNNERS, default="threads", dest="task_runner",
                     help="where the event batches run: two threads here (default) or a Dask cluster")
    run.add_argument("--dask-address", dest="dask_address", metavar="ADDRESS",
                     help="scheduler of an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (default with "
                          "--task-runner dask: a local cluster of two worker processes)")
    run.add_argument("--batch-rows", type=int, default=BATCH_ROWS, dest="batch_rows", metavar="N",
                     help=f"event rows per batch task (default {BATCH_ROWS})")
    run.add_argument("--prefect", action="store_true", help=PREFECT_HELP)

    demo = sub.add_parser("demo", help="run the whole study on a simulated market with planted effects (offline)")
    demo.add_argument("--out", type=Path, default=Path(DEFAULT_SIMULATIONS) / "demo",
                      help="report folder (default: simulations/demo; its index is simulations/index.html, apart "
                           "from the real reports)")
    demo.add_argument("--prefect", action="store_true", help=PREFECT_HELP)

    sim = sub.add_parser("simulate", help="size and power of the group tests on pseudo-events (Brown & Warner 1985)")
    sim.add_argument("--events", type=int, default=1000, help="pseudo-events to draw (default 1000)")
    sim.add_argument("--group-size", type=int, default=50, dest="group_size", help="events per group (default 50)")
    sim.add_argument("--effects", default="0.005,0.01,0.02",
                     help="abnormal returns planted on day 0 for power, comma-separated (default 0.005,0.01,0.02; '' for none)")
    sim.add_argument("--seed", type=int, default=1985)
    sim.add_argument("--tickers", help="comma-separated tickers to draw from (default: every stored ticker but indices)")
    sim.add_argument("--benchmark", default="^GSPC")
    sim.add_argument("--simulated", action="store_true", help="draw from a simulated market instead of the store (offline)")
    sim.add_argument("--out", type=Path, help="folder for the tables and files (default: simulations/<time>-simulate)")
    sim.add_argument("--estimation", default="-260:-11")
    sim.add_argument("--window", action="append", dest="windows", metavar="START:END")
    sim.add_argument("--model", choices=PLAIN_MODELS, default="market",
                     help="normal-return model (the factor models are not simulated yet)")
    sim.add_argument("--returns", choices=RETURN_KINDS, default="simple")
    sim.add_argument("--min-obs", type=int, default=120, dest="min_obs")

    bench = sub.add_parser("bench", help="time the engine against a statsmodels loop and a NumPy floor (synthetic market)")
    bench.add_argument("--events", type=int, default=100_000, help="events of the largest run (default 100000)")
    bench.add_argument("--tickers", type=int, default=2_000, help="tickers of the synthetic market (default 2000)")
    bench.add_argument("--sessions", type=int, default=5_000, help="sessions of the synthetic market (default 5000)")
    bench.add_argument("--sizes", default="100,10000,100000",
                       help="event counts the engine is timed at, comma-separated (default 100,10000,100000)")
    bench.add_argument("--sample", type=int, default=2_000, help="events of the statsmodels loop (default 2000)")
    bench.add_argument("--repeat", type=int, default=3, help="runs per stage; the median is reported (default 3)")
    bench.add_argument("--seed", type=int, default=1976)
    bench.add_argument("--workdir", type=Path, help="keep (and reuse) the synthetic market in this folder")
    bench.add_argument("--out", type=Path, help="also write the table (.md) and the raw results (.json) here")

    serve = sub.add_parser("serve", help=f"serve the deployments refresh-catalog/{NIGHTLY} (cron) and event-study/{ADHOC}")
    serve.add_argument("--catalog", type=Path, help="catalog of the scheduled refresh (default: deployments/events.toml)")
    serve.add_argument("--reports", type=Path, default=Path("reports"), help="reports folder (default: reports)")
    serve.add_argument("--source", choices=SOURCES, default="auto")
    serve.add_argument("--cron", default=DEFAULT_CRON, help=f"schedule of refresh-catalog (default {DEFAULT_CRON!r})")
    serve.add_argument("--timezone", default=DEFAULT_TIMEZONE, help=f"time zone of the cron (default {DEFAULT_TIMEZONE})")
    serve.add_argument("--limit", type=int, default=2, help="flow runs at once (default 2)")
    serve.add_argument("--watchlist", metavar="TICKER,...",
                       help=f"also serve watch-events/{WATCH} (new SEC filings of these tickers, every 30 minutes on "
                            f"market days) and event-study/{ON_FILING}, which its events trigger")
    serve.add_argument("--watch-cron", default=WATCH_CRON, dest="watch_cron",
                       help=f"schedule of watch-events (default {WATCH_CRON!r}, in --timezone)")
    return p


def _home_store():
    from flows.settings import home
    from flows.io.store import PriceStore

    return PriceStore(home())


def _cmd_prices(args) -> int:
    import polars as pl

    from flows.io.importers import import_price_files

    store = _home_store()
    if args.action == "import":
        report = import_price_files(store, args.files, args.ticker, args.date_format, args.replace)
        for w in report.warnings:
            print(f"{PROG}: warning: {w}", file=sys.stderr)
        held = store.tickers()
        for r in report.summary.iter_rows(named=True):
            now = held.filter(pl.col("ticker") == r["ticker"]).row(0, named=True)
            print(f"imported {r['ticker']}: {r['rows']} rows {r['first_date']}..{r['last_date']} from {r['source']}; "
                  f"the store holds {now['rows']:,} rows {now['first_date']}..{now['last_date']}")
        print(f"store: {store.root}")
        return 0
    if args.action == "remove":
        from analysis.specs import check_ticker

        tickers = [check_ticker(t, field="TICKER") for t in args.tickers]
        missing = [t for t in tickers if store.coverage(t) is None]
        if missing:
            raise InputError(f"no stored prices for {', '.join(missing)} (market-reaction prices show lists them)",
                             field="TICKER")
        for t in tickers:
            store.remove(t)
            print(f"removed {t} from {store.root}")
        return 0
    table = store.tickers()
    if args.tickers:
        table = table.filter(table["ticker"].is_in([t.upper() for t in args.tickers]))
    if not table.height:
        print(f"no prices stored in {store.root}" + (f" for {', '.join(args.tickers)}" if args.tickers else ""))
        return 0
    for r in table.iter_rows(named=True):
        print(f"{r['ticker']:<10} {r['rows']:>6} rows  {r['first_date']}..{r['last_date']}  "
              f"covered {r['covered_start']}..{r['covered_end']}  source {r['source']}")
    return 0


def _cmd_shares(args) -> int:
    from flows.io.importers import read_shares_file

    from analysis.quality import shares_notes

    frame = read_shares_file(args.file)
    store = _home_store()
    tickers = frame["ticker"].unique().to_list()
    notes = shares_notes(frame, store.read_shares(tickers), store.read(tickers, columns=["close", "volume"]))
    store.upsert_shares(frame, f"import:{args.file.name}")
    for note in notes:
        print(f"{PROG}: warning: {args.file}: {note}", file=sys.stderr)
    print(f"imported {frame.height} share count(s) for {frame['ticker'].n_unique()} ticker(s) into {store.root}")
    return 0


def _cmd_factors(args) -> int:
    from flows.io.factors import check_set_name, fetch_french, read_factor_file, unit_notes
    from flows.settings import home
    from flows.io.store import FactorStore

    store = FactorStore(home())
    if args.action == "import":
        name = check_set_name(args.name)
        frame = read_factor_file(args.file, args.units)
        store.write(name, frame, f"import:{args.file.name}")
        for note in unit_notes(frame, args.units):
            print(f"{PROG}: warning: {args.file}: {note}", file=sys.stderr)
        print(f"imported factor set {name}: {', '.join(frame.columns[1:])}; {frame.height} days "
              f"{frame['date'].min()}..{frame['date'].max()} from {args.file.name}")
    elif args.action == "fetch":
        for name in dict.fromkeys(args.names):
            frame, url = fetch_french(name, args.timeout)
            store.write(name, frame, url)
            print(f"fetched factor set {name}: {', '.join(frame.columns[1:])}; {frame.height} days "
                  f"{frame['date'].min()}..{frame['date'].max()}")
    else:
        table = store.sets()
        if not table.height:
            print(f"no factor sets stored in {store.root}; try `market-reaction factors fetch ff3`")
            return 0
        for r in table.iter_rows(named=True):
            print(f"{r['name']:<10} {r['rows']:>6} days  {r['first_date']}..{r['last_date']}  "
                  f"columns {r['columns']}  source {r['source']}")
        return 0
    print(f"store: {store.root}")
    return 0


def _cmd_rates(args) -> int:
    from flows.io.factors import check_set_name, read_rates_file, tbill_factor_set
    from flows.settings import home
    from flows.io.store import FactorStore

    name = check_set_name(args.name)
    quotes = read_rates_file(args.file)
    frame = tbill_factor_set(quotes)
    store = FactorStore(home())
    store.write(name, frame, f"import:{args.file.name} (3-month T-bill discount yield -> per-session rf)")
    print(f"imported risk-free rate {name}: {frame['rf'].count()} sessions {frame['date'].min()}..{frame['date'].max()} "
          f"from {args.file.name}; use it with --risk-free {name}")
    print(f"store: {store.root}")
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _cmd_events(args) -> int:
    from flows.io.catalog import default_catalog_path, load_catalog

    if args.action == "discover":
        return _cmd_discover(args)
    path = args.catalog or default_catalog_path()
    events = load_catalog(path)
    if args.action == "validate":
        print(f"{path}: {len(events)} events, all valid")
        return 0
    for e in events:
        related = f"  related {','.join(e.related)}" if e.related else ""
        print(f"{e.id:<28} {','.join(e.tickers):<10} {e.announced_text:<26} {e.timing:<11} "
              f"{e.benchmark:<7} {e.group}{related}")
    return 0


def _cmd_discover(args) -> int:
    """``events discover``: the new events of ``--source`` appended to ``--catalog`` (each
    event once: by id, and a filing by its accession number), or printed on stdout; notes,
    and for earnings the day-0 disagreements with the catalog's filings, on stderr."""
    from analysis.catalog import csv_events, toml_events
    from flows import progress

    since, until = args.since, args.until
    if not args.tickers:
        raise InputError(f"name the companies: events discover TICKER... --source {args.source}", field="TICKER")
    if since and until and since > until:
        raise InputError(f"--since {since} is after --until {until}", field="--since")
    if args.catalog and args.catalog.suffix.lower() not in (".toml", ".csv"):
        raise InputError(f"unsupported catalog type {args.catalog.suffix or '(no suffix)'!r}; expected .toml or .csv",
                         file=str(args.catalog))
    if args.source == "earnings":
        events, key = _discover_earnings(args), None
    else:
        from analysis.filings import accession_of
        from flows.io.edgar import discover
        from flows.settings import home

        if args.upcoming:
            raise InputError("--upcoming goes with --source earnings (EDGAR lists filings made, none ahead)", field="--upcoming")
        found = discover(args.tickers, since, until, args.forms.split(","), args.items.split(",") if args.items else None,
                         root=home(), max_age=args.max_age)
        for note in found.notes:
            progress.say(note)
        events, key = found.events, accession_of
    if args.catalog is None:
        sys.stdout.write((toml_events if args.format == "toml" else csv_events)(events))
        return 0
    from flows.io.catalog import append_events

    done = append_events(args.catalog, events, key=key)
    renamed = [f"{e.id} as {there}" for e, there in done.kept if e.id != there]
    print(f"{args.catalog}: {len(done.added)} event(s) added, {len(done.kept)} already there"
          + (f" ({'; '.join(renamed[:5])}{' ...' if len(renamed) > 5 else ''})" if renamed else ""))
    return 0


def _discover_earnings(args) -> tuple[EventSpec, ...]:
    """The events of Yahoo's earnings calendar new to the catalog (``--catalog``, else the
    default one), its notes and day-0 disagreements said on stderr."""
    from flows.io.catalog import default_catalog_path
    from flows.io.earnings import discover_earnings

    path = args.catalog or default_catalog_path()
    found = discover_earnings(args.tickers, args.since, args.until, catalog=path, upcoming=args.upcoming)
    for line in [*found.disagreements, *(f"{t}: {why}" for t, why in found.failures.items())]:
        print(f"{PROG}: warning: {line}", file=sys.stderr)
    same = len(found.matched) - len(found.disagreements)
    notes = [f"{len(found.events)} new events from Yahoo's earnings calendar (not in {path})"]
    notes += [f"{len(found.known)} already in the catalog"] if found.known else []
    notes += [f"{same} the same release as a catalog event, with the same day 0"] if same else []
    if found.upcoming:
        first = found.upcoming[0]
        notes.append(f"{len(found.upcoming)} upcoming left out (next: {first.tickers[0]} {first.announced_text}; "
                     "--upcoming adds them)")
    print(f"{PROG}: " + "; ".join(notes), file=sys.stderr)
    return found.events


def _tracked(args) -> bool:
    """Run as a tracked Prefect flow run: ``--prefect``, or a Prefect API is configured."""
    from flows.settings import prefect_api_url

    return args.prefect or prefect_api_url() is not None


def _cmd_run(args) -> int:
    from flows import progress

    with progress.stage("catalog"):  # checked before the engine (or Prefect) is imported: mistakes fail fast
        inputs = _check_run(args)
    if _tracked(args):  # the flow checks its parameters again: a deployment run starts there
        from flows.orchestration.ephemeral import prefect_api

        with prefect_api(args.verbose):
            from flows.orchestration.tracked import event_study

            out = event_study(
                event_ids=args.event_ids or None, catalog=str(inputs.catalog), source=args.source,
                out=str(args.out) if args.out else None, estimation=args.estimation, windows=args.windows,
                model=args.model, returns=args.returns, min_estimation_obs=args.min_obs, latex=args.latex,
                regressors=args.regressors, pooled_cov=args.pooled_cov, factors=args.factors, risk_free=args.risk_free,
                drop_confounded=args.drop_confounded, task_runner=args.task_runner, dask_address=args.dask_address,
                batch_rows=args.batch_rows, xlsx=args.xlsx, discovered=args.discovered,
            )
    else:
        from flows.orchestration.study import study_events
        from flows.settings import home

        out = study_events(inputs, str(home()), args.source, str(args.out) if args.out else None, args.latex,
                           task_runner=args.task_runner, dask_address=args.dask_address, xlsx=args.xlsx,
                           discovered=args.discovered)
    _print_summary(Path(out))
    return 0


def _check_run(args) -> StudyInputs:
    """The inputs of ``run``, checked once: the arguments, the spec, the catalog, the chosen
    events, the regressors and the factor sets (:func:`flows.params.chosen_inputs`)."""
    if args.batch_rows < 1:
        raise InputError(f"expected a positive number of event rows per batch, got {args.batch_rows}", field="--batch-rows")
    if args.dask_address and args.task_runner != "dask":
        raise InputError("--dask-address needs --task-runner dask", field="--dask-address")
    if args.out:  # before any computation: a folder another tool (or the analyst) wrote is never replaced
        from flows.io.atomic import check_owned
        from flows.reporting.ownership import is_report

        check_owned(args.out, owned=is_report)
    from flows.io.catalog import default_catalog_path
    from flows.params import chosen_inputs, read_catalog, study_spec

    spec = study_spec(args.estimation, args.windows, args.model, args.returns, args.min_obs, args.factors, args.risk_free,
                      args.drop_confounded, args.regressors, args.pooled_cov, args.batch_rows)
    catalog = args.catalog or default_catalog_path()

    def factor_sets():
        if not spec.factor_sets:
            return {}
        from flows.io.factors import load_factor_sets
        from flows.io.store import FactorStore
        from flows.settings import home

        return load_factor_sets(FactorStore(home()), spec)

    return chosen_inputs(spec, Path(catalog), read_catalog(catalog), args.event_ids, factor_sets)


def _print_summary(out: Path) -> None:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    print(manifest.get("headline") or "no event got a result")
    warnings = manifest.get("warnings", [])
    for w in warnings[:MAX_WARNINGS]:
        print(f"{PROG}: warning: {w}", file=sys.stderr)
    if len(warnings) > MAX_WARNINGS:
        print(f"{PROG}: warning: {len(warnings) - MAX_WARNINGS} more in {out / 'manifest.json'} (\"warnings\")",
              file=sys.stderr)
    print(f"report: {out / 'report.html'} (tables in {out / 'tables'}, plots in {out / 'plots'}; "
          f"all reports: {out.parent / 'index.html'})")
    for brief in manifest.get("briefs", []):
        print(f"brief: {out / brief['file']} ({brief['headline']})")


def _cmd_demo(args) -> int:
    from flows.devtools.demo import run_demo

    if not _tracked(args):
        print(run_demo(args.out))
        return 0
    from flows.orchestration.ephemeral import prefect_api

    with prefect_api(args.verbose):
        print(run_demo(args.out, tracked=True))
    return 0


def _cmd_serve(args) -> int:
    from analysis.specs import check_ticker
    from flows.io.catalog import default_catalog_path, load_catalog
    from flows.orchestration.serve import ADHOC, NIGHTLY, ON_FILING, WATCH, serve

    catalog = args.catalog or default_catalog_path()
    load_catalog(catalog)  # fail now, not at 17:30
    watchlist = [check_ticker(t.strip(), field="--watchlist") for t in (args.watchlist or "").split(",") if t.strip()]
    if args.watchlist is not None and not watchlist:
        raise InputError("expected tickers, e.g. --watchlist AMZN,MSFT", field="--watchlist")
    watching = f", watch-events/{WATCH} ({args.watch_cron}: {','.join(watchlist)}) and event-study/{ON_FILING}" if watchlist else ""
    print(f"serving refresh-catalog/{NIGHTLY} ({args.cron}, {args.timezone}), event-study/{ADHOC}{watching}; "
          f"catalog {catalog}, reports {args.reports}; Ctrl-C to stop", flush=True)
    serve(catalog, args.reports, args.source, args.cron, args.timezone, args.limit, watchlist, args.watch_cron)
    return 0



def _numbers(text: str, field: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InputError(f"expected comma-separated numbers such as 0.005,0.01, got {text!r}", field=field) from None


def _cmd_simulate(args) -> int:
    from datetime import datetime, timezone

    from analysis.size_power import SimulationSpec
    from flows.params import study_spec
    from flows.devtools.simulate import default_out, rates_tables, run_simulation, write_simulation
    from flows.reporting.tables import to_markdown

    spec = study_spec(args.estimation, args.windows, args.model, args.returns, args.min_obs)
    sim = SimulationSpec(events=args.events, group_size=args.group_size, effects=_numbers(args.effects, "effects"),
                         seed=args.seed)
    tickers = [t.strip().upper() for t in args.tickers.split(",") if t.strip()] if args.tickers else None
    run = run_simulation(spec, sim, simulated=args.simulated, store=None if args.simulated else _home_store(),
                         tickers=tickers, benchmark=args.benchmark.upper())
    out = write_simulation(run, args.out or default_out(datetime.now(timezone.utc)))
    for table in rates_tables(run):
        print(to_markdown(table, heading="###"))
    print(f"{sim.groups} groups x {sim.group_size} pseudo-events, {1 + len(sim.effects)} runs, simulated in {run.seconds:.1f}s")
    print(f"tables and files: {out}")
    return 0


def _cmd_bench(args) -> int:
    from flows.devtools.floor import SyntheticSpec
    from flows.devtools.bench import BenchOptions, run_bench, table

    sizes = tuple(int(x) for x in _numbers(args.sizes, "sizes"))
    try:
        market = SyntheticSpec(tickers=args.tickers, sessions=args.sessions, events=args.events, seed=args.seed)
    except ValueError as e:
        raise InputError(str(e), field="bench") from None
    options = BenchOptions(market, sizes, args.sample, args.repeat, args.workdir)
    rows, raw = run_bench(options)
    text = table(rows, raw, options)
    print(text)
    if args.out:
        from flows.io.atomic import locked, replace_file

        with locked(args.out):  # each file whole or not at all
            replace_file(args.out / "bench.md", (text + "\n").encode())
            replace_file(args.out / "bench.json", (json.dumps(raw, indent=2) + "\n").encode())
    return 0


COMMANDS = {
    "bench": _cmd_bench,
    "prices": _cmd_prices, "shares": _cmd_shares, "factors": _cmd_factors, "rates": _cmd_rates, "events": _cmd_events,
    "run": _cmd_run, "demo": _cmd_demo, "simulate": _cmd_simulate, "serve": _cmd_serve,
}


def _glue_window_values(argv: list[str]) -> list[str]:
    """``--window -1:1`` -> ``--window=-1:1``: argparse would take ``-1:1`` for an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in ("--window", "--estimation") and arg.startswith("-") and ":" in arg:
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` (default ``sys.argv[1:]``) and return its exit code.

    Called without ``argv`` (the console script, ``python -m flows.cli.main``), main owns the
    process: a Ctrl-C is handled by :class:`_Interrupts` (exit 130 within
    :data:`INTERRUPT_DEADLINE` seconds, never lost; not in ``serve``). After an interrupt or a
    tracked run the process leaves at once (``os._exit``, stdout and stderr flushed): a
    tracked run's Prefect server is stopped and Prefect's logs and events are sent by then
    (:func:`flows.orchestration.ephemeral.prefect_api`), and Prefect's interpreter teardown
    took seconds, during which a Ctrl-C ended in a traceback; after an interrupt, Python
    would report a ``KeyboardInterrupt`` raised while a module was imported as a death by
    SIGINT even though it was handled."""
    _REPORTED.clear()
    if argv is not None:
        return _main(argv)
    try:
        code = _main(None, owner=True)
    except KeyboardInterrupt:  # while the arguments were read
        code = _interrupted()
    if code == 130 or "flows.orchestration.ephemeral" in sys.modules:
        _leave(code)
    return code


INTERRUPT_DEADLINE = 1.5
"""Seconds from the first Ctrl-C to the end of the process, however far the cleanup got."""
_REPORTED: list[str] = []


def _interrupted() -> int:
    """Say once that the command was interrupted; return 130."""
    if not _REPORTED:
        _REPORTED.append("interrupted")
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
    return 130


def _leave(code: int) -> NoReturn:
    """End the process now with ``code``, stdout and stderr flushed (no interpreter teardown)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


class _Interrupts:
    """SIGINT (Ctrl-C) in a process :func:`main` owns. The first one raises
    ``KeyboardInterrupt`` in the main thread as usual (the run stops and deletes what it had
    begun to write; a temporary Prefect server is killed) and ends the process with 130 at
    most :data:`INTERRUPT_DEADLINE` seconds later whatever still runs (Prefect's teardown,
    batch threads finishing their work; the hidden folders still being written are deleted
    then: :func:`flows.io.atomic.discard_unfinished`); ``seen`` records it even when something swallows
    the ``KeyboardInterrupt``. Later ones are ignored: a second Ctrl-C must not cut the
    cleanup short. Nothing is installed when SIGINT is ignored (``nohup``, ``&`` in a script)."""

    def __init__(self) -> None:
        self.seen = False
        self._armed = threading.Lock()
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, self._on_sigint)
            self._watch_signals()

    def _watch_signals(self) -> None:
        """Start the deadline when the signal arrives, not when the main thread gets to run its
        handler (it runs only between bytecodes of the main thread, which may be inside a long
        call): the C-level handler writes the signal's number to a pipe (``signal.set_wakeup_fd``)
        that a daemon thread reads."""
        r, w = os.pipe()
        os.set_blocking(w, False)
        try:
            signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except ValueError:
            os.close(r), os.close(w)
            return

        def watch() -> None:
            while True:
                got = os.read(r, 64)
                if not got:
                    return
                if signal.SIGINT in got:
                    self._arm()

        threading.Thread(target=watch, name="market-reaction-sigint", daemon=True).start()

    def _arm(self) -> None:
        """Start the deadline, once."""
        if not self._armed.acquire(blocking=False):
            return
        deadline = threading.Timer(INTERRUPT_DEADLINE, self._deadline)
        deadline.daemon = True
        deadline.start()

    def _on_sigint(self, signum, frame) -> None:
        if self.seen:
            return
        self.seen = True
        self._arm()
        raise KeyboardInterrupt

    @staticmethod
    def _deadline() -> NoReturn:
        atomic = sys.modules.get("flows.io.atomic")
        if atomic is not None:
            atomic.discard_unfinished()  # what the cleanup had not reached yet
        _leave(_interrupted())


def _main(argv: list[str] | None, owner: bool = False) -> int:
    args = _parser().parse_args(_glue_window_values(sys.argv[1:] if argv is None else list(argv)))
    interrupts = _Interrupts() if owner and args.command != "serve" else None  # serve: Prefect's runner stops its own way
    code = _command(args)
    if interrupts and interrupts.seen and code != 130:  # swallowed (Prefect does while a flow run ends): stopped all the same
        code = _interrupted()
    return code


def _command(args: argparse.Namespace) -> int:
    if args.quiet:
        os.environ["MARKET_REACTION_QUIET"] = "1"
    _prefect_env(args.verbose, args.command)
    try:
        return COMMANDS[args.command](args)
    except MarketReactionError as e:
        if args.verbose:
            raise
        return _fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:  # the reader of stdout is gone (`| head`): nothing more to say, to anyone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:  # the file system refused: say which path, and why
        if args.verbose:
            raise
        where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
        return _fail(f"{where + ': ' if where else ''}{e.strerror or e}", 1)
    except BaseException as e:  # unexpected (a polars panic is a BaseException): one line; --verbose: traceback
        if args.verbose or isinstance(e, (SystemExit, GeneratorExit)):
            raise
        return _fail(f"unexpected {type(e).__name__}: {e} (run with --verbose for the traceback)", 1)


def _fail(message: str, code: int) -> int:
    """Print ``message`` as one line on stderr and return ``code``."""
    line = re.sub(r"\s*[\r\n]+\s*", " ", message.strip())
    print(f"{PROG}: error: {line}", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
