"""Headline claims ("closed at a record", "added about $140bn in market value") put beside
what the prices say.

A catalog event may carry ``claims``: statements from the press about the stock's move on the
event. Each is parsed into one or more *parts* (:func:`parse_claim`) of four kinds:

==================  ===========================================  ===============================
kind                forms understood (examples)                  checked against
==================  ===========================================  ===============================
``record``          record / all-time high (or low), record      day-0 close (high) vs every
                    close, intraday record, highest close ever   close (high) stored before it
``value_change``    added / gained / lost / shed / wiped about   (P − P₋₁) × shares, P the day-0
                    $X bn (tn, m) [in market value]              close, or high / low intraday
``valuation``       valued at $X tn, market value of $X tn,      P × shares (close, or the day's
                    briefly topped $X tn                         low..high intraday)
``pct_change``      up / rose / jumped / fell X%, +X%            P / P₋₁ − 1
==================  ===========================================  ===============================

P₋₁ is the last stored close before day 0 (the close of day −1), shares the count the
dollar values use (:mod:`analysis.valuation`: the latest on or before day −1). Prices are the
stored raw (split-adjusted, not dividend-adjusted) close, high and low — the prices the press
quotes.

**Basis.** "briefly", "intraday", "at one point", "touched", "peak" make a claim intraday;
"close", "closed", "ended", "finished", "settled" make it a claim about the close; otherwise
either counts, the close first ("consistent at the intraday high, not at the close"). Intraday
the price moved through every value between the day's low and high, so an intraday claim
holds when its band meets the range between the values at the low and at the high.

**Tolerance** (the band a claimed figure X stands for): "about", "around", "roughly",
"approximately", "some", "close to", "~" → X ± 15%; a bare figure → X ± 5% (reported figures
are rounded); "more than", "over", "above", "at least", "topped", "surpassed" → at least X;
"nearly", "almost", "just under" → from X − 15% to X; "less than", "under", "below", "up to"
→ at most X (same sign).

**Records** are judged over the *available* history: a day-0 close above every stored close
is "the highest close since <first stored date>, the start of the stored history" — a higher
price before the stored history cannot be ruled out, and with fewer than
:data:`MIN_RECORD_SESSIONS` stored sessions before day 0 the verdict is "cannot tell".

**Verdicts**: ``consistent``, ``inconsistent`` or ``cannot tell`` (with why: a claim not
understood, no price on day 0, no shares outstanding, no intraday high/low...). Every check
spells out its arithmetic (``254.00 × 10,690,216,011 shares = $2,715.3bn``).

The prices are parsed and the facts of each event (day-0 prices, previous close, record
highs) computed as polars expressions over all events at once; the verdict and its sentences
are then written per claim (a handful of curated statements per event, not a hot path).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import polars as pl

from analysis import schema as S
from analysis.catalog import claims as event_claims
from analysis.formats import dollars, pct, price
from analysis.specs import EventSpec

Kind = Literal["record", "value_change", "valuation", "pct_change"]
Qualifier = Literal["about", "exact", "more_than", "nearly", "less_than"]
Basis = Literal["close", "intraday", "any"]

CONSISTENT, INCONSISTENT, CANNOT_TELL = "consistent", "inconsistent", "cannot tell"
NOT_UNDERSTOOD = "claim not understood"
ABOUT_TOLERANCE = 0.15
BARE_TOLERANCE = 0.05
MIN_RECORD_SESSIONS = 250
PART = "part"  # which statement of the claim (1, 2, ...)
BASIS = "basis"
CLAIMED = "claimed"  # the claimed figure: dollars, or a fraction for percentages; null for records

CLAIM_SCHEMA = {
    S.EVENT_ID: pl.String, S.TICKER: pl.String, S.CLAIM: pl.String, PART: pl.Int32, S.CLAIM_KIND: pl.String,
    BASIS: pl.String, CLAIMED: pl.Float64, S.VERDICT: pl.String, S.AT_CLOSE: pl.String, S.AT_INTRADAY: pl.String,
    S.WHY: pl.String,
}
BASIS_TEXT = {"close": "close", "intraday": "intraday", "any": "close or intraday"}
HISTORY_SCHEMA = {S.TICKER: pl.String, S.DATE: pl.Date, S.CLOSE: pl.Float64, S.HIGH: pl.Float64, S.LOW: pl.Float64}
"""The price history :func:`check_claims` reads."""


@dataclass(frozen=True, slots=True)
class ClaimPart:
    """One checkable statement of a claim.

    Attributes
    ----------
    kind
        ``record``, ``value_change``, ``valuation`` or ``pct_change``.
    value
        The claimed figure, signed: dollars (value change, valuation) or a fraction
        (``0.04`` for 4%); None for records.
    qualifier
        How the figure is hedged: ``about`` (±15%), ``exact`` (a bare figure, ±5%),
        ``more_than``, ``nearly``, ``less_than``.
    basis
        ``close``, ``intraday`` or ``any``.
    extreme
        Records: ``high`` or ``low``; changes: the claimed direction (``high`` = up).
    words
        The words the part was read from (``about $140bn``).
    """

    kind: Kind
    value: float | None
    qualifier: Qualifier
    basis: Basis
    extreme: Literal["high", "low"]
    words: str


# --- parsing -------------------------------------------------------------------------------

_NUM = r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_MONEY = re.compile(
    r"(?P<sign>[+-])?\s*(?:us)?\$\s*" + _NUM + r"\s*(?P<unit>trillions?|tn|tr|t|billions?|bn|bln|b|millions?|mn|mln|m)\b"
    r"|" + _NUM.replace("num", "num2") + r"\s*(?P<unit2>trillions?|billions?|millions?|tn|bn)\s+(?:us\s+)?(?:dollars|usd)\b"
)
_PCT = re.compile(r"(?P<sign>[+-])?\s*" + _NUM + r"\s*(?:%|percent\b|per cent\b|pct\b)")
_UNITS = {"t": 1e12, "tn": 1e12, "tr": 1e12, "trillion": 1e12, "trillions": 1e12,
          "b": 1e9, "bn": 1e9, "bln": 1e9, "billion": 1e9, "billions": 1e9,
          "m": 1e6, "mn": 1e6, "mln": 1e6, "million": 1e6, "millions": 1e6}
_QUALIFIERS: tuple[tuple[Qualifier, str], ...] = (
    ("less_than", r"less than|under|below|at most|up to|no more than"),
    ("more_than", r"more than|over|above|at least|upwards of|in excess of|just over"),
    ("nearly", r"nearly|almost|just under|just shy of|shy of"),
    ("about", r"about|around|roughly|approximately|approx\.?|some|circa|an estimated|estimated|close to|~"),
)
_QUALIFIER_AT_END = re.compile(r"(?:^|\W)(" + "|".join(p for _, p in _QUALIFIERS) + r")\s*(?:of\s*)?(?:a\s*)?$")
_VALUATION_AT_END = re.compile(
    r"(valued at|valuing it at|valuation of|valuation at|worth|market (?:value|cap|capitali[sz]ation) of|value of|"
    r"topped|topping|surpassed|surpassing|crossed|crossing|passed|exceeded|exceeding|hit|hitting|reached|reaching|"
    r"touched|touching)\s*$"
)
_UP = (r"add|added|adds|adding|gain|gained|gains|gaining|rose|rise|rises|rising|risen|jump|jumped|jumps|jumping|"
       r"climb|climbed|climbs|surge|surged|surges|soar|soared|soars|rally|rallied|up|higher|increase|increased|"
       r"boost|boosted|lift|lifted|swell|swelled|advance|advanced|spike|spiked|pop|popped|leap|leapt|leaped|grew|grow|"
       r"skyrocket|skyrocketed|skyrockets|rocket|rocketed|zoom|zoomed")
_DOWN = (r"lose|lost|loses|losing|shed|sheds|shedding|wipe|wiped|wiping|erase|erased|fell|fall|falls|falling|drop|"
         r"dropped|drops|down|lower|decline|declined|declines|slid|slide|slump|slumped|sank|sink|plunge|plunged|"
         r"tumble|tumbled|dip|dipped|shrank|shrink|knocked|slashed|slip|slipped|plummet|plummeted|tank|tanked|"
         r"crater|cratered|lost out")
_DIRECTION = re.compile(rf"\b(?:(?P<up>{_UP})|(?P<down>{_DOWN}))\b")
_MARKET_VALUE = re.compile(r"market (?:value|cap|capitali[sz]ation)|valuation")
_INTRADAY = re.compile(r"\b(briefly|intraday|intra-day|at one point|during the (?:day|session)|touched|peak|peaked)\b")
_AT_CLOSE = re.compile(r"\b(close|closed|closes|closing|ended|ends|finished|finishes|settled)\b")
_RECORD = re.compile(r"\b(record|all[- ]time|highest|lowest)\b")


def _normalise(text: str) -> str:
    t = text.lower().replace("\u2212", "-").replace("\u2013", "-").replace("\u2014", "-").replace("\u00a0", " ")
    return re.sub(r"\s+", " ", t.replace("~", " ~ ")).strip()


def _basis(text: str) -> Basis:
    intraday, close = bool(_INTRADAY.search(text)), bool(_AT_CLOSE.search(text))
    if intraday and not close:
        return "intraday"
    if close and not intraday:
        return "close"
    return "any"


def _qualifier(prefix: str) -> tuple[Qualifier | None, str]:
    """The hedge at the end of ``prefix`` and the prefix without it."""
    m = _QUALIFIER_AT_END.search(prefix)
    if not m:
        return None, prefix
    word = m.group(1)
    kind = next(q for q, pattern in _QUALIFIERS if re.fullmatch(pattern, word))
    return kind, prefix[: m.start(1)]


def _direction(prefix: str, suffix: str, sign: str | None) -> int:
    """+1 / -1 from an explicit sign, else the last direction word before the figure, else the
    first one just after it ("4% higher"); 0 when there is none."""
    if sign:
        return -1 if sign == "-" else 1
    words = list(_DIRECTION.finditer(prefix))
    if not words:
        words = list(_DIRECTION.finditer(suffix[:20]))[:1]
    if not words:
        return 0
    return 1 if words[-1].group("up") else -1


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def parse_claim(text: str) -> tuple[ClaimPart, ...]:
    """The checkable statements of a claim (empty when none is understood).

    Dollar figures (``$140bn``, ``$2.74 trillion``, ``140 billion dollars``) become a
    ``valuation`` when they follow "valued at", "worth", "market value of", "topped"... and a
    ``value_change`` when a direction word precedes them ("added", "lost", "wiped"...);
    percentages need a direction ("rose 5%", "+4%", "4% higher"); "record" / "all-time" /
    "highest" / "lowest" make a ``record`` part (a low when "low" is said and "high" is not).
    See the module docstring for the hedges and the basis.
    """
    t = _normalise(text)
    basis = _basis(t)
    parts: list[ClaimPart] = []
    for m in _MONEY.finditer(t):
        num, unit = (m.group("num"), m.group("unit")) if m.group("num") else (m.group("num2"), m.group("unit2"))
        value = _number(num) * _UNITS[unit]
        qualifier, before = _qualifier(t[: m.start()])
        implied = None
        valuation = _VALUATION_AT_END.search(before.rstrip())
        if valuation and re.match(r"topp|surpass|cross|pass|exceed", valuation.group(1)):
            implied = "more_than"
        direction = 0 if valuation else _direction(before, t[m.end():], m.group("sign"))
        if valuation or (not direction and _MARKET_VALUE.search(t) and not _DIRECTION.search(before)):
            parts.append(ClaimPart("valuation", value, qualifier or implied or "exact", basis, "high", m.group().strip()))
        elif direction:
            parts.append(ClaimPart("value_change", direction * value, qualifier or "exact", basis,
                                   "high" if direction > 0 else "low", m.group().strip()))
    for m in _PCT.finditer(t):
        qualifier, before = _qualifier(t[: m.start()])
        direction = _direction(before, t[m.end():], m.group("sign"))
        if direction:
            parts.append(ClaimPart("pct_change", direction * _number(m.group("num")) / 100, qualifier or "exact", basis,
                                   "high" if direction > 0 else "low", m.group().strip()))
    if _RECORD.search(t):
        low = bool(re.search(r"\blow(?:s|est)?\b", t)) and not re.search(r"\bhigh(?:s|est)?\b", t)
        parts.append(ClaimPart("record", None, "exact", basis, "low" if low else "high", "record " + ("low" if low else "high")))
    return tuple(parts)


def catalog_claims(events: Sequence[EventSpec]) -> pl.DataFrame:
    """``event_id, claim``: every claim of the catalog's events, in catalog order."""
    rows = [(e.id, c) for e in events for c in event_claims(e)]
    return pl.DataFrame(rows, schema={S.EVENT_ID: pl.String, S.CLAIM: pl.String}, orient="row")


