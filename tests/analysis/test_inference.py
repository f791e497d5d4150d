"""The test battery (``analysis.inference``) against independent computations.

* every statistic, p-value, event count and mean of every group, day and window of a seeded
  synthetic market (a common industry factor correlates the firms; missing days in the
  estimation and event windows; events sharing a date; an event without a model; related
  tickers) equals the plain-loop implementation of ``reference_tests.py`` to 1e-10, for the
  four model / return combinations;
* hand-computed tiny cases of every test through ``run_battery``;
* scipy.stats.wilcoxon (exact and normal with ties) and scipy.stats.binomtest;
* nulls with reasons, the output grid and its order.
"""

from __future__ import annotations

import math
import functools
from datetime import date

import numpy as np
import polars as pl
import pytest
from scipy import stats

import reference as ref
import reference_tests as rt
from analysis.engine import run_study
from analysis.inference import TEST_NAMES, run_battery, windows_tested
from analysis.specs import EventSpec, StudySpec, Window, events_frame

near = functools.partial(ref.near, abs_=1e-12)



# --- a synthetic market: a common industry factor, holes, same-date clusters ----------------------

MKT = "^MKT"
NOV, JUN, AUG = date(2025, 11, 3), date(2025, 6, 2), date(2025, 8, 11)
EVENTS = (
    # id, ticker, day 0, group, related
    ("aaa-nov", "AAA", NOV, "cluster", ("FFF",)),
    ("bbb-nov", "BBB", NOV, "cluster", ()),
    ("ccc-nov", "CCC", NOV, "cluster", ()),
    ("ddd-nov", "DDD", NOV, "cluster", ()),
    ("late-nov", "LATE", NOV, "cluster", ()),  # listed too late: no model, enters no test
    ("aaa-jun", "AAA", JUN, "cluster", ()),
    ("eee-jun", "EEE", JUN, "cluster", ()),
    ("bbb-jun", "BBB", JUN, "spread", ()),
    ("ccc-aug", "CCC", AUG, "spread", ()),
    ("ddd-jul", "DDD", date(2025, 7, 14), "spread", ()),
    ("eee-sep", "EEE", date(2025, 9, 22), "spread", ()),
    ("fff-oct", "FFF", date(2025, 10, 6), "solo", ()),
)
# (ticker, beta, industry loading, sigma, effect on 2025-11-03)
FIRMS = (("AAA", 1.3, 1.0, 0.014, 0.05), ("BBB", 0.7, 0.8, 0.012, 0.03), ("CCC", 1.0, 1.2, 0.018, -0.01),
         ("DDD", 0.4, 0.6, 0.010, 0.02), ("EEE", 1.1, 0.9, 0.016, 0.0), ("FFF", 0.9, 1.0, 0.015, 0.0),
         ("LATE", 1.0, 0.5, 0.02, 0.0))


@pytest.fixture(scope="module")
def market(sessions):
    """Seeded prices of ``^MKT`` and seven firms loading on one industry factor.

    Holes: ``^MKT`` has no price on 2025-04-15 (estimation of the November events); ``AAA``
    none on 2025-02-10 (estimation) nor 2025-11-05 (τ = +2, +3 of aaa-nov missing); ``CCC`` none
    on 2025-10-30 (τ = -2, -1 of ccc-nov missing); ``EEE`` none on 2025-06-03 (τ = +1, +2 of
    eee-jun); ``LATE`` is listed on 2025-09-02.
    """
    rng = np.random.default_rng(31)
    span = [d for d in sessions if date(2024, 1, 2) <= d <= date(2025, 12, 31)]
    n = len(span)
    rm = rng.normal(0.0004, 0.009, n)
    industry = rng.normal(0.0, 0.008, n)
    series: dict[str, dict[date, float]] = {MKT: dict(zip(span, 5000 * np.cumprod(1 + rm), strict=True))}
    for ticker, beta, load, sigma, effect in FIRMS:
        r = 0.0002 + beta * rm + load * industry + rng.standard_t(5, n) * sigma * math.sqrt(3 / 5)
        r[span.index(NOV)] += effect
        series[ticker] = dict(zip(span, 60 * np.cumprod(1 + r), strict=True))
    series["LATE"] = {d: p for d, p in series["LATE"].items() if d >= date(2025, 9, 2)}
    for ticker, day in ((MKT, date(2025, 4, 15)), ("AAA", date(2025, 2, 10)), ("AAA", date(2025, 11, 5)),
                        ("CCC", date(2025, 10, 30)), ("EEE", date(2025, 6, 3))):
        del series[ticker][day]
    frame = pl.DataFrame(
        [(t, d, p, p) for t, ps in series.items() for d, p in ps.items()],
        schema={"ticker": pl.String, "date": pl.Date, "close": pl.Float64, "adj_close": pl.Float64},
        orient="row",
    )
    return series, frame


