"""CAR and CAAR paths (the plots' lines and bands) against independent computations:
``reference.py``'s γ'Vγ over the windows [-5, τ] on real AMZN data, plain NumPy for the
group average, and the engine's own ``cum_abnormal_ret`` and ``car.parquet``."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest

import reference as ref
from analysis import schema as S
from analysis.calendar import exchange_calendar
from analysis.engine import run_study
from analysis.paths import CAAR, CAAR_SE, caar_paths
from analysis.specs import EventSpec, StudySpec, events_frame
from test_engine_reference import near, polars_prices, read_prices_csv

DAYS = list(range(-5, 6))
AWS_DAY0, JUNE_DAY0 = date(2025, 11, 3), date(2025, 6, 2)


@pytest.fixture(scope="module")
def setting(shared_data):
    prices = pl.concat([
        polars_prices(shared_data / "prices" / "AMZN.csv", "AMZN"),
        polars_prices(shared_data / "prices" / "GSPC.csv", "^GSPC"),
    ])
    events = [
        EventSpec("aws", ("AMZN",), AWS_DAY0, group="g"),
        EventSpec("june", ("AMZN",), JUNE_DAY0, group="g"),
        EventSpec("solo", ("AMZN",), date(2025, 3, 3), group="alone"),
    ]
    result = run_study(events_frame(events), prices, StudySpec(), exchange_calendar("XNYS"))
    sessions = ref.xnys_sessions("2015-01-01")
    r = ref.session_returns(read_prices_csv(shared_data / "prices" / "AMZN.csv", "adj_close"), sessions)
    m = ref.session_returns(read_prices_csv(shared_data / "prices" / "GSPC.csv", "close"), sessions)
    return result, r, m, sessions


def test_car_path_equals_reference_windows_from_the_first_reported_day(setting):
    result, r, m, sessions = setting
    paths = result.paths
    for event, day0 in (("aws", AWS_DAY0), ("june", JUNE_DAY0)):
        want = ref.event_study(r, m, sessions, day0, windows=tuple((-5, t) for t in DAYS))
        got = paths.filter(pl.col(S.EVENT_ID) == event).sort(S.EVENT_DAY)
        assert got[S.EVENT_DAY].to_list() == DAYS
        for row in got.iter_rows(named=True):
            w = want.windows[(-5, row[S.EVENT_DAY])]
            near(row[S.CAR], w.car, f"{event} CAR to {row[S.EVENT_DAY]}")
            near(row[S.CAR_SE], w.se, f"{event} se to {row[S.EVENT_DAY]}")
        # the band widens with the window, but not as sqrt(L) * sigma alone (estimation error)
        se = got[S.CAR_SE].to_numpy()
        assert (np.diff(se) > 0).all()


def test_car_path_agrees_with_the_engine_outputs(setting):
    result = setting[0]
    paths = result.paths
    joined = paths.join(result.abnormal_returns.select(S.EVENT_ID, S.TICKER, S.EVENT_DAY, S.CUM_ABNORMAL_RET),
                        on=[S.EVENT_ID, S.TICKER, S.EVENT_DAY])
    assert joined.height == paths.height
    assert np.allclose(joined[S.CAR].to_numpy(), joined[S.CUM_ABNORMAL_RET].to_numpy(), rtol=1e-12, atol=1e-15)
    end = paths.filter(pl.col(S.EVENT_DAY) == 5).join(
        result.car.filter((pl.col(S.WINDOW_START) == -5) & (pl.col(S.WINDOW_END) == 5)), on=[S.EVENT_ID, S.TICKER]
    )
    assert end.height == 3
    assert np.allclose(end[S.CAR_SE].to_numpy(), end[f"{S.CAR_SE}_right"].to_numpy(), rtol=1e-12)


def test_caar_path_is_the_cross_sectional_mean_and_standard_error(setting):
    result = setting[0]
    paths = result.paths
    caar = caar_paths(paths)
    for day in DAYS:
        cars = [paths.filter((pl.col(S.EVENT_ID) == e) & (pl.col(S.EVENT_DAY) == day))[S.CAR].item() for e in ("aws", "june")]
        row = caar.filter((pl.col(S.GROUP) == "g") & (pl.col(S.EVENT_DAY) == day)).row(0, named=True)
        assert row[S.N_EVENTS] == 2
        near(row[CAAR], (cars[0] + cars[1]) / 2, f"CAAR {day}")
        near(row[CAAR_SE], float(np.std(cars, ddof=1)) / math.sqrt(2), f"CAAR se {day}")
    alone = caar.filter(pl.col(S.GROUP) == "alone")
    assert alone.height == len(DAYS) and alone[CAAR_SE].is_null().all()  # one event: no cross-sectional band
