"""The non-parametric tests: on the CARs across events (sign, generalized sign, Wilcoxon signed
rank), on the daily cross-sectional averages of ranks and signs (Corrado rank, Corrado-Zivney
sign; their day statistics, :func:`_day_statistics`, also give Brown-Warner's daily AARs) and
GRANK.

Each test returns the battery's rows (``_out`` of :mod:`analysis.inference.battery`); notation
as in :mod:`analysis.inference`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.inference.battery import (
    _COUNT, _FEW, CORRADO_RANK, CORRADO_ZIVNEY_SIGN, GENERALIZED_SIGN, GRANK_T, KEYS, SIGN, WILCOXON, CrossSection,
    Members, _MemberRows, _out, _reason, _window_frame,
)
from analysis.inference.kernels import Block, average_ranks, count_below, group_totals, standardised_ranks
from analysis.specs import Window
from analysis.stats import binom_two_sided_pvalue, t_pvalue, wilcoxon_exact_pvalue, z_pvalue


# --- on the CARs across events -----------------------------------------------------------------------


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


# --- time series of ranks and signs ----------------------------------------------------------------


@dataclass(frozen=True)
class DayStatistics:
    """Per group: the estimation-window and ranking-sample constants; per group and window:
    the sums of the daily averages over the window's days."""

    groups: pl.DataFrame  # group, _s_aar, _t_est, _s_u, _s_g
    windows: pl.DataFrame  # group, window_start, window_end, _days, _caar, _u_sum, _g_sum


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

    def block(b: Block, est: np.ndarray, rep: np.ndarray) -> dict[str, np.ndarray]:
        reduce = b.sums
        has_est, has_rep = np.isfinite(est), np.isfinite(rep)
        out = {
            "n_est": reduce(has_est.astype(np.float64)), "s_est": reduce(np.where(has_est, est, 0.0)),
            "n_rep": reduce(has_rep.astype(np.float64)), "s_rep": reduce(np.where(has_rep, rep, 0.0)),
        }
        if ranks:
            u, g = standardised_ranks(np.concatenate([est, rep], axis=1))
            has = np.isfinite(u)
            out |= {"u": reduce(np.where(has, u, 0.0)), "g": reduce(np.where(has, g, 0.0))}
        return out

    sums = group_totals(members, block, est, rep)
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

    def block(b: Block, est: np.ndarray, sigma: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
        reduce = b.sums
        sar = est / sigma[:, None]
        present = np.isfinite(sar)
        t_i = present.sum(axis=1)
        weight = 1.0 / (t_i + 2)  # 1 / (M_i + 1) with M_i = T_i + 1 points
        ranks, places, ordered = average_ranks(sar)
        base = np.where(present, ranks * weight[:, None] - 0.5, 0.0)  # U_it before the event point's shift
        inc = ~np.isnan(g)
        point = np.where(inc, g, np.inf)  # a member not in the window: no SAR above its point
        below = count_below(ordered, t_i, point, strict=True)
        at = np.take_along_axis(ordered, np.minimum(below, ordered.shape[1] - 1), axis=1)
        tied = (below < t_i[:, None]) & (at == point)  # a SAR equal to the point (rare)
        not_above = count_below(ordered, t_i, point, strict=False) if tied.any() else below
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

    sums = group_totals(members, block, est, members.frame[S.SIGMA].to_numpy(), g_all)
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