def event_specs() -> list[EventSpec]:
    return [EventSpec(i, (t,), d, "intraday", benchmark=MKT, group=g, related=rel) for i, t, d, g, rel in EVENTS]


MODEL_KINDS = [("market", "simple"), ("constant-mean", "simple"), ("market-adjusted", "simple"), ("market", "log")]
SPEC_WINDOWS = (Window(0, 0), Window(-1, 1), Window(-5, 5), Window(0, 3))


@pytest.fixture(scope="module", params=MODEL_KINDS, ids=[f"{m}-{k}" for m, k in MODEL_KINDS])
def study(request, market, sessions, cal):
    model, kind = request.param
    series, frame = market
    spec = StudySpec(model=model, returns=kind, windows=SPEC_WINDOWS)
    result = run_study(events_frame(event_specs()), frame, spec, cal, max_regressions=0)
    rets = {t: ref.session_returns(p, sessions, kind) for t, p in series.items()}
    refs = {
        i: ref.event_study(rets[t], rets[MKT], sessions, d, windows=tuple((w.start, w.end) for w in spec.windows),
                           model=model, min_obs=spec.min_estimation_obs, kind=kind)
        for i, t, d, _, _ in EVENTS
    }
    return spec, result, refs


def members_of(group: str, refs) -> list[tuple[ref.Event, date]]:
    return [(refs[i], d) for i, _, d, g, _ in EVENTS if g == group and refs[i].fit.sigma is not None]


def test_every_statistic_equals_the_plain_loop_reference(study):
    spec, res, refs = study
    windows = windows_tested(spec)
    assert len(windows) == 11 + 3  # the 11 reported days, [-1,+1], [-5,+5], [0,+3] ([0,0] is day 0)
    assert res.tests.height == 3 * len(windows) * len(TEST_NAMES)
    got = {(r["group"], r["window_start"], r["window_end"], r["test"]): r for r in res.tests.iter_rows(named=True)}
    est = (spec.estimation.start, spec.estimation.end)
    for group in ("cluster", "spread"):
        members = members_of(group, refs)
        assert len(members) == (6 if group == "cluster" else 4)
        for w in windows:
            want = rt.battery(members, (w.start, w.end), est)
            assert set(want) == set(TEST_NAMES)
            for test, r in want.items():
                row = got[(group, w.start, w.end, test)]
                what = (spec.model, spec.returns, group, w.start, w.end, test)
                assert row["reason"] is None, (what, row["reason"])
                assert row["n_events"] == r.n_events, what
                near(row["statistic"], r.statistic, what)
                near(row["p_value"], r.p_value, ("p", *what))
                near(row["mean"], r.mean, ("mean", *what))


def test_missing_days_change_the_event_counts(study):
    _, res, _ = study
    n = {(r["window_start"], r["window_end"]): r["n_events"]
         for r in res.tests.filter(pl.col("group") == "cluster", pl.col("test") == "bmp_t").iter_rows(named=True)}
    # ccc-nov has no return on τ = -2, -1; aaa-nov none on +2, +3; eee-jun none on +1, +2
    assert (n[(-2, -2)], n[(-1, -1)], n[(0, 0)], n[(1, 1)], n[(2, 2)], n[(3, 3)]) == (5, 5, 6, 5, 4, 5)
    assert n[(-1, 1)] == n[(0, 3)] == n[(-5, 5)] == 6  # every event has some day in these windows


def test_kp_adjustment_acts_on_same_date_events_only(study):
    _, res, refs = study
    t = {(r["group"], r["window_start"], r["window_end"], r["test"]): r["statistic"] for r in res.tests.iter_rows(named=True)}
    for w in ((0, 0), (-1, 1), (-3, -3)):
        # the cluster group has 4 events on 2025-11-03 and 2 on 2025-06-02, all loading on one factor
        bmp, kp = t[("cluster", *w, "bmp_t")], t[("cluster", *w, "kp_adjusted_bmp_t")]
        assert abs(kp) < abs(bmp) * 0.95, (w, bmp, kp)
        # no two events of the spread group share a day 0: KP equals BMP
        assert t[("spread", *w, "kp_adjusted_bmp_t")] == pytest.approx(t[("spread", *w, "bmp_t")], rel=1e-14)
    # the residual correlation of same-date firms is what the factor implies (positive, sizeable)
    aaa, bbb = refs["aaa-nov"], refs["bbb-nov"]
    common = sorted(set(aaa.est_ar) & set(bbb.est_ar))
    assert np.corrcoef([aaa.est_ar[c] for c in common], [bbb.est_ar[c] for c in common])[0, 1] > 0.1


