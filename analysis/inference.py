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

from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from analysis import schema as S
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


# --- inputs -----------------------------------------------------------------------------------

NEEDS_DAILY = frozenset({BROWN_WARNER_CDA, KP_ADJUSTED_BMP_T, GENERALIZED_SIGN, CORRADO_RANK, CORRADO_ZIVNEY_SIGN, GRANK_T})
"""The tests that read the daily abnormal returns (estimation residuals or daily ARs), not just
each event's CAR per window."""
DAY_BY_DAY = frozenset({BROWN_WARNER_CDA, CORRADO_RANK, CORRADO_ZIVNEY_SIGN})
"""The tests on daily cross-sectional averages: they read the reported days' ARs too."""
NEEDS_RESIDUALS = DAY_BY_DAY | {KP_ADJUSTED_BMP_T, GRANK_T}
"""The tests that read every member's estimation residuals at once (not only ``p̂_i``)."""


def windows_tested(spec: StudySpec) -> tuple[Window, ...]:
    """Every reported day as a one-day window, then the study's windows (no duplicates)."""
    days = spec.report_days
    return tuple(dict.fromkeys([*(Window(t, t) for t in range(days.start, days.end + 1)), *spec.windows]))


def check_tests(tests: Collection[str] | None) -> tuple[str, ...]:
    """The tests to run, in battery order (all of :data:`TEST_NAMES` for None); an unknown name
    is an :class:`~analysis.errors.InputError`."""
    from analysis.errors import InputError

    if tests is None:
        return TEST_NAMES
    unknown = sorted(set(tests) - set(TEST_NAMES))
    if unknown:
        raise InputError(f"unknown test(s) {', '.join(unknown)}; expected some of {', '.join(TEST_NAMES)}", field="tests")
    return tuple(t for t in TEST_NAMES if t in set(tests))


@dataclass(frozen=True, eq=False)
class DailyAbnormalReturns:
    """Daily abnormal returns of event rows as dense arrays: array row ``r`` is event row ``r``.

    Attributes
    ----------
    estimation
        ``(rows, T)``: the estimation-window residuals ``e_it`` on ``estimation_days`` (NaN
        where missing).
    reported
        ``(rows, R)``: the ARs of the reported days ``reported_days``.
    """

    estimation: np.ndarray
    reported: np.ndarray
    estimation_days: Window
    reported_days: Window

    @classmethod
    def from_frame(cls, daily: pl.DataFrame, n_rows: int) -> DailyAbnormalReturns:
        """From the tidy ``row, event_day, abnormal_ret, in_estimation`` (rows ``< n_rows``)."""
        arrays, spans = [], []
        for in_est in (True, False):
            part = daily.filter(pl.col(S.IN_ESTIMATION) == in_est)
            days = part[S.EVENT_DAY]
            span = Window(int(days.min()), int(days.max())) if part.height else Window(0, 0)
            dense = np.full((n_rows, span.length), np.nan)
            dense[part[ROW].to_numpy(), days.to_numpy() - span.start] = part[S.ABNORMAL_RET].to_numpy()
            arrays.append(dense)
            spans.append(span)
        return cls(arrays[0], arrays[1], spans[0], spans[1])


@dataclass(frozen=True, eq=False)
class WindowObservations:
    """Each event row's CAR and its standard error in each test window: ``(rows, W)`` arrays
    (array row ``r`` is event row ``r``, column ``j`` the ``j``-th test window), NaN where the
    row has no CAR there. One-day windows carry the AR and its prediction-error s.e."""

    car: np.ndarray
    se: np.ndarray

    @classmethod
    def from_frame(cls, obs: pl.DataFrame, windows: tuple[Window, ...], n_rows: int) -> WindowObservations:
        """From the tidy ``row, window_start, window_end, car, car_se`` (rows ``< n_rows``)."""
        index = pl.DataFrame({
            S.WINDOW_START: pl.Series([w.start for w in windows], dtype=pl.Int32),
            S.WINDOW_END: pl.Series([w.end for w in windows], dtype=pl.Int32),
        }).with_row_index("_w")
        at = obs.with_columns(pl.col(S.WINDOW_START, S.WINDOW_END).cast(pl.Int32)).join(
            index, on=[S.WINDOW_START, S.WINDOW_END]
        ).filter(pl.col(S.CAR).is_not_null())
        car, se = np.full((n_rows, len(windows)), np.nan), np.full((n_rows, len(windows)), np.nan)
        cells = (at[ROW].to_numpy(), at["_w"].to_numpy())
        car[cells] = at[S.CAR].to_numpy()
        se[cells] = at[S.CAR_SE].cast(pl.Float64).fill_null(np.nan).to_numpy()
        return cls(car, se)


