"""Headline claims: parsing the common forms, and checking them with the arithmetic spelled
out — on AMZN's 2025-11-03 (close 254.00 from 244.22, high 258.60, low 252.90, 10,690,216,011
shares) computed here by hand from the CSV, and on tiny hand-made histories."""

from __future__ import annotations

import csv
from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import schema as S
from analysis.claims import (
    CANNOT_TELL, CONSISTENT, INCONSISTENT, NOT_UNDERSTOOD, ClaimPart, catalog_claims, check_claims, parse_claim,
)
from analysis.specs import EventSpec

AWS = "amzn-openai-aws-2025"
SHARES = 10_690_216_011


@pytest.mark.parametrize(("text", "want"), [
    ("record high close", [("record", None, "exact", "close", "high")]),
    ("closed at a record high", [("record", None, "exact", "close", "high")]),
    ("all-time intraday high", [("record", None, "exact", "intraday", "high")]),
    ("hit a record low", [("record", None, "exact", "any", "low")]),
    ("added about $140bn in market value", [("value_change", 140e9, "about", "any", "high")]),
    ("gained roughly $140 billion", [("value_change", 140e9, "about", "any", "high")]),
    ("wiped more than $1.2tn off its market value", [("value_change", -1.2e12, "more_than", "any", "low")]),
    ("lost nearly 50 billion dollars", [("value_change", -50e9, "nearly", "any", "low")]),
    ("briefly valued at $2.74tn", [("valuation", 2.74e12, "exact", "intraday", "high")]),
    ("market value of ~$2.7 trillion at the close", [("valuation", 2.7e12, "about", "close", "high")]),
    ("briefly topped $3tn in market value", [("valuation", 3e12, "more_than", "intraday", "high")]),
    ("up 4%", [("pct_change", 0.04, "exact", "any", "high")]),
    ("shares fell 3.5 percent", [("pct_change", -0.035, "exact", "any", "low")]),
    ("+9.9%", [("pct_change", 0.099, "exact", "any", "high")]),
    ("shares ended 2% lower", [("pct_change", -0.02, "exact", "close", "low")]),
    ("Amazon's stock rose 5% after the deal to a record high",
     [("pct_change", 0.05, "exact", "any", "high"), ("record", None, "exact", "any", "high")]),
    ("rose about 4% adding $105bn", [("value_change", 105e9, "exact", "any", "high"), ("pct_change", 0.04, "about", "any", "high")]),
])
def test_parse_the_common_forms(text, want):
    got = [(p.kind, p.value, p.qualifier, p.basis, p.extreme) for p in parse_claim(text)]
    assert [(k, v if v is None else pytest.approx(v), q, b, e) for k, v, q, b, e in want] == got


@pytest.mark.parametrize("text", ["", "great news for Amazon", "the $38bn deal", "shares 4%", "🚀🚀🚀", "$", "%", "record" * 0 + "??"])
def test_claims_not_understood_have_no_parts(text):
    assert parse_claim(text) == ()


def amzn_history(shared_data) -> pl.DataFrame:
    return pl.read_csv(shared_data / "prices" / "AMZN.csv", try_parse_dates=True).select(
        pl.lit("AMZN").alias(S.TICKER), pl.col(S.DATE).cast(pl.Date), S.CLOSE, S.HIGH, S.LOW,
    )


def events_row(event=AWS, ticker="AMZN", day0=date(2025, 11, 3), shares=SHARES, as_of=date(2025, 10, 22)) -> pl.DataFrame:
    return pl.DataFrame(
        {S.EVENT_ID: [event], S.TICKER: [ticker], S.ROLE: ["primary"], S.DAY0: [day0], S.SHARES: [shares], S.AS_OF_DATE: [as_of]},
        schema={S.EVENT_ID: pl.String, S.TICKER: pl.String, S.ROLE: pl.String, S.DAY0: pl.Date, S.SHARES: pl.Int64,
                S.AS_OF_DATE: pl.Date},
    )


def check(texts, events, history) -> list[dict]:
    claims = pl.DataFrame({S.EVENT_ID: [events[S.EVENT_ID][0]] * len(texts), S.CLAIM: texts})
    return check_claims(claims, events, history).to_dicts()