def test_solo_group_and_unfitted_event(study):
    _, res, _ = study
    solo = {r["test"]: r for r in res.tests.filter(pl.col("group") == "solo", pl.col("window_start") == 0,
                                                    pl.col("window_end") == 0).iter_rows(named=True)}
    for test in ("cross_sectional_t", "bmp_t", "kp_adjusted_bmp_t", "grank_t"):
        assert solo[test]["statistic"] is None and solo[test]["p_value"] is None, test
        assert solo[test]["reason"] == "needs at least 2 events" and solo[test]["n_events"] == 1
    for test in ("mackinlay_j1", "patell_z", "brown_warner_cda", "sign", "corrado_rank"):
        assert solo[test]["statistic"] is not None and solo[test]["reason"] is None, test
    # late-nov (no model) and the related ticker FFF of aaa-nov are not in the cluster group
    assert res.tests.filter(pl.col("group") == "cluster")["n_events"].max() == 6


# --- hand-computed tiny cases ------------------------------------------------------------------
#
# Two events (rows 0, 1) of group "g", both with day 0 = session 100, σ = 1, d = 10 residual
# degrees of freedom; estimation days -4..-1, reported days 0..1:
#
#   row 0: residuals e = (1, -2, 3, -1)   ARs: day 0 = 2 (s.e. 1), day 1 = -1 (s.e. 1); CAR[0,1] = 1, s.e. √2
#   row 1: residuals e = (2, -1, -3, 1)   ARs: day 0 = 4 (s.e. 2), day 1 = 3 (s.e. 1); CAR[0,1] = 7, s.e. √5

def tiny(day0=(100, 100), extra=None):
    events = pl.DataFrame({"row": [0, 1], "group": ["g", "g"], "day0_session": list(day0),
                           "sigma": [1.0, 1.0], "df_resid": [10, 10]},
                          schema={"row": pl.UInt32, "group": pl.String, "day0_session": pl.Int32,
                                  "sigma": pl.Float64, "df_resid": pl.Int32})
    obs = pl.DataFrame(
        [(0, 0, 0, 2.0, 1.0), (1, 0, 0, 4.0, 2.0), (0, 1, 1, -1.0, 1.0), (1, 1, 1, 3.0, 1.0),
         (0, 0, 1, 1.0, math.sqrt(2)), (1, 0, 1, 7.0, math.sqrt(5))],
        schema={"row": pl.UInt32, "window_start": pl.Int32, "window_end": pl.Int32, "car": pl.Float64, "car_se": pl.Float64},
        orient="row",
    )
    resid = {0: (1.0, -2.0, 3.0, -1.0), 1: (2.0, -1.0, -3.0, 1.0)}
    ars = {0: (2.0, -1.0), 1: (4.0, 3.0)}
    daily = pl.DataFrame(
        [(r, t, e, True) for r, es in resid.items() for t, e in zip(range(-4, 0), es, strict=True)]
        + [(r, t, a, False) for r, xs in ars.items() for t, a in zip((0, 1), xs, strict=True)],
        schema={"row": pl.UInt32, "event_day": pl.Int32, "abnormal_ret": pl.Float64, "in_estimation": pl.Boolean},
        orient="row",
    )
    out = run_battery(events, obs, daily, (Window(0, 0), Window(1, 1), Window(0, 1)))
    return {(r["window_start"], r["window_end"], r["test"]): r for r in out.iter_rows(named=True)}


