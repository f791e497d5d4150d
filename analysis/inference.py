"""Tests across the events of a group, on the AR of each reported day and the CAR of each window.

Every group of the catalog is tested on every *test window*: each reported event day τ as the
one-day window ``[τ, τ]`` (a test of the AAR of day τ) and each event window of the study (a
test of the CAAR). Only primary event rows with a fitted model take part; related (spillover)
tickers are not pooled.

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

Choices where the papers leave one (also in the README, section "Tests"):

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

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl
from scipy import stats as sps

from analysis import schema as S
from analysis.abnormal import cumulative_abnormal_returns
from analysis.panel import ROW
from analysis.specs import StudySpec, Window
from analysis.stats import binom_two_sided_pvalue, t_pvalue, wilcoxon_exact_pvalue, z_pvalue


@dataclass(frozen=True)
class BatteryItem:
    """A test of the battery: its ``test`` value, a short label for tables and its family."""

    name: str
    label: str
    family: str  # "parametric" | "non-parametric"


CROSS_SECTIONAL_T = "cross_sectional_t"
BROWN_WARNER_CDA = "brown_warner_cda"
PATELL_Z = "patell_z"
BMP_T = "bmp_t"
KP_ADJUSTED_BMP_T = "kp_adjusted_bmp_t"
MACKINLAY_J1 = "mackinlay_j1"
SIGN = "sign"
GENERALIZED_SIGN = "generalized_sign"
CORRADO_RANK = "corrado_rank"
CORRADO_ZIVNEY_SIGN = "corrado_zivney_sign"
WILCOXON = "wilcoxon_signed_rank"
GRANK_T = "grank_t"

TESTS: tuple[BatteryItem, ...] = (
    BatteryItem(CROSS_SECTIONAL_T, "CS t", "parametric"),
    BatteryItem(BROWN_WARNER_CDA, "BW CDA t", "parametric"),
    BatteryItem(PATELL_Z, "Patell Z", "parametric"),
    BatteryItem(BMP_T, "BMP t", "parametric"),
    BatteryItem(KP_ADJUSTED_BMP_T, "KP adj. BMP t", "parametric"),
    BatteryItem(MACKINLAY_J1, "J1", "parametric"),
    BatteryItem(SIGN, "Sign Z", "non-parametric"),
    BatteryItem(GENERALIZED_SIGN, "Gen. sign Z", "non-parametric"),
    BatteryItem(CORRADO_RANK, "Rank Z", "non-parametric"),
    BatteryItem(CORRADO_ZIVNEY_SIGN, "CZ sign Z", "non-parametric"),
    BatteryItem(WILCOXON, "Wilcoxon z", "non-parametric"),
    BatteryItem(GRANK_T, "GRANK t", "non-parametric"),
)
TEST_NAMES: tuple[str, ...] = tuple(t.name for t in TESTS)

KEYS = [S.GROUP, S.WINDOW_START, S.WINDOW_END]
OUTPUT = [*KEYS, S.TEST, S.STATISTIC, S.P_VALUE, S.N_EVENTS, S.MEAN, S.REASON]

# internal columns
_Z = "_scar"  # CAR / s.e.
_N = "_n"
_SD = "_sd"


# --- the adapter used by the engine ------------------------------------------------------------


def windows_tested(spec: StudySpec) -> tuple[Window, ...]:
    """Every reported day as a one-day window, then the study's windows (no duplicates)."""
    days = spec.report_days
    return tuple(dict.fromkeys([*(Window(t, t) for t in range(days.start, days.end + 1)), *spec.windows]))