@dataclass(frozen=True, eq=False)
class DailySummary:
    """What the group tests keep of the daily abnormal returns of event rows: only the
    members' rows (primary rows with a model, :class:`Members`), only what ``tests`` read, in
    blocks of consecutive rows (one per batch of :func:`summarise_daily`, joined by
    :func:`combine_daily` without copying), gathered a block of members at a time.

    The rank tests need every member's daily series at once, in a global order: GRANK ranks
    each member's residuals against its SCAR divided by the cross-sectional s.d. of its
    group's SCARs (known once every member is in), the Kolari-Pynnönen correlations pair
    members with the same day 0 whichever batch holds them, and the day-by-day tests add up
    ranks and residuals by group and day in one order, so that a study gives the same bits
    however it is batched. The sign test's ``p̂_i`` is per member and kept alone otherwise.

    Attributes
    ----------
    rows
        The member rows, ascending.
    p_hat
        Each member row's share of positive estimation residuals (``p̂_i`` of :func:`generalized_sign`).
    estimation, reported
        Blocks of the members' estimation residuals (``rows x T``) and reported ARs
        (``rows x R``); None unless a test of :data:`NEEDS_RESIDUALS` (:data:`DAY_BY_DAY`) runs.
    estimation_days, reported_days
        The event days of their columns.
    """

    rows: np.ndarray
    p_hat: np.ndarray
    estimation: tuple[np.ndarray, ...] | None
    reported: tuple[np.ndarray, ...] | None
    estimation_days: Window
    reported_days: Window

    def gather(self, blocks: tuple[np.ndarray, ...], rows: np.ndarray) -> np.ndarray:
        """The rows ``rows`` (member rows, any shape ``S``) of the blocks ``blocks`` (``S x days``)."""
        pos = np.searchsorted(self.rows, np.ravel(rows))
        bounds = np.cumsum([0, *(b.shape[0] for b in blocks)])
        block = np.searchsorted(bounds, pos, side="right") - 1
        out = np.empty((pos.size, blocks[0].shape[1]))
        for b in np.unique(block):  # a loop over the blocks (batches), each a vectorised gather
            chosen = block == b
            out[chosen] = blocks[b][pos[chosen] - bounds[b]]
        return out.reshape(*np.shape(rows), out.shape[1])


def summarise_daily(
    events: pl.DataFrame, daily: DailyAbnormalReturns, tests: Collection[str] | None, first_row: int = 0
) -> DailySummary:
    """What the group tests ``tests`` keep of the daily abnormal returns of consecutive event
    rows (array row ``r`` of ``daily`` is event row ``first_row + r``).

    Parameters
    ----------
    events
        ``row, group, day0_session, sigma, df_resid`` of the tested rows (those outside
        ``daily``'s rows are ignored), as for :func:`group_tests`.
    """
    tests = check_tests(tests)
    n = daily.estimation.shape[0]
    members = Members.of(events.filter(pl.col(ROW).is_between(first_row, first_row + n - 1)))
    rows = np.sort(members.rows)
    est = daily.estimation[rows - first_row]
    with np.errstate(invalid="ignore", divide="ignore"):
        p_hat = (est > 0).sum(axis=1) / np.isfinite(est).sum(axis=1)
    return DailySummary(
        rows, p_hat, (est,) if NEEDS_RESIDUALS.intersection(tests) else None,
        (daily.reported[rows - first_row],) if DAY_BY_DAY.intersection(tests) else None,
        daily.estimation_days, daily.reported_days,
    )


def combine_daily(parts: Sequence[DailySummary]) -> DailySummary:
    """One summary of the summaries of consecutive sets of event rows, in row order (their
    blocks are kept as they are: nothing is copied)."""
    rows = np.concatenate([p.rows for p in parts])
    if np.any(np.diff(rows) <= 0):
        raise ValueError("the daily summaries must cover disjoint event rows in ascending order")

    def blocks(name: str) -> tuple[np.ndarray, ...] | None:
        if getattr(parts[0], name) is None:
            return None
        return tuple(b for p in parts for b in getattr(p, name) if b.shape[0]) or getattr(parts[0], name)

    first = parts[0]
    return DailySummary(rows, np.concatenate([p.p_hat for p in parts]), blocks("estimation"), blocks("reported"),
                        first.estimation_days, first.reported_days)


class _MemberRows:
    """Blocks of a :class:`DailySummary` indexed like one array in member order (``[slice]``
    or ``[index array]``): only the rows asked for are copied."""

    def __init__(self, daily: DailySummary, blocks: tuple[np.ndarray, ...], rows: np.ndarray) -> None:
        self.daily, self.blocks, self.rows = daily, blocks, rows
        self.shape = (rows.size, blocks[0].shape[1])

    def __getitem__(self, key: slice | np.ndarray) -> np.ndarray:
        return self.daily.gather(self.blocks, self.rows[key])


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


# --- the battery ----------------------------------------------------------------------------------


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
        (:func:`summarise_daily`, :func:`combine_daily`; the same numbers); needed only by
        :data:`NEEDS_DAILY`.
    windows
        The test windows; every group gets a row for each window and test.
    tests
        The tests to run (default: all of :data:`TEST_NAMES`).

    Returns
    -------
    pl.DataFrame
        ``group, window_start, window_end, test, statistic, p_value, n_events, mean, reason``,
        one row per group x test window x test, ordered by group, window and test (in the
        order of :data:`TESTS`).
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


def _window_frame(windows: tuple[Window, ...]) -> pl.DataFrame:
    """``window_start, window_end`` of the test windows, in order."""
    return pl.DataFrame({
        S.WINDOW_START: pl.Series([w.start for w in windows], dtype=pl.Int32),
        S.WINDOW_END: pl.Series([w.end for w in windows], dtype=pl.Int32),
    })


