"""Independent plain-loop implementation of the group tests, for the tests only.

Written from the papers (Brown & Warner 1985; Patell 1976; Boehmer, Musumeci & Poulsen 1991;
Kolari & Pynnönen 2010, 2011; Corrado 1989; Corrado & Zivney 1992; Cowan 1992; Campbell &
Wasley 1993; Wilcoxon 1945) and the choices documented in ``analysis/inference/__init__.py``, sharing
no code with ``analysis``: it works on the :class:`reference.Event` records of ``reference.py``
(estimation residuals ``est_ar``, reported days ``days``, windows ``windows``), loops over events
and days one at a time, ranks with ``scipy.stats.rankdata`` per event, correlates with
``numpy.corrcoef`` and takes p-values from ``scipy.stats``.

One group and one test window at a time::

    battery(members, window, estimation) -> {test: Result}

``members`` are the group's primary events with a fitted model, as ``(Event, day0)``.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
from scipy import stats

from reference import Event


@dataclass
class Result:
    statistic: float | None
    p_value: float | None
    n_events: int
    mean: float | None


def _t_p(t: float, df: float) -> float:
    return float(2.0 * stats.t.sf(abs(t), df))


def _z_p(z: float) -> float:
    return float(2.0 * stats.norm.sf(abs(z)))


def window_value(ev: Event, window: tuple[int, int]) -> tuple[float, float] | None:
    """(CAR, Var(CAR)) of the event over the window; a one-day window is the day's (AR, Var)."""
    start, end = window
    if start == end:
        day = ev.days.get(start)
        return None if day is None or day.ar is None else (day.ar, day.var)
    w = ev.windows[window]
    return None if w.car is None else (w.car, w.var)


def ranking_sample(ev: Event) -> dict[int, float]:
    """Estimation residuals and the reported days' ARs of one event, by τ."""
    out = dict(ev.est_ar)
    for tau, day in ev.days.items():
        if day.ar is not None:
            out[tau] = day.ar
    return out


