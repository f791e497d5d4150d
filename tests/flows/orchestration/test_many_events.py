"""Many events in one run: a CSV catalog of 200 event rows on the shared prices.

40 events x 5 tickers (AAPL, AMZN, GOOGL, META, MSFT, NVDA in rotation), pairs of events on
the same date, the same ticker in many events, two benchmarks, all four timings, one event
too early for a full estimation window. One ``run_study`` over the whole catalog must give,
for every event row, exactly the numbers of a run of that event row alone (no cross-talk
between rows that share a ticker, a date or a benchmark), and the engine must make the same
Python calls whatever the number of events (no Python loop over events).
"""

from __future__ import annotations

import collections
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import analysis
from analysis.calendar import exchange_calendar
from analysis.engine import run_study
from analysis.specs import EventSpec, StudySpec, events_frame
from flows.io.catalog import load_catalog

TICKERS = ("AAPL", "AMZN", "GOOGL", "META", "MSFT", "NVDA")
TIMINGS = ("pre-open", "intraday", "after-close", "unknown")
SPEC = StudySpec(model="ff3")
KEYS = ["event_id", "ticker"]


def catalog_rows() -> list[str]:
    rows = []
    for i in range(40):
        # events 2k and 2k+1 share their date; the dates run from 2024-02 to 2025-12
        day = date(2024, 2, 5) + timedelta(days=17 * (i // 2))
        if i == 39:
            day = date(2023, 7, 5)  # estimation window mostly before the 2023 data: null with a reason
        for j in range(5):
            rows.append(",".join([
                f"ev-{i:02d}", TICKERS[(i + j) % 6], day.isoformat(), TIMINGS[i % 4],
                "SPY" if i % 3 == 0 else "^GSPC", f"g{i % 3}",
            ]))
    return rows


@pytest.fixture(scope="module")
def inputs(shared_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("catalog") / "many.csv"
    path.write_text("event_id,ticker,announced,timing,benchmark,group\n" + "\n".join(catalog_rows()) + "\n")
    events = load_catalog(path)
    frames = []
    for name, ticker in [(t, t) for t in (*TICKERS, "SPY")] + [("GSPC", "^GSPC")]:
        frames.append(pl.read_csv(shared_data / "prices" / f"{name}.csv", try_parse_dates=True,
                                  schema_overrides={"adj_close": pl.Float64, "volume": pl.Float64}).select(
            pl.lit(ticker).alias("ticker"), pl.col("date").cast(pl.Date), "close",
            pl.col("adj_close").fill_null(pl.col("close")), "volume",
        ))
    ff3 = pl.read_csv(shared_data / "factors" / "ff3_daily.csv", try_parse_dates=True).select(
        pl.col("date").cast(pl.Date), pl.exclude("date") / 100
    )
    return events, pl.concat(frames), {"ff3": ff3}


@pytest.mark.slow
def test_one_run_equals_each_event_row_alone(inputs):
    events, prices, factors = inputs
    assert len(events) == 40 and sum(len(e.tickers) for e in events) == 200
    cal = exchange_calendar("XNYS")
    # confounders are cross-row by design (another event of the same ticker nearby flags a row; see
    # tests/analysis/test_confounders.py): left out here, where every number must be the row's own
    res = run_study(events_frame(events), prices, SPEC, cal, factors=factors, max_regressions=0, confounders=False)
    assert res.events.height == res.models.height == 200 and res.car.height == 600
    assert res.abnormal_returns.height == 200 * 11
    # the 2023 event: null with a reason, except for AMZN (whose prices start in 2015)
    nulls = res.models.filter(pl.col("alpha").is_null())
    assert sorted(nulls["ticker"]) == ["AAPL", "META", "MSFT", "NVDA"] and set(nulls["event_id"]) == {"ev-39"}
    assert nulls["reason"].str.contains("fewer than the minimum 120").all()
    assert res.models.filter(pl.col("log_volume_mean").is_null())["ticker"].sort().equals(nulls["ticker"].sort())
    # several events of one ticker on one day (ev-00 and ev-01 share 2024-02-05 and AMZN...)
    shared = res.models.join(res.events.select(*KEYS, "day0"), on=KEYS).group_by("ticker", "day0").len()
    assert shared["len"].max() >= 2

    singles = {"models": [], "abnormal_returns": [], "car": [], "events": []}
    for e in events:
        for t in e.tickers:
            alone = EventSpec(e.id, (t,), e.announced, e.timing, e.benchmark, group=e.group)
            own = prices.filter(pl.col("ticker").is_in([t, e.benchmark]))  # it sees nothing of the others
            one = run_study(events_frame([alone]), own, SPEC, cal, factors=factors, max_regressions=0)
            for name, frame in singles.items():
                frame.append(getattr(one, name))
    for name, parts in singles.items():
        alone = pl.concat(parts).drop("row", strict=False)  # the events' row number in their run
        together = getattr(res, name).drop("row", strict=False)
        order = [*KEYS, *(["event_day"] if name == "abnormal_returns" else ["window_start"] if name == "car" else [])]
        assert_frame_equal(together.sort(order), alone.sort(order), check_exact=True)


def python_calls(events, prices, factors) -> collections.Counter:
    """Python function calls made inside the ``analysis`` package during one ``run_study``."""
    root = str(Path(analysis.__file__).parent)
    calls: collections.Counter = collections.Counter()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(root):
            calls[(Path(frame.f_code.co_filename).name, frame.f_code.co_name)] += 1

    frame = events_frame(events)  # building the input frame from the specs is not the engine
    cal = exchange_calendar("XNYS")
    sys.setprofile(profile)
    try:
        run_study(frame, prices, SPEC, cal, factors=factors, max_regressions=0)
    finally:
        sys.setprofile(None)
    return calls


def test_the_engine_makes_the_same_python_calls_for_20_or_200_event_rows(inputs):
    events, prices, factors = inputs
    few, many = python_calls(events[:4], prices, factors), python_calls(events, prices, factors)
    assert sum(few.values()) > 100  # the profiler sees the engine
    assert few == many
