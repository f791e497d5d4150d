"""Abnormal returns, their prediction-error variance, CARs, BHARs and abnormal volume.

For event row *i* on event day τ (MacKinlay 1997, section 4), with the linear model
``y = α + b'x + ε`` of :mod:`analysis.models` (``y`` = R or R − rf; ``x`` the benchmark or
the factors; ``T`` estimation days; ``x̄`` and ``C = Σ (x_t − x̄)(x_t − x̄)'`` over them)::

    AR_iτ = R_iτ − E[R_iτ],   E[R_iτ] = rf_τ + α̂ + b̂' x_τ   (rf = 0 on raw returns)
    Var(AR_iτ) = σ̂² (1 + x*_τ' (X'X)⁻¹ x*_τ) = σ̂² (1 + 1/T + (x_τ − x̄)' C⁻¹ (x_τ − x̄))

so for the market model ``σ̂² (1 + 1/T + (R_mτ − R̄_m)² / S_xx)``, for the constant mean
``σ̂² (1 + 1/T)``; market-adjusted (nothing estimated): ``E = R_mτ``, ``Var = σ̂²``.

The prediction errors of one event row are correlated across days through the estimation
error of the coefficients (``Cov(AR_iτ, AR_is) = σ̂² x*_τ'(X'X)⁻¹x*_s``), so over the L days of
a window that have an abnormal return, with ``s = Σ_τ x*_τ`` (MacKinlay 1997, eq. 19-20,
``γ'V_iγ`` with ``V_i = σ̂²(I + X*(X'X)⁻¹X*')``)::

    CAR_i = Σ_τ AR_iτ
    Var(CAR_i) = σ̂² (L + s'(X'X)⁻¹s) = σ̂² (L + L²/T + D' C⁻¹ D),   D = Σ_τ (x_τ − x̄)

(market model: ``σ̂² (L + L²/T + (Σ_τ (R_mτ − R̄_m))² / S_xx)``; constant mean
``σ̂² (L + L²/T)``; market-adjusted ``σ̂² L``). The test statistic ``t = CAR / √Var(CAR)`` is
compared with a Student t with the model's residual degrees of freedom ``T − k``, the exact
small-sample distribution under normal errors; MacKinlay's N(0, 1) is its large-T limit.

Buy-and-hold abnormal return (Barber & Lyon 1997)::

    BHAR_i = Π_τ (1 + R_iτ) − Π_τ (1 + E[R_iτ])

over the window days where both exist (with log returns: ``exp Σ r − exp Σ E[r]``).

Abnormal volume (Campbell & Wasley 1996) of the mean model of ``v = ln(1 + V)``, with the
prediction-error variance of a mean estimated on ``T_v`` days (as for the constant-mean
return model)::

    AV_iτ = v_iτ − v̄_i,       t = AV_iτ / (s_v √(1 + 1/T_v))
    window of L_v days with a volume:  MAV_i = (1/L_v) Σ_τ AV_iτ,   t = MAV_i / (s_v √(1/L_v + 1/T_v))

Everything is computed on the dense ``E x L`` arrays of :class:`analysis.panel.EventPanel`:
day by day as whole columns, window by window as row reductions over the window's columns
(a loop over the few windows, never over events). Tidy frames are built only for the
reported days (:meth:`AbnormalReturns.to_frame`) and for the windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from analysis import schema as S
from analysis.models import FittedModels, design
from analysis.panel import ROW, EventPanel
from analysis.specs import StudySpec, Window
from analysis.stats import t_pvalues


def _quadratic(models: FittedModels, devs: Sequence[np.ndarray]) -> np.ndarray | float:
    """``d' C⁻¹ d`` from the models' ``C⁻¹`` (symmetric: its upper triangle, off-diagonal
    terms twice); ``devs[j]`` is ``E`` or ``E x L``."""
    total: np.ndarray | float = 0.0
    for j in range(len(devs)):
        for k in range(j, len(devs)):
            c = models.cinv[:, j, k] * (1.0 if j == k else 2.0)
            total = total + (c if devs[j].ndim == 1 else c[:, None]) * devs[j] * devs[k]
    return total


@dataclass(frozen=True, eq=False)
class AbnormalReturns:
    """Abnormal returns of every event row on event days ``days`` (``E x L`` arrays, NaN = missing).

    ``ar_var`` (and ``cum_ar``, ``abnormal_volume_t``) are set on the reported days
    (``spec.report_days``) only; on estimation-window days ``ar`` and ``abnormal_volume``
    are the models' residuals.
    """

    days: Window
    ret: np.ndarray
    benchmark_ret: np.ndarray
    normal: np.ndarray
    ar: np.ndarray
    ar_var: np.ndarray | None  # None when no reported day is among the days
    cum_ar: np.ndarray | None
    regressors: tuple[np.ndarray, ...]  # x_j of the model on these days (for window variances)
    abnormal_volume: np.ndarray | None
    abnormal_volume_t: np.ndarray | None
    df_resid: np.ndarray  # per row, NaN without a model

    def head(self, n: int) -> AbnormalReturns:
        """The first ``n`` event rows (views of the arrays)."""
        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[:n]

        return AbnormalReturns(
            self.days, self.ret[:n], self.benchmark_ret[:n], self.normal[:n], self.ar[:n], cut(self.ar_var),
            cut(self.cum_ar), tuple(x[:n] for x in self.regressors), cut(self.abnormal_volume),
            cut(self.abnormal_volume_t), self.df_resid[:n],
        )

    def to_frame(self) -> pl.DataFrame:
        """One row per event row and day: ``row, event_day, ret, benchmark_ret, normal_ret,
        abnormal_ret, cum_abnormal_ret, ar_var, ar_se, ar_t, ar_p, abnormal_volume,
        abnormal_volume_t``, ordered by row and event day."""
        e, length = self.ar.shape
        nothing = np.full(self.ar.shape, np.nan)
        var = nothing if self.ar_var is None else self.ar_var
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.sqrt(var)
            t = self.ar / se
        p = t_pvalues(t, np.broadcast_to(self.df_resid[:, None], t.shape))
        values = {
            S.RET: self.ret, S.BENCHMARK_RET: self.benchmark_ret, S.NORMAL_RET: self.normal, S.ABNORMAL_RET: self.ar,
            S.CUM_ABNORMAL_RET: nothing if self.cum_ar is None else self.cum_ar, S.AR_VAR: var, S.AR_SE: se, S.AR_T: t,
            S.AR_P: p,
            S.ABNORMAL_VOLUME: nothing if self.abnormal_volume is None else self.abnormal_volume,
            S.ABNORMAL_VOLUME_T: nothing if self.abnormal_volume_t is None else self.abnormal_volume_t,
        }
        return pl.DataFrame({
            ROW: np.repeat(np.arange(e, dtype=np.uint32), length),
            S.EVENT_DAY: np.tile(np.arange(self.days.start, self.days.end + 1, dtype=np.int32), e),
            **{name: pl.Series(name, np.ravel(v), nan_to_null=True) for name, v in values.items()},
        })


def abnormal_returns(panel: EventPanel, models: FittedModels, spec: StudySpec, days: Window | None = None) -> AbnormalReturns:
    """Abnormal returns (and abnormal volume) of every event row on event days ``days``.

    Parameters
    ----------
    panel
        The event rows' returns, benchmark returns, factors and log volumes
        (:func:`analysis.panel.event_panel`).
    models
        Output of :func:`analysis.models.fit_models` (one row per panel row, in order).
    spec
        Study parameters; the reported days are ``spec.report_days``.
    days
        The event days to compute (default: the reported days); the estimation window gives
        the models' residuals.

    Returns
    -------
    AbnormalReturns
        ``E x L`` arrays (module docstring for the formulas). ``cum_ar`` cumulates the ARs
        from the first reported day, skipping missing days (null where the AR is).
    """
    d = design(spec)
    days = days or spec.report_days
    cols = panel.span(days)
    tau = np.arange(days.start, days.end + 1)
    reported = (tau >= spec.report_days.start) & (tau <= spec.report_days.end)
    ret, bench = panel.ret[:, cols], panel.benchmark_ret[:, cols]
    sigma, n = models.array(S.SIGMA), models.array(S.N_OBS)
    if d is None:  # market-adjusted
        normal = np.where(np.isfinite(sigma)[:, None], bench, np.nan)
        regressors: tuple[np.ndarray, ...] = ()
    else:
        _, xs, rf = d.arrays(panel, cols)
        normal = np.empty(ret.shape)  # α + (rf) + Σ b_j x_j, in place: NaN wherever a regressor (or rf) is missing
        normal[:] = models.array(S.ALPHA)[:, None]
        if rf is not None:
            normal += rf
        term = np.empty(ret.shape) if xs else None
        for name, x in zip(d.loadings, xs, strict=True):
            np.multiply(x, models.array(name)[:, None], out=term)
            normal += term
        regressors = tuple(xs)
    ar = ret - normal
    ar_var = cum = None
    if reported.any():
        ar_var, cum = np.full(ar.shape, np.nan), np.full(ar.shape, np.nan)
        rep = np.flatnonzero(reported)
        sl = slice(rep[0], rep[-1] + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            if d is None:
                var = np.broadcast_to((sigma**2)[:, None], ar[:, sl].shape)
            else:
                devs = [x[:, sl] - models.xbar[:, j][:, None] for j, x in enumerate(regressors)]
                var = (sigma**2)[:, None] * (1.0 + 1.0 / n[:, None] + _quadratic(models, devs))
        has = np.isfinite(ar[:, sl])
        ar_var[:, sl] = np.where(has, var, np.nan)
        cum[:, sl] = np.where(has, np.cumsum(np.where(has, ar[:, sl], 0.0), axis=1), np.nan)
    av = av_t = None
    if panel.log_volume is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            av = panel.log_volume[:, cols] - models.array(S.LOG_VOLUME_MEAN)[:, None]
            av_se = models.array(S.LOG_VOLUME_SD) * np.sqrt(1.0 + 1.0 / models.array(S.VOLUME_N_OBS))
            av_t = np.where(reported, av / av_se[:, None], np.nan)
    return AbnormalReturns(days, ret, bench, normal, ar, ar_var, cum, regressors, av, av_t, models.array(S.DF_RESID))


@dataclass(frozen=True)
class WindowStatistics:
    """Per event row (axis 0) and window (axis 1): the sums over the window's days."""

    n_days: np.ndarray  # days with an abnormal return
    car: np.ndarray  # NaN where there is no CAR (no day, or no model)
    car_var: np.ndarray
    bhar: np.ndarray
    raw_return: np.ndarray
    abnormal_volume: np.ndarray  # mean abnormal log volume over the days with a volume
    volume_days: np.ndarray