def group_tests(ar: pl.DataFrame, models: pl.DataFrame, rows: pl.DataFrame, spec: StudySpec) -> pl.DataFrame:
    """Run the whole battery for every group on every reported day and every window.

    Parameters
    ----------
    ar
        :func:`analysis.abnormal.abnormal_returns` on all panel days (``row, event_day,
        abnormal_ret``, ...): estimation-window residuals and event-window prediction errors.
    models
        :func:`analysis.models.fit_models` (``row, sigma, df_resid``, ...).
    rows
        The event rows (``row, group, role, day0_session``).
    spec
        The study (estimation window, windows, reported days).

    Returns
    -------
    pl.DataFrame
        ``group, window_start, window_end, test, statistic, p_value, n_events, mean, reason``,
        one row per group x test window x test, ordered by group, window and test (in the
        order of :data:`TESTS`).
    """
    windows = windows_tested(spec)
    reported = spec.report_days
    in_est = pl.col(S.EVENT_DAY).is_between(spec.estimation.start, spec.estimation.end)
    in_rep = pl.col(S.EVENT_DAY).is_between(reported.start, reported.end)
    events = (
        rows.filter(pl.col(S.ROLE) == "primary")
        .select(ROW, S.GROUP, S.DAY0_SESSION)
        .join(models.select(ROW, S.SIGMA, S.DF_RESID), on=ROW, how="left")
    )
    event_ar = ar.filter(in_rep)
    cars = cumulative_abnormal_returns(event_ar, models, replace(spec, windows=windows))
    daily = ar.filter((in_est | in_rep) & pl.col(S.ABNORMAL_RET).is_not_null()).select(
        ROW, S.EVENT_DAY, S.ABNORMAL_RET, in_est.alias(S.IN_ESTIMATION)
    )
    return run_battery(events, cars.select(ROW, S.WINDOW_START, S.WINDOW_END, S.CAR, S.CAR_SE), daily, windows)


# --- the battery on tidy inputs ----------------------------------------------------------------


def run_battery(
    events: pl.DataFrame, window_obs: pl.DataFrame, daily: pl.DataFrame, windows: tuple[Window, ...]
) -> pl.DataFrame:
    """All tests for every group and test window, from tidy inputs.

    Parameters
    ----------
    events
        One row per primary event row: ``row, group, day0_session, sigma, df_resid``; rows
        with a null ``sigma`` (no model) belong to their group but enter no test.
    window_obs
        ``row, window_start, window_end, car, car_se`` for the test windows (one-day windows
        carry the AR and its prediction-error s.e.).
    daily
        ``row, event_day, abnormal_ret, in_estimation``: the estimation-window residuals
        (``in_estimation``) and the reported days' ARs, non-null.
    windows
        The test windows; every group gets a row for each window and test.

    Returns
    -------
    pl.DataFrame
        As :func:`group_tests`.
    """
    members = events.filter(pl.col(S.SIGMA).is_not_null()).select(ROW, S.GROUP, S.DAY0_SESSION, S.SIGMA, S.DF_RESID)
    win = pl.DataFrame(
        {S.WINDOW_START: [w.start for w in windows], S.WINDOW_END: [w.end for w in windows]},
        schema={S.WINDOW_START: pl.Int32, S.WINDOW_END: pl.Int32},
    )
    obs = (
        window_obs.filter(pl.col(S.CAR).is_not_null() & (pl.col(S.CAR_SE) > 0))
        .with_columns(pl.col(S.WINDOW_START).cast(pl.Int32), pl.col(S.WINDOW_END).cast(pl.Int32))
        .join(win, on=[S.WINDOW_START, S.WINDOW_END], how="semi")
        .join(members, on=ROW, how="inner")
        .with_columns((pl.col(S.CAR) / pl.col(S.CAR_SE)).alias(_Z))
    )
    day = daily.join(members.select(ROW, S.GROUP), on=ROW, how="inner")
    est = day.filter(pl.col(S.IN_ESTIMATION))

    cs = _cross_section(obs, est)
    days = _day_statistics(day, win)
    parts = [
        cross_sectional_t(cs),
        brown_warner_cda(cs, days),
        patell_z(cs),
        bmp_t(cs),
        kp_adjusted_bmp_t(cs, _same_date_correlation(obs, members, est)),
        mackinlay_j1(cs),
        sign_test(cs),
        generalized_sign(cs),
        corrado_rank(cs, days),
        corrado_zivney_sign(cs, days),
        wilcoxon_signed_rank(cs),
        grank_t(cs, obs, members, est, win),
    ]
    order = pl.Enum(TEST_NAMES)
    grid = (
        events.select(S.GROUP).unique()
        .join(win, how="cross")
        .join(pl.DataFrame({S.TEST: TEST_NAMES}, schema={S.TEST: pl.String}), how="cross")
    )
    found = pl.concat([p.select(OUTPUT) for p in parts], how="vertical_relaxed")
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