@pytest.fixture(scope="module")
def hand(shared_data) -> dict:
    """The day's numbers from the CSV with the csv module, and the arithmetic by hand."""
    with (shared_data / "prices" / "AMZN.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f)]
    by = {r["date"]: r for r in rows}
    day, prev = by["2025-11-03"], by["2025-10-31"]
    before = [r for r in rows if r["date"] < "2025-11-03"]
    return {
        "close": float(day["close"]), "high": float(day["high"]), "low": float(day["low"]), "prev": float(prev["close"]),
        "max_close": max(float(r["close"]) for r in before), "first": rows[0]["date"], "n_before": len(before),
        "max_high": max(float(r["high"]) for r in before),
    }


def test_amazon_record_close_and_the_140bn(shared_data, hand):
    assert (hand["close"], hand["prev"], hand["high"], hand["low"]) == (254.00, 244.22, 258.60, 252.90)
    got = check(["record high close", "added about $140bn in market value"], events_row(), amzn_history(shared_data))
    record, value = got
    assert record[S.VERDICT] == CONSISTENT and record[S.CLAIM_KIND] == "record"
    assert hand["max_close"] == 244.22 and hand["first"] == "2015-01-02"
    assert "254.00 is the highest close since 2015-01-02, the start of the stored history" in record[S.WHY]
    assert f"{hand['n_before']:,} sessions before day 0" in record[S.WHY]
    assert record[S.AT_CLOSE] == "close 254.00 on 2025-11-03; highest close before it: 244.22 on 2025-10-31"
    assert record[S.AT_INTRADAY] == f"intraday high 258.60; highest high before it: {hand['max_high']:.2f} on 2025-10-31"

    cap = 254.00 * SHARES
    change = (254.00 - 244.22) * SHARES
    at_high = (258.60 - 244.22) * SHARES
    assert f"{cap / 1e9:,.1f}" == "2,715.3" and f"{change / 1e9:.1f}" == "104.6" and f"{at_high / 1e9:.1f}" == "153.7"
    assert value[S.AT_CLOSE] == ("254.00 x 10,690,216,011 shares = $2,715.3bn; change vs 244.22 close of 2025-10-31: "
                                 "+$104.6bn (+4.00%)")
    assert value[S.AT_INTRADAY] == "at the intraday high 258.60: +$153.7bn (+5.89%)"
    # about = ±15%: $119bn..$161bn; the close's $104.6bn is outside, the day's range $92.8bn..$153.7bn reaches it
    assert value[S.VERDICT] == CONSISTENT
    assert "consistent at the intraday high, not at the close" in value[S.WHY]
    assert "+$119.0bn to +$161.0bn" in value[S.WHY] and "+$92.8bn to +$153.7bn" in value[S.WHY]
    assert f"a price of {244.22 + 140e9 / SHARES:.2f}" in value[S.WHY]  # 257.32, inside 252.90..258.60


@pytest.mark.parametrize(("text", "verdict", "fragment"), [
    ("closed up about $140bn", INCONSISTENT, "+$119.0bn to +$161.0bn; the close gives +$104.6bn"),
    ("added $105bn", CONSISTENT, "at the close"),
    ("lost $50bn", INCONSISTENT, "neither at the close nor intraday"),
    ("briefly valued at $2.76tn", CONSISTENT, "$2,703.6bn to $2,764.5bn reaches it"),
    ("valued at $3tn", INCONSISTENT, "the close gives $2,715.3bn"),
    ("market value topped $2.7tn at the close", CONSISTENT, "at least $2,700.0bn; the close gives $2,715.3bn"),
    ("rose 5%", CONSISTENT, "consistent at the intraday high, not at the close"),
    ("shares closed up 5%", INCONSISTENT, "the close gives +4.00%"),
    ("up 4%", CONSISTENT, "at the close"),
    ("fell 2%", INCONSISTENT, "neither"),
    ("record intraday high", CONSISTENT, "the intraday high 258.60 is the highest price since 2015-01-02"),
    ("record low", INCONSISTENT, "is not a record close"),
    ("great day for Amazon", CANNOT_TELL, NOT_UNDERSTOOD),
])
def test_verdicts_on_amazon(shared_data, text, verdict, fragment):
    (got,) = check([text], events_row(), amzn_history(shared_data))
    assert got[S.VERDICT] == verdict and fragment in got[S.WHY], got


def tiny(days: int, start=date(2025, 1, 2), close=100.0, high=True) -> pl.DataFrame:
    dates = [start + timedelta(days=i) for i in range(days)]
    closes = [close + i for i in range(days)]
    return pl.DataFrame({
        S.TICKER: "X", S.DATE: dates, S.CLOSE: closes,
        S.HIGH: [c + 0.5 for c in closes] if high else [None] * days, S.LOW: [c - 0.5 for c in closes] if high else [None] * days,
    }, schema={S.TICKER: pl.String, S.DATE: pl.Date, S.CLOSE: pl.Float64, S.HIGH: pl.Float64, S.LOW: pl.Float64})


def test_what_cannot_be_told_says_why():
    history = tiny(10)
    last = history[S.DATE][-1]
    ev = events_row("ev", "X", last, shares=None, as_of=None)
    record, value, pct = check(["record high close", "added $1bn", "up 1%"], ev, history)
    assert record[S.VERDICT] == CANNOT_TELL and "only 9 stored sessions before day 0" in record[S.WHY]
    assert value[S.VERDICT] == CANNOT_TELL and "no shares outstanding for X" in value[S.WHY]
    # 109 / 108 - 1 = +0.93% at the close, outside 1% ± 5%; low 108.5 and high 109.5 give +0.46%..+1.39%: reached
    assert pct[S.VERDICT] == CONSISTENT and f"the close gives {(109 / 108 - 1) * 100:+.2f}%" in pct[S.WHY]
    assert f"the day's range {(108.5 / 108 - 1) * 100:+.2f}% to {(109.5 / 108 - 1) * 100:+.2f}% reaches it" in pct[S.WHY]
    (gone,) = check(["up 1%"], events_row("ev", "X", last + timedelta(days=1), shares=5, as_of=None), history)
    assert gone[S.VERDICT] == CANNOT_TELL and "no stored close for X on day 0" in gone[S.WHY]
    (flat,) = check(["briefly valued at $1.09bn"], events_row("ev", "X", last, shares=10**7, as_of=None), tiny(10, high=False))
    assert flat[S.VERDICT] == CANNOT_TELL and "no stored intraday high and low" in flat[S.WHY]


def test_tolerance_bands_at_their_edges():
    # closes 100..110, 1e9 shares: day 0 closes at 110 from 109, +$1bn at the close
    history = tiny(11)
    ev = events_row("ev", "X", history[S.DATE][-1], shares=10**9, as_of=None)
    texts = ["closed up about $1.17bn", "closed up about $1.18bn", "closed up $1.05bn", "closed up $1.06bn",
             "closed up more than $1bn", "closed up nearly $1.15bn", "closed up nearly $1.2bn", "closed up less than $0.9bn"]
    got = [r[S.VERDICT] for r in check(texts, ev, history)]
    assert got == [CONSISTENT, INCONSISTENT, CONSISTENT, INCONSISTENT, CONSISTENT, CONSISTENT, INCONSISTENT, INCONSISTENT]


def test_catalog_claims_frame():
    events = (EventSpec("a", ("X",), date(2025, 1, 2), extra=(("claims", ("record high", "up 4%")),)),
              EventSpec("b", ("Y",), date(2025, 1, 2)))
    frame = catalog_claims(events)
    assert frame.rows() == [("a", "record high"), ("a", "up 4%")]
    assert catalog_claims(events[1:]).height == 0
    assert isinstance(parse_claim("record high")[0], ClaimPart)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list("abcdeilnoprstuwy $%.,0123456789-+~tnbm")) | st.characters(exclude_categories=("Cs",)), max_size=60))  # no lone surrogates: not UTF-8
def test_any_text_gives_a_verdict_never_an_error(text):
    history = tiny(300)
    (first, *_) = rows = check([text], events_row("ev", "X", history[S.DATE][-1], shares=10**9, as_of=None), history)
    assert all(r[S.VERDICT] in (CONSISTENT, INCONSISTENT, CANNOT_TELL) for r in rows) and first[S.CLAIM] == text
