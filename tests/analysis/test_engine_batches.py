"""The engine batch by batch: group tests from the batches' contributions, the sink and the
stage timings.

On a synthetic market with 2% of its prices missing and same-day-0 events (so the
Kolari-Pynnönen correlations pair events of different batches), batches of uneven sizes give
every frame of the single-batch ``run_study`` bit for bit, with the whole test battery; a
sink receives every abnormal-return row once, in row order.
"""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis import schema as S
from flows.devtools.floor import BENCH_SPEC, SyntheticSpec, bench_events, bench_prices
from analysis.engine import StudyResult, combine_batches, event_batch, plan_study, prepare_prices, run_study

MARKET = SyntheticSpec(tickers=25, sessions=420, events=500, missing=0.02, seed=7)
FRAMES = [f.name for f in dataclasses.fields(StudyResult) if f.name not in ("spec", "regression_tables", "claims")]


@pytest.fixture(scope="module")
def market(cal) -> tuple[pl.DataFrame, pl.DataFrame]:
    return bench_events(MARKET, cal), bench_prices(MARKET, cal)


@pytest.fixture(scope="module")
def reference(market, cal) -> StudyResult:
    events, prices = market
    result = run_study(events, prices, BENCH_SPEC, cal)
    assert result.tests.height and result.tests[S.STATISTIC].is_not_null().any()
    assert result.tests.filter(pl.col(S.TEST) == "kp_adjusted_bmp_t")[S.STATISTIC].is_not_null().any()
    return result


def assert_same(got: StudyResult, want: StudyResult, skip: tuple[str, ...] = ()) -> None:
    for name in FRAMES:
        if name not in skip:
            try:
                assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=True)
            except AssertionError as e:
                raise AssertionError(f"{name}: {e}") from None


def test_batches_of_uneven_sizes_give_the_numbers_of_one_batch(market, reference, cal):
    events, prices = market
    plan = plan_study(events, BENCH_SPEC, cal)
    assert plan.rows.select(pl.len().over(S.GROUP, S.DAY0_SESSION).max()).item() > 1  # same-day-0 events
    prepared = prepare_prices(prices, BENCH_SPEC, cal)
    cuts = [0, 37, 200, 201, plan.rows.height]
    parts = (event_batch(plan, plan.rows.slice(a, b - a), prepared, cal) for a, b in zip(cuts, cuts[1:]))  # one at a time
    got = combine_batches(plan, parts, prepared.findings, prepared.grid.tickers[S.TICKER])
    assert_same(got, reference)


def test_the_sink_gets_every_row_once_in_order(market, reference, cal):
    events, prices = market
    received, stages = [], []
    got = run_study(events, prices, dataclasses.replace(BENCH_SPEC, batch_rows=120), cal, sink=lambda name, frame: received.append((name, frame)),
                    on_stage=lambda stage, seconds: stages.append((stage, seconds)))
    assert [name for name, _ in received] == ["abnormal_returns"] * 5
    assert_frame_equal(pl.concat([frame for _, frame in received]), reference.abnormal_returns, check_exact=True)
    assert_frame_equal(got.abnormal_returns, reference.abnormal_returns.filter(pl.col(S.EVENT_DAY) == 0), check_exact=True)
    assert_same(got, reference, skip=("abnormal_returns",))
    assert [s for s, _ in stages] == [
        "prices and plan", "models and CARs", "confounders", "sink", "group tests", "regressions", "events table",
    ]
    assert all(seconds >= 0 for _, seconds in stages)
