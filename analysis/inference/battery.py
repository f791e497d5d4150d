"""The battery: its tests, the inputs they read, and the cross-section every test starts from.

* the definition: a :class:`BatteryItem` per test (its ``test`` value, label and family) in
  :data:`TESTS` order, the test-name constants, :func:`check_tests`, the test windows of a
  study (:func:`windows_tested`) and which tests read the daily abnormal returns
  (:data:`NEEDS_DAILY`, :data:`DAY_BY_DAY`, :data:`NEEDS_RESIDUALS`);
* the inputs: each event row's CAR and s.e. per test window (:class:`WindowObservations`), its
  daily abnormal returns (:class:`DailyAbnormalReturns`) and what the tests keep of them batch
  by batch (:class:`DailySummary`, :func:`summarise_daily`, :func:`combine_daily`);
* the cross-section: the members of each group (:class:`Members`), the sums of every group and
  window that the CAR-based tests read (:class:`CrossSection`), and the frame every test
  returns (``_out``).

The tests themselves are in :mod:`analysis.inference.parametric` and
:mod:`analysis.inference.nonparametric`; :func:`analysis.inference.run.group_tests` runs them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.inference.kernels import group_sums, signed_rank_sums
from analysis.panel import ROW
from analysis.specs import StudySpec, Window

# --- the tests ----------------------------------------------------------------------------------


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

# internal columns of the cross-section
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
        Each member row's share of positive estimation residuals (``p̂_i`` of :func:`~analysis.inference.nonparametric.generalized_sign`).
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
        ``daily``'s rows are ignored), as for :func:`~analysis.inference.run.group_tests`.
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


# --- the cross-section of each group and window ----------------------------------------------------


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
        return group_sums(values, self.starts)


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
    One sort of the window's non-zero CARs by group and ``|CAR|`` per window
    (:func:`~analysis.inference.kernels.signed_rank_sums`)."""
    g = len(m.starts)
    w_plus, tie_term = np.zeros((g, len(windows))), np.zeros((g, len(windows)))
    for w in range(len(windows)):  # a few windows; each step is vectorised over events
        rows = np.flatnonzero(ok[:, w] & (car[:, w] != 0))
        w_plus[:, w], tie_term[:, w] = signed_rank_sums(car[rows, w], m.group_of[rows], g)
    wins = _window_frame(windows)
    return pl.DataFrame({
        S.GROUP: m.groups.gather(pl.Series(np.repeat(np.arange(g, dtype=np.uint32), len(windows)))),
        S.WINDOW_START: np.tile(wins[S.WINDOW_START].to_numpy(), g),
        S.WINDOW_END: np.tile(wins[S.WINDOW_END].to_numpy(), g),
        "_w_plus": w_plus.ravel(), "_tie_term": tie_term.ravel(),
    }, schema_overrides={S.GROUP: pl.String})


# --- the rows every test returns -------------------------------------------------------------------


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
