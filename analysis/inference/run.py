"""Running the battery: every test for every group and test window (:func:`group_tests`), from
dense inputs or from tidy frames (:func:`run_battery`)."""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.inference.battery import (
    BMP_T, BROWN_WARNER_CDA, CORRADO_RANK, CORRADO_ZIVNEY_SIGN, CROSS_SECTIONAL_T, DAY_BY_DAY, GENERALIZED_SIGN,
    GRANK_T, KEYS, KP_ADJUSTED_BMP_T, MACKINLAY_J1, NEEDS_DAILY, NEEDS_RESIDUALS, OUTPUT, PATELL_Z, SIGN, TEST_NAMES,
    WILCOXON, DailyAbnormalReturns, DailySummary, Members, WindowObservations, _cross_section, _MemberRows,
    _window_frame, check_tests, summarise_daily,
)
from analysis.inference.nonparametric import (
    _day_statistics, corrado_rank, corrado_zivney_sign, generalized_sign, grank_t, sign_test, wilcoxon_signed_rank,
)
from analysis.inference.parametric import (
    _same_date_correlation, bmp_t, brown_warner_cda, cross_sectional_t, kp_adjusted_bmp_t, mackinlay_j1, patell_z,
)
from analysis.panel import ROW
from analysis.specs import Window


def run_battery(
    events: pl.DataFrame, window_obs: pl.DataFrame, daily: pl.DataFrame, windows: tuple[Window, ...],
    tests: Collection[str] | None = None,
) -> pl.DataFrame:
    """All tests for every group and test window, from tidy inputs: :func:`group_tests` with
    ``window_obs`` as ``row, window_start, window_end, car, car_se`` and ``daily`` as ``row,
    event_day, abnormal_ret, in_estimation`` (the estimation-window residuals and the reported
    days' ARs, non-null)."""
    n_rows = int(max(events[ROW].max() or 0, daily[ROW].max() or 0, window_obs[ROW].max() or 0)) + 1
    return group_tests(
        events, WindowObservations.from_frame(window_obs, windows, n_rows),
        DailyAbnormalReturns.from_frame(daily, n_rows), windows, tests,
    )


def group_tests(
    events: pl.DataFrame, obs: WindowObservations, daily: DailyAbnormalReturns | DailySummary | None,
    windows: tuple[Window, ...], tests: Collection[str] | None = None,
) -> pl.DataFrame:
    """Run the battery (or the ``tests`` named) for every group and test window.

    Parameters
    ----------
    events
        One row per primary event row: ``row, group, day0_session, sigma, df_resid``; rows
        with a null ``sigma`` (no model) belong to their group but enter no test.
    obs
        The CARs and their standard errors in the test windows, by event row.
    daily
        The daily abnormal returns by event row, or what the tests keep of them
        (:func:`~analysis.inference.battery.summarise_daily`,
        :func:`~analysis.inference.battery.combine_daily`; the same numbers); needed only by
        :data:`~analysis.inference.battery.NEEDS_DAILY`.
    windows
        The test windows; every group gets a row for each window and test.
    tests
        The tests to run (default: all of :data:`~analysis.inference.battery.TEST_NAMES`).

    Returns
    -------
    pl.DataFrame
        ``group, window_start, window_end, test, statistic, p_value, n_events, mean, reason``,
        one row per group x test window x test, ordered by group, window and test (in the
        order of :data:`~analysis.inference.battery.TESTS`).
    """
    tests = check_tests(tests)
    if daily is None and NEEDS_DAILY.intersection(tests):
        raise ValueError(f"{', '.join(sorted(NEEDS_DAILY.intersection(tests)))} need the daily abnormal returns")
    members = Members.of(events)
    if isinstance(daily, DailyAbnormalReturns):
        daily = summarise_daily(events, daily, tests)
    est = rep = p_i = None
    if daily is not None:
        at = np.searchsorted(daily.rows, members.rows)
        if daily.rows.size != members.rows.size or not (daily.rows[at] == members.rows).all():
            raise ValueError("the daily summary's rows are not the tested event rows")
        if (NEEDS_RESIDUALS.intersection(tests) and daily.estimation is None) or (
            DAY_BY_DAY.intersection(tests) and daily.reported is None
        ):
            raise ValueError("the daily summary was made for other tests")
        p_i = daily.p_hat[at] if GENERALIZED_SIGN in tests else None
        est = None if daily.estimation is None else _MemberRows(daily, daily.estimation, members.rows)
        rep = None if daily.reported is None else _MemberRows(daily, daily.reported, members.rows)
    cs = _cross_section(members, obs, windows, p_i, WILCOXON in tests)
    days = None
    if DAY_BY_DAY.intersection(tests):
        days = _day_statistics(members, est, rep, daily.reported_days, windows,
                               ranks={CORRADO_RANK, CORRADO_ZIVNEY_SIGN}.intersection(tests))
    make: dict[str, Callable[[], pl.DataFrame]] = {
        CROSS_SECTIONAL_T: lambda: cross_sectional_t(cs.frame),
        BROWN_WARNER_CDA: lambda: brown_warner_cda(cs.frame, days),
        PATELL_Z: lambda: patell_z(cs.frame),
        BMP_T: lambda: bmp_t(cs.frame),
        KP_ADJUSTED_BMP_T: lambda: kp_adjusted_bmp_t(cs.frame, _same_date_correlation(members, cs, est, windows)),
        MACKINLAY_J1: lambda: mackinlay_j1(cs.frame),
        SIGN: lambda: sign_test(cs.frame),
        GENERALIZED_SIGN: lambda: generalized_sign(cs.frame),
        CORRADO_RANK: lambda: corrado_rank(cs.frame, days),
        CORRADO_ZIVNEY_SIGN: lambda: corrado_zivney_sign(cs.frame, days),
        WILCOXON: lambda: wilcoxon_signed_rank(cs.frame),
        GRANK_T: lambda: grank_t(cs, members, est, windows),
    }
    order = pl.Enum(TEST_NAMES)
    grid = (
        events.select(S.GROUP).unique()
        .join(_window_frame(windows), how="cross")
        .join(pl.DataFrame({S.TEST: tests}, schema={S.TEST: pl.String}), how="cross")
    )
    found = pl.concat([make[t]().select(OUTPUT) for t in tests], how="vertical_relaxed")
    return (
        grid.join(found, on=[*KEYS, S.TEST], how="left")
        .with_columns(
            pl.col(S.N_EVENTS).fill_null(0),
            pl.when(pl.col(S.N_EVENTS).is_null())
            .then(pl.lit("no event of the group has an abnormal return in the window"))
            .otherwise(pl.col(S.REASON))
            .alias(S.REASON),
        )
        .sort(S.GROUP, S.WINDOW_START, S.WINDOW_END, pl.col(S.TEST).cast(order))
        .select(OUTPUT)
    )
