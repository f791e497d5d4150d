"""Fixtures of the analysis tests: the XNYS calendar and its 2023-2026 sessions straight from
exchange-calendars (an independent list for the reference computations)."""

from __future__ import annotations

import warnings
from datetime import date

import pytest

from analysis.calendar import SessionCalendar, exchange_calendar


@pytest.fixture(scope="session")
def cal() -> SessionCalendar:
    return exchange_calendar("XNYS")


@pytest.fixture(scope="session")
def sessions() -> list[date]:
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [ts.date() for ts in xcals.get_calendar("XNYS", start="2023-01-01", end="2026-12-31").sessions]