def _cross_section(obs: pl.DataFrame, est: pl.DataFrame) -> pl.DataFrame:
    """Per group and window: the cross-sectional sums every CAR-based test needs."""
    share_pos = est.group_by(ROW).agg((pl.col(S.ABNORMAL_RET) > 0).mean().alias("_p_i"))
    car, z, df = pl.col(S.CAR), pl.col(_Z), pl.col(S.DF_RESID).cast(pl.Float64)
    nonzero = car != 0
    abs_rank = pl.when(nonzero).then(car.abs()).rank("average").over(KEYS)
    ties = pl.when(nonzero).then(pl.len().over([*KEYS, car.abs()]))
    return (
        obs.join(share_pos, on=ROW, how="left")
        .with_columns(abs_rank.alias("_rank"), ties.alias("_tie"))
        .group_by(KEYS)
        .agg(
            pl.len().cast(pl.Int32).alias(_N),
            car.mean().alias(S.MEAN),
            car.std(ddof=1).alias(_SD),
            (pl.col(S.CAR_SE) ** 2).sum().alias("_sum_var"),
            z.sum().alias("_z_sum"),
            z.mean().alias("_z_mean"),
            z.std(ddof=1).alias("_z_sd"),
            pl.when(df > 2).then(df / (df - 2)).sum().alias("_z_var"),
            df.min().alias("_df_min"),
            (car > 0).sum().cast(pl.Int32).alias("_pos"),
            nonzero.sum().cast(pl.Int32).alias("_nonzero"),
            pl.col("_p_i").mean().alias("_p_hat"),
            pl.col("_rank").filter(car > 0).sum().alias("_w_plus"),
            (pl.col("_tie").cast(pl.Float64) ** 2 - 1).sum().alias("_tie_term"),
        )
    )


def _out(frame: pl.DataFrame, test: str, statistic: pl.Expr, p_value: pl.Expr, reason: pl.Expr,
         n_events: pl.Expr | None = None, mean: pl.Expr | None = None) -> pl.DataFrame:
    """Select a test's rows: null statistic and p-value wherever ``reason`` is set (and a
    generic reason where the arithmetic gave no finite statistic)."""
    undefined = statistic.is_null() | ~statistic.is_finite()
    why = pl.coalesce(reason, pl.when(undefined).then(pl.lit("the statistic is undefined for these data (zero variance)")))
    ok = why.is_null()
    return frame.select(
        *KEYS,
        pl.lit(test).alias(S.TEST),
        pl.when(ok).then(statistic).alias(S.STATISTIC),
        pl.when(ok).then(p_value).alias(S.P_VALUE),
        (_COUNT if n_events is None else n_events).cast(pl.Int32).alias(S.N_EVENTS),
        (pl.col(S.MEAN) if mean is None else mean).alias(S.MEAN),
        why.alias(S.REASON),
    )


def _reason(*cases: tuple[pl.Expr, str]) -> pl.Expr:
    expr = pl.when(cases[0][0]).then(pl.lit(cases[0][1]))
    for cond, text in cases[1:]:
        expr = expr.when(cond).then(pl.lit(text))
    return expr.otherwise(pl.lit(None, pl.String))


_COUNT = pl.col(_N)
_FEW = (_COUNT < 2, "needs at least 2 events")


# --- parametric ----------------------------------------------------------------------------------


def cross_sectional_t(cs: pl.DataFrame) -> pl.DataFrame:
    """Cross-sectional t of the CAAR (Brown & Warner 1985; MacKinlay 1997, p. 28)::

        t = CAAR / (s / √N),   s² = Σ (CAR_i − CAAR)² / (N − 1),   t ~ Student t(N − 1)

    Robust to event-induced variance, not to cross-correlation.
    """
    stat = pl.col(S.MEAN) / (pl.col(_SD) / _COUNT.sqrt())
    reason = _reason(_FEW, (pl.col(_SD) <= 0, "the CARs have no cross-sectional dispersion"))
    return _out(cs, CROSS_SECTIONAL_T, stat, t_pvalue(stat, _COUNT - 1), reason)


