"""Independent reference implementation of the event study, for the tests only.

This module is written from the formulas (DESIGN.md, the docstrings of ``analysis`` and
MacKinlay 1997, "Event Studies in Economics and Finance", J. Econ. Lit. 35) and deliberately
shares no code with ``analysis``: it imports nothing from it, works on plain Python dicts and
lists and small NumPy matrices, loops over days one at a time, and takes the matrix route
where the engine takes closed forms:

* returns: a loop over the session list; ``R_t`` exists only when the prices of session ``t``
  and of the session just before it both exist (no multi-day returns);
* event time: ``τ`` is a position in the session list relative to day 0;
* normal-return model: least squares by ``numpy.linalg.lstsq`` on the design matrix ``X``
  (``[1, R_m]`` for the market model, ``[1]`` for the constant mean), ``σ̂² = SSR / (T − k)``;
  market-adjusted: ``α = 0, β = 1``, ``σ̂²`` the sample variance of ``R − R_m`` (``T − 1``);
* AR variance: ``σ̂² (1 + x*' (X'X)⁻¹ x*)`` with an explicit matrix inverse;
* CAR variance: ``γ' V γ`` with ``V = σ̂² (I + X* (X'X)⁻¹ X*')`` (MacKinlay 1997, eq. 19-20),
  the full covariance matrix of the window's prediction errors;
* BHAR: ``Π(1 + R) − Π(1 + E[R])`` over the window days with an abnormal return (Barber &
  Lyon 1997); raw return ``Π(1 + R) − 1`` over the window days with a return (log returns:
  ``exp Σ`` instead of the products);
* p-values: ``scipy.stats.t`` / ``scipy.stats.norm`` survival functions;
* factor models (:func:`linear_event_study`): the same lstsq / ``(X'X)⁻¹`` / ``γ'Vγ`` route
  with ``X = [1, x_1 .. x_p]`` built day by day from a ``{date: [x_1 .. x_p]}`` map, on excess
  returns ``R − rf`` when a risk-free map is given (normal return ``rf + x*'b``);
* abnormal volume (:func:`abnormal_volume`): ``v = ln(1 + V)``, its estimation mean and
  sample standard deviation, ``t = AV / (s √(1 + 1/T))``, window mean ``/ (s √(1/L + 1/T))``.

It is slow and meant to be obviously correct; the tests compare the vectorised engine with it.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from scipy import stats

Returns = dict[date, float]


def xnys_sessions(start: str, end: str = "2026-12-31") -> list[date]:
    """The XNYS sessions from ``start`` to ``end``, straight from exchange-calendars (not
    through ``analysis.calendar``)."""
    return list(_xnys_sessions(start, end))


@functools.lru_cache
def _xnys_sessions(start: str, end: str) -> tuple[date, ...]:
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(ts.date() for ts in xcals.get_calendar("XNYS", start=start, end=end).sessions)
N_PARAMS = {"market": 2, "constant-mean": 1, "market-adjusted": 1}


def session_returns(prices: dict[date, float], sessions: list[date], kind: str = "simple") -> Returns:
    """Daily returns of one instrument on the exchange sessions.

    ``prices`` maps a date to an adjusted close; dates that are not sessions are ignored.
    The return of session ``i`` exists only if there is a price on session ``i`` and on
    session ``i − 1`` (the previous *session*, not the previous row of the data).
    """
    out: Returns = {}
    for i in range(1, len(sessions)):
        today, yesterday = sessions[i], sessions[i - 1]
        if today in prices and yesterday in prices:
            ratio = prices[today] / prices[yesterday]
            out[today] = math.log(ratio) if kind == "log" else ratio - 1.0
    return out


def event_time(sessions: list[date], day: date, day0: date) -> int:
    """τ of session ``day`` relative to session ``day0``: the difference of their positions."""
    return sessions.index(day) - sessions.index(day0)


def two_sided_t(t: float, df: int) -> float:
    return float(2.0 * stats.t.sf(abs(t), df))


def two_sided_z(z: float) -> float:
    return float(2.0 * stats.norm.sf(abs(z)))


@dataclass
class Fit:
    model: str
    n_obs: int
    df_resid: int
    alpha: float | None = None
    beta: float | None = None
    sigma: float | None = None
    r_squared: float | None = None
    estimation_start: date | None = None
    estimation_end: date | None = None
    xtx_inv: np.ndarray | None = None  # (X'X)^-1; None for market-adjusted (nothing estimated)
    reason: str | None = None
    loadings: list[float] | None = None  # factor models: b_1 .. b_p


@dataclass
class Day:
    tau: int
    date: date | None
    ret: float | None
    mkt: float | None
    x: np.ndarray | None = None  # the row x* of X* (regressors of this day)
    normal: float | None = None
    ar: float | None = None
    cum_ar: float | None = None
    var: float | None = None
    t: float | None = None
    p: float | None = None


@dataclass
class WindowResult:
    start: int
    end: int
    n_days: int
    car: float | None = None
    var: float | None = None
    se: float | None = None
    t: float | None = None
    p: float | None = None
    bhar: float | None = None
    raw_return: float | None = None


@dataclass
class Event:
    day0: date
    fit: Fit
    days: dict[int, Day] = field(default_factory=dict)
    est_ar: dict[int, float] = field(default_factory=dict)  # τ -> estimation-window residual R − E[R]
    windows: dict[tuple[int, int], WindowResult] = field(default_factory=dict)


def _row(model: str, mkt: float | None) -> np.ndarray:
    """One row of the design matrix X (or X*) of the model."""
    return np.array([1.0, mkt]) if model == "market" else np.array([1.0])


def fit_model(model: str, ys: list[float], xs: list[float | None], min_obs: int) -> Fit:
    """Fit the normal-return model on the estimation returns ``ys`` (benchmark ``xs``)."""
    T = len(ys)
    fit = Fit(model=model, n_obs=T, df_resid=T - N_PARAMS[model])
    if T < min_obs:
        fit.reason = f"{T} usable estimation returns, fewer than {min_obs}"
        return fit
    y = np.array(ys, dtype=float)
    if model == "market-adjusted":
        d = [r - m for r, m in zip(ys, xs, strict=True)]
        mean = sum(d) / T
        fit.alpha, fit.beta = 0.0, 1.0
        fit.sigma = math.sqrt(sum((v - mean) ** 2 for v in d) / (T - 1))
        return fit
    X = np.array([_row(model, m) for m in xs])
    b, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ b
    ssr = float(resid @ resid)
    fit.alpha = float(b[0])
    fit.sigma = math.sqrt(ssr / fit.df_resid)
    if model == "market":
        fit.beta = float(b[1])
        fit.r_squared = 1.0 - ssr / float(((y - y.mean()) ** 2).sum())
    fit.xtx_inv = np.linalg.inv(X.T @ X)
    return fit


def window_stats(days: list[Day], fit: Fit, start: int, end: int, kind: str = "simple") -> WindowResult:
    """CAR, Var(CAR) = γ'Vγ, t, p, BHAR and raw return over ``[start, end]``."""
    inside = [d for d in days if start <= d.tau <= end]
    with_ar = [d for d in inside if d.ar is not None]
    with_ret = [d for d in inside if d.ret is not None]
    out = WindowResult(start=start, end=end, n_days=len(with_ar))
    if with_ret:
        if kind == "log":
            out.raw_return = math.exp(sum(d.ret for d in with_ret)) - 1.0
        else:
            out.raw_return = math.prod(1.0 + d.ret for d in with_ret) - 1.0
    if not with_ar or fit.sigma is None:
        return out
    L = len(with_ar)
    out.car = sum(d.ar for d in with_ar)
    if fit.xtx_inv is None:  # market-adjusted: nothing estimated, V = σ² I
        V = fit.sigma**2 * np.eye(L)
    else:
        Xs = np.vstack([d.x for d in with_ar])
        V = fit.sigma**2 * (np.eye(L) + Xs @ fit.xtx_inv @ Xs.T)
    gamma = np.ones(L)
    out.var = float(gamma @ V @ gamma)
    out.se = math.sqrt(out.var)
    out.t = out.car / out.se
    out.p = two_sided_t(out.t, fit.df_resid)
    if kind == "log":
        out.bhar = math.exp(sum(d.ret for d in with_ar)) - math.exp(sum(d.normal for d in with_ar))
    else:
        out.bhar = math.prod(1.0 + d.ret for d in with_ar) - math.prod(1.0 + d.normal for d in with_ar)
    return out


