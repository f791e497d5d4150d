"""Confounding events, the drop_confounded estimation window and estimation outliers.

Each is checked against a plain-loop reference (pairs of events, days of a window, residuals
of a numpy / reference OLS) and on the shipped catalog with the shared real prices: Amazon's
Q3 2025 results sit on day -1 of the AWS-OpenAI deal; NVIDIA's OpenAI letter of intent
(2025-09-22) sits in the estimation window of the deal's related ticker NVDA.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

import numpy as np
import polars as pl
import pytest

import reference as ref
from analysis import schema as S
from analysis.calendar import exchange_calendar
from analysis.catalog import parse_catalog_toml
from analysis.confounders import (
    BEFORE, BETWEEN, ESTIMATION_WINDOW, EVENT_WINDOW, OUTLIER_Z, contaminated_days, find_confounders,
)
from analysis.engine import AR_AT_OFFSET, run_study
from analysis.specs import EventSpec, StudySpec, Window, events_frame
from test_openai_deals import read_csv_prices, shared_prices
from tests.conftest import REPO_ROOT

AWS, Q3 = "amzn-openai-aws-2025", "amzn-q3-2025-earnings"


@pytest.fixture(scope="module")
def sessions() -> list[date]:
    return exchange_calendar("XNYS").sessions["date"].to_list()


def reference_confounders(rows: list[dict], others: list[dict], spec: StudySpec) -> list[tuple]:
    """Every pair of events sharing a ticker, one pair at a time, from the module's definitions."""
    est, span = spec.estimation, spec.report_days
    out = []
    for a in rows:
        for b, studied in [(r, True) for r in rows] + [(r, False) for r in others]:
            if a["ticker"] != b["ticker"] or a["event_id"] == b["event_id"]:
                continue
            o = b["day0_session"] - a["day0_session"]
            days = [t for t in range(o + span.start, o + span.end + 1) if est.start <= t <= est.end]
            if not (est.start <= o <= span.end or days):
                continue
            windows = [w.label for w in spec.windows if w.start <= o <= w.end]
            where = (EVENT_WINDOW if windows else ESTIMATION_WINDOW if est.start <= o <= est.end
                     else BETWEEN if o > est.end else BEFORE)
            out.append((a["event_id"], a["ticker"], b["event_id"], b["role"], o, where,
                        ", ".join(windows) or None, len(days), studied))
    return sorted(out, key=lambda r: (r[0], r[1], r[4], r[2]))


def random_rows(rng: random.Random, n: int, prefix: str, sessions: list[date]) -> list[dict]:
    rows = []
    for i in range(n):
        s = rng.randrange(3000, 3400)
        for role, ticker in [("primary", rng.choice("ABC")), ("related", rng.choice("CDE"))][: rng.choice([1, 2])]:
            rows.append({"event_id": f"{prefix}{i}", "ticker": ticker, "role": role, "day0": sessions[s], "day0_session": s})
    # one event id never lists a ticker twice
    return list({(r["event_id"], r["ticker"]): r for r in rows}.values())


@pytest.mark.parametrize(("seed", "windows"), [
    (0, (Window(0, 0), Window(-1, 1), Window(-3, 8))), (1, (Window(0, 0), Window(-1, 1), Window(-3, 8))),
    (2, (Window(-60, -40), Window(-45, -30))),  # windows long before day 0: contamination reaches past them
])
def test_self_join_equals_the_pairwise_loop(seed, windows, sessions):
    rng = random.Random(seed)
    spec = StudySpec(estimation=Window(-120, -71), windows=windows, min_estimation_obs=30) if seed == 2 else \
        StudySpec(estimation=Window(-120, -11), windows=windows, min_estimation_obs=60)
    rows, others = random_rows(rng, 60, "e", sessions), random_rows(rng, 20, "x", sessions)
    schema = {"event_id": pl.String, "ticker": pl.String, "role": pl.String, "day0": pl.Date, "day0_session": pl.Int32}
    got = find_confounders(pl.DataFrame(rows, schema=schema), spec, pl.DataFrame(others, schema=schema))
    want = reference_confounders(rows, others, spec)
    assert len(want) > 50 and {EVENT_WINDOW, ESTIMATION_WINDOW, BETWEEN} <= {w[5] for w in want}
    if seed == 2:  # days 0 after the last window day whose own windows reach back into the estimation window
        assert any(w[4] > spec.report_days.end and w[7] for w in want)
    else:
        assert BEFORE in {w[5] for w in want}
    assert got.select(S.EVENT_ID, S.TICKER, S.CONFOUNDER_ID, S.CONFOUNDER_ROLE, S.OFFSET, S.LOCATION, S.WINDOWS,
                      S.CONTAMINATED_DAYS, S.IN_STUDY).rows() == want
    assert not got[S.EVENT_ID].str.starts_with("x").any()  # context events confound, they are not listed
    days = contaminated_days(got, spec)
    want_days = sorted({(a, t, d) for a, t, _, _, o, _, _, n, _ in want if n
                        for d in range(o + spec.report_days.start, o + spec.report_days.end + 1)
                        if spec.estimation.start <= d <= spec.estimation.end})
    assert days.rows() == want_days


