"""Fixtures of the analysis tests: the XNYS calendar and its 2023-2026 sessions straight from
exchange-calendars (an independent list for the reference computations)."""

from __future__ import annotations

from datetime import date

import pytest

import reference as ref
from analysis.calendar import SessionCalendar, exchange_calendar


@pytest.fixture(scope="session")
def cal() -> SessionCalendar:
    return exchange_calendar("XNYS")


@pytest.fixture(scope="session")
def sessions() -> list[date]:
    return ref.xnys_sessions("2023-01-01")