def event_study(
    ret: Returns,
    mkt: Returns,
    sessions: list[date],
    day0: date,
    *,
    estimation: tuple[int, int] = (-260, -11),
    windows: tuple[tuple[int, int], ...] = ((0, 0), (-1, 1), (-5, 5)),
    model: str = "market",
    min_obs: int = 120,
    kind: str = "simple",
) -> Event:
    """The whole single-firm event study of one event row (MacKinlay 1997, sections 4-5).

    ``ret`` and ``mkt`` map session dates to returns (a missing date = no return that day);
    ``sessions`` is the exchange's sorted list of session dates and must contain ``day0``.
    """
    i0 = sessions.index(day0)
    uses_market = model in ("market", "market-adjusted")

    def at(tau: int) -> tuple[date | None, float | None, float | None]:
        i = i0 + tau
        if not 0 <= i < len(sessions):
            return None, None, None
        d = sessions[i]
        return d, ret.get(d), mkt.get(d)

    est_dates, est_taus, ys, xs = [], [], [], []
    for tau in range(estimation[0], estimation[1] + 1):
        d, r, m = at(tau)
        if r is None or (uses_market and m is None):
            continue
        est_dates.append(d)
        est_taus.append(tau)
        ys.append(r)
        xs.append(m)
    fit = fit_model(model, ys, xs, min_obs)
    if fit.sigma is not None:
        fit.estimation_start, fit.estimation_end = est_dates[0], est_dates[-1]

    event = Event(day0=day0, fit=fit)
    if fit.sigma is not None:
        for tau, r, m in zip(est_taus, ys, xs, strict=True):
            normal = fit.alpha + fit.beta * m if model == "market" else fit.alpha if model == "constant-mean" else m
            event.est_ar[tau] = r - normal
    running = 0.0
    first, last = min(w[0] for w in windows), max(w[1] for w in windows)
    for tau in range(first, last + 1):
        d, r, m = at(tau)
        day = Day(tau=tau, date=d, ret=r, mkt=m)
        if fit.sigma is not None and (m is not None or not uses_market):
            # the normal return needs only the model and the benchmark, not the firm's return
            if model == "market":
                day.normal = fit.alpha + fit.beta * m
            elif model == "constant-mean":
                day.normal = fit.alpha
            else:
                day.normal = m
        if day.normal is not None and r is not None:
            day.x = _row(model, m)
            day.ar = r - day.normal
            running += day.ar
            day.cum_ar = running
            if fit.xtx_inv is None:
                day.var = fit.sigma**2
            else:
                day.var = fit.sigma**2 * (1.0 + float(day.x @ fit.xtx_inv @ day.x))
            day.t = day.ar / math.sqrt(day.var)
            day.p = two_sided_t(day.t, fit.df_resid)
        event.days[tau] = day
    for start, end in windows:
        event.windows[(start, end)] = window_stats(list(event.days.values()), fit, start, end, kind)
    return event


