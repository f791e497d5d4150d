"""Numbers as text, written one way everywhere: the tables, the briefs, the answer sentences,
the reasons of the claim checks, the index, the artifacts and the plots' labels. ``None`` and
NaN become an empty string.

==========================  ==================  ==========================================
function                    example             used for
==========================  ==================  ==========================================
:func:`pct`                 ``+3.78%``          returns, ARs, CARs, alphas, s.e. of returns
                                                (signed, 2 decimals)
:func:`num`                 ``2.76``            t and z statistics, betas, R² (2 decimals)
:func:`signed`              ``+0.84``           signed statistics (2 decimals)
:func:`pvalue`              ``0.006``           p-values (3 decimals; ``<0.001`` below 0.001)
:func:`p_text`              ``p = 0.006``       a p-value in a sentence (``p < 0.001``)
:func:`stars`               ``***``             p < 0.01, 0.05, 0.10
:func:`starred`             ``+3.78%***``       a CAR with the stars of its p-value
:func:`stat_p`              ``2.76 (0.006)``    a test's statistic with its p (``n/a``)
:func:`offset`              ``-1``, ``0``       event days, signed (``+1``)
:func:`significance`        ``at 1%``           the level a p-value passes, in words
:func:`dollars`             ``+$98.6bn``        money: ``$`` and one unit (bn, m or whole
                                                dollars) with thousands separators
:func:`money_unit`          ``bn``              the one unit of a table's money columns
:func:`share`               ``94%``             a part of a whole (no decimals)
:func:`price`               ``2,058.20``        prices
==========================  ==================  ==========================================

Money is never written in trillions: a market cap of ``$2,610.8bn`` reads the same in a
table and in a sentence. A sentence gives each amount in the unit of its own size; a table
gives all its money cells in one unit (:func:`money_unit`: the unit of the median amount),
so ``$0.8bn`` stands beside ``$98.6bn`` rather than ``$757.5m``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

MoneyUnit = Literal["bn", "m", ""]
UNITS: dict[str, float] = {"bn": 1e9, "m": 1e6, "": 1.0}


def _missing(x: float | None) -> bool:
    return x is None or math.isnan(x)


def pct(x: float | None) -> str:
    """``x`` (a decimal return) in percent, signed, two decimals: ``0.0378`` -> ``+3.78%``."""
    return "" if _missing(x) else f"{x * 100:+.2f}%"


def num(x: float | None, digits: int = 2) -> str:
    return "" if _missing(x) else f"{x:.{digits}f}"


def signed(x: float | None) -> str:
    return "" if _missing(x) else f"{x:+.2f}"


def pvalue(p: float | None) -> str:
    if _missing(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_text(p: float | None) -> str:
    """A p-value in a sentence: ``p = 0.006``, ``p < 0.001``."""
    text = pvalue(p)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def stars(p: float | None) -> str:
    if _missing(p):
        return ""
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.10 else ""


def starred(x: float | None, p: float | None) -> str:
    """A return with the stars of its p-value: ``+3.78%***``."""
    return f"{pct(x)}{stars(p)}"


def stat_p(statistic: float | None, p: float | None) -> str:
    """A test's cell: ``2.76 (0.006)``; ``n/a`` when the statistic is missing."""
    return "n/a" if _missing(statistic) else f"{num(statistic)} ({pvalue(p)})"


def offset(day: int | None) -> str:
    """An event day, signed: ``-1``, ``0``, ``+1``."""
    return "" if day is None else f"{day:+d}" if day else "0"


def significance(p: float | None) -> str:
    """The conventional level ``p`` passes (two-sided): ``at 1%``, ``at 5%``, ``at 10%``, or
    empty when it passes none (or is missing); the levels of :func:`stars`."""
    if _missing(p):
        return ""
    return "at 1%" if p < 0.01 else "at 5%" if p < 0.05 else "at 10%" if p < 0.10 else ""


def money_unit(values: Iterable[float | None]) -> MoneyUnit:
    """The unit of a table's money column(s): that of the median non-zero ``|value|`` (``bn``
    from $1bn, ``m`` from $1m, else whole dollars); ``bn`` when there is none."""
    sizes = sorted(abs(v) for v in values if not _missing(v) and v != 0)
    return _unit(sizes[len(sizes) // 2]) if sizes else "bn"


def _unit(size: float) -> MoneyUnit:
    return "bn" if size >= 1e9 else "m" if size >= 1e6 else ""


def dollars(x: float | None, unit: MoneyUnit | None = None, signed: bool = False) -> str:
    """``x`` dollars in ``unit`` (default: the unit of its own size), thousands separators, one
    decimal in bn and m: ``$2,610.8bn``, ``-$757.5m``, ``$12,345``; ``signed``: ``+$98.6bn``."""
    if _missing(x):
        return ""
    unit = _unit(abs(x)) if unit is None else unit
    sign = "-" if x < 0 else "+" if signed and x > 0 else ""
    scaled = abs(x) / UNITS[unit]
    return f"{sign}${scaled:,.1f}{unit}" if unit else f"{sign}${scaled:,.0f}"


def share(x: float | None) -> str:
    """A part of a whole in whole percent: ``0.937`` -> ``94%``."""
    return "" if _missing(x) else f"{x:.0%}"


def price(x: float) -> str:
    return f"{x:,.2f}"