# --- facts -----------------------------------------------------------------------------------

_FACTS = ("day0", "close0", "high0", "low0", "prev_date", "prev_close", "shares", "shares_as_of", "history_start",
          "n_prior", "max_close", "max_close_date", "max_high", "max_high_date", "min_close", "min_close_date",
          "min_low", "min_low_date")


def claim_facts(events: pl.DataFrame, prices: pl.DataFrame) -> pl.DataFrame:
    """Day-0 prices, the previous close, shares and the record highs and lows before day 0 of
    every primary event row (vectorised over events).

    Parameters
    ----------
    events
        ``StudyResult.events`` (``event_id, ticker, role, day0, shares_outstanding,
        as_of_date``).
    prices
        ``ticker, date, close, high, low`` over the whole stored history (raw prices; a
        missing high or low is null; non-positive prices count as missing).

    Returns
    -------
    pl.DataFrame
        ``event_id, ticker`` and :data:`_FACTS`: ``close0, high0, low0`` of day 0;
        ``prev_date, prev_close`` the last close before it; ``history_start, n_prior`` the
        first stored date and the number of stored closes before day 0; ``max_close`` /
        ``min_close`` and the extreme high / low before day 0 (a day without a high or low
        counts with its close), each with its (latest) date.
    """
    def positive(c: str) -> pl.Expr:
        x = pl.col(c).cast(pl.Float64)
        return pl.when(x.is_finite() & (x > 0)).then(x)

    hist = (
        prices.select(S.TICKER, pl.col(S.DATE).cast(pl.Date), positive(S.CLOSE).alias(S.CLOSE),
                      positive(S.HIGH).alias(S.HIGH), positive(S.LOW).alias(S.LOW))
        .filter(pl.col(S.CLOSE).is_not_null())
        .sort(S.TICKER, S.DATE)
    )
    prim = events.filter((pl.col(S.ROLE) == "primary") & pl.col(S.DAY0).is_not_null()).select(
        S.EVENT_ID, S.TICKER, pl.col(S.DAY0).alias("day0"), pl.col(S.SHARES).alias("shares"),
        pl.col(S.AS_OF_DATE).alias("shares_as_of"),
    )
    day0 = prim.join(
        hist.rename({S.DATE: "day0", S.CLOSE: "close0", S.HIGH: "high0", S.LOW: "low0"}), on=[S.TICKER, "day0"], how="left"
    )
    top = pl.max_horizontal(S.HIGH, S.CLOSE)
    bottom = pl.min_horizontal(S.LOW, S.CLOSE)

    def at(value: pl.Expr, best: pl.Expr) -> pl.Expr:
        return pl.col(S.DATE).filter(value == best).max()

    prior = (
        prim.join(hist, on=S.TICKER)
        .filter(pl.col(S.DATE) < pl.col("day0"))
        .sort(S.EVENT_ID, S.TICKER, S.DATE)
        .group_by(S.EVENT_ID, S.TICKER, maintain_order=True)
        .agg(
            pl.col(S.DATE).last().alias("prev_date"), pl.col(S.CLOSE).last().alias("prev_close"),
            pl.col(S.DATE).first().alias("history_start"), pl.len().cast(pl.Int32).alias("n_prior"),
            pl.col(S.CLOSE).max().alias("max_close"), at(pl.col(S.CLOSE), pl.col(S.CLOSE).max()).alias("max_close_date"),
            top.max().alias("max_high"), at(top, top.max()).alias("max_high_date"),
            pl.col(S.CLOSE).min().alias("min_close"), at(pl.col(S.CLOSE), pl.col(S.CLOSE).min()).alias("min_close_date"),
            bottom.min().alias("min_low"), at(bottom, bottom.min()).alias("min_low_date"),
        )
    )
    return day0.join(prior, on=[S.EVENT_ID, S.TICKER], how="left").select(S.EVENT_ID, S.TICKER, *_FACTS)