@pytest.fixture(scope="module")
def catalog():
    return parse_catalog_toml((REPO_ROOT / "deployments" / "events.toml").read_text(encoding="utf-8"), "events.toml")


@pytest.fixture(scope="module")
def prices(shared_data):
    return shared_prices(shared_data)


@pytest.fixture(scope="module")
def study(catalog, prices):
    return run_study(events_frame(catalog), prices, StudySpec(), exchange_calendar("XNYS"), max_regressions=0)


def test_amazon_earnings_sit_on_day_minus_1_of_the_aws_deal(study):
    conf = {(r[S.EVENT_ID], r[S.TICKER], r[S.CONFOUNDER_ID]): r for r in study.confounders.iter_rows(named=True)}
    q3 = conf[(AWS, "AMZN", Q3)]
    assert (q3[S.CONFOUNDER_DAY0], q3[S.OFFSET], q3[S.LOCATION], q3[S.WINDOWS]) == (date(2025, 10, 31), -1, EVENT_WINDOW, "[-1,+1], [-5,+5]")
    ar = study.abnormal_returns.filter((pl.col(S.EVENT_ID) == AWS) & (pl.col(S.TICKER) == "AMZN"))
    assert q3[AR_AT_OFFSET] == ar.filter(pl.col(S.DATE) == date(2025, 10, 31))[S.ABNORMAL_RET].item()
    assert conf[(Q3, "AMZN", AWS)][S.OFFSET] == 1
    # the related ticker NVDA of the deal: NVIDIA's own OpenAI event 30 sessions earlier, in its estimation window
    nv = conf[(AWS, "NVDA", "nvda-openai-loi")]
    assert (nv[S.OFFSET], nv[S.LOCATION], nv[S.CONTAMINATED_DAYS], nv[S.CONFOUNDER_ROLE]) == (-30, ESTIMATION_WINDOW, 11, "primary")
    # Oracle's results and the $300bn report share their reaction day, prices or not
    assert conf[("orcl-openai-300b-report", "ORCL", "orcl-fq1-fy26-earnings")][S.OFFSET] == 0
    ev = {(r[S.EVENT_ID], r[S.TICKER]): r for r in study.events.iter_rows(named=True)}
    row = ev[(AWS, "AMZN")]
    assert row["status"] == "flagged" and row[S.N_CONFOUNDERS] == 1
    assert f"confounding events: {Q3} (day 0 2025-10-31 = day -1, in [-1,+1], [-5,+5])" in row[S.REASON]
    assert "11 estimation day(s) kept" in ev[(AWS, "NVDA")][S.REASON] and ev[(AWS, "NVDA")][S.N_DROPPED] == 0


def test_context_events_confound_without_being_studied(catalog, prices):
    aws = [e for e in catalog if e.id == AWS]
    rest = [e for e in catalog if e.id != AWS]
    alone = run_study(events_frame(aws), prices, StudySpec(), exchange_calendar("XNYS"), max_regressions=0,
                      context=events_frame(rest))
    assert set(alone.events[S.EVENT_ID]) == {AWS}
    q3 = alone.confounders.filter(pl.col(S.CONFOUNDER_ID) == Q3).row(0, named=True)
    assert q3[S.OFFSET] == -1 and q3[S.IN_STUDY] is False
    without = run_study(events_frame(aws), prices, StudySpec(), exchange_calendar("XNYS"), max_regressions=0)
    assert without.confounders.height == 0
    assert alone.car[S.CAR].to_list() == without.car[S.CAR].to_list()  # listing changes no number


def ols(y: np.ndarray, x: np.ndarray) -> tuple[float, float, np.ndarray, float]:
    X = np.column_stack([np.ones_like(x), x])
    b, *_ = np.linalg.lstsq(X, y, rcond=None)
    e = y - X @ b
    return float(b[0]), float(b[1]), e, float(np.sqrt(e @ e / (len(y) - 2)))