def window_statistics(
    ar: AbnormalReturns, models: FittedModels, spec: StudySpec, windows: Sequence[Window] | None = None,
) -> WindowStatistics:
    """CAR, its prediction-error variance, BHAR, the raw return and the mean abnormal volume of
    every event row and window (module docstring), from the abnormal returns of the window days."""
    windows = spec.windows if windows is None else tuple(windows)
    estimated = design(spec) is not None
    e = ar.ar.shape[0]
    shape = (e, len(windows))
    n_days, car, car_var, bhar, raw, mav = (np.full(shape, np.nan) for _ in range(6))
    nv = np.zeros(shape)
    sigma2, n = models.array(S.SIGMA) ** 2, models.array(S.N_OBS)
    xbar = [models.xbar[:, j] for j in range(len(ar.regressors))]
    growth = np.exp if spec.returns == "log" else (lambda r: 1.0 + r)
    with np.errstate(invalid="ignore", divide="ignore"):
        for w, window in enumerate(windows):  # a few windows; each step is vectorised over events
            sl = slice(window.start - ar.days.start, window.end - ar.days.start + 1)
            a = ar.ar[:, sl]
            has = np.isfinite(a)
            count = has.sum(axis=1).astype(np.float64)
            ok = (count > 0) & np.isfinite(sigma2)
            n_days[:, w] = count
            car[:, w] = np.where(ok, np.where(has, a, 0.0).sum(axis=1), np.nan)
            devs = [np.where(has, x[:, sl], 0.0).sum(axis=1) - count * xb for x, xb in zip(ar.regressors, xbar, strict=True)]
            extra = (count**2 / n + _quadratic(models, devs)) if estimated else 0.0
            car_var[:, w] = np.where(ok, sigma2 * (count + extra), np.nan)
            g, ng = growth(ar.ret[:, sl]), growth(ar.normal[:, sl])
            bhar[:, w] = np.where(ok, np.where(has, g, 1.0).prod(axis=1) - np.where(has, ng, 1.0).prod(axis=1), np.nan)
            has_ret = np.isfinite(g)
            raw[:, w] = np.where(has_ret.any(axis=1), np.where(has_ret, g, 1.0).prod(axis=1) - 1.0, np.nan)
            if ar.abnormal_volume is not None:
                v = ar.abnormal_volume[:, sl]
                has_v = np.isfinite(v)
                nv[:, w] = has_v.sum(axis=1)
                mav[:, w] = np.where(has_v, v, 0.0).sum(axis=1) / nv[:, w]
    return WindowStatistics(n_days, car, car_var, bhar, raw, mav, nv)