@dataclass(frozen=True, eq=False)
class Members:
    """The events that enter the tests (primary rows with a model), sorted by group then row:
    array row ``i`` of every member array is ``frame[i]``."""

    frame: pl.DataFrame  # row, group, day0_session, sigma, df_resid
    rows: np.ndarray  # event row of each member
    groups: pl.Series  # the groups, in order
    starts: np.ndarray  # each group's first member
    group_of: np.ndarray  # group index of each member

    @classmethod
    def of(cls, events: pl.DataFrame) -> Members:
        frame = (
            events.filter(pl.col(S.SIGMA).is_not_null())
            .select(ROW, S.GROUP, S.DAY0_SESSION, S.SIGMA, S.DF_RESID)
            .sort(S.GROUP, ROW)
        )
        code = frame[S.GROUP].rle_id().to_numpy().astype(np.int64)
        starts = np.flatnonzero(np.diff(code, prepend=-1))
        return cls(frame, frame[ROW].to_numpy(), frame[S.GROUP].gather(pl.Series(starts, dtype=pl.UInt32)), starts, code)

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Column sums of each group's members (``groups x ...``)."""
        return _group_sums(values, self.starts)


@dataclass(frozen=True, eq=False)
class CrossSection:
    """The cross-sectional sums of every group and window (``frame``, one row per group and
    window with an observation) and the member x window arrays the rank tests reuse."""

    frame: pl.DataFrame
    ok: np.ndarray  # member x window: the member has a CAR (and s.e. > 0) in the window
    z: np.ndarray  # member x window: SCAR = CAR / s.e. (0 where not ok)
    z_sd: np.ndarray  # group x window: the cross-sectional s.d. of SCAR


def _cross_section(
    m: Members, obs: WindowObservations, windows: tuple[Window, ...], p_i: np.ndarray | None, ranks: bool
) -> CrossSection:
    """Per group and window: the cross-sectional sums every CAR-based test needs (``p_i``:
    each member's share of positive estimation residuals, for the generalized sign test;
    ``ranks``: the signed ranks of Wilcoxon's test). Dense: member x window arrays summed by
    group (``np.add.reduceat``); standard deviations in two passes around the group means.
    The member arrays are gathered once and worked in place: besides them, one temporary."""
    car0, z = obs.car[m.rows], obs.se[m.rows]  # become the CAR and SCAR, 0 where not ok
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(car0) & (z > 0)
        off = ~ok
        n = m.sums(ok.astype(np.float64))
        car0[off] = 0.0
        mean = m.sums(car0) / n
        sd = np.sqrt(_squared_deviations(m, car0, mean, off) / (n - 1))
        var = z * z
        var[off] = 0.0
        sum_var = m.sums(var)
        del var
        np.divide(car0, z, out=z)
        z[off] = 0.0
        z_mean = m.sums(z) / n
        z_sd = np.sqrt(_squared_deviations(m, z, z_mean, off) / (n - 1))
        df = m.frame[S.DF_RESID].cast(pl.Float64).to_numpy()
        sums = {
            S.MEAN: mean, _SD: sd, "_sum_var": sum_var, "_z_sum": m.sums(z),
            "_z_mean": z_mean, "_z_sd": z_sd,
            "_z_var": m.sums(ok * np.where(df > 2, df / (df - 2), 0.0)[:, None]),
            "_df_min": np.minimum.reduceat(np.where(ok, df[:, None], np.inf), m.starts, axis=0) if m.starts.size else n,
        }
        counts = {"_pos": m.sums((ok & (car0 > 0)).astype(np.float64)), "_nonzero": m.sums((ok & (car0 != 0)).astype(np.float64))}
        if p_i is not None:
            sums["_p_hat"] = m.sums(ok * p_i[:, None]) / n
    g, w = len(m.starts), len(windows)
    wins = _window_frame(windows)
    frame = pl.DataFrame({
        S.GROUP: m.groups.gather(pl.Series(np.repeat(np.arange(g, dtype=np.uint32), w))),
        S.WINDOW_START: np.tile(wins[S.WINDOW_START].to_numpy(), g),
        S.WINDOW_END: np.tile(wins[S.WINDOW_END].to_numpy(), g),
        _N: pl.Series(n.ravel(), dtype=pl.Int32),
        **{name: pl.Series(name, v.ravel(), nan_to_null=True) for name, v in sums.items()},
        **{name: pl.Series(v.ravel(), dtype=pl.Int32) for name, v in counts.items()},
    }, schema_overrides={S.GROUP: pl.String}).filter(pl.col(_N) > 0)
    if ranks:
        frame = frame.join(_signed_ranks(m, car0, ok, windows), on=KEYS, how="left", maintain_order="left")
    return CrossSection(frame, ok, z, z_sd)


def _squared_deviations(m: Members, x: np.ndarray, mean: np.ndarray, off: np.ndarray) -> np.ndarray:
    """``Σ_i (x_iw − mean_gw)²`` by group ``g`` and window ``w`` over the member cells that are
    not ``off`` (members x windows), with one temporary the size of ``x``."""
    d = mean[m.group_of]
    np.subtract(x, d, out=d)
    d[off] = 0.0
    return m.sums(np.square(d, out=d))


