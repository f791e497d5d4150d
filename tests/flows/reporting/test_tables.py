"""The tests table: the OpenAI compute-deal group of the catalog on the shared prices, every
test of every day (AAR) and window (CAAR) on one table, and null tests with their reasons."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from analysis.calendar import exchange_calendar
from analysis.catalog import parse_catalog_toml
from analysis.engine import run_study
from analysis.inference import TESTS
from analysis.specs import StudySpec, events_frame
from flows.reporting import tables
from analysis.formats import pct
from flows.reporting.tables import to_html, to_markdown
from tests.conftest import REPO_ROOT

GROUP = "openai-compute-deals"


@pytest.fixture(scope="module")
def result(shared_data):
    events = [e for e in parse_catalog_toml((REPO_ROOT / "deployments" / "events.toml").read_text(), "events.toml")
              if e.group == GROUP]
    files = [(t, f"{t}.csv") for t in ("AMZN", "MSFT", "NVDA", "GOOGL")] + [("^GSPC", "GSPC.csv")]
    prices = pl.concat([
        pl.read_csv(shared_data / "prices" / f, try_parse_dates=True, schema_overrides={"adj_close": pl.Float64}).select(
            pl.lit(t).alias("ticker"), pl.col("date").cast(pl.Date), "close", pl.col("adj_close").fill_null(pl.col("close"))
        )
        for t, f in files
    ])
    return run_study(events_frame(events), prices, StudySpec(), exchange_calendar("XNYS"), max_regressions=0)


def test_every_test_of_the_group_on_one_table(result):
    table = tables.tests_table(result)
    frame = table.frame
    assert frame.columns == ["group", "window", "N", "AAR / CAAR", *(t.label for t in TESTS)]
    rows = frame.filter(pl.col("group") == GROUP)
    assert rows["window"].to_list() == [f"day {d}" for d in range(-5, 6)] + ["[-1,+1]", "[-5,+5]"]
    assert set(rows["N"]) == {"3"}
    for t in TESTS:
        assert rows[t.label].str.contains(r"^-?\d+\.\d\d \((<0\.001|\d\.\d{3})\)$").all(), t.label
    # the AAR of day 0 and the CAAR of [-1,+1] are the means of the three events' AR / CAR
    primary = result.car.filter(pl.col("group") == GROUP, pl.col("role") == "primary", pl.col("car").is_not_null())
    caar = primary.filter(pl.col("window_start") == -1, pl.col("window_end") == 1)["car"].mean()
    assert rows.filter(pl.col("window") == "[-1,+1]")["AAR / CAAR"].item() == pct(caar)
    aar0 = primary.filter(pl.col("window_start") == 0, pl.col("window_end") == 0)["car"].mean()
    assert rows.filter(pl.col("window") == "day 0")["AAR / CAAR"].item() == pct(aar0)
    md = to_markdown(table)
    assert "| openai-compute-deals | day 0 | 3 |" in md and "GRANK t" in md
    assert "<table" in to_html(table)


def test_null_tests_show_their_reason(result):
    # a copy of the group's tests as group "solo", with two tests null as for a one-event group
    one = result.tests.filter(pl.col("group") == GROUP).with_columns(pl.lit("solo").alias("group"))
    solo = one.with_columns(
        pl.when(pl.col("test").is_in(["cross_sectional_t", "bmp_t"])).then(None).otherwise(pl.col("statistic")).alias("statistic"),
        pl.when(pl.col("test").is_in(["cross_sectional_t", "bmp_t"])).then(pl.lit("needs at least 2 events"))
        .otherwise(pl.col("reason")).alias("reason"),
    )
    table = tables.tests_table(replace(result, tests=pl.concat([result.tests, solo])))
    row = table.frame.filter(pl.col("group") == "solo", pl.col("window") == "day 0").row(0, named=True)
    assert row["CS t"] == "n/a" and row["BMP t"] == "n/a" and row["Patell Z"] != "n/a"
    assert "n/a CS t: needs at least 2 events (group solo)." in table.notes
