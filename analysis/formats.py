"""Numbers as text, written one way everywhere: the tables, the briefs, the reasons of the
claim checks, the index and the artifacts. ``None`` and NaN become an empty string.

==========================  ==================  ==========================================
function                    example             used for
==========================  ==================  ==========================================
:func:`pct`                 ``+3.78%``          returns, ARs, CARs (signed, 2 decimals)
:func:`num`                 ``2.76``            statistics (``digits`` decimals)
:func:`signed`              ``+0.84``           signed statistics
:func:`pvalue`              ``0.006``           p-values (``<0.001`` below 0.001)
:func:`stars`               ``***``             p < 0.01, 0.05, 0.10
:func:`dollars`             ``$98.6bn``         dollar values in a table cell (tn, bn, m)
:func:`billions`            ``+$2,610.8bn``     dollar arithmetic in prose (thousands separators)
:func:`price`               ``2,058.20``        prices
==========================  ==================  ==========================================
"""

from __future__ import annotations

import math


def pct(x: float | None) -> str:
    return "" if x is None or math.isnan(x) else f"{x * 100:+.2f}%"


def num(x: float | None, digits: int = 2) -> str:
    return "" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def signed(x: float | None) -> str:
    return "" if x is None or math.isnan(x) else f"{x:+.2f}"


def pvalue(p: float | None) -> str:
    if p is None or math.isnan(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def stars(p: float | None) -> str:
    if p is None or math.isnan(p):
        return ""
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.10 else ""


def dollars(x: float | None) -> str:
    if x is None or math.isnan(x):
        return ""
    sign, a = ("-" if x < 0 else ""), abs(x)
    for scale, unit in ((1e12, "tn"), (1e9, "bn"), (1e6, "m")):
        if a >= scale:
            return f"{sign}${a / scale:.1f}{unit}"
    return f"{sign}${a:,.0f}"


def billions(x: float, signed: bool = False) -> str:
    """Dollars in billions with thousands separators (``$2,610.8bn``; ``signed``: ``+$104.6bn``),
    so the arithmetic of a sentence stays readable."""
    sign = ("+" if x >= 0 else "-") if signed else ("-" if x < 0 else "")
    return f"{sign}${abs(x) / 1e9:,.1f}bn"


def price(x: float) -> str:
    return f"{x:,.2f}"
