"""``market-reaction demo``: the whole pipeline on a simulated market, offline.

The simulated prices (:mod:`flows.devtools.market`) go into a throw-away price store, a catalog
of the planted events is written beside it, and the same study as ``market-reaction run``
analyses them (locally, or as the ``event-study`` flow). The demo then puts each planted
abnormal return beside what the study recovered.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl

from analysis import schema as S
from flows.io.calendars import exchange_calendar
from flows.devtools.market import PLANTED_AR, simulate_market
from flows import progress
from flows.io.store import PriceStore
from analysis.formats import num, pct, pvalue


def recovery_table(planted: pl.DataFrame, ar: pl.DataFrame, car: pl.DataFrame) -> pl.DataFrame:
    """Planted vs estimated: AR on day 0 and CAR over [-1,+1], per event."""
    planted_car = (
        planted.filter(pl.col(S.EVENT_DAY).is_between(-1, 1))
        .group_by(S.EVENT_ID, S.TICKER)
        .agg(pl.col(PLANTED_AR).sum().alias("planted_car"))
    )
    day0 = planted.filter(pl.col(S.EVENT_DAY) == 0).select(S.EVENT_ID, S.TICKER, pl.col(PLANTED_AR).alias("planted_ar0"))
    est_ar0 = ar.filter(pl.col(S.EVENT_DAY) == 0).select(S.EVENT_ID, S.TICKER, pl.col(S.ABNORMAL_RET).alias("ar0"), pl.col(S.AR_T).alias("ar0_t"))
    est_car = car.filter((pl.col(S.WINDOW_START) == -1) & (pl.col(S.WINDOW_END) == 1)).select(
        S.EVENT_ID, S.TICKER, pl.col(S.CAR).alias("car"), pl.col(S.T_STAT).alias("car_t"), pl.col(S.P_VALUE).alias("car_p"),
        pl.col(S.CAR_SE).alias("car_se"),
    )
    keys = [S.EVENT_ID, S.TICKER]
    return (
        day0.join(planted_car, on=keys).join(est_ar0, on=keys).join(est_car, on=keys)
        .with_columns(((pl.col("car") - pl.col("planted_car")).abs() <= 2 * pl.col("car_se")).alias("within_2se"))
        .sort(S.EVENT_ID)
    )


def run_demo(out: Path, tracked: bool = False) -> str:
    """Simulate, analyse with ``event_study`` (as a Prefect flow run when ``tracked``), write the
    report to ``out`` and return a plain-text comparison of planted and recovered effects."""
    if tracked:
        from flows.orchestration.tracked import event_study
    else:
        from flows.orchestration.study import event_study

    cal = exchange_calendar()
    market = simulate_market(cal)
    progress.say(f"simulated {market.prices[S.TICKER].n_unique()} tickers x {market.prices[S.DATE].n_unique()} sessions, "
                 f"{len(market.events)} planted events")
    with tempfile.TemporaryDirectory(prefix="market-reaction-demo-") as tmp:
        store = PriceStore(Path(tmp) / "store")
        for (ticker,), frame in market.prices.partition_by(S.TICKER, as_dict=True, include_key=False).items():
            store.upsert(ticker, frame, (frame[S.DATE].min(), frame[S.DATE].max()), "simulated")
        store.upsert_shares(market.shares, "simulated")
        catalog = Path(tmp) / "demo-events.csv"
        pl.DataFrame(
            [(e.id, e.tickers[0], e.announced_text, e.timing, e.benchmark, e.group, e.description, e.source) for e in market.events],
            schema=["event_id", "ticker", "announced", "timing", "benchmark", "group", "description", "source"],
            orient="row",
        ).write_csv(catalog)
        report = Path(event_study(catalog=str(catalog), source="store", out=str(out), store=str(store.root)))
    table = recovery_table(market.planted, pl.read_parquet(report / "abnormal_returns.parquet"), pl.read_parquet(report / "car.parquet"))
    lines = [
        "Planted vs recovered (simulated market, seed 20251103):",
        f"{'event':<16} {'ticker':<6} {'planted AR0':>11} {'AR0':>8} {'t':>6}   {'planted CAR[-1,+1]':>18} {'CAR':>8} {'t':>6} {'p':>6}  within 2 s.e.",
    ]
    for r in table.iter_rows(named=True):
        lines.append(
            f"{r[S.EVENT_ID]:<16} {r[S.TICKER]:<6} {pct(r['planted_ar0']):>11} {pct(r['ar0']):>8} {num(r['ar0_t']):>6}   "
            f"{pct(r['planted_car']):>18} {pct(r['car']):>8} {num(r['car_t']):>6} {pvalue(r['car_p']):>6}  "
            f"{'yes' if r['within_2se'] else 'NO'}"
        )
    lines.append(f"report: {report / 'report.html'}")
    return "\n".join(lines)
