"""The exchange calendar cached on disk (:mod:`flows.io.calendars`): the same sessions as
exchange-calendars builds, read back without it, rebuilt when the file is damaged."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis import calendar as built
from flows.io import calendars


@pytest.fixture
def fresh(mr_home):
    calendars.exchange_calendar.cache_clear()
    yield mr_home
    calendars.exchange_calendar.cache_clear()


def test_the_cached_calendar_is_the_built_one_and_is_read_without_building(fresh, monkeypatch):
    want = built.exchange_calendar("XNYS")
    first = calendars.exchange_calendar("XNYS")
    path = calendars.cache_file("XNYS")
    assert path.is_file() and path.parent == fresh / "cache"
    calendars.exchange_calendar.cache_clear()
    monkeypatch.setattr(calendars, "build_calendar", lambda name: pytest.fail("built again"))
    again = calendars.exchange_calendar("XNYS")
    for cal in (first, again):
        assert (cal.name, cal.tz, cal.start) == (want.name, want.tz, want.start)
        assert_frame_equal(cal.sessions, want.sessions, check_exact=True)


def test_a_damaged_cache_file_is_rebuilt(fresh):
    path = calendars.cache_file("XNYS")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not parquet")
    cal = calendars.exchange_calendar("XNYS")
    assert cal.sessions.height > 10_000 and pl.read_parquet(path).height == cal.sessions.height


def test_a_name_that_is_no_code_is_never_a_file_name(fresh):
    assert calendars.cache_file("../XNYS") is None
    with pytest.raises(Exception, match="unknown exchange calendar"):
        calendars.exchange_calendar("../XNYS")
    assert not (fresh / "cache").exists()
