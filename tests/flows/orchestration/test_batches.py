"""The study in event batches (``flows/orchestration/batches.py``): on two threads and on a Dask
LocalCluster, locally and as Prefect tasks (the subflow ``study-batches``), every output frame
equals the single-process ``run_study`` — bit for bit — on a synthetic market with 2% of its
prices missing, confounded events (several events per ticker) and more batches than workers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis import schema as S
from flows.devtools.floor import BENCH_SPEC, SyntheticSpec, bench_events, bench_prices
from analysis.calendar import align_events, exchange_calendar
from analysis.engine import StudyResult, price_requirements, run_study
from flows.orchestration.batches import local_batches, study_in_batches
from flows.io.prices import StudyData, read_study_data, read_study_prices
from flows.io.store import PriceStore

MARKET = SyntheticSpec(tickers=25, sessions=420, events=500, missing=0.02, seed=7)
SMALL_BATCHES = dataclasses.replace(BENCH_SPEC, batch_rows=120)  # 5 batches of the 500 events
FRAMES = [f.name for f in dataclasses.fields(StudyResult) if f.name not in ("spec", "regression_tables", "claims")]


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> tuple[str, pl.DataFrame, pl.DataFrame]:
    root = tmp_path_factory.mktemp("store")
    cal = exchange_calendar()
    store = PriceStore(root)
    for (ticker,), rows in bench_prices(MARKET, cal).group_by(S.TICKER, maintain_order=True):
        store.upsert(ticker, rows.drop(S.TICKER), (rows[S.DATE].min(), rows[S.DATE].max()), "test")
    events = bench_events(MARKET, cal)
    needs = price_requirements(align_events(events, cal), BENCH_SPEC, cal)
    return str(root), events, needs


@pytest.fixture(scope="module")
def reference(market) -> StudyResult:
    root, events, needs = market
    prices, shares = read_study_prices(PriceStore(Path(root)), needs)
    result = run_study(events, prices, BENCH_SPEC, exchange_calendar(), shares)
    assert result.confounders.height > 100 and result.quality.height > 0 and result.tests.height > 0
    assert result.events[S.REASON].str.contains("sessions without a price|confounding").any()
    return result


def snapshot(market) -> StudyData:
    """The run's one read of the store (what the flow process takes before the batches)."""
    root, _, needs = market
    return read_study_data(PriceStore(Path(root)), needs, [])


def assert_same(got: StudyResult, want: StudyResult) -> None:
    for name in FRAMES:
        try:
            assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=True)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None
    assert [t.html for t in got.regression_tables] == [t.html for t in want.regression_tables]


@pytest.mark.parametrize("runner", ["threads", pytest.param("dask", marks=pytest.mark.dask)])
def test_batches_equal_the_single_process_study(market, reference, runner):
    from flows.orchestration.tracked import make_task_runner, study_batches

    flow = study_batches.with_options(task_runner=make_task_runner(runner))
    got = flow(market[1], SMALL_BATCHES, snapshot(market), {}, remote=runner == "dask")
    assert_same(got, reference)


@pytest.mark.parametrize("runner", ["threads", pytest.param("dask", marks=pytest.mark.dask)])
def test_local_batches_equal_the_single_process_study(market, reference, runner):
    with local_batches(runner) as map_batches:
        got = study_in_batches(market[1], SMALL_BATCHES, snapshot(market), {}, remote=runner == "dask",
                               map_batches=map_batches)
    assert_same(got, reference)


@pytest.mark.parametrize("runner", ["threads", pytest.param("dask", marks=pytest.mark.dask)])
def test_streamed_batches_write_every_abnormal_return_and_keep_day_0(market, reference, runner, tmp_path):
    """With ``spill``, the abnormal-return rows go to Parquet batch by batch (the file equals
    the whole frame) and the result keeps their day-0 rows; every other frame is unchanged."""
    with local_batches(runner) as map_batches:
        got = study_in_batches(market[1], SMALL_BATCHES, snapshot(market), {}, remote=runner == "dask",
                               spill=str(tmp_path / "spill"), map_batches=map_batches)
    assert_frame_equal(pl.read_parquet(tmp_path / "spill" / "abnormal_returns.parquet"), reference.abnormal_returns,
                       check_exact=True)
    assert_frame_equal(got.abnormal_returns, reference.abnormal_returns.filter(pl.col(S.EVENT_DAY) == 0),
                       check_exact=True)
    assert_same(dataclasses.replace(got, abnormal_returns=reference.abnormal_returns), reference)