def test_tiny_cross_sectional_j1_patell_bmp():
    got = tiny()
    # day 0: ARs 2, 4 -> mean 3, s = √2, t = 3 / (√2/√2) = 3 (df 1)
    near(got[(0, 0, "cross_sectional_t")]["statistic"], 3.0)
    near(got[(0, 0, "cross_sectional_t")]["p_value"], 2 * stats.t.sf(3.0, 1))
    near(got[(0, 0, "cross_sectional_t")]["mean"], 3.0)
    # J1 = 3 / (√(1 + 4) / 2) = 6/√5
    near(got[(0, 0, "mackinlay_j1")]["statistic"], 6 / math.sqrt(5))
    # standardised: 2/1 = 2, 4/2 = 2 -> Patell = 4 / √(2 · 10/8) = 4/√2.5; BMP: no dispersion
    near(got[(0, 0, "patell_z")]["statistic"], 4 / math.sqrt(2.5))
    near(got[(0, 0, "patell_z")]["p_value"], 2 * stats.norm.sf(4 / math.sqrt(2.5)))
    assert got[(0, 0, "bmp_t")]["statistic"] is None
    assert got[(0, 0, "bmp_t")]["reason"] == "the standardised CARs have no cross-sectional dispersion"
    # window [0,1]: SCAR = 1/√2, 7/√5; BMP = mean / (sd / √2)
    z = [1 / math.sqrt(2), 7 / math.sqrt(5)]
    bmp = (sum(z) / 2) / (abs(z[0] - z[1]) / math.sqrt(2) / math.sqrt(2))
    near(got[(0, 1, "bmp_t")]["statistic"], bmp)
    near(got[(0, 1, "bmp_t")]["p_value"], 2 * stats.t.sf(abs(bmp), 1))
    near(got[(0, 1, "patell_z")]["statistic"], sum(z) / math.sqrt(2.5))


def test_tiny_kp_with_a_shared_date():
    # ρ(e0, e1): e0 = (1, -2, 3, -1) mean 1/4, e1 = (2, -1, -3, 1) mean -1/4
    # deviations (.75, -2.25, 2.75, -1.25) and (2.25, -.75, -2.75, 1.25):
    # Σxy = 1.6875 + 1.6875 - 7.5625 - 1.5625 = -5.75; Σx² = 14.75; Σy² = 14.75 -> ρ = -5.75 / 14.75
    rho = -5.75 / 14.75
    got = tiny()
    z = [1 / math.sqrt(2), 7 / math.sqrt(5)]
    bmp = (sum(z) / 2) / (abs(z[0] - z[1]) / 2)
    kp = bmp * math.sqrt((1 - rho) / (1 + rho))  # N = 2: r̄ = ρ
    near(got[(0, 1, "kp_adjusted_bmp_t")]["statistic"], kp)
    assert got[(0, 1, "kp_adjusted_bmp_t")]["statistic"] != pytest.approx(bmp)
    # different days 0: no adjustment
    apart = tiny(day0=(100, 101))
    near(apart[(0, 1, "kp_adjusted_bmp_t")]["statistic"], bmp)


def test_tiny_brown_warner_cda():
    # estimation AARs: (1.5, -1.5, 0, 0), mean 0, S² = (2.25 + 2.25) / 3 = 1.5
    got = tiny()
    near(got[(0, 0, "brown_warner_cda")]["statistic"], 3 / math.sqrt(1.5))  # AAR_0 = 3
    near(got[(0, 0, "brown_warner_cda")]["p_value"], 2 * stats.t.sf(3 / math.sqrt(1.5), 3))
    near(got[(0, 1, "brown_warner_cda")]["statistic"], (3 + 1) / (math.sqrt(2) * math.sqrt(1.5)))
    near(got[(0, 1, "brown_warner_cda")]["mean"], 4.0)


def test_tiny_sign_and_generalized_sign():
    got = tiny()
    # day 1: ARs -1, 3 -> N+ = 1 of 2: Z = 0, p = 1;  window [0,1]: 2 of 2: Z = (2 - 1)/(√2/2) = √2, p = .5
    near(got[(1, 1, "sign")]["statistic"], 0.0)
    near(got[(1, 1, "sign")]["p_value"], 1.0)
    near(got[(0, 1, "sign")]["statistic"], math.sqrt(2))
    near(got[(0, 1, "sign")]["p_value"], 0.5)
    # p̂ = (2/4 + 2/4) / 2 = .5 -> generalized sign = sign test Z with normal p
    near(got[(0, 1, "generalized_sign")]["statistic"], math.sqrt(2))
    near(got[(0, 1, "generalized_sign")]["p_value"], 2 * stats.norm.sf(math.sqrt(2)))


