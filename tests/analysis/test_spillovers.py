"""Spillovers: the "who moved" ranking and the battery on the related tickers of an event
(group ``<event>:related``), against the plain-loop reference tests on the shared prices."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

import reference as ref
import reference_tests as rt
from analysis import schema as S
from analysis.calendar import exchange_calendar
from analysis.engine import run_study
from analysis.inference import TEST_NAMES, windows_tested
from analysis.panel import ROW
from analysis.specs import EventSpec, StudySpec, events_frame
from analysis.spillovers import RANK, battery_rows, who_moved
from test_openai_deals import read_csv_prices, shared_prices

AWS = "amzn-openai-aws-2025"
RELATED = ("MSFT", "NVDA", "GOOGL")
DAY0 = date(2025, 11, 3)


@pytest.fixture(scope="module")
def study(shared_data):
    shares = pl.read_csv(shared_data / "shares_outstanding.csv", try_parse_dates=True).select(
        "ticker", pl.col("as_of_date").cast(pl.Date), "shares_outstanding")
    events = [EventSpec(AWS, ("AMZN",), DAY0, related=RELATED, group="deals"),
              EventSpec("solo", ("AAPL",), date(2025, 6, 2), related=("META",), group="deals")]
    return run_study(events_frame(events), shared_prices(shared_data), StudySpec(), exchange_calendar("XNYS"), shares,
                     max_regressions=0)


def test_battery_rows_pool_the_related_tickers_of_events_with_two_or_more():
    rows = pl.DataFrame({
        ROW: [0, 1, 2, 3, 4, 5], S.EVENT_ID: ["a", "a", "a", "b", "b", "c"],
        S.ROLE: ["primary", "related", "related", "primary", "related", "primary"], S.GROUP: ["g", "g", "g", "g", "g", "h"],
    })
    got = battery_rows(rows).sort(ROW)
    assert got[ROW].to_list() == [0, 1, 2, 3, 5]  # b's lone related ticker is not a group
    assert got[S.GROUP].to_list() == ["g", "a:related", "a:related", "g", "h"] and set(got[S.ROLE]) == {"primary"}


def test_who_moved_ranks_by_the_day0_dollar_reaction(study):
    moved = who_moved(study.car, study.abnormal_returns, study.events).filter(pl.col(S.EVENT_ID) == AWS)
    day0 = study.abnormal_returns.filter((pl.col(S.EVENT_ID) == AWS) & (pl.col(S.EVENT_DAY) == 0))
    caps = dict(study.events.filter(pl.col(S.EVENT_ID) == AWS).select(S.TICKER, S.MARKET_CAP).iter_rows())
    dollars = {t: ar * caps[t] for t, ar in day0.select(S.TICKER, S.ABNORMAL_RET).iter_rows()}
    want = sorted(dollars, key=lambda t: -abs(dollars[t]))
    ranks = moved.unique(S.TICKER, keep="first", maintain_order=True)
    assert ranks[S.TICKER].to_list() == want == ["AMZN", "NVDA", "GOOGL", "MSFT"]
    assert ranks[RANK].to_list() == [1, 2, 3, 4]
    assert moved.height == 4 * 3  # every window of every ticker
    amzn = moved.filter((pl.col(S.TICKER) == "AMZN") & (pl.col(S.WINDOW_END) == 0)).row(0, named=True)
    assert amzn[S.DOLLAR_ABNORMAL] == pytest.approx(dollars["AMZN"], rel=1e-12) and amzn[S.ROLE] == "primary"


def test_the_related_group_equals_the_reference_battery(study, shared_data):
    sessions = ref.xnys_sessions("2022-01-01")
    spec = StudySpec()
    gspc = ref.session_returns(read_csv_prices(shared_data / "prices" / "GSPC.csv", "close"), sessions)
    members = []
    for ticker in RELATED:
        r = ref.session_returns(read_csv_prices(shared_data / "prices" / f"{ticker}.csv", "adj_close"), sessions)
        members.append((ref.event_study(r, gspc, sessions, DAY0), DAY0))
    tests = study.tests.filter(pl.col(S.GROUP) == f"{AWS}:related")
    assert tests.height == len(windows_tested(spec)) * len(TEST_NAMES)
    got = {(r[S.WINDOW_START], r[S.WINDOW_END], r[S.TEST]): r for r in tests.iter_rows(named=True)}
    for w in windows_tested(spec):
        for test, want in rt.battery(members, (w.start, w.end), (spec.estimation.start, spec.estimation.end)).items():
            row = got[(w.start, w.end, test)]
            assert row[S.N_EVENTS] == want.n_events == 3
            for col, value in ((S.STATISTIC, want.statistic), (S.P_VALUE, want.p_value), (S.MEAN, want.mean)):
                if value is None:
                    assert row[col] is None, (w, test, col)
                else:
                    assert row[col] == pytest.approx(value, rel=1e-9, abs=1e-12), (w, test, col)
    # same day 0: the Kolari-Pynnonen adjustment is not the identity here
    kp, bmp = got[(0, 0, "kp_adjusted_bmp_t")], got[(0, 0, "bmp_t")]
    assert kp[S.STATISTIC] != pytest.approx(bmp[S.STATISTIC], rel=1e-6)
    # the event groups themselves are unchanged: only primary rows, and no group for a single related ticker
    assert set(study.tests[S.GROUP]) == {"deals", f"{AWS}:related"}
    assert study.tests.filter(pl.col(S.GROUP) == "deals")[S.N_EVENTS].max() == 2
