"""Getting prices into the store (flows.io.prices) when Yahoo answers badly, without Prefect: the
fake Yahoo answers; planning, downloading, storing and the analysis run as the flow runs them.
Whatever Yahoo leaves out, every event comes back ok, flagged or skipped with its reason."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from fake_yahoo import xnys

from analysis import schema as S
from analysis.calendar import align_events, exchange_calendar
from analysis.engine import price_requirements, run_study
from analysis.specs import EventSpec, StudySpec, events_frame
from flows.io.prices import download, plan_fetches, store_download
from flows.io.store import PriceStore

LAST_CLOSED = date(2025, 11, 28)


def random_bars(first: str, last: str, seed: int) -> pl.DataFrame:
    dates = pl.Series(S.DATE, xnys().sessions_in_range(first, last).to_numpy()).dt.date()
    close = 100 * np.cumprod(1 + np.random.default_rng(seed).normal(0, 0.01, dates.len()))
    return pl.DataFrame(dates).with_columns(
        pl.Series(S.CLOSE, close), pl.Series(S.ADJ_CLOSE, close),
        *(pl.Series(c, close) for c in (S.OPEN, S.HIGH, S.LOW)), pl.lit(1e6).alias(S.VOLUME),
    )


def fetch_and_study(store: PriceStore, events: list[EventSpec], spec: StudySpec = StudySpec()):
    cal = exchange_calendar()
    frame = events_frame(events)
    needs = price_requirements(align_events(frame, cal), spec, cal)
    plan = plan_fetches(store, needs, "auto", cal, LAST_CLOSED)
    failures = {}
    for batch in plan.batches:
        fetched = download(batch, retries=0)
        store_download(store, batch, fetched.prices)
        failures |= fetched.failures
    prices = store.read(needs[S.TICKER].to_list(), needs["start"].min(), needs["end"].max())
    return run_study(frame, prices, spec, cal, max_regressions=0), failures


@pytest.fixture
def store(mr_home) -> PriceStore:
    return PriceStore(mr_home)


def reasons(result) -> dict[str, tuple[str, str | None]]:
    return {r[S.EVENT_ID]: (r["status"], r[S.REASON]) for r in result.events.iter_rows(named=True)}


def test_empty_partial_and_nan_answers_each_reach_the_events_table(fake_yahoo, store):
    fake_yahoo.add("^GSPC", random_bars("2024-01-02", "2025-11-28", 0))
    fake_yahoo.add("FULL", random_bars("2024-01-02", "2025-11-28", 1))
    fake_yahoo.add("LATE", random_bars("2025-04-01", "2025-11-28", 2))  # only the last months
    fake_yahoo.add("HOLE", random_bars("2024-01-02", "2025-11-28", 3).filter(
        ~pl.col(S.DATE).is_in([date(2025, 6, 2), date(2025, 6, 3)])
    ))
    fake_yahoo.nan_ticker("DEAD")  # every value NaN
    events = [
        EventSpec("full", ("FULL",), date(2025, 11, 3)),
        EventSpec("late", ("LATE",), date(2025, 11, 3)),
        EventSpec("hole", ("HOLE",), date(2025, 11, 3)),
        EventSpec("dead", ("DEAD",), date(2025, 11, 3)),
        EventSpec("unknown", ("ZZZZ",), date(2025, 11, 3)),
    ]
    result, failures = fetch_and_study(store, events)

    assert set(failures) == {"DEAD", "ZZZZ"}
    assert all(why.startswith("Yahoo returned no prices") for why in failures.values())
    got = reasons(result)
    assert list(got) == [e.id for e in events]  # nothing dropped
    assert got["full"][0] == "flagged" and got["full"][1] == "no shares outstanding for this ticker"
    assert got["late"][0] == "flagged" and "of 250 estimation returns" in got["late"][1]
    assert got["hole"][0] == "flagged" and "HOLE: 2 XNYS sessions without a price" in got["hole"][1]
    assert "2025-06-02, 2025-06-03" in got["hole"][1]
    assert got["dead"] == ("skipped", "no prices for DEAD; no close on day -1")
    assert got["unknown"] == ("skipped", "no prices for ZZZZ; no close on day -1")
    # the numbers of the complete event do not depend on the others
    alone = run_study(events_frame(events[:1]), store.read(["FULL", "^GSPC"]), StudySpec(), exchange_calendar(), max_regressions=0)
    assert result.car.filter(pl.col(S.EVENT_ID) == "full")[S.CAR].to_list() == alone.car[S.CAR].to_list()
    # the late listing's coverage is the range asked for: Yahoo has nothing earlier, so the next
    # run asks only for what is still missing
    cal = exchange_calendar()
    assert store.coverage("LATE")[0] < date(2025, 4, 1)
    needs = price_requirements(align_events(events_frame(events[1:2]), cal), StudySpec(), cal)
    assert plan_fetches(store, needs, "auto", cal, LAST_CLOSED).batches == ()


def test_yahoo_unreachable_leaves_the_store_as_it_was(fake_yahoo, store):
    fake_yahoo.add("^GSPC", random_bars("2024-01-02", "2025-11-28", 0))
    fake_yahoo.offline()
    result, failures = fetch_and_study(store, [EventSpec("ev", ("AMZN",), date(2025, 11, 3))])
    assert set(failures) == {"AMZN", "^GSPC"} and all("unreachable" in why for why in failures.values())
    assert store.tickers().is_empty()
    assert reasons(result)["ev"][0] == "skipped"


def test_yahoo_unreachable_is_recognised_whatever_the_root_log_level(fake_yahoo, store):
    """The failures are read from yfinance's log: a root logger at CRITICAL (what Prefect's
    logging setup leaves with ``PREFECT_LOGGING_LEVEL=CRITICAL``) must not hide them."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.CRITICAL)
    try:
        fake_yahoo.offline()
        _, failures = fetch_and_study(store, [EventSpec("ev", ("AMZN",), date(2025, 11, 3))])
    finally:
        root.setLevel(level)
    assert failures and all("unreachable" in why for why in failures.values())