def test_tiny_corrado_rank_and_cz_sign():
    # ranking samples (6 days each), U = K/7 - 1/2:
    #   row 0: (1, -2, 3, -1, 2, -1): ranks (4, 1, 6, 2.5, 5, 2.5)
    #   row 1: (2, -1, -3, 1, 4, 3):  ranks (4, 2, 1, 3, 6, 5)
    r0, r1 = (4, 1, 6, 2.5, 5, 2.5), (4, 2, 1, 3, 6, 5)
    ubar = [((a + b) / 2) / 7 - 0.5 for a, b in zip(r0, r1, strict=True)]
    s_u = math.sqrt(sum(u * u for u in ubar) / 6)
    got = tiny()
    near(got[(0, 0, "corrado_rank")]["statistic"], ubar[4] / s_u)
    near(got[(0, 1, "corrado_rank")]["statistic"], (ubar[4] + ubar[5]) / (math.sqrt(2) * s_u))
    # medians: row 0 median of (-2, -1, -1, 1, 2, 3) = 0; row 1 of (-3, -1, 1, 2, 3, 4) = 1.5
    g0 = [1, -1, 1, -1, 1, -1]
    g1 = [1, -1, -1, -1, 1, 1]
    gbar = [(a + b) / math.sqrt(2) for a, b in zip(g0, g1, strict=True)]
    s_g = math.sqrt(sum(g * g for g in gbar) / 6)
    near(got[(0, 0, "corrado_zivney_sign")]["statistic"], gbar[4] / s_g)
    near(got[(1, 1, "corrado_zivney_sign")]["statistic"], gbar[5] / s_g)


def test_tiny_grank():
    # window [0,1]: SCAR = 1/√2, 7/√5, S_SCAR = |difference|/√2; SCAR* = SCAR / S_SCAR
    z = np.array([1 / math.sqrt(2), 7 / math.sqrt(5)])
    g = z / (abs(z[0] - z[1]) / math.sqrt(2))  # 0.3... and 1.5...
    sar = np.array([[1.0, -2.0, 3.0, -1.0], [2.0, -1.0, -3.0, 1.0]])
    u = np.array([stats.rankdata(np.append(sar[i], g[i])) / 6 - 0.5 for i in range(2)])  # M = 5 points, /(M+1)
    ubar = u.mean(axis=0)
    s = math.sqrt((ubar**2).sum() / 5)  # T = 4 estimation days + the event point
    zz = ubar[-1] / s
    t = zz * math.sqrt(3 / (4 - zz**2))
    got = tiny()[(0, 1, "grank_t")]
    near(got["statistic"], t)
    near(got["p_value"], 2 * stats.t.sf(abs(t), 3))


def test_tiny_wilcoxon_and_reasons():
    got = tiny()
    # window [0,1]: CARs 1, 7: W+ = 3, n = 2: z = (3 - 1.5) / √(2·3·5/24), exact p = 2 · 1/4
    near(got[(0, 1, "wilcoxon_signed_rank")]["statistic"], 1.5 / math.sqrt(30 / 24))
    near(got[(0, 1, "wilcoxon_signed_rank")]["p_value"], 0.5)
    near(got[(0, 1, "wilcoxon_signed_rank")]["p_value"], stats.wilcoxon([1.0, 7.0]).pvalue)
    assert {k[2] for k in got} == set(TEST_NAMES) and len(got) == 3 * len(TEST_NAMES)


# --- scipy ---------------------------------------------------------------------------------------


def battery_on(cars: list[float]) -> dict[str, dict]:
    """The battery on one window of given CARs (s.e. 1, no estimation window to speak of)."""
    n = len(cars)
    events = pl.DataFrame({"row": range(n), "group": ["g"] * n, "day0_session": range(n), "sigma": [1.0] * n,
                           "df_resid": [50] * n},
                          schema={"row": pl.UInt32, "group": pl.String, "day0_session": pl.Int32,
                                  "sigma": pl.Float64, "df_resid": pl.Int32})
    obs = pl.DataFrame({"row": range(n), "window_start": [0] * n, "window_end": [0] * n, "car": cars, "car_se": [1.0] * n},
                       schema={"row": pl.UInt32, "window_start": pl.Int32, "window_end": pl.Int32,
                               "car": pl.Float64, "car_se": pl.Float64})
    daily = pl.DataFrame(
        [(r, t, float((-1) ** t * (t + r + 1)), True) for r in range(n) for t in range(-3, 0)]
        + [(r, 0, c, False) for r, c in enumerate(cars)],
        schema={"row": pl.UInt32, "event_day": pl.Int32, "abnormal_ret": pl.Float64, "in_estimation": pl.Boolean},
        orient="row",
    )
    out = run_battery(events, obs, daily, (Window(0, 0),))
    return {r["test"]: r for r in out.iter_rows(named=True)}