def _signed_ranks(m: Members, car: np.ndarray, ok: np.ndarray, windows: tuple[Window, ...]) -> pl.DataFrame:
    """Per group and window: Wilcoxon's ``W⁺`` (the sum of the average ranks of ``|CAR|`` of the
    positive CARs among the non-zero ones) and the tie term ``Σ (t³ − t)`` of tied ``|CAR|``.
    One sort of the window's non-zero CARs by group and ``|CAR|`` per window."""
    g = len(m.starts)
    w_plus, tie_term = np.zeros((g, len(windows))), np.zeros((g, len(windows)))
    for w in range(len(windows)):  # a few windows; each step is vectorised over events
        rows = np.flatnonzero(ok[:, w] & (car[:, w] != 0))
        size, group, positive = np.abs(car[rows, w]), m.group_of[rows], car[rows, w] > 0
        order = np.lexsort((size, group))
        size, group, positive = size[order], group[order], positive[order]
        k = np.arange(rows.size)
        new = np.ones(rows.size, dtype=bool)
        new[1:] = (size[1:] != size[:-1]) | (group[1:] != group[:-1])
        run = np.cumsum(new) - 1
        run_first = k[new]
        run_size = np.diff(np.append(run_first, rows.size))
        first_in_group = np.maximum.accumulate(np.where(np.append(True, group[1:] != group[:-1]), k, 0))
        mean_rank = (run_first[run] + run_first[run] + run_size[run] - 1) / 2.0 - first_in_group + 1.0
        w_plus[:, w] = np.bincount(group, mean_rank * positive, g)
        tie_term[:, w] = np.bincount(group[new], run_size**3.0 - run_size, g)
    wins = _window_frame(windows)
    return pl.DataFrame({
        S.GROUP: m.groups.gather(pl.Series(np.repeat(np.arange(g, dtype=np.uint32), len(windows)))),
        S.WINDOW_START: np.tile(wins[S.WINDOW_START].to_numpy(), g),
        S.WINDOW_END: np.tile(wins[S.WINDOW_END].to_numpy(), g),
        "_w_plus": w_plus.ravel(), "_tie_term": tie_term.ravel(),
    }, schema_overrides={S.GROUP: pl.String})


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


# --- dense helpers: events sorted by group, ranks by row ---------------------------------------------

ROW_CHUNK = 4096  # rows per block of the row-wise NumPy work (ranks): small temporaries, two threads
CLUSTER_CELLS = 1 << 21  # residual cells per block of same-date clusters (KP correlations)
_ORDER_BITS = 9  # a row of at most 2**9 values sorts with each column packed into its lowest mantissa bits


def _sort_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts each row (missing values last) and the sorted rows.

    Exact, and faster than ``argsort``: each value's column is written into the lowest
    :data:`_ORDER_BITS` bits of its mantissa and the packed rows are sorted as plain floats
    (NumPy's vectorised sort), so the order comes out of the sorted bits. Packing can only
    swap two values that differ by less than ~1e-13 relative; the rows where the unpacked
    values come out of order are sorted again with ``argsort``.
    """
    width = values.shape[1]
    finite = np.isfinite(values)
    if width > 1 << _ORDER_BITS:
        order = np.argsort(np.where(finite, values, np.inf), axis=1)
    else:
        low = (1 << _ORDER_BITS) - 1
        keys = np.where(finite, values, np.finfo(np.float64).max).view(np.int64) & ~np.int64(low)
        keys |= np.arange(width, dtype=np.int64)
        order = np.sort(keys.view(np.float64), axis=1).view(np.int64) & low
    ordered = np.take_along_axis(values, order, axis=1)
    wrong = np.flatnonzero((ordered[:, 1:] < ordered[:, :-1]).any(axis=1))  # NaN compares False
    if wrong.size:
        order[wrong] = np.argsort(np.where(finite[wrong], values[wrong], np.inf), axis=1, kind="stable")
        ordered[wrong] = np.take_along_axis(values[wrong], order[wrong], axis=1)
    return order, ordered


def _average_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the average ranks (1, 2, ...; ties share their mean rank) of the finite values
    among the row's finite values (NaN elsewhere), each value's position in the sorted row
    (-1 where missing), and the sorted row (NaN last)."""
    order, ordered = _sort_rows(values)
    width = values.shape[1]
    position = np.arange(width)
    mean_rank = np.broadcast_to(position + 1.0, ordered.shape).copy()
    tied = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))  # NaN never ties
    if tied.size:  # the few rows with ties: the mean of each run of equal values
        run = ordered[tied]
        new = np.ones(run.shape, dtype=bool)
        new[:, 1:] = run[:, 1:] != run[:, :-1]
        last = np.ones(run.shape, dtype=bool)
        last[:, :-1] = new[:, 1:]
        first_of_run = np.maximum.accumulate(np.where(new, position, 0), axis=1)
        last_of_run = np.minimum.accumulate(np.where(last, position, width)[:, ::-1], axis=1)[:, ::-1]
        mean_rank[tied] = (first_of_run + last_of_run) / 2.0 + 1.0
    missing = np.isnan(ordered)
    mean_rank[missing] = np.nan
    cells = (order + (np.arange(values.shape[0]) * width)[:, None]).ravel()  # where each sorted value came from
    ranks = np.empty_like(values)
    ranks.ravel()[cells] = mean_rank.ravel()
    places = np.empty(values.shape, dtype=np.int16)
    places.ravel()[cells] = np.where(missing, -1, position).astype(np.int16).ravel()
    return ranks, places, ordered