def battery(members: list[tuple[Event, object]], window: tuple[int, int], estimation: tuple[int, int]) -> dict[str, Result]:
    start, end = window
    inside = [(ev, d0, *v) for ev, d0 in members if (v := window_value(ev, window)) is not None]
    n = len(inside)
    cars = [c for _, _, c, _ in inside]
    mean = sum(cars) / n if n else None
    out: dict[str, Result] = {}

    def put(name: str, stat: float | None, p: float | None, count: int = n, m: float | None = mean) -> None:
        out[name] = Result(stat, p, count, m)

    # --- cross-sectional t (Brown & Warner 1985) and J1 (MacKinlay 1997)
    if n >= 2:
        sd = math.sqrt(sum((c - mean) ** 2 for c in cars) / (n - 1))
        t = mean / (sd / math.sqrt(n))
        put("cross_sectional_t", t, _t_p(t, n - 1))
    else:
        put("cross_sectional_t", None, None)
    var_sum = sum(v for *_, v in inside)
    j1 = mean / math.sqrt(var_sum / n**2)
    put("mackinlay_j1", j1, _z_p(j1))

    # --- standardised CARs: Patell, BMP, Kolari-Pynnönen
    scar = [c / math.sqrt(v) for _, _, c, v in inside]
    dfs = [ev.fit.df_resid for ev, *_ in inside]
    patell = sum(scar) / math.sqrt(sum(d / (d - 2) for d in dfs))
    put("patell_z", patell, _z_p(patell))
    zbar = sum(scar) / n
    sz = math.sqrt(sum((z - zbar) ** 2 for z in scar) / (n - 1))
    bmp = zbar / (sz / math.sqrt(n))
    put("bmp_t", bmp, _t_p(bmp, n - 1))
    rho_sum = 0.0
    for a in range(n):
        for b in range(a + 1, n):
            ea, da = inside[a][0], inside[a][1]
            eb, db = inside[b][0], inside[b][1]
            if da != db:
                continue
            common = sorted(set(ea.est_ar) & set(eb.est_ar))
            rho_sum += float(np.corrcoef([ea.est_ar[t] for t in common], [eb.est_ar[t] for t in common])[0, 1])
    rbar = rho_sum / (n * (n - 1) / 2)
    kp = bmp * math.sqrt((1 - rbar) / (1 + (n - 1) * rbar))
    put("kp_adjusted_bmp_t", kp, _t_p(kp, n - 1))

    # --- Brown & Warner (1985) crude dependence adjustment
    est_aar = []
    for tau in range(estimation[0], estimation[1] + 1):
        vals = [ev.est_ar[tau] for ev, _ in members if tau in ev.est_ar]
        if vals:
            est_aar.append(sum(vals) / len(vals))
    grand = sum(est_aar) / len(est_aar)
    s_aar = math.sqrt(sum((a - grand) ** 2 for a in est_aar) / (len(est_aar) - 1))
    caar, days_with = 0.0, 0
    for tau in range(start, end + 1):
        vals = [ev.days[tau].ar for ev, _ in members if ev.days[tau].ar is not None]
        if vals:
            caar += sum(vals) / len(vals)
            days_with += 1
    bw = caar / (math.sqrt(days_with) * s_aar)
    put("brown_warner_cda", bw, _t_p(bw, len(est_aar) - 1), m=caar)

    # --- sign test (exact binomial p, scipy) and Cowan's generalized sign test
    pos = sum(c > 0 for c in cars)
    nonzero = sum(c != 0 for c in cars)
    z = (pos - nonzero / 2) / (math.sqrt(nonzero) / 2)
    put("sign", z, float(stats.binomtest(pos, nonzero, 0.5).pvalue), count=nonzero)
    p_hat = sum(sum(e > 0 for e in ev.est_ar.values()) / len(ev.est_ar) for ev, *_ in inside) / n
    gz = (pos - n * p_hat) / math.sqrt(n * p_hat * (1 - p_hat))
    put("generalized_sign", gz, _z_p(gz))

    # --- Wilcoxon signed rank (scipy's default p-value)
    nz = [c for c in cars if c != 0]
    ranks = stats.rankdata([abs(c) for c in nz])
    w_plus = sum(r for r, c in zip(ranks, nz, strict=True) if c > 0)
    m = len(nz)
    ties = {}
    for c in nz:
        ties[abs(c)] = ties.get(abs(c), 0) + 1
    var = m * (m + 1) * (2 * m + 1) / 24 - sum(t**3 - t for t in ties.values()) / 48
    wz = (w_plus - m * (m + 1) / 4) / math.sqrt(var)
    put("wilcoxon_signed_rank", wz, float(stats.wilcoxon(nz).pvalue), count=m)

    # --- Corrado (1989) rank and Corrado & Zivney (1992) sign, cumulated (Campbell & Wasley 1993)
    u: dict[int, list[float]] = {}
    g: dict[int, list[float]] = {}
    for ev, _ in members:
        sample = ranking_sample(ev)
        taus = sorted(sample)
        ranks = stats.rankdata([sample[t] for t in taus])
        med = statistics.median(sample.values())
        for t, r in zip(taus, ranks, strict=True):
            u.setdefault(t, []).append(r / (len(taus) + 1) - 0.5)
            g.setdefault(t, []).append(float(np.sign(sample[t] - med)))
    ubar = {t: sum(v) / len(v) for t, v in u.items()}
    gbar = {t: sum(v) / math.sqrt(len(v)) for t, v in g.items()}
    s_u = math.sqrt(sum(x * x for x in ubar.values()) / len(ubar))
    s_g = math.sqrt(sum(x * x for x in gbar.values()) / len(gbar))
    in_w = [t for t in range(start, end + 1) if t in ubar]
    rank = sum(ubar[t] for t in in_w) / (math.sqrt(len(in_w)) * s_u)
    put("corrado_rank", rank, _z_p(rank))
    czs = sum(gbar[t] for t in in_w) / (math.sqrt(len(in_w)) * s_g)
    put("corrado_zivney_sign", czs, _z_p(czs))

    # --- Kolari & Pynnönen (2011) GRANK
    s_scar = statistics.stdev(scar)
    u_est: dict[int, list[float]] = {}
    u0 = []
    for (ev, *_), z_i in zip(inside, scar, strict=True):
        taus = sorted(ev.est_ar)
        combined = [ev.est_ar[t] / ev.fit.sigma for t in taus] + [z_i / s_scar]
        ranks = stats.rankdata(combined)
        size = len(combined) + 1
        for t, r in zip(taus, ranks[:-1], strict=True):
            u_est.setdefault(t, []).append(r / size - 0.5)
        u0.append(ranks[-1] / size - 0.5)
    points = len(u_est) + 1
    total = sum(len(v) / n * (sum(v) / len(v)) ** 2 for v in u_est.values()) + (sum(u0) / n) ** 2
    s_ubar = math.sqrt(total / points)
    zg = (sum(u0) / n) / s_ubar
    tg = zg * math.sqrt((points - 2) / (points - 1 - zg**2))
    put("grank_t", tg, _t_p(tg, points - 2))
    return out