@pytest.mark.parametrize("n", [3, 12, 50, 51, 80])
def test_wilcoxon_and_sign_equal_scipy(n):
    rng = np.random.default_rng(n)
    cars = rng.normal(0.4, 1.0, n).tolist()
    got = battery_on(cars)
    w = got["wilcoxon_signed_rank"]
    near(w["p_value"], stats.wilcoxon(cars).pvalue)  # exact for n <= 50, normal above
    r_plus = stats.wilcoxon(cars, alternative="greater").statistic
    near(w["statistic"], (r_plus - n * (n + 1) / 4) / math.sqrt(n * (n + 1) * (2 * n + 1) / 24))
    pos = sum(c > 0 for c in cars)
    near(got["sign"]["p_value"], stats.binomtest(pos, n, 0.5).pvalue)
    near(got["sign"]["statistic"], (pos - n / 2) / (math.sqrt(n) / 2))


def test_wilcoxon_with_ties_and_zeros_uses_the_normal_approximation():
    cars = [0.0, 1.0, -1.0, 2.0, 2.0, 2.0, 3.0, -0.5, 4.0, 4.0, 5.0, 6.0, -2.0, 7.0, 8.0]
    got = battery_on(cars)
    want = stats.wilcoxon(cars, method="asymptotic")
    w = got["wilcoxon_signed_rank"]
    assert w["n_events"] == 14  # the zero is dropped
    near(w["p_value"], want.pvalue)
    near(abs(w["statistic"]), abs(want.zstatistic))
    assert got["sign"]["n_events"] == 14
    near(got["sign"]["p_value"], stats.binomtest(11, 14, 0.5).pvalue)


def test_nulls_with_reasons():
    got = battery_on([0.0, 0.0])
    assert got["sign"]["statistic"] is None and got["sign"]["reason"] == "all abnormal returns in the window are zero"
    assert got["wilcoxon_signed_rank"]["reason"] == "all abnormal returns in the window are zero"
    assert got["cross_sectional_t"]["reason"] == "the CARs have no cross-sectional dispersion"
    assert got["mackinlay_j1"]["statistic"] == 0.0  # computable: CAAR 0
    one = battery_on([0.5])
    assert one["cross_sectional_t"]["reason"] == "needs at least 2 events" and one["cross_sectional_t"]["n_events"] == 1


def test_groups_without_events_get_rows_with_a_reason():
    events = pl.DataFrame({"row": [0], "group": ["empty"], "day0_session": [5], "sigma": [None], "df_resid": [None]},
                          schema={"row": pl.UInt32, "group": pl.String, "day0_session": pl.Int32,
                                  "sigma": pl.Float64, "df_resid": pl.Int32})
    obs = pl.DataFrame(schema={"row": pl.UInt32, "window_start": pl.Int32, "window_end": pl.Int32,
                               "car": pl.Float64, "car_se": pl.Float64})
    daily = pl.DataFrame(schema={"row": pl.UInt32, "event_day": pl.Int32, "abnormal_ret": pl.Float64,
                                 "in_estimation": pl.Boolean})
    out = run_battery(events, obs, daily, (Window(0, 0), Window(-1, 1)))
    assert out.height == 2 * len(TEST_NAMES)
    assert out["test"].to_list()[: len(TEST_NAMES)] == list(TEST_NAMES)
    assert (out["n_events"] == 0).all() and out["statistic"].is_null().all()
    assert set(out["reason"]) == {"no event of the group has an abnormal return in the window"}


def test_kp_correlations_of_complete_clusters_in_linear_time_equal_the_correlation_matrix():
    """The linear-time sums of clusters whose events have every day equal the sums over their
    correlation matrices (pairwise-complete path), with a constant (no variation) event."""
    from analysis.inference.kernels import complete_pair_sums as _complete_pair_sums
    from analysis.inference.kernels import pairwise_complete_sums as _pairwise_complete_sums

    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 0.02, (7, 5, 40)) + rng.normal(0.0, 0.01, (7, 1, 40))  # correlated within a cluster
    x[2, 3] = 0.004
    a = (rng.random((7, 5, 3)) < 0.7).astype(np.float64)
    np.testing.assert_allclose(_complete_pair_sums(x, a), _pairwise_complete_sums(x, a), rtol=1e-12, atol=1e-13)