def _count_below(ordered: np.ndarray, count: np.ndarray, q: np.ndarray, strict: bool) -> np.ndarray:
    """``[i, j]``: how many of the first ``count[i]`` values of the sorted row ``ordered[i]``
    are below ``q[i, j]`` (``<``, or ``<=`` unless ``strict``): one binary search for all rows
    and queries at once (all queries of a row step together, so each row is read once a step)."""
    lo = np.zeros(q.shape, dtype=np.int64)
    hi = np.broadcast_to(count.astype(np.int64)[:, None], q.shape).copy()
    width = ordered.shape[1]
    flat, first = ordered.ravel(), (np.arange(q.shape[0]) * width)[:, None]
    while (active := lo < hi).any():  # at most log2(width) + 1 steps
        mid = (lo + hi) // 2
        v = flat.take(first + np.minimum(mid, width - 1))
        go = (v < q) if strict else (v <= q)
        lo = np.where(active & go, mid + 1, lo)
        hi = np.where(active & ~go, mid, hi)
    return lo


@dataclass(frozen=True, eq=False)
class _Block:
    """A block of members (in group order): ``group`` numbers the block's groups 0, 1, ... row
    by row; :meth:`sums` adds rows up by those groups."""

    group: np.ndarray
    starts: np.ndarray

    @property
    def groups(self) -> int:
        return self.starts.size

    def sums(self, values: np.ndarray) -> np.ndarray:
        """``rows x ...`` -> ``groups x ...``."""
        return np.add.reduceat(values, self.starts, axis=0) if self.starts.size else values[:0]


def _group_totals(
    members: Members, fn: Callable[..., dict[str, np.ndarray]], *arrays: np.ndarray | _MemberRows
) -> dict[str, np.ndarray]:
    """Group totals of per-member quantities, computed block by block of members.

    ``fn(block, *rows)`` gets a :class:`_Block` and a block of rows of each of ``arrays``
    (members in group order), and returns named arrays already summed by the block's groups
    (``block.sums``). The blocks run in two threads and their sums are added into
    ``groups x ...`` totals: every temporary is block-sized.
    """
    n, g = members.rows.size, len(members.starts)

    def block(sl: slice) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        code = members.group_of[sl]
        starts = np.flatnonzero(np.diff(code, prepend=-1))
        local = np.cumsum(np.isin(np.arange(code.size), starts)) - 1
        return code[starts], fn(_Block(local, starts), *(a[sl] for a in arrays))

    blocks = [slice(i, min(i + ROW_CHUNK, n)) for i in range(0, n, ROW_CHUNK)] or [slice(0, 0)]
    if len(blocks) == 1:
        results = [block(blocks[0])]
    else:
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(block, blocks))
    totals: dict[str, np.ndarray] = {}
    for groups, sums in results:
        for name, value in sums.items():
            total = totals.setdefault(name, np.zeros((g, *value.shape[1:])))
            total[groups] += value
    return totals


def _group_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Column sums of each group's rows (rows sorted by group; ``starts``: each group's first row)."""
    if not values.shape[0]:
        return np.zeros((0, *values.shape[1:]))
    return np.add.reduceat(values, starts, axis=0)


# --- non-parametric: time series of ranks and signs ------------------------------------------------


@dataclass(frozen=True)
class DayStatistics:
    """Per group: the estimation-window and ranking-sample constants; per group and window:
    the sums of the daily averages over the window's days."""

    groups: pl.DataFrame  # group, _s_aar, _t_est, _s_u, _s_g
    windows: pl.DataFrame  # group, window_start, window_end, _days, _caar, _u_sum, _g_sum


