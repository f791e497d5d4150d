"""The answer sentence (flows.reporting.answers) on the shared real prices: built from the
numbers, the confounders named by their catalog description, the same text in the brief and
the report."""

from __future__ import annotations

from dataclasses import replace

import pytest

from analysis.calendar import exchange_calendar
from analysis.catalog import parse_catalog_toml
from analysis.engine import run_study
from analysis.specs import StudySpec, events_frame
from flows.reporting.answers import answer_sentences, headline, short_name
from tests.flows.reporting.test_flagship import AWS, CATALOG, shared_prices, shares, study

AMZN = ("AMZN rose 4.00% (+$104.6bn) on 2025-11-03; +3.78% (+$98.6bn) beyond what the market explains, significant "
        "at 1% (t = 2.76, p = 0.006); the wider windows also hold Amazon Q3 2025 results the session before (+9.23% abnormal "
        "that day).")


@pytest.fixture(scope="module")
def catalog():
    return parse_catalog_toml(CATALOG.read_text(encoding="utf-8"), "events.toml")


@pytest.fixture(scope="module")
def result(catalog, shared_data):
    return study(catalog, shared_data)


def test_the_amazon_answer(result, catalog):
    descriptions = {e.id: e.description for e in catalog}
    answers = {(a.event_id, a.ticker): a for a in answer_sentences(result, descriptions)}
    assert answers[(AWS, "AMZN")].sentence == AMZN and answers[(AWS, "AMZN")].day0 == "2025-11-03"
    assert answers[("msft-openai-recap", "MSFT")].sentence.endswith(
        "not significant (t = 1.61, p = 0.110); the wider windows also hold OpenAI-AWS multi-year strategic partnership "
        "4 sessions after (-0.36% abnormal that day).")
    # no related tickers, no event without prices (ORCL has none)
    assert {t for _, t in answers} == {"AMZN", "NVDA", "MSFT"}
    # without descriptions a confounder is named by its id; a company by the name given, else its ticker
    plain = answer_sentences(result, names={"AMZN": "Amazon"})[0].sentence
    assert plain.startswith("Amazon rose 4.00%") and "hold amzn-q3-2025-earnings the session before" in plain
    assert headline(result, limit=1, descriptions=descriptions) == AMZN


def test_a_confounder_inside_the_first_window_is_part_of_the_number(catalog, shared_data):
    events = [e for e in catalog if e.id in (AWS, "amzn-q3-2025-earnings")]
    res = run_study(events_frame(events), shared_prices(shared_data), StudySpec(windows=("-1:1", "0:0")),
                    exchange_calendar("XNYS"), shares(shared_data), max_regressions=0)
    (aws,) = [a for a in answer_sentences(res, {e.id: e.description for e in events}) if a.event_id == AWS]
    assert aws.sentence.startswith("AMZN rose ") and " over [-1,+1] around 2025-11-03; " in aws.sentence
    assert aws.sentence.endswith("; Amazon Q3 2025 results the session before (+9.23% abnormal that day) is in this number too.")


def test_the_answer_without_a_market_cap(catalog, shared_data):
    (aws,) = [replace(e, related=()) for e in catalog if e.id == AWS]
    prices = shared_prices(shared_data)
    res = run_study(events_frame([aws]), prices, StudySpec(), exchange_calendar("XNYS"), None, max_regressions=0)
    sentence = answer_sentences(res)[0].sentence
    assert sentence == ("AMZN rose 4.00% on 2025-11-03; +3.78% beyond what the market explains, significant at 1% "
                        "(t = 2.76, p = 0.006).")


def test_short_names():
    assert short_name("Amazon Q3 2025 results: net sales $180.2bn (+13%)", "x") == "Amazon Q3 2025 results"
    assert short_name("", "amzn-q3") == "amzn-q3" and short_name(None, "amzn-q3") == "amzn-q3"
    assert short_name("word " * 30, "x").endswith("…") and len(short_name("word " * 30, "x")) <= 61


def test_one_number_reads_the_same_in_the_tables_and_the_text(result, catalog):
    from flows.reporting.flagship import group_briefs
    from flows.reporting.tables import all_tables, to_markdown
    from tests.flows.reporting.test_flagship import plain

    summary = to_markdown(all_tables(result)[0])
    assert "$2,610.8bn" in summary and "tn |" not in summary  # was $2.6tn beside $2,610.8bn in the brief's text
    (brief, _) = group_briefs(result, {e.id: e.description for e in catalog})
    assert "on a market cap of $2,610.8bn" in plain(brief.html) and "| \\$2,610.8bn |" in brief.markdown


def test_regressions_in_the_units_of_the_rest(catalog, shared_data):
    from flows.reporting.tables import regressions_table

    (aws,) = [replace(e, related=()) for e in catalog if e.id == AWS]
    res = run_study(events_frame([aws]), shared_prices(shared_data), StudySpec(), exchange_calendar("XNYS"),
                    shares(shared_data))
    table = regressions_table(res)
    cells = dict(zip(table.frame["term"], table.frame["estimate"]))
    assert cells["d[0]"] == "+3.78%" and cells["alpha"].endswith("%") and cells["beta"] == "1.38"  # was 0.03782, 1.384
    assert any("in percent" in n for n in table.notes)


def test_no_share_of_a_move_the_abnormal_part_went_against(result, catalog):
    """An abnormal return of the other sign than the day's move is no share of it (was
    "-72% of the day's move")."""
    import polars as pl

    from analysis import schema as S
    from flows.reporting.flagship import group_briefs
    from tests.flows.reporting.test_flagship import plain

    day0 = (pl.col(S.EVENT_ID) == AWS) & (pl.col(S.TICKER) == "AMZN") & (pl.col(S.EVENT_DAY) == 0)
    flipped = replace(result, abnormal_returns=result.abnormal_returns.with_columns(
        pl.when(day0).then(-0.0105).otherwise(pl.col(S.RET)).alias(S.RET)))
    amzn = plain(group_briefs(flipped)[0].html).split("Abnormal: ")[1].split("CAR: ")[0]  # AMZN's bullet
    assert "the abnormal return is +3.78%" in amzn and "of the day's move" not in amzn