def brown_warner_cda(cs: pl.DataFrame, days: DayStatistics) -> pl.DataFrame:
    """Time-series t with crude dependence adjustment (Brown & Warner 1985, section 3)::

        AAR_t = (1/N_t) Σ_i e_it                     every estimation day t (events present)
        S² = Σ_t (AAR_t − mean AAR)² / (T − 1)       over the T estimation days with an AAR
        t = Σ_{τ∈W} AAR_τ / (√L · S),   t ~ Student t(T − 1)

    ``L`` counts the window's days with an AAR. The standard deviation of the *average*
    residual absorbs cross-sectional dependence on the estimation days, hence "crude
    dependence adjustment". ``mean`` is ``Σ AAR_τ`` (equal to the CAAR without missing days).
    """
    f = cs.join(days.windows, on=KEYS, how="left").join(days.groups, on=S.GROUP, how="left")
    L, s, T = pl.col("_days").cast(pl.Float64), pl.col("_s_aar"), pl.col("_t_est")
    stat = pl.col("_caar") / (L.sqrt() * s)
    reason = _reason(
        (T.fill_null(0) < 2, "needs at least 2 estimation-window days with residuals"),
        (s <= 0, "the estimation-window AARs do not vary"),
    )
    return _out(f, BROWN_WARNER_CDA, stat, t_pvalue(stat, T - 1), reason, mean=pl.col("_caar"))


def patell_z(cs: pl.DataFrame) -> pl.DataFrame:
    """Patell (1976) Z of the standardised abnormal returns::

        Z = Σ_i SCAR_i / √(Σ_i d_i / (d_i − 2)),   Z ~ N(0, 1)

    ``SCAR_i = CAR_i / s_i`` with the prediction-error s.e. (for one day
    ``AR_iτ / √(σ_i² (1 + 1/T_i + (R_mτ − R̄_m)² / S_xx))``); ``d_i / (d_i − 2)`` is the variance
    of a Student t with ``d_i`` degrees of freedom, ``(T_i − 2) / (T_i − 4)`` for the market
    model. Assumes independent events and no event-induced variance.
    """
    stat = pl.col("_z_sum") / pl.col("_z_var").sqrt()
    reason = _reason((pl.col("_df_min") <= 2, "needs more than 2 residual degrees of freedom for every event"))
    return _out(cs, PATELL_Z, stat, z_pvalue(stat), reason)


def bmp_t(cs: pl.DataFrame) -> pl.DataFrame:
    """Boehmer, Musumeci & Poulsen (1991) standardised cross-sectional t::

        t = mean(SCAR) / (s_SCAR / √N),   s²_SCAR = Σ (SCAR_i − mean SCAR)² / (N − 1),
        t ~ Student t(N − 1)

    The cross-sectional variance of the standardised CARs makes it robust to event-induced
    variance.
    """
    stat = pl.col("_z_mean") / (pl.col("_z_sd") / _COUNT.sqrt())
    reason = _reason(_FEW, (pl.col("_z_sd") <= 0, "the standardised CARs have no cross-sectional dispersion"))
    return _out(cs, BMP_T, stat, t_pvalue(stat, _COUNT - 1), reason)


def kp_adjusted_bmp_t(cs: pl.DataFrame, rho: pl.DataFrame) -> pl.DataFrame:
    """Kolari & Pynnönen (2010) BMP t adjusted for cross-correlation::

        t_adj = t_BMP · √((1 − r̄) / (1 + (N − 1) r̄)),   t_adj ~ Student t(N − 1)
        r̄ = Σ_{i<j} ρ_ij / (N (N − 1) / 2)

    ``ρ_ij`` is the correlation of events i and j's estimation-window residuals over their
    common days, for pairs with the same day 0 (clustered in calendar time); pairs with
    different days 0 count as uncorrelated, so without same-date events ``t_adj = t_BMP``. The
    same ``r̄`` serves every window (KP 2010, section 2: the correlation of CARs equals the
    daily one when the cross-correlation is constant).
    """
    f = cs.join(rho, on=KEYS, how="left").with_columns(
        (2.0 * pl.col("_rho_sum").fill_null(0.0) / (_COUNT * (_COUNT - 1))).alias("_rbar")
    )
    rbar = pl.col("_rbar")
    t = pl.col("_z_mean") / (pl.col("_z_sd") / _COUNT.sqrt())
    stat = t * ((1 - rbar) / (1 + (_COUNT - 1) * rbar)).sqrt()
    reason = _reason(
        _FEW,
        (pl.col("_z_sd") <= 0, "the standardised CARs have no cross-sectional dispersion"),
        ((rbar >= 1) | (1 + (_COUNT - 1) * rbar <= 0), "the average cross-correlation leaves no variance"),
    )
    return _out(f, KP_ADJUSTED_BMP_T, stat, t_pvalue(stat, _COUNT - 1), reason)