def _standardised_ranks(sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``U_it = K_it / (M_i + 1) − 1/2`` and ``G_it = sign(AR_it − median_i)`` of every row."""
    ranks, _, ordered = _average_ranks(sample)
    m = np.isfinite(ordered).sum(axis=1)
    rows = np.arange(m.size)
    with np.errstate(invalid="ignore"):
        median = (ordered[rows, np.maximum(m - 1, 0) // 2] + ordered[rows, m // 2]) / 2.0
        return ranks / (m + 1.0)[:, None] - 0.5, np.sign(sample - median[:, None])


def _day_statistics(
    members: Members, est: _MemberRows, rep: _MemberRows, reported_days: Window, windows: tuple[Window, ...],
    ranks: Collection[str],
) -> DayStatistics:
    """Daily cross-sectional averages of residuals, standardised ranks and signs, per group.

    ``AAR_t`` is the mean residual (estimation days) or AR (reported days) of the group's
    events present on day t; ``U_it = K_it / (M_i + 1) − 1/2`` with ``K_it`` the rank of
    ``AR_it`` among the ``M_i`` days of event i's ranking sample (estimation window and
    reported days; Corrado 1989; Corrado & Zivney 1992), and ``G_it = sign(AR_it − median_i)``
    (Corrado & Zivney 1992). Dense: one array row per member (sorted by group), group sums by
    ``np.add.reduceat``; ranks only when ``ranks`` names a rank test.
    """
    groups, starts = members.groups, members.starts
    n_groups = len(starts)

    def block(b: _Block, est: np.ndarray, rep: np.ndarray) -> dict[str, np.ndarray]:
        reduce = b.sums
        has_est, has_rep = np.isfinite(est), np.isfinite(rep)
        out = {
            "n_est": reduce(has_est.astype(np.float64)), "s_est": reduce(np.where(has_est, est, 0.0)),
            "n_rep": reduce(has_rep.astype(np.float64)), "s_rep": reduce(np.where(has_rep, rep, 0.0)),
        }
        if ranks:
            u, g = _standardised_ranks(np.concatenate([est, rep], axis=1))
            has = np.isfinite(u)
            out |= {"u": reduce(np.where(has, u, 0.0)), "g": reduce(np.where(has, g, 0.0))}
        return out

    sums = _group_totals(members, block, est, rep)
    n_rep = sums["n_rep"]
    with np.errstate(invalid="ignore", divide="ignore"):
        aar_est, aar_rep = sums["s_est"] / sums["n_est"], sums["s_rep"] / n_rep
        days_est = sums["n_est"] > 0
        t_est = days_est.sum(axis=1)
        mean_est = np.where(days_est, aar_est, 0.0).sum(axis=1) / t_est
        s_aar = np.sqrt(np.where(days_est, (aar_est - mean_est[:, None]) ** 2, 0.0).sum(axis=1) / (t_est - 1))
        s_u = s_g = np.full(n_groups, np.nan)
        ubar = gbar = None
        if ranks:
            n_t = np.concatenate([sums["n_est"], n_rep], axis=1)  # the ranking sample: estimation + reported days
            ubar, gbar = sums["u"] / n_t, sums["g"] / np.sqrt(n_t)
            seen = n_t > 0
            s_u = np.sqrt(np.where(seen, ubar**2, 0.0).sum(axis=1) / seen.sum(axis=1))
            s_g = np.sqrt(np.where(seen, gbar**2, 0.0).sum(axis=1) / seen.sum(axis=1))
            ubar, gbar = ubar[:, -n_rep.shape[1]:], gbar[:, -n_rep.shape[1]:]  # the reported days
    per_window = [pl.DataFrame(schema={
        S.GROUP: pl.String, S.WINDOW_START: pl.Int32, S.WINDOW_END: pl.Int32, "_days": pl.Int32,
        "_caar": pl.Float64, "_u_sum": pl.Float64, "_g_sum": pl.Float64})]
    first = reported_days.start
    for w in windows:  # a few windows; each step is vectorised over groups
        cols = slice(w.start - first, w.end - first + 1)
        seen = n_rep[:, cols] > 0

        def total(x: np.ndarray | None) -> np.ndarray:
            return np.full(n_groups, np.nan) if x is None else np.where(seen, x[:, cols], 0.0).sum(axis=1)

        per_window.append(pl.DataFrame({
            S.GROUP: groups, S.WINDOW_START: pl.Series([w.start] * n_groups, dtype=pl.Int32),
            S.WINDOW_END: pl.Series([w.end] * n_groups, dtype=pl.Int32),
            "_days": pl.Series(seen.sum(axis=1), dtype=pl.Int32),
            "_caar": total(aar_rep), "_u_sum": total(ubar), "_g_sum": total(gbar),
        }, nan_to_null=True))
    group_frame = pl.DataFrame({
        S.GROUP: groups, "_s_aar": s_aar, "_t_est": pl.Series(t_est, dtype=pl.Int32), "_s_u": s_u, "_s_g": s_g,
    }, schema_overrides={S.GROUP: pl.String}, nan_to_null=True)
    window_frame = pl.concat(per_window)
    return DayStatistics(group_frame, window_frame)


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


def _same_date_correlation(
    members: Members, cs: CrossSection, est: _MemberRows, windows: tuple[Window, ...]
) -> pl.DataFrame:
    """``Σ_{i<j} ρ_ij`` per group and window over the pairs of the window's events that share a
    day 0; ``ρ_ij`` is the Pearson correlation of the two events' estimation-window residuals
    over their common days (0 when it cannot be computed: fewer than 2 common days or no
    variation).

    Dense: the events of each (group, day 0) cluster are stacked into a ``clusters x size x T``
    block per cluster size; a cluster whose events have every estimation day is summed in time
    linear in its size (:func:`_complete_pair_sums`), any other one from its correlation
    matrix (:func:`_pairwise_complete_sums`: pairwise-complete sums).
    """
    out_schema = {S.GROUP: pl.String, S.WINDOW_START: pl.Int32, S.WINDOW_END: pl.Int32, "_rho_sum": pl.Float64}
    keyed = members.frame.with_row_index("_m").with_columns(
        pl.len().over(S.GROUP, S.DAY0_SESSION).alias("_size"),
        pl.col("_m").rank("ordinal").over(S.GROUP, S.DAY0_SESSION).cast(pl.Int64).alias("_k"),
    ).filter(pl.col("_size") > 1)
    if keyed.is_empty():
        return pl.DataFrame(schema=out_schema)
    inside = cs.ok.astype(np.float64)
    sums = []
    for (size,), part in keyed.sort("_size", S.GROUP, S.DAY0_SESSION, "_k").group_by("_size", maintain_order=True):
        members_of = part["_m"].to_numpy().reshape(-1, size)  # clusters x size: member index
        pair_sum = np.empty((members_of.shape[0], len(windows)))
        step = max(1, CLUSTER_CELLS // (size * est.shape[1]))
        for lo in range(0, members_of.shape[0], step):  # blocks of clusters: bounded memory
            m = members_of[lo:lo + step]
            x = est[m]  # clusters x size x T
            a = inside[m]  # clusters x size x windows
            complete = np.isfinite(x).all(axis=(1, 2))
            block = pair_sum[lo:lo + step]
            block[complete] = _complete_pair_sums(x[complete], a[complete])
            if not complete.all():
                block[~complete] = _pairwise_complete_sums(x[~complete], a[~complete])
        cluster_group = part[S.GROUP].gather_every(size)
        sums.append(pl.DataFrame({
            S.GROUP: cluster_group.gather(pl.Series(np.repeat(np.arange(cluster_group.len()), len(windows)))),
            "_w": np.tile(np.arange(len(windows)), cluster_group.len()),
            "_rho": pair_sum.ravel(),
        }))
    win = pl.DataFrame({
        "_w": np.arange(len(windows)),
        S.WINDOW_START: pl.Series([w.start for w in windows], dtype=pl.Int32),
        S.WINDOW_END: pl.Series([w.end for w in windows], dtype=pl.Int32),
    })
    return (
        pl.concat(sums)
        .group_by(S.GROUP, "_w").agg(pl.col("_rho").sum().alias("_rho_sum"))
        .join(win, on="_w")
        .select(S.GROUP, S.WINDOW_START, S.WINDOW_END, "_rho_sum")
    )


def _pairwise_complete_sums(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``Σ_{i<j} a_iw a_jw ρ_ij`` per cluster and window, ``ρ_ij`` over the days both events
    have (clusters x size x T residuals ``x``, NaN where missing; ``a``: clusters x size x
    windows, 1 where the event is in the window's test): a ``size x size`` correlation matrix
    per cluster from batched matrix products of the residuals and their presence masks."""
    size = x.shape[1]
    has = np.isfinite(x)
    x0, p = np.where(has, x, 0.0), has.astype(np.float64)
    pt = p.transpose(0, 2, 1)
    n = p @ pt
    sx = x0 @ pt  # Σ e_i over the days both have
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = x0 @ x0.transpose(0, 2, 1) - sx * sx.transpose(0, 2, 1) / n
        var = (x0 * x0) @ pt - sx**2 / n
        rho = cov / np.sqrt(var * var.transpose(0, 2, 1))
    rho = np.where(np.isfinite(rho), rho, 0.0)
    rho[:, np.arange(size), np.arange(size)] = 0.0
    return 0.5 * np.einsum("csw,cst,ctw->cw", a, rho, a)