def test_drop_confounded_refits_without_the_other_events_window_days(catalog, prices, shared_data, sessions):
    spec = StudySpec(drop_confounded=True)
    dropped = run_study(events_frame(catalog), prices, spec, exchange_calendar("XNYS"), max_regressions=0)
    kept = run_study(events_frame(catalog), prices, StudySpec(), exchange_calendar("XNYS"), max_regressions=0)
    models = {(r[S.EVENT_ID], r[S.TICKER]): r for r in dropped.models.iter_rows(named=True)}
    before = {(r[S.EVENT_ID], r[S.TICKER]): r for r in kept.models.iter_rows(named=True)}
    ev = {(r[S.EVENT_ID], r[S.TICKER]): r for r in dropped.events.iter_rows(named=True)}
    # NVDA around the AWS deal: the 11 days 2025-09-15..2025-09-29 (nvda-openai-loi's [-5,+5]) leave the estimation
    nv = models[(AWS, "NVDA")]
    assert nv[S.N_OBS] == 239 and before[(AWS, "NVDA")][S.N_OBS] == 250 and ev[(AWS, "NVDA")][S.N_DROPPED] == 11
    assert "11 estimation day(s) dropped" in ev[(AWS, "NVDA")][S.REASON]
    i0, j0 = sessions.index(date(2025, 11, 3)), sessions.index(date(2025, 9, 22))
    gone = set(sessions[j0 - 5: j0 + 6])
    nvda = ref.session_returns(read_csv_prices(shared_data / "prices" / "NVDA.csv", "adj_close"), sessions)
    gspc = ref.session_returns(read_csv_prices(shared_data / "prices" / "GSPC.csv", "close"), sessions)
    est = [d for d in sessions[i0 - 260: i0 - 10] if d not in gone]
    alpha, beta, _, sigma = ols(np.array([nvda[d] for d in est]), np.array([gspc[d] for d in est]))
    assert (nv[S.ALPHA], nv[S.BETA], nv[S.SIGMA]) == pytest.approx((alpha, beta, sigma), rel=1e-9)
    # the reference event study with those returns missing gives the same CAR and t
    r = ref.event_study({d: v for d, v in nvda.items() if d not in gone}, gspc, sessions, date(2025, 11, 3))
    car = dropped.car.filter((pl.col(S.EVENT_ID) == AWS) & (pl.col(S.TICKER) == "NVDA")).sort(S.WINDOW_START)
    for row in car.iter_rows(named=True):
        w = r.windows[(row[S.WINDOW_START], row[S.WINDOW_END])]
        assert (row[S.CAR], row[S.T_STAT]) == pytest.approx((w.car, w.t), rel=1e-9)
    # AMZN's confounder is in its event window, not its estimation window: nothing to drop
    assert models[(AWS, "AMZN")][S.BETA] == before[(AWS, "AMZN")][S.BETA] and ev[(AWS, "AMZN")][S.N_DROPPED] == 0
    assert dropped.spec.as_dict()["drop_confounded"] is True


def test_estimation_outliers_equal_the_residuals_of_a_plain_ols(study, shared_data, sessions):
    amzn = ref.session_returns(read_csv_prices(shared_data / "prices" / "AMZN.csv", "adj_close"), sessions)
    gspc = ref.session_returns(read_csv_prices(shared_data / "prices" / "GSPC.csv", "close"), sessions)
    i0 = sessions.index(date(2025, 11, 3))
    est = sessions[i0 - 260: i0 - 10]
    _, _, e, sigma = ols(np.array([amzn[d] for d in est]), np.array([gspc[d] for d in est]))
    want = [(d, z) for d, z in zip(est, e / sigma) if abs(z) > OUTLIER_Z]
    got = study.outliers.filter((pl.col(S.EVENT_ID) == AWS) & (pl.col(S.TICKER) == "AMZN"))
    assert [d for d, _ in want] == got[S.DATE].to_list() == [date(2024, 11, 1), date(2025, 8, 1)]
    assert got[S.STD_RESID].to_list() == pytest.approx([z for _, z in want], rel=1e-9)
    assert got[S.EVENT_DAY].to_list() == [est.index(d) - 260 for d, _ in want]
    row = study.events.filter((pl.col(S.EVENT_ID) == AWS) & (pl.col(S.TICKER) == "AMZN")).row(0, named=True)
    assert row[S.N_OUTLIERS] == 2 and row[S.OUTLIER_DATES] == "2024-11-01 (+4.1σ); 2025-08-01 (-4.4σ)"
    assert "2 estimation-window outlier(s) beyond 4σ: 2024-11-01 (+4.1σ); 2025-08-01 (-4.4σ)" in row[S.REASON]


def test_a_lone_event_has_no_confounders(prices):
    res = run_study(events_frame([EventSpec("one", ("AMZN",), date(2025, 6, 2))]), prices, StudySpec(),
                    exchange_calendar("XNYS"), max_regressions=0)
    assert res.confounders.height == 0 and res.events[S.N_CONFOUNDERS].item() == 0
    two = [EventSpec("one", ("AMZN",), date(2025, 6, 2)), EventSpec("two", ("MSFT",), date(2025, 6, 2), related=("AAPL",))]
    res = run_study(events_frame(two), prices, replace(StudySpec(), drop_confounded=True), exchange_calendar("XNYS"),
                    max_regressions=0)
    assert res.confounders.height == 0 and res.events[S.N_DROPPED].to_list() == [0, 0, 0]  # other tickers: none