def cumulative_abnormal_returns(
    ar: AbnormalReturns, models: FittedModels, spec: StudySpec, windows: Sequence[Window] | None = None,
    ws: WindowStatistics | None = None,
) -> pl.DataFrame:
    """CAR, its standard error, t, p, BHAR, the raw return and the mean abnormal volume of
    every event row and window.

    Parameters
    ----------
    ar
        :func:`abnormal_returns` on days covering the windows (the reported days).
    models
        Output of :func:`analysis.models.fit_models`.
    spec
        Study parameters (windows, model, return kind).
    windows
        The windows (default ``spec.windows``).
    ws
        Their :func:`window_statistics`, when the caller has them already (the engine: the
        group tests read the same CARs and variances).

    Returns
    -------
    pl.DataFrame
        ``row, window_start, window_end, n_days, car, car_se, t_stat, p_value, bhar,
        raw_return, abnormal_volume, abnormal_volume_t``; one row per event row and window,
        ordered by row and window. ``n_days`` counts the window's days with an abnormal
        return; a window without any has null statistics. ``abnormal_volume`` is the mean
        abnormal log volume over the window's days with a volume.
    """
    windows = spec.windows if windows is None else tuple(windows)
    ws = ws or window_statistics(ar, models, spec, windows)
    e = ws.car.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(ws.car_var)
        t = ws.car / se
        av_se = models.array(S.LOG_VOLUME_SD)[:, None] * np.sqrt(1.0 / ws.volume_days + 1.0 / models.array(S.VOLUME_N_OBS)[:, None])
        av_t = np.where(ws.volume_days > 0, ws.abnormal_volume / av_se, np.nan)
    p = t_pvalues(t, np.broadcast_to(ar.df_resid[:, None], t.shape))
    floats = {
        S.CAR: ws.car, S.CAR_SE: se, S.T_STAT: t, S.P_VALUE: p, S.BHAR: ws.bhar, S.RAW_RETURN: ws.raw_return,
        S.ABNORMAL_VOLUME: ws.abnormal_volume, S.ABNORMAL_VOLUME_T: av_t,
    }
    k = len(windows)
    return pl.DataFrame({
        ROW: np.repeat(np.arange(e, dtype=np.uint32), k),
        S.WINDOW_START: pl.Series(np.tile([w.start for w in windows], e), dtype=pl.Int32),
        S.WINDOW_END: pl.Series(np.tile([w.end for w in windows], e), dtype=pl.Int32),
        S.N_DAYS: pl.Series(ws.n_days.ravel(), dtype=pl.Int32),
        **{name: pl.Series(name, v.ravel(), nan_to_null=True) for name, v in floats.items()},
    }).select(
        ROW, S.WINDOW_START, S.WINDOW_END, S.N_DAYS, S.CAR, S.CAR_SE, S.T_STAT, S.P_VALUE, S.BHAR, S.RAW_RETURN,
        S.ABNORMAL_VOLUME, S.ABNORMAL_VOLUME_T,
    )