def cross_sectional_t(cars: list[float]) -> tuple[float, float]:
    """Brown & Warner (1985) cross-sectional t of the mean CAR and its two-sided p (t, N − 1)."""
    n = len(cars)
    mean = sum(cars) / n
    sd = math.sqrt(sum((c - mean) ** 2 for c in cars) / (n - 1))
    t = mean / (sd / math.sqrt(n))
    return t, two_sided_t(t, n - 1)


def mackinlay_j1(cars: list[float], ses: list[float]) -> tuple[float, float]:
    """MacKinlay (1997) J1 = CAAR / sqrt(Σ Var(CAR_i) / N²) and its two-sided normal p."""
    n = len(cars)
    caar = sum(cars) / n
    var_caar = sum(s * s for s in ses) / n**2
    z = caar / math.sqrt(var_caar)
    return z, two_sided_z(z)


def linear_event_study(
    ret: Returns,
    regressors: dict[date, list[float]],
    sessions: list[date],
    day0: date,
    *,
    rf: Returns | None = None,
    estimation: tuple[int, int] = (-260, -11),
    windows: tuple[tuple[int, int], ...] = ((0, 0), (-1, 1), (-5, 5)),
    min_obs: int = 120,
    kind: str = "simple",
) -> Event:
    """Single-firm event study with the linear model ``y = α + b'x + ε`` (factor models).

    ``regressors`` maps a session date to the regressor values of that day (a missing date =
    no regressors that day); with ``rf`` the dependent variable is ``R − rf`` and the normal
    return ``rf + α + b'x``. A day is usable for estimation when the return, the regressors
    and (if given) the risk-free rate all exist.
    """
    i0 = sessions.index(day0)

    def at(tau: int) -> tuple[date | None, float | None, list[float] | None, float | None]:
        i = i0 + tau
        if not 0 <= i < len(sessions):
            return None, None, None, None
        d = sessions[i]
        return d, ret.get(d), regressors.get(d), (rf.get(d) if rf is not None else 0.0)

    est_dates, ys, rows = [], [], []
    for tau in range(estimation[0], estimation[1] + 1):
        d, r, x, f = at(tau)
        if r is None or x is None or f is None:
            continue
        est_dates.append(d)
        ys.append(r - f)
        rows.append([1.0, *x])
    T = len(ys)
    k = len(rows[0]) if rows else 1 + len(next(iter(regressors.values()), []))
    fit = Fit(model="linear", n_obs=T, df_resid=T - k)
    if T < min_obs:
        fit.reason = f"{T} usable estimation returns, fewer than {min_obs}"
    else:
        X, y = np.array(rows), np.array(ys)
        b, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ b
        ssr = float(resid @ resid)
        fit.alpha, fit.loadings = float(b[0]), [float(v) for v in b[1:]]
        fit.beta = fit.loadings[0] if fit.loadings else None
        fit.sigma = math.sqrt(ssr / fit.df_resid)
        fit.r_squared = 1.0 - ssr / float(((y - y.mean()) ** 2).sum()) if k > 1 else None
        fit.xtx_inv = np.linalg.inv(X.T @ X)
        fit.estimation_start, fit.estimation_end = est_dates[0], est_dates[-1]

    event = Event(day0=day0, fit=fit)
    running = 0.0
    first, last = min(w[0] for w in windows), max(w[1] for w in windows)
    for tau in range(first, last + 1):
        d, r, x, f = at(tau)
        day = Day(tau=tau, date=d, ret=r, mkt=None)
        if fit.sigma is not None and x is not None and f is not None:
            day.x = np.array([1.0, *x])
            day.normal = f + float(day.x @ np.array([fit.alpha, *fit.loadings]))
        if day.normal is not None and r is not None:
            day.ar = r - day.normal
            running += day.ar
            day.cum_ar = running
            day.var = fit.sigma**2 * (1.0 + float(day.x @ fit.xtx_inv @ day.x))
            day.t = day.ar / math.sqrt(day.var)
            day.p = two_sided_t(day.t, fit.df_resid)
        event.days[tau] = day
    for start, end in windows:
        event.windows[(start, end)] = window_stats(list(event.days.values()), fit, start, end, kind)
    return event