# --- checking ----------------------------------------------------------------------------------


def _band(value: float, qualifier: Qualifier) -> tuple[float, float]:
    """The values a claimed figure stands for (signed; see the module docstring)."""
    a = abs(value)
    if qualifier in ("about", "exact"):
        tol = ABOUT_TOLERANCE if qualifier == "about" else BARE_TOLERANCE
        return value - tol * a, value + tol * a
    if qualifier == "more_than":
        return (value, math.inf) if value >= 0 else (-math.inf, value)
    if qualifier == "nearly":
        inner = value * (1 - ABOUT_TOLERANCE)
        return (inner, value) if value >= 0 else (value, inner)
    return (0.0, value) if value >= 0 else (value, 0.0)


def _band_text(part: ClaimPart, fmt) -> str:
    lo, hi = _band(part.value, part.qualifier)  # type: ignore[arg-type]
    how = {
        "about": f"'about' read as ±{ABOUT_TOLERANCE:.0%}", "exact": f"a bare figure read as ±{BARE_TOLERANCE:.0%}",
        "more_than": "'more than'", "nearly": f"'nearly' read as up to {ABOUT_TOLERANCE:.0%} below", "less_than": "'less than'",
    }[part.qualifier]
    if math.isinf(hi):
        span = f"at least {fmt(lo)}"
    elif math.isinf(lo):
        span = f"at most {fmt(hi)}"
    else:
        span = f"{fmt(lo)} to {fmt(hi)}"
    return f"{how}: {span}"


