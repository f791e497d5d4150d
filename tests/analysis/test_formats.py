"""analysis.formats: one way to write each kind of number."""

from __future__ import annotations

import math

from analysis.formats import dollars, money_unit, num, offset, p_text, pct, pvalue, share, significance, starred, stat_p


def test_returns_statistics_and_p_values():
    assert pct(0.0378) == "+3.78%" and pct(-0.0036) == "-0.36%" and pct(None) == "" and pct(math.nan) == ""
    assert num(2.7649) == "2.76" and pvalue(0.0061) == "0.006" and pvalue(0.0004) == "<0.001"
    assert p_text(0.0061) == "p = 0.006" and p_text(0.0004) == "p < 0.001"
    assert starred(0.0378, 0.006) == "+3.78%***" and starred(0.02, 0.2) == "+2.00%"
    assert stat_p(4.7412, 0.0421) == "4.74 (0.042)" and stat_p(None, None) == "n/a"
    assert [significance(p) for p in (0.006, 0.03, 0.07, 0.2, None)] == ["at 1%", "at 5%", "at 10%", "", ""]
    assert [offset(d) for d in (-1, 0, 2)] == ["-1", "0", "+2"] and share(0.937) == "94%"


def test_money_reads_the_same_in_a_sentence_and_a_table():
    # a number alone: the unit of its size, never trillions, thousands separators
    assert dollars(2_610.8e9) == "$2,610.8bn" and dollars(757.5e6) == "$757.5m" and dollars(12_345.4) == "$12,345"
    assert dollars(98.6e9, signed=True) == "+$98.6bn" and dollars(-1.2e9, signed=True) == "-$1.2bn"
    # a table: one unit for all its money cells, that of the median amount
    amounts = [2_610.8e9, 98.6e9, 104.6e9, 757.5e6, None, math.nan]
    unit = money_unit(amounts)
    assert unit == "bn" and [dollars(x, unit) for x in amounts] == ["$2,610.8bn", "$98.6bn", "$104.6bn", "$0.8bn", "", ""]
    assert money_unit([757.5e6, 2e6, 3e9]) == "m" and money_unit([]) == "bn" and money_unit([0.0, 5e3]) == ""