@dataclass
class VolumeResult:
    mean: float | None  # v̄ over the estimation days with a volume
    sd: float | None  # sample standard deviation (T - 1)
    n_obs: int
    days: dict[int, tuple[float | None, float | None]]  # τ -> (AV, t) on the reported days
    windows: dict[tuple[int, int], tuple[float | None, float | None]]  # (start, end) -> (mean AV, t)


def abnormal_volume(
    volume: dict[date, float],
    sessions: list[date],
    day0: date,
    *,
    estimation: tuple[int, int] = (-260, -11),
    windows: tuple[tuple[int, int], ...] = ((0, 0), (-1, 1), (-5, 5)),
    min_obs: int = 120,
) -> VolumeResult:
    """Abnormal log volume of one event row (mean model of ``v = ln(1 + V)``)."""
    i0 = sessions.index(day0)

    def v(tau: int) -> float | None:
        i = i0 + tau
        if not 0 <= i < len(sessions) or sessions[i] not in volume:
            return None
        return math.log(1.0 + volume[sessions[i]])

    est = [x for tau in range(estimation[0], estimation[1] + 1) if (x := v(tau)) is not None]
    T = len(est)
    out = VolumeResult(mean=None, sd=None, n_obs=T, days={}, windows={})
    mean = sum(est) / T if T else 0.0
    sd = math.sqrt(sum((x - mean) ** 2 for x in est) / (T - 1)) if T > 1 else 0.0
    if T < min_obs or sd <= 0:
        return out
    out.mean, out.sd = mean, sd
    first, last = min(w[0] for w in windows), max(w[1] for w in windows)
    for tau in range(first, last + 1):
        x = v(tau)
        out.days[tau] = (None, None) if x is None else (x - mean, (x - mean) / (sd * math.sqrt(1 + 1 / T)))
    for start, end in windows:
        avs = [out.days[t][0] for t in range(start, end + 1) if out.days[t][0] is not None]
        if not avs:
            out.windows[(start, end)] = (None, None)
            continue
        mav = sum(avs) / len(avs)
        out.windows[(start, end)] = (mav, mav / (sd * math.sqrt(1 / len(avs) + 1 / T)))
    return out


def near(got: float | None, want: float | None, what: object = "", rel: float = 1e-10, abs_: float = 1e-13) -> None:
    """Assert ``got`` equals ``want`` within ``max(abs_, rel·|want|)`` (both None also passes)."""
    if want is None:
        assert got is None, (what, got)
        return
    assert got is not None, (what, want)
    assert abs(got - want) <= max(abs_, rel * abs(want)), (what, got, want, got - want)