def _within(lo: float, hi: float, x: float) -> bool:
    return lo - 1e-12 * max(1.0, abs(x)) <= x <= hi + 1e-12 * max(1.0, abs(x))


def _meets(lo: float, hi: float, a: float, b: float) -> bool:
    """The band [lo, hi] meets the range between a and b."""
    return max(lo, min(a, b)) <= min(hi, max(a, b))


def _judge(basis: Basis, close_ok: bool | None, intraday_ok: bool | None, close_why: str, intraday_why: str,
           intraday_word: str) -> tuple[str, str]:
    """Combine the close and intraday checks into a verdict and its reason."""
    if basis == "close":
        verdict = CANNOT_TELL if close_ok is None else CONSISTENT if close_ok else INCONSISTENT
        return verdict, close_why
    if basis == "intraday":
        verdict = CANNOT_TELL if intraday_ok is None else CONSISTENT if intraday_ok else INCONSISTENT
        return verdict, intraday_why
    if close_ok:
        return CONSISTENT, f"at the close: {close_why}"
    if intraday_ok:
        return CONSISTENT, f"consistent at the intraday {intraday_word}, not at the close: {close_why}; {intraday_why}"
    if close_ok is False and intraday_ok is False:
        return INCONSISTENT, f"neither at the close nor intraday: {close_why}; {intraday_why}"
    return CANNOT_TELL, "; ".join(w for w in (close_why, intraday_why) if w)