def mackinlay_j1(cs: pl.DataFrame) -> pl.DataFrame:
    """MacKinlay (1997, eq. 21-22) J1: the CAAR over the estimated variances of the CARs::

        J1 = CAAR / √(Σ_i s_i² / N²),   J1 ~ N(0, 1)

    Assumes independent events (no same-date clustering) and no event-induced variance.
    """
    stat = pl.col(S.MEAN) / (pl.col("_sum_var").sqrt() / _COUNT)
    return _out(cs, MACKINLAY_J1, stat, z_pvalue(stat), pl.lit(None, pl.String))


# --- non-parametric: cross-sectional ---------------------------------------------------------------


def sign_test(cs: pl.DataFrame) -> pl.DataFrame:
    """Sign test: is the share of positive CARs one half? (Brown & Warner 1980; Cowan 1992)::

        Z = (N⁺ − N/2) / (√N / 2)

    over the N non-zero CARs (zeros are dropped); the p-value is the exact two-sided binomial
    ``min(1, 2 min(P(X ≤ N⁺), P(X ≥ N⁺)))``, ``X ~ Bin(N, 1/2)`` (= scipy.stats.binomtest),
    the statistic its normal approximation. Assumes ARs symmetric around zero.
    """
    n = pl.col("_nonzero")
    stat = (pl.col("_pos") - n / 2) / (n.sqrt() / 2)
    reason = _reason((n < 1, "all abnormal returns in the window are zero"))
    return _out(cs, SIGN, stat, binom_two_sided_pvalue(pl.col("_pos"), n), reason, n_events=n)


def generalized_sign(cs: pl.DataFrame) -> pl.DataFrame:
    """Cowan (1992) generalized sign test::

        p̂ = (1/N) Σ_i (1/T_i) Σ_t 1[e_it > 0]       expected share of positive ARs (estimation window)
        Z = (w − N p̂) / √(N p̂ (1 − p̂)),   Z ~ N(0, 1)

    ``w`` is the number of positive CARs. Zeros are "not positive" in the window and in ``p̂``.
    """
    p = pl.col("_p_hat")
    stat = (pl.col("_pos") - _COUNT * p) / (_COUNT * p * (1 - p)).sqrt()
    reason = _reason((p.is_null() | (p <= 0) | (p >= 1), "the expected share of positive abnormal returns is 0 or 1"))
    return _out(cs, GENERALIZED_SIGN, stat, z_pvalue(stat), reason)


def wilcoxon_signed_rank(cs: pl.DataFrame) -> pl.DataFrame:
    """Wilcoxon (1945) signed-rank test on the CARs across events::

        W⁺ = Σ_{CAR_i > 0} rank(|CAR_i|),   z = (W⁺ − n(n+1)/4) / √(n(n+1)(2n+1)/24 − Σ(t³ − t)/48)

    over the ``n`` non-zero CARs (zeros dropped, as Wilcoxon; ties get average ranks; ``t``
    the sizes of tied groups). The statistic is ``z``; the p-value is exact (the null
    distribution of W⁺) for ``n ≤ 50`` without ties, else ``2 Φ(−|z|)`` without continuity
    correction — as scipy.stats.wilcoxon's default.
    """
    n = pl.col("_nonzero").cast(pl.Float64)
    var = n * (n + 1) * (2 * n + 1) / 24 - pl.col("_tie_term") / 48
    stat = (pl.col("_w_plus") - n * (n + 1) / 4) / var.sqrt()
    exact = (pl.col("_tie_term") == 0) & (n <= 50)
    p = pl.when(exact).then(wilcoxon_exact_pvalue(pl.col("_w_plus"), n)).otherwise(z_pvalue(stat))
    reason = _reason((n < 1, "all abnormal returns in the window are zero"), (var <= 0, "all non-zero CARs are tied"))
    return _out(cs, WILCOXON, stat, p, reason, n_events=pl.col("_nonzero"))


# --- non-parametric: time series of ranks and signs ------------------------------------------------


@dataclass(frozen=True)
class DayStatistics:
    """Per group: the estimation-window and ranking-sample constants; per group and window:
    the sums of the daily averages over the window's days."""

    groups: pl.DataFrame  # group, _s_aar, _t_est, _s_u, _s_g
    windows: pl.DataFrame  # group, window_start, window_end, _days, _caar, _u_sum, _g_sum


