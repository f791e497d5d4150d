"""Tests across the events of a group, on the AR of each reported day and the CAR of each window.

Every group of the catalog is tested on every *test window*: each reported event day τ as the
one-day window ``[τ, τ]`` (a test of the AAR of day τ) and each event window of the study (a
test of the CAAR). Only primary event rows with a fitted model take part; related (spillover)
tickers are not pooled.

Where
-----
:mod:`~analysis.inference.battery`          the battery: the tests' names (:data:`TESTS`,
                                            :func:`check_tests`), the test windows, the inputs
                                            (:class:`DailySummary`, :func:`summarise_daily`,
                                            ...) and the cross-section of each group and window;
:mod:`~analysis.inference.parametric`       the parametric tests and the same-date
                                            cross-correlation of Kolari & Pynnönen (2010);
:mod:`~analysis.inference.nonparametric`    the sign, rank and signed-rank tests and the daily
                                            statistics of ranks and signs;
:mod:`~analysis.inference.kernels`          the dense NumPy kernels: rows sorted, ranked and
                                            searched, sums by group, signed ranks, pairwise
                                            correlation sums;
:mod:`~analysis.inference.run`              :func:`group_tests` (and :func:`run_battery`, from
                                            tidy frames): every test for every group and window.

Notation, for one group and one test window W (L days)
--------------------------------------------------------
``i = 1..N``        the group's events with an abnormal return in W;
``CAR_i``           the sum of event i's ARs over W (its AR when W is one day);
``s_i``             the standard error of ``CAR_i`` from the prediction-error variance,
                    including the cross-day covariance of the prediction errors
                    (MacKinlay 1997, eq. 19-20; ``car_se`` of :mod:`analysis.abnormal`);
``SCAR_i``          ``CAR_i / s_i``, the standardised CAR (``AR / s`` for one day); under normal
                    errors it is Student t with the model's residual degrees of freedom ``d_i``
                    (``T_i − 2`` for the market model), so ``Var(SCAR_i) = d_i / (d_i − 2)``;
``e_it``            event i's estimation-window residuals, ``t`` in event time, ``T_i`` of them;
``σ_i``             the residual standard deviation of event i's model;
``CAAR``            ``(1/N) Σ CAR_i``, the ``mean`` column of every test but ``brown_warner_cda``.

The ranking sample of an event (rank and sign tests) is its estimation-window residuals plus
its ARs on the reported days; days in between (e.g. τ = −10..−6 by default) are left out.

The tests (``test`` column; formulas in each function's docstring)
-------------------------------------------------------------------
parametric:     ``cross_sectional_t``, ``brown_warner_cda``, ``patell_z``, ``bmp_t``,
                ``kp_adjusted_bmp_t``, ``mackinlay_j1``;
non-parametric: ``sign``, ``generalized_sign``, ``corrado_rank``, ``corrado_zivney_sign``,
                ``wilcoxon_signed_rank``, ``grank_t``.

Choices where the papers leave one (also in docs/tests.md):

* multi-day windows: the standardised tests standardise the CAR by its own prediction-error
  s.e. (``SCAR_i``; Boehmer, Musumeci & Poulsen 1991; Kolari & Pynnönen 2010, 2011) rather
  than summing daily standardised ARs (Patell 1976), which would ignore the covariance of the
  prediction errors; both coincide on one-day windows. The day-by-day rank and sign tests are
  cumulated over the window as ``Σ_τ Ū_τ / (√L · S)`` (Campbell & Wasley 1993); the
  generalized sign test uses the daily ``p̂`` for every window length (Cowan 1992).
* missing days: an event enters a window's test when it has at least one AR in it (its CAR
  sums the days it has; ``s_i`` counts them); rank tests use standardised ranks
  ``K_it / (M_i + 1)`` over the ``M_i`` days the event has (Corrado & Zivney 1992), and
  averages over the events present on each day.
* zero ARs: the sign test and Wilcoxon drop them (N counts the non-zero ones); the generalized
  sign test counts them as not positive in the window and in ``p̂`` alike (Cowan 1992).
* ties in ranks: average ranks.
* cross-correlation (``kp_adjusted_bmp_t``): only events with the same day 0 are correlated;
  ``r̄`` averages their residual correlations over all ``N(N − 1)/2`` pairs of the test (zero
  for pairs with different days 0), so without same-date events the test equals ``bmp_t``.

A test that cannot be computed (too few events, no dispersion, ...) has null statistic and
p-value and a ``reason``; the other tests and groups go on.
"""

from analysis.inference.battery import (
    BMP_T, BROWN_WARNER_CDA, CORRADO_RANK, CORRADO_ZIVNEY_SIGN, CROSS_SECTIONAL_T, DAY_BY_DAY, GENERALIZED_SIGN,
    GRANK_T, KEYS, KP_ADJUSTED_BMP_T, MACKINLAY_J1, NEEDS_DAILY, NEEDS_RESIDUALS, OUTPUT, PATELL_Z, SIGN, TEST_NAMES,
    TESTS, WILCOXON, BatteryItem, CrossSection, DailyAbnormalReturns, DailySummary, Members, WindowObservations,
    check_tests, combine_daily, summarise_daily, windows_tested,
)
from analysis.inference.nonparametric import (
    DayStatistics, corrado_rank, corrado_zivney_sign, generalized_sign, grank_t, sign_test, wilcoxon_signed_rank,
)
from analysis.inference.parametric import (
    bmp_t, brown_warner_cda, cross_sectional_t, kp_adjusted_bmp_t, mackinlay_j1, patell_z,
)
from analysis.inference.run import group_tests, run_battery

__all__ = [
    "BMP_T", "BROWN_WARNER_CDA", "CORRADO_RANK", "CORRADO_ZIVNEY_SIGN", "CROSS_SECTIONAL_T", "DAY_BY_DAY",
    "GENERALIZED_SIGN", "GRANK_T", "KEYS", "KP_ADJUSTED_BMP_T", "MACKINLAY_J1", "NEEDS_DAILY", "NEEDS_RESIDUALS",
    "OUTPUT", "PATELL_Z", "SIGN", "TESTS", "TEST_NAMES", "WILCOXON", "BatteryItem", "CrossSection",
    "DailyAbnormalReturns", "DailySummary", "DayStatistics", "Members", "WindowObservations", "bmp_t",
    "brown_warner_cda", "check_tests", "combine_daily", "corrado_rank", "corrado_zivney_sign", "cross_sectional_t",
    "generalized_sign", "grank_t", "group_tests", "kp_adjusted_bmp_t", "mackinlay_j1", "patell_z", "run_battery",
    "sign_test", "summarise_daily", "wilcoxon_signed_rank", "windows_tested",
]