def _check(part: ClaimPart, f: dict[str, Any], ticker: str) -> tuple[str, str, str, str]:
    """``verdict, at_close, at_intraday, why`` of one part against one event row's facts."""
    day0: date | None = f.get("day0")
    if day0 is None:
        return CANNOT_TELL, "", "", "the event has no day 0"
    close0, prev = f.get("close0"), f.get("prev_close")
    if close0 is None:
        return CANNOT_TELL, "", "", f"no stored close for {ticker} on day 0 ({day0})"
    high0, low0 = f.get("high0"), f.get("low0")
    has_range = high0 is not None and low0 is not None
    no_range = f"no stored intraday high and low for {ticker} on {day0}"
    if part.kind == "record":
        return _check_record(part, f, ticker, close0, high0, low0)
    if prev is None:
        return CANNOT_TELL, "", "", f"no stored close for {ticker} before day 0 ({day0})"
    shares = f.get("shares")
    word = "high" if part.extreme == "high" else "low"
    extreme = high0 if part.extreme == "high" else low0
    if part.kind == "pct_change":
        lo, hi = _band(part.value, part.qualifier)  # type: ignore[arg-type]
        x = close0 / prev - 1
        at_close = f"{price(close0)} / {price(prev)} - 1 = {pct(x)} (close of {day0} vs close of {f['prev_date']})"
        close_ok = _within(lo, hi, x)
        band = _band_text(part, pct)
        close_why = f"{band}; the close gives {pct(x)}"
        if has_range:
            a, b = low0 / prev - 1, high0 / prev - 1
            at_intraday = f"at the intraday {word} {price(extreme)}: {pct(extreme / prev - 1)} (day's range {pct(a)} to {pct(b)})"
            intraday_ok = _meets(lo, hi, a, b)
            intraday_why = f"the day's range {pct(a)} to {pct(b)} {'reaches' if intraday_ok else 'misses'} it"
        else:
            at_intraday, intraday_ok, intraday_why = "", None, no_range
        verdict, why = _judge(part.basis, close_ok, intraday_ok, close_why, intraday_why, word)
        return verdict, at_close, at_intraday, why
    if shares is None:
        return CANNOT_TELL, "", "", f"no shares outstanding for {ticker}"
    n = f"{shares:,} shares"
    lo, hi = _band(part.value, part.qualifier)  # type: ignore[arg-type]
    band = _band_text(part, lambda v: dollars(v, signed=part.kind == "value_change"))
    if part.kind == "valuation":
        x = close0 * shares
        at_close = f"{price(close0)} x {n} = {dollars(x)}"
        close_ok = _within(lo, hi, x)
        close_why = f"{band}; the close gives {dollars(x)}"
        if has_range:
            a, b = low0 * shares, high0 * shares
            at_intraday = f"at the intraday high {price(high0)}: {dollars(b)}; at the low {price(low0)}: {dollars(a)}"
            intraday_ok = _meets(lo, hi, a, b)
            intraday_why = f"the day's range {dollars(a)} to {dollars(b)} {'reaches' if intraday_ok else 'misses'} it"
        else:
            at_intraday, intraday_ok, intraday_why = "", None, no_range
        verdict, why = _judge(part.basis, close_ok, intraday_ok, close_why, intraday_why, "high")
        return verdict, at_close, at_intraday, why
    # value_change
    x = (close0 - prev) * shares
    at_close = (f"{price(close0)} x {n} = {dollars(close0 * shares)}; change vs {price(prev)} close of {f['prev_date']}: "
                f"{dollars(x, signed=True)} ({pct(close0 / prev - 1)})")
    close_ok = _within(lo, hi, x)
    close_why = f"{band}; the close gives {dollars(x, signed=True)}"
    if has_range:
        a, b = (low0 - prev) * shares, (high0 - prev) * shares
        at_intraday = f"at the intraday {word} {price(extreme)}: {dollars((extreme - prev) * shares, signed=True)} ({pct(extreme / prev - 1)})"
        intraday_ok = _meets(lo, hi, a, b)
        needed = prev + part.value / shares  # type: ignore[operator]
        intraday_why = (f"the day's range {dollars(a, signed=True)} to {dollars(b, signed=True)} {'reaches' if intraday_ok else 'misses'} it "
                        f"(the claimed figure means a price of {price(needed)}; the day traded {price(low0)} to {price(high0)})")
    else:
        at_intraday, intraday_ok, intraday_why = "", None, no_range
    verdict, why = _judge(part.basis, close_ok, intraday_ok, close_why, intraday_why, word)
    return verdict, at_close, at_intraday, why