def _day_statistics(day: pl.DataFrame, win: pl.DataFrame) -> DayStatistics:
    """Daily cross-sectional averages of residuals, standardised ranks and signs.

    ``U_it = K_it / (M_i + 1) − 1/2`` with ``K_it`` the rank of ``AR_it`` among the ``M_i``
    days of event i's ranking sample (Corrado 1989; Corrado & Zivney 1992), and
    ``G_it = sign(AR_it − median_i)`` (Corrado & Zivney 1992).
    """
    e = pl.col(S.ABNORMAL_RET)
    n_t = pl.len()
    per_day = (
        day.with_columns(
            (e.rank("average").over(ROW) / (e.count().over(ROW) + 1) - 0.5).alias("_u"),
            (e - e.median().over(ROW)).sign().alias("_g"),
        )
        .group_by(S.GROUP, S.EVENT_DAY, S.IN_ESTIMATION)
        .agg(
            e.mean().alias("_aar"),
            pl.col("_u").mean().alias("_ubar"),
            (pl.col("_g").sum() / n_t.sqrt()).alias("_gbar"),
        )
        .sort(S.GROUP, S.EVENT_DAY)  # fixed order: the sums and s.d. below give the same bits every run
    )
    groups = (
        per_day.group_by(S.GROUP)
        .agg(
            pl.col("_aar").filter(pl.col(S.IN_ESTIMATION)).std(ddof=1).alias("_s_aar"),
            pl.col(S.IN_ESTIMATION).sum().cast(pl.Int32).alias("_t_est"),
            (pl.col("_ubar") ** 2).mean().sqrt().alias("_s_u"),
            (pl.col("_gbar") ** 2).mean().sqrt().alias("_s_g"),
        )
    )
    windows = (
        per_day.filter(~pl.col(S.IN_ESTIMATION))
        .join(win, how="cross")
        .filter(pl.col(S.EVENT_DAY).is_between(pl.col(S.WINDOW_START), pl.col(S.WINDOW_END)))
        .group_by(KEYS)
        .agg(
            pl.len().cast(pl.Int32).alias("_days"),
            pl.col("_aar").sum().alias("_caar"),
            pl.col("_ubar").sum().alias("_u_sum"),
            pl.col("_gbar").sum().alias("_g_sum"),
        )
    )
    return DayStatistics(groups, windows)


def corrado_rank(cs: pl.DataFrame, days: DayStatistics) -> pl.DataFrame:
    """Corrado (1989) rank test, with Corrado & Zivney's (1992) standardised ranks for
    missing days, cumulated over multi-day windows as Campbell & Wasley (1993)::

        Ū_t = (1/N_t) Σ_i U_it                          events present on day t
        S_U = √((1/T) Σ_t Ū_t²)                          over the T days of the ranking sample
        Z = Σ_{τ∈W} Ū_τ / (√L · S_U),   Z ~ N(0, 1)

    ``U_it = K_it / (M_i + 1) − 1/2``. For one day this is Corrado's
    ``(1/N) Σ_i (K_i0 − (M+1)/2) / S(K)`` up to the scale of the ranks.
    """
    f = cs.join(days.windows, on=KEYS, how="left").join(days.groups, on=S.GROUP, how="left")
    stat = pl.col("_u_sum") / (pl.col("_days").cast(pl.Float64).sqrt() * pl.col("_s_u"))
    reason = _reason((pl.col("_s_u") <= 0, "the daily mean ranks do not vary"))
    return _out(f, CORRADO_RANK, stat, z_pvalue(stat), reason)


def corrado_zivney_sign(cs: pl.DataFrame, days: DayStatistics) -> pl.DataFrame:
    """Corrado & Zivney (1992) sign test (signs relative to each event's median AR)::

        G_it = sign(AR_it − median_i),   Ḡ_t = Σ_i G_it / √N_t
        S_G = √((1/T) Σ_t Ḡ_t²)                          over the T days of the ranking sample
        Z = Σ_{τ∈W} Ḡ_τ / (√L · S_G),   Z ~ N(0, 1)

    The median is over each event's ranking sample (estimation window and reported days);
    multi-day windows cumulate the daily statistics as for :func:`corrado_rank`.
    """
    f = cs.join(days.windows, on=KEYS, how="left").join(days.groups, on=S.GROUP, how="left")
    stat = pl.col("_g_sum") / (pl.col("_days").cast(pl.Float64).sqrt() * pl.col("_s_g"))
    reason = _reason((pl.col("_s_g") <= 0, "the daily signs do not vary"))
    return _out(f, CORRADO_ZIVNEY_SIGN, stat, z_pvalue(stat), reason)