def _complete_pair_sums(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """:func:`_pairwise_complete_sums` of clusters whose events have every day, in time
    linear in the cluster's size: with ``z_i`` event i's residuals demeaned and scaled to
    unit length (0 when they do not vary), ``ρ_ij = z_i'z_j`` and, per window,
    ``Σ_{i<j} a_i a_j ρ_ij = (‖Σ_i a_i z_i‖² − Σ_i a_i² ‖z_i‖²) / 2``."""
    d = x - x.mean(axis=2, keepdims=True)
    norm = np.sqrt((d * d).sum(axis=2, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(norm > 0, d / norm, 0.0)
    total = a.transpose(0, 2, 1) @ z  # clusters x windows x T: Σ_i a_iw z_i
    own = np.einsum("csw,cs->cw", a * a, (z * z).sum(axis=2))
    return 0.5 * (np.einsum("cwt,cwt->cw", total, total) - own)


# --- GRANK (Kolari & Pynnönen 2011) -------------------------------------------------------------------


def grank_t(cs: CrossSection, members: Members, est: _MemberRows, windows: tuple[Window, ...]) -> pl.DataFrame:
    """Kolari & Pynnönen (2011) generalized rank test, for one day and for CARs::

        SAR_it = e_it / σ_i                               estimation days
        SCAR*_i = SCAR_i / S_SCAR,  S²_SCAR = Σ (SCAR_i − mean)² / (N − 1)   (volatility re-standardisation)
        GSAR_i = SAR_it on estimation days, SCAR*_i as the one event-period point "0"
        U_it = rank(GSAR_it) / (M_i + 1) − 1/2            ranks within event i, M_i = T_i + 1
        Ū_t = (1/N_t) Σ_i U_it,   S_Ū = √((1/T) Σ_t (N_t / N) Ū_t²)   t over the T points (estimation days + 0)
        Z = Ū_0 / S_Ū,   t_grank = Z √((T − 2) / (T − 1 − Z²)),   t_grank ~ Student t(T − 2)

    A multi-day window enters as its one cumulative point (the "cumulative version"); on one
    day, SCAR is the day's standardised AR. Ranks of ties are averaged.

    Dense, block by block of members: each member's SARs are sorted and ranked once.
    Inserting the event point raises the rank of the SARs above it by 1 (ties by 1/2), so per
    window the point's count of SARs above it comes from a binary search in the member's
    sorted SARs, and the days whose SAR lies above it are those whose sorted position is past
    that count: a comparison of small integers per member and day, summed by group.
    """
    groups, starts = members.groups, members.starts
    with np.errstate(invalid="ignore", divide="ignore"):  # re-standardised SCAR (NaN when not in the window)
        g_all = np.where(cs.ok, cs.z / cs.z_sd[members.group_of], np.nan)
    n_windows = len(windows)

    def block(b: _Block, est: np.ndarray, sigma: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
        reduce = b.sums
        sar = est / sigma[:, None]
        present = np.isfinite(sar)
        t_i = present.sum(axis=1)
        weight = 1.0 / (t_i + 2)  # 1 / (M_i + 1) with M_i = T_i + 1 points
        ranks, places, ordered = _average_ranks(sar)
        base = np.where(present, ranks * weight[:, None] - 0.5, 0.0)  # U_it before the event point's shift
        inc = ~np.isnan(g)
        point = np.where(inc, g, np.inf)  # a member not in the window: no SAR above its point
        below = _count_below(ordered, t_i, point, strict=True)
        at = np.take_along_axis(ordered, np.minimum(below, ordered.shape[1] - 1), axis=1)
        tied = (below < t_i[:, None]) & (at == point)  # a SAR equal to the point (rare)
        not_above = _count_below(ordered, t_i, point, strict=False) if tied.any() else below
        above_count = (t_i[:, None] - not_above) + 0.5 * (not_above - below)
        shift, out_base, out_present = (np.zeros((b.groups, n_windows, sar.shape[1])) for _ in range(3))
        # members of one group with one weight (the same T_i), as counts: comparisons of int16 positions
        group = b.group
        by_weight = np.lexsort((t_i, group))
        places = places[by_weight]
        key = group[by_weight] * (sar.shape[1] + 2) + t_i[by_weight]
        segments = np.flatnonzero(np.diff(key, prepend=-1))
        bounds = zip(segments, np.append(segments[1:], key.size)[: segments.size], strict=True)
        segments = [(group[by_weight][a], weight[by_weight][a], a, b) for a, b in bounds]
        cut, tie_from = not_above[by_weight], below[by_weight]
        for w in range(n_windows):  # the windows; each step is vectorised over the block's members and days
            has_ties = bool((cut[:, w] > tie_from[:, w]).any())
            for k, wk, a, b in segments:  # a few per group
                shift[k, w] += wk * (places[a:b] >= cut[a:b, w, None]).sum(axis=0)
                if has_ties:
                    inside = (places[a:b] >= tie_from[a:b, w, None]) & (places[a:b] < cut[a:b, w, None])
                    shift[k, w] += 0.5 * wk * inside.sum(axis=0)
            if not inc[:, w].all():
                out_base[:, w] = reduce(np.where(inc[:, w, None], 0.0, base))
                out_present[:, w] = reduce((present & ~inc[:, w, None]).astype(np.float64))
        return {
            "base": reduce(base), "present": reduce(present.astype(np.float64)), "shift": shift,
            "out_base": out_base, "out_present": out_present, "n": reduce(inc.astype(np.float64)),
            "u0": reduce(np.where(inc, (1.0 + t_i[:, None] - above_count) * weight[:, None] - 0.5, 0.0)),
        }

    sums = _group_totals(members, block, est, members.frame[S.SIGMA].to_numpy(), g_all)
    win = _window_frame(windows).with_row_index("_w")
    out = []
    for w in range(n_windows):  # loop over the test windows; each step is vectorised over groups
        sum_t = sums["base"] + sums["shift"][:, w] - sums["out_base"][:, w]
        n_t = sums["present"] - sums["out_present"][:, w]
        n, sum0 = sums["n"][:, w], sums["u0"][:, w]
        with np.errstate(invalid="ignore", divide="ignore"):
            ss = (sum_t**2 / np.where(n_t > 0, n_t, np.inf)).sum(axis=1) + sum0**2 / n
            points = (n_t > 0).sum(axis=1) + 1.0
            s_u = np.sqrt(ss / n / points)
            z = (sum0 / n) / s_u
            t = z * np.sqrt((points - 2) / (points - 1 - z**2))
        out.append(pl.DataFrame({
            S.GROUP: groups, "_w": np.full(len(starts), w, dtype=np.uint32),
            "_t": t, "_df": points - 2, "_z2": z**2, "_points": points,
        }))
    res = (
        pl.concat(out)
        .with_columns(pl.col("_t", "_z2").fill_nan(None))
        .join(win, on="_w")
        .drop("_w")
    )
    f = cs.frame.join(res, on=KEYS, how="left")
    reason = _reason(
        _FEW,
        (pl.col("_z_sd") <= 0, "the standardised CARs have no cross-sectional dispersion"),
        (pl.col("_points") - 1 - pl.col("_z2") <= 0, "degenerate rank sample (T − 1 − Z² ≤ 0)"),
    )
    return _out(f, GRANK_T, pl.col("_t"), t_pvalue(pl.col("_t"), pl.col("_df")), reason)