def _check_record(part: ClaimPart, f: dict[str, Any], ticker: str, close0: float, high0: float | None,
                  low0: float | None) -> tuple[str, str, str, str]:
    n_prior = f.get("n_prior") or 0
    if not n_prior:
        return CANNOT_TELL, "", "", f"no stored prices for {ticker} before day 0"
    start = f["history_start"]
    high = part.extreme == "high"
    word, most = ("highest", "max") if high else ("lowest", "min")
    beats = (lambda x, y: x > y) if high else (lambda x, y: x < y)
    since = f"since {start}, the start of the stored history, {n_prior:,} sessions before day 0"
    best_close, best_close_date = f[f"{most}_close"], f[f"{most}_close_date"]
    close_ok = beats(close0, best_close)
    at_close = f"close {price(close0)} on {f['day0']}; {word} close before it: {price(best_close)} on {best_close_date}"
    close_why = (f"{price(close0)} is the {word} close {since}" if close_ok
                 else f"{price(close0)} is not a record close: {price(best_close)} on {best_close_date} was {'higher' if high else 'lower'}")
    extreme = high0 if high else low0
    key = "high" if high else "low"
    if extreme is None:
        at_intraday, intraday_ok = "", None
        intraday_why = f"no stored intraday {key} for {ticker} on {f['day0']}"
    else:
        best, best_date = f[f"{most}_{key}"], f[f"{most}_{key}_date"]
        intraday_ok = beats(extreme, best)
        at_intraday = f"intraday {key} {price(extreme)}; {word} {key} before it: {price(best)} on {best_date}"
        intraday_why = (f"the intraday {key} {price(extreme)} is the {word} price {since}" if intraday_ok
                        else f"the intraday {key} {price(extreme)} is not a record: {price(best)} on {best_date}")
    verdict, why = _judge(part.basis, close_ok, intraday_ok, close_why, intraday_why, key)
    short = n_prior < MIN_RECORD_SESSIONS
    if verdict == CONSISTENT:
        if short:
            return CANNOT_TELL, at_close, at_intraday, (
                f"only {n_prior} stored sessions before day 0 (since {start}): too short to call a record; {why}")
        why += "; a more extreme price before the stored history cannot be ruled out from the data"
    return verdict, at_close, at_intraday, why