# --- cross-correlation of same-date events (Kolari & Pynnönen 2010) ---------------------------------


def _same_date_correlation(obs: pl.DataFrame, members: pl.DataFrame, est: pl.DataFrame) -> pl.DataFrame:
    """``Σ_{i<j} ρ_ij`` per group and window over the pairs of the window's events that share a
    day 0; ``ρ_ij`` is the Pearson correlation of the two events' estimation-window residuals
    over their common days (0 when it cannot be computed: fewer than 2 common days or no
    variation)."""
    left = members.select(pl.col(ROW).alias("_i"), S.GROUP, S.DAY0_SESSION)
    right = members.select(pl.col(ROW).alias("_j"), S.GROUP, S.DAY0_SESSION)
    pairs = left.join(right, on=[S.GROUP, S.DAY0_SESSION]).filter(pl.col("_i") < pl.col("_j"))
    resid = est.select(ROW, S.EVENT_DAY, S.ABNORMAL_RET)
    rho = (
        pairs.join(resid.rename({ROW: "_i", S.ABNORMAL_RET: "_ei"}), on="_i")
        .join(resid.rename({ROW: "_j", S.ABNORMAL_RET: "_ej"}), on=["_j", S.EVENT_DAY])
        .group_by("_i", "_j")
        .agg(pl.corr("_ei", "_ej").alias("_rho"))
        .with_columns(pl.col("_rho").fill_nan(None).fill_null(0.0))
    )
    at = obs.select(ROW, *KEYS)
    return (
        pairs.join(rho, on=["_i", "_j"], how="left")
        .join(at.rename({ROW: "_i"}), on=["_i", S.GROUP])
        .join(at.rename({ROW: "_j"}), on=["_j", *KEYS])
        .group_by(KEYS)
        .agg(pl.col("_rho").fill_null(0.0).sum().alias("_rho_sum"))
    )


# --- GRANK (Kolari & Pynnönen 2011) -------------------------------------------------------------------


