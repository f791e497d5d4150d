"""The parametric tests: the cross-sectional t, Brown-Warner's crude dependence adjustment,
Patell's Z, BMP's standardised t, its Kolari-Pynnönen adjustment for the cross-correlation of
same-date events (with that correlation, :func:`_same_date_correlation`) and MacKinlay's J1.

Each test takes the cross-section of :class:`~analysis.inference.battery.CrossSection` (one row
per group and window) and returns the battery's rows (``_out``); notation as in
:mod:`analysis.inference`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.inference.battery import (
    _COUNT, _FEW, _SD, BMP_T, BROWN_WARNER_CDA, CROSS_SECTIONAL_T, KEYS, KP_ADJUSTED_BMP_T, MACKINLAY_J1, PATELL_Z,
    CrossSection, Members, _MemberRows, _out, _reason,
)
from analysis.inference.kernels import complete_pair_sums, pairwise_complete_sums
from analysis.inference.nonparametric import DayStatistics
from analysis.specs import Window
from analysis.stats import t_pvalue, z_pvalue

CLUSTER_CELLS = 1 << 21  # residual cells per block of same-date clusters (KP correlations)


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
    linear in its size (:func:`~analysis.inference.kernels.complete_pair_sums`), any other one
    from its correlation matrix (:func:`~analysis.inference.kernels.pairwise_complete_sums`:
    pairwise-complete sums).
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
            block[complete] = complete_pair_sums(x[complete], a[complete])
            if not complete.all():
                block[~complete] = pairwise_complete_sums(x[~complete], a[~complete])
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
    # summed in a fixed order (polars' parallel group_by sum may add in any order: the last
    # digits of the statistic then changed from run to run)
    pairs = pl.concat(sums).with_row_index("_i").sort(S.GROUP, "_w", "_i")
    first = pairs.select(pl.struct(S.GROUP, "_w").is_first_distinct()).to_series().arg_true().to_numpy()
    return (
        pairs[first].select(S.GROUP, "_w")
        .with_columns(pl.Series("_rho_sum", np.add.reduceat(pairs["_rho"].to_numpy(), first)))
        .join(win, on="_w")
        .select(S.GROUP, S.WINDOW_START, S.WINDOW_END, "_rho_sum")
    )