def check_claims(claims: pl.DataFrame, events: pl.DataFrame, prices: pl.DataFrame) -> pl.DataFrame:
    """Check every claim of every event against the stored prices.

    Parameters
    ----------
    claims
        ``event_id, claim`` (:func:`catalog_claims`).
    events
        ``StudyResult.events``: the claims are checked for each primary ticker of their event.
    prices
        ``ticker, date, close, high, low`` over the whole stored history of those tickers.

    Returns
    -------
    pl.DataFrame
        :data:`CLAIM_SCHEMA`: one row per claim part and primary ticker (one row with
        ``claim_kind`` ``unknown`` and verdict ``cannot tell: claim not understood`` for a
        claim with no part understood), in the order of ``claims``.
    """
    facts = claim_facts(events, prices)
    by_event: dict[str, list[dict[str, Any]]] = {}
    for row in facts.iter_rows(named=True):
        by_event.setdefault(row[S.EVENT_ID], []).append(row)
    tickers = dict(
        events.filter(pl.col(S.ROLE) == "primary").group_by(S.EVENT_ID, maintain_order=True).agg(pl.col(S.TICKER)).iter_rows()
    )
    out: list[tuple] = []
    for event, text in claims.select(S.EVENT_ID, S.CLAIM).iter_rows():  # a few curated sentences per event
        parts = parse_claim(text)
        rows = by_event.get(event) or [{S.TICKER: t} for t in tickers.get(event, [None])]
        for f in rows:
            ticker = f[S.TICKER]
            if not parts:
                out.append((event, ticker, text, 1, "unknown", None, None, CANNOT_TELL, "", "", NOT_UNDERSTOOD))
                continue
            for i, part in enumerate(parts, start=1):
                verdict, at_close, at_intraday, why = (
                    _check(part, f, ticker) if ticker is not None and S.EVENT_ID in f
                    else (CANNOT_TELL, "", "", "the event is not in the study")
                )
                out.append((event, ticker, text, i, part.kind, BASIS_TEXT[part.basis], part.value, verdict, at_close,
                            at_intraday, f"{part.words}: {why}"))
    return pl.DataFrame(out, schema=CLAIM_SCHEMA, orient="row")