def grank_t(
    cs: pl.DataFrame, obs: pl.DataFrame, members: pl.DataFrame, est: pl.DataFrame, win: pl.DataFrame
) -> pl.DataFrame:
    """Kolari & Pynnönen (2011) generalized rank test, for one day and for CARs::

        SAR_it = e_it / σ_i                               estimation days
        SCAR*_i = SCAR_i / S_SCAR,  S²_SCAR = Σ (SCAR_i − mean)² / (N − 1)   (volatility re-standardisation)
        GSAR_i = SAR_it on estimation days, SCAR*_i as the one event-period point "0"
        U_it = rank(GSAR_it) / (M_i + 1) − 1/2            ranks within event i, M_i = T_i + 1
        Ū_t = (1/N_t) Σ_i U_it,   S_Ū = √((1/T) Σ_t (N_t / N) Ū_t²)   t over the T points (estimation days + 0)
        Z = Ū_0 / S_Ū,   t_grank = Z √((T − 2) / (T − 1 − Z²)),   t_grank ~ Student t(T − 2)

    A multi-day window enters as its one cumulative point (the "cumulative version"); on one
    day, SCAR is the day's standardised AR. Ranks of ties are averaged.

    Vectorised with batched NumPy over events and groups on a dense event x estimation-day
    matrix; the loop runs over the test windows.
    """
    if obs.is_empty():
        return pl.DataFrame(schema={S.GROUP: pl.String, S.WINDOW_START: pl.Int32, S.WINDOW_END: pl.Int32,
                                    S.TEST: pl.String, S.STATISTIC: pl.Float64, S.P_VALUE: pl.Float64,
                                    S.N_EVENTS: pl.Int32, S.MEAN: pl.Float64, S.REASON: pl.String})
    # Members in group order; dense SAR matrix (member x estimation day), NaN where missing.
    ordered = members.sort(S.GROUP, ROW).with_row_index("_m")
    groups = ordered.group_by(S.GROUP, maintain_order=True).agg(pl.col("_m").min().alias("_start"))
    starts = groups["_start"].to_numpy().astype(np.int64)
    est_days = est[S.EVENT_DAY]
    first = int(est_days.min()) if est.height else 0
    width = int(est_days.max()) - first + 1 if est.height else 1
    cells = est.join(ordered.select(ROW, "_m", S.SIGMA), on=ROW).select(
        "_m", (pl.col(S.EVENT_DAY) - first).alias("_d"), (pl.col(S.ABNORMAL_RET) / pl.col(S.SIGMA)).alias("_sar")
    )
    sar = np.full((ordered.height, width), np.nan)
    sar[cells["_m"].to_numpy(), cells["_d"].to_numpy()] = cells["_sar"].to_numpy()
    present = ~np.isnan(sar)
    t_i = present.sum(axis=1)
    weight = 1.0 / (t_i + 2)  # 1 / (M_i + 1) with M_i = T_i + 1 points
    est_rank = sps.rankdata(sar, axis=1, nan_policy="omit")  # rank among the estimation SARs
    base = np.where(present, est_rank * weight[:, None] - 0.5, 0.0)  # U_it before the event point's shift
    base_sum = np.add.reduceat(base, starts, axis=0)
    present_sum = np.add.reduceat(present.astype(float), starts, axis=0)

    # Re-standardised SCAR of every member and window (NaN when not in the window's test).
    scar = (
        obs.join(ordered.select(ROW, "_m"), on=ROW)
        .with_columns((pl.col(_Z) / pl.col(_Z).std(ddof=1).over(KEYS)).alias("_g"))
        .join(win.with_row_index("_w"), on=[S.WINDOW_START, S.WINDOW_END])
    )
    g_all = np.full((win.height, ordered.height), np.nan)
    g_all[scar["_w"].to_numpy(), scar["_m"].to_numpy()] = scar["_g"].fill_null(np.nan).to_numpy()

    out = []
    for w in range(win.height):  # loop over the test windows; each step is vectorised over events
        g = g_all[w]
        inc = ~np.isnan(g)
        gc = np.where(inc, g, np.inf)[:, None]
        above = (sar > gc).astype(float)  # estimation days ranked above the event point: rank + 1
        ties = sar == gc
        if ties.any():
            above += 0.5 * ties
        sum_t = base_sum + np.add.reduceat(above * np.where(inc, weight, 0.0)[:, None], starts, axis=0)
        n_t = present_sum
        if not inc.all():
            out_rows = (~inc)[:, None]
            sum_t = sum_t - np.add.reduceat(base * out_rows, starts, axis=0)
            n_t = n_t - np.add.reduceat((present & out_rows).astype(float), starts, axis=0)
        u0 = np.where(inc, (1.0 + t_i - above.sum(axis=1)) * weight - 0.5, 0.0)
        n = np.add.reduceat(inc.astype(float), starts)
        sum0 = np.add.reduceat(u0, starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            ss = (sum_t**2 / np.where(n_t > 0, n_t, np.inf)).sum(axis=1) + sum0**2 / n
            points = (n_t > 0).sum(axis=1) + 1.0
            s_u = np.sqrt(ss / n / points)
            z = (sum0 / n) / s_u
            t = z * np.sqrt((points - 2) / (points - 1 - z**2))
        out.append(pl.DataFrame({
            S.GROUP: groups[S.GROUP], "_w": np.full(len(starts), w, dtype=np.uint32),
            "_t": t, "_df": points - 2, "_z2": z**2, "_points": points,
        }))
    res = (
        pl.concat(out)
        .with_columns(pl.col("_t", "_z2").fill_nan(None))
        .join(win.with_row_index("_w"), on="_w")
        .drop("_w")
    )
    s_scar = scar.group_by(KEYS).agg(pl.col(_Z).std(ddof=1).alias("_s_scar"))
    f = cs.join(s_scar, on=KEYS, how="left").join(res, on=KEYS, how="left")
    reason = _reason(
        _FEW,
        (pl.col("_s_scar") <= 0, "the standardised CARs have no cross-sectional dispersion"),
        (pl.col("_points") - 1 - pl.col("_z2") <= 0, "degenerate rank sample (T − 1 − Z² ≤ 0)"),
    )
    return _out(f, GRANK_T, pl.col("_t"), t_pvalue(pl.col("_t"), pl.col("_df")), reason)

