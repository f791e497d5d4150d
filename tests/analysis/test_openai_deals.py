"""The OpenAI compute-deal group of the shipped catalog, on the shared real prices.

``deployments/events.toml`` puts six announcements in the group ``openai-compute-deals``; the
shared data hold prices for three of them (AMZN 2025-11-03, NVDA 2025-09-22, MSFT 2025-10-28).
ORCL, AMD and AVGO have none and must show up as skipped with a reason. The three others run
as one group through ``run_study`` (``^GSPC`` from GSPC.csv with adj_close = close), and every
group test of every reported day and window equals the plain-loop reference
(``reference_tests.py`` on ``reference.py``'s event studies read with the csv module).
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import polars as pl
import pytest

import reference as ref
import reference_tests as rt
from analysis.calendar import exchange_calendar
from analysis.catalog import parse_catalog_toml
from analysis.engine import run_study
from analysis.inference import TEST_NAMES, windows_tested
from analysis.specs import StudySpec, events_frame
from tests.conftest import REPO_ROOT

GROUP = "openai-compute-deals"
WITH_PRICES = {"amzn-openai-aws-2025": ("AMZN", date(2025, 11, 3)), "nvda-openai-loi": ("NVDA", date(2025, 9, 22)),
               "msft-openai-recap": ("MSFT", date(2025, 10, 28))}
WITHOUT = {"orcl-openai-300b-report": "ORCL", "amd-openai-6gw": "AMD", "avgo-openai-10gw": "AVGO"}
TICKERS = ("AMZN", "AAPL", "GOOGL", "META", "MSFT", "NVDA")


def shared_prices(data: Path) -> pl.DataFrame:
    """Every shared stock and ^GSPC as ``ticker, date, close, adj_close`` (index: adj_close = close)."""
    frames = [(t, data / "prices" / f"{t}.csv") for t in TICKERS] + [("^GSPC", data / "prices" / "GSPC.csv")]
    return pl.concat([
        pl.read_csv(path, try_parse_dates=True, schema_overrides={"adj_close": pl.Float64}).select(
            pl.lit(t).alias("ticker"), pl.col("date").cast(pl.Date), "close", pl.col("adj_close").fill_null(pl.col("close"))
        )
        for t, path in frames
    ])


def group_events():
    text = (REPO_ROOT / "deployments" / "events.toml").read_text(encoding="utf-8")
    return [e for e in parse_catalog_toml(text, "events.toml") if e.group == GROUP]


@pytest.fixture(scope="module")
def study(shared_data):
    return run_study(events_frame(group_events()), shared_prices(shared_data), StudySpec(), exchange_calendar("XNYS"),
                     max_regressions=0)


def test_the_group_in_the_catalog():
    events = group_events()
    assert {e.id for e in events} == set(WITH_PRICES) | set(WITHOUT)


def test_events_without_prices_are_skipped_with_a_reason(study):
    ev = {(r["event_id"], r["ticker"]): r for r in study.events.iter_rows(named=True)}
    for event_id, ticker in WITHOUT.items():
        row = ev[(event_id, ticker)]
        assert row["status"] == "skipped" and row["reason"].startswith(f"no prices for {ticker}"), row
    for event_id, (ticker, day0) in WITH_PRICES.items():
        assert ev[(event_id, ticker)]["day0"] == day0 and ev[(event_id, ticker)]["status"] != "skipped"
    assert sum(w.startswith(tuple(WITHOUT)) for w in study.warnings) == 3


def read_csv_prices(path: Path, column: str) -> dict[date, float]:
    with path.open(newline="") as f:
        return {date.fromisoformat(r["date"]): float(r[column] or r["close"]) for r in csv.DictReader(f)}


def test_every_test_of_the_group_equals_the_reference(study, shared_data):
    sessions = ref.xnys_sessions("2022-01-01")
    spec = StudySpec()
    gspc = ref.session_returns(read_csv_prices(shared_data / "prices" / "GSPC.csv", "close"), sessions)
    members = []
    for ticker, day0 in WITH_PRICES.values():
        r = ref.session_returns(read_csv_prices(shared_data / "prices" / f"{ticker}.csv", "adj_close"), sessions)
        members.append((ref.event_study(r, gspc, sessions, day0), day0))
    tests = study.tests.filter(pl.col("group") == GROUP)
    windows = windows_tested(spec)
    assert tests.height == len(windows) * len(TEST_NAMES) == 13 * 12
    got = {(r["window_start"], r["window_end"], r["test"]): r for r in tests.iter_rows(named=True)}
    ar = study.abnormal_returns.filter(pl.col("role") == "primary", pl.col("group") == GROUP)
    for w in windows:
        want = rt.battery(members, (w.start, w.end), (spec.estimation.start, spec.estimation.end))
        for test, r in want.items():
            row = got[(w.start, w.end, test)]
            assert row["n_events"] == r.n_events == 3 and row["reason"] is None, (w, test, row)
            for col, value in (("statistic", r.statistic), ("p_value", r.p_value), ("mean", r.mean)):
                assert row[col] == pytest.approx(value, rel=1e-10, abs=1e-13), (w, test, col)
        if w.length == 1:  # the AAR of the day is the mean of the three ARs
            aar = ar.filter(pl.col("event_day") == w.start)["abnormal_ret"].mean()
            assert got[(w.start, w.end, "cross_sectional_t")]["mean"] == pytest.approx(aar, rel=1e-12)
    # three events on three different days: the KP adjustment is the identity
    for w in windows:
        assert got[(w.start, w.end, "kp_adjusted_bmp_t")]["statistic"] == pytest.approx(
            got[(w.start, w.end, "bmp_t")]["statistic"], rel=1e-14)
