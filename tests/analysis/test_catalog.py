"""Event catalog parsing: the shipped catalog, every rejection, CSV merging, and fuzzing."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.catalog import (
    almost_numeric,
    characteristics,
    claims,
    parse_announced,
    parse_catalog_csv,
    parse_catalog_toml,
    parse_timing,
)
from analysis.errors import InputError

SHIPPED = Path(__file__).resolve().parents[2] / "deployments" / "events.toml"
F = "cat.toml"
G = "cat.csv"

GOOD_EVENT = """
[[events]]
id = "ev-1"
tickers = ["AMZN"]
announced = "2025-11-03"
"""

GOOD_CSV = """event_id,ticker,announced,timing,benchmark,group,description,size
amzn-aws,AMZN,2025-11-03,unknown,^GSPC,deals,"OpenAI, AWS deal",38
amzn-aws,MSFT,2025-11-03,,,,,
amd-6gw,AMD,2025-10-06T07:00:00-04:00,before open,,deals,AMD deal,
"""


def shipped() -> dict[str, object]:
    events = parse_catalog_toml(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED))
    return {ev.id: ev for ev in events}


def rejected(parse, text: str, file: str, *fragments: str) -> InputError:
    """Parse ``text``, expect an InputError naming the file and every fragment; return it."""
    with pytest.raises(InputError) as info:
        parse(text, file)
    message = str(info.value)
    assert file in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return info.value


# --- the shipped catalog -------------------------------------------------------------------


def test_shipped_catalog_first_event_is_the_aws_deal():
    events = parse_catalog_toml(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED))
    aws = events[0]
    assert aws.id == "amzn-openai-aws-2025"
    assert aws.tickers == ("AMZN",)
    assert aws.announced == date(2025, 11, 3) and not isinstance(aws.announced, datetime)
    assert aws.timing == "unknown"
    assert aws.benchmark == "^GSPC"
    assert aws.related == ("MSFT", "NVDA", "GOOGL")
    assert aws.group == "openai-compute-deals"
    assert "$38bn" in aws.description and aws.source
    assert claims(aws) == ("record high close", "added about $140bn in market value")


def test_shipped_catalog_amazon_earnings_after_close_in_new_york():
    ev = shipped()["amzn-q3-2025-earnings"]
    assert ev.timing == "after-close"
    assert ev.group == "earnings"
    assert ev.announced.utcoffset().total_seconds() == -4 * 3600
    assert ev.announced.astimezone(timezone.utc) == datetime(2025, 10, 30, 20, 1, tzinfo=timezone.utc)


def test_shipped_catalog_has_every_reference_event():
    events = shipped()
    assert list(events) == [
        "amzn-openai-aws-2025", "amzn-q3-2025-earnings", "orcl-fq1-fy26-earnings",
        "orcl-openai-300b-report", "nvda-openai-loi", "amd-openai-6gw", "avgo-openai-10gw",
        "msft-openai-recap",
    ]
    assert events["orcl-fq1-fy26-earnings"].group == "earnings"
    assert events["orcl-openai-300b-report"].timing == "unknown"
    assert events["nvda-openai-loi"].timing == "unknown"
    assert events["amd-openai-6gw"].timing == "pre-open"
    assert events["amd-openai-6gw"].announced.astimezone(timezone.utc).hour == 11
    assert all(ev.benchmark == "^GSPC" and ev.source for ev in events.values())
    deals = [ev.id for ev in events.values() if ev.group == "openai-compute-deals"]
    assert len(deals) == 6


# --- TOML features -------------------------------------------------------------------------


def test_toml_native_values_defaults_characteristics_and_single_ticker_string():
    text = """
[defaults]
benchmark = "SPY"
timing = "After_Close"
group = "g"

[[events]]
id = "a"
tickers = "amzn"
announced = 2025-10-30T16:01:00-04:00
claims = "record high close"
[events.characteristics]
size = 38
sector = "tech"

[[events]]
id = "b"
tickers = ["NVDA", "AMD"]
announced = 2025-09-22
timing = "during session"
group = "other"
"""
    a, b = parse_catalog_toml(text, F)
    assert a.tickers == ("AMZN",) and a.benchmark == "SPY" and a.timing == "after-close" and a.group == "g"
    assert a.extra == (("char.size", 38.0), ("char.sector", "tech"), ("claims", ("record high close",)))
    assert characteristics(a) == {"size": 38.0, "sector": "tech"}
    assert isinstance(characteristics(a)["size"], float)
    assert b.tickers == ("NVDA", "AMD") and b.announced == date(2025, 9, 22)
    assert b.timing == "intraday" and b.group == "other" and claims(b) == ()
    hash(a)


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2025-10-30T16:01:00-04:00", datetime(2025, 10, 30, 20, 1, tzinfo=timezone.utc)),
        ("2025-10-30 16:01 America/New_York", datetime(2025, 10, 30, 20, 1, tzinfo=timezone.utc)),
        ("2025-10-30T16:01 America/New_York", datetime(2025, 10, 30, 20, 1, tzinfo=timezone.utc)),
        ("2025-11-03 16:01 America/New_York", datetime(2025, 11, 3, 21, 1, tzinfo=timezone.utc)),
        ("2025-10-30T20:01Z", datetime(2025, 10, 30, 20, 1, tzinfo=timezone.utc)),
    ],
)
def test_announced_forms(value, utc):
    assert parse_announced(value).astimezone(timezone.utc) == utc


def test_announced_date_string():
    assert parse_announced(" 2025-11-03 ") == date(2025, 11, 3)


@pytest.mark.parametrize(
    ("value", "canonical"),
    [("after close", "after-close"), ("After_Close", "after-close"), ("pre open", "pre-open"),
     ("before open", "pre-open"), ("INTRADAY", "intraday"), ("unknown", "unknown")],
)
def test_timing_variants(value, canonical):
    assert parse_timing(value) == canonical


# --- TOML rejections -----------------------------------------------------------------------


def test_reject_toml_syntax_error_with_line():
    err = rejected(parse_catalog_toml, GOOD_EVENT + "timing = \n", F, "line 6", "TOML")
    assert err.file == F


def test_reject_unknown_key_with_suggestion():
    err = rejected(parse_catalog_toml, GOOD_EVENT + 'anounced = "x"\n', F,
                   "event 'ev-1'", "field 'anounced'", "did you mean 'announced'?")
    assert (err.event, err.field) == ("ev-1", "anounced")


def test_reject_unknown_top_level_key():
    rejected(parse_catalog_toml, GOOD_EVENT.replace("[[events]]", "[[event]]"), F, "did you mean 'events'?")


@pytest.mark.parametrize("key", ["tickers", "announced"])
def test_reject_missing_key(key):
    text = "\n".join(line for line in GOOD_EVENT.splitlines() if not line.startswith(key))
    rejected(parse_catalog_toml, text, F, "event 'ev-1'", f"field {key!r}", "missing")


def test_reject_missing_id():
    rejected(parse_catalog_toml, GOOD_EVENT.replace('id = "ev-1"', ""), F, "#1", "field 'id'")


def test_reject_duplicate_id_naming_both_positions():
    rejected(parse_catalog_toml, GOOD_EVENT + GOOD_EVENT, F, "event 'ev-1'", "field 'id'", "#1", "#2")


def test_reject_unsafe_id():
    rejected(parse_catalog_toml, GOOD_EVENT.replace("ev-1", "AMZN deal!"), F,
             "event 'AMZN deal!'", "field 'id'", "safe file name")


UNSAFE_IDS = ["../../etc/passwd", "/abs/path", "a/b", "..", ".hidden", "ev\x00x", "ev\n", "ev 1", "Ev-1", "a" * 129, "-ev"]


@pytest.mark.parametrize("bad_id", UNSAFE_IDS, ids=range(len(UNSAFE_IDS)))
def test_event_ids_that_could_escape_a_folder_are_rejected_in_both_formats(bad_id):
    """Event ids become folder names (reports/<time>-<id>): only [a-z0-9][a-z0-9_-]{0,127}."""
    toml_text = GOOD_EVENT.replace('"ev-1"', json.dumps(bad_id))  # a JSON string is a TOML basic string
    err = rejected(parse_catalog_toml, toml_text, F, "field 'id'", "safe file name")
    assert err.event == bad_id
    csv_text = "event_id,ticker,announced\n" + '"' + bad_id + '",AMZN,2025-11-03\n'
    if bad_id.strip() == bad_id:  # CSV cells are stripped: "ev\n" is "ev" there
        rejected(parse_catalog_csv, csv_text, G, "row 1", "field 'event_id'")


def test_longest_safe_id_is_accepted():
    (ev,) = parse_catalog_toml(GOOD_EVENT.replace("ev-1", "a" * 128), F)
    assert ev.id == "a" * 128


def test_reject_bad_ticker():
    rejected(parse_catalog_toml, GOOD_EVENT.replace('"AMZN"', '"AM ZN"'), F, "event 'ev-1'", "field 'tickers'")


def test_reject_wrong_type():
    rejected(parse_catalog_toml, GOOD_EVENT.replace('["AMZN"]', "5"), F, "event 'ev-1'", "field 'tickers'", "5")


def test_reject_bad_timing_listing_values():
    rejected(parse_catalog_toml, GOOD_EVENT + 'timing = "lunchtime"\n', F,
             "event 'ev-1'", "field 'timing'", "pre-open, intraday, after-close, unknown")


@pytest.mark.parametrize("value", ['"2025-13-03"', '"Nov 3 2025"', '"2025-11-03 (time not confirmed)"', "12:00:00",
                                   '"2025-10-30 16:01 Mars/Olympus"'])
def test_reject_unparseable_date(value):
    rejected(parse_catalog_toml, GOOD_EVENT.replace('"2025-11-03"', value), F, "event 'ev-1'", "field 'announced'")


@pytest.mark.parametrize("value", ["2025-10-30T16:01:00", '"2025-10-30T16:01:00"', '"2025-10-30 16:01"'])
def test_reject_datetime_without_zone(value):
    rejected(parse_catalog_toml, GOOD_EVENT.replace('"2025-11-03"', value), F,
             "event 'ev-1'", "field 'announced'", "needs a zone")


def test_reject_bad_characteristic():
    rejected(parse_catalog_toml, GOOD_EVENT + "[events.characteristics]\nsize = [1, 2]\n", F,
             "event 'ev-1'", "field 'characteristics.size'")


@pytest.mark.parametrize("text", ["", "# nothing\n", "[defaults]\nbenchmark = 'SPY'\n", "events = []\n"])
def test_reject_zero_events(text):
    rejected(parse_catalog_toml, text, F, "no events")


# --- CSV -----------------------------------------------------------------------------------


def test_csv_merges_rows_and_keeps_extra_columns():
    aws, amd = parse_catalog_csv(GOOD_CSV, G)
    assert aws.id == "amzn-aws" and aws.tickers == ("AMZN", "MSFT")
    assert aws.group == "deals" and aws.timing == "unknown" and aws.description == "OpenAI, AWS deal"
    assert characteristics(aws) == {"size": 38.0}
    assert amd.timing == "pre-open" and amd.benchmark == "^GSPC" and characteristics(amd) == {}
    assert amd.announced.astimezone(timezone.utc).hour == 11


def test_csv_minimal_header_and_text_column_kept_as_text():
    text = "event_id,ticker,announced,note\na,AMZN,2025-11-03,12\nb,NVDA,2025-11-03,big\n"
    a, b = parse_catalog_csv(text, G)
    assert a.group == "all" and a.timing == "unknown"
    assert characteristics(a) == {"note": "12"} and characteristics(b) == {"note": "big"}


def test_csv_rejects_disagreeing_rows_naming_both():
    text = GOOD_CSV.replace("amzn-aws,MSFT,2025-11-03,,,,,", "amzn-aws,MSFT,2025-11-04,,,,,")
    err = rejected(parse_catalog_csv, text, G, "row 2", "event 'amzn-aws'", "field 'announced'", "rows 1 and 2")
    assert err.row == 2


def test_csv_with_semicolons_says_so():
    text = GOOD_CSV.replace(",", ";")
    rejected(parse_catalog_csv, text, G, "row 0", "field 'event_id'", "separated by ';'")


def test_csv_rejects_missing_column_listing_header():
    text = GOOD_CSV.replace("announced,", "when,", 1)
    rejected(parse_catalog_csv, text, G, "row 0", "field 'announced'", "event_id,ticker,announced,timing,benchmark,group")


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        ("AMD,2025-10-06T07:00:00-04:00", "AMD,2025-10-06T07:00:00", ("row 3", "field 'announced'", "zone")),
        ("before open", "lunch", ("row 3", "field 'timing'")),
        ("amd-6gw,AMD", "AMD deal!,AMD", ("row 3", "field 'event_id'")),
        ("amd-6gw,AMD", "amd-6gw,A MD", ("row 3", "field 'ticker'")),
        ("amd-6gw,AMD,", "amd-6gw,AMD,x,", ("row 3",)),
    ],
)
def test_csv_rejects_bad_values_naming_row_and_column(old, new, fragments):
    rejected(parse_catalog_csv, GOOD_CSV.replace(old, new), G, *fragments)


def test_csv_rejects_ticker_on_later_row_naming_that_row():
    rejected(parse_catalog_csv, GOOD_CSV.replace("amzn-aws,MSFT", "amzn-aws,M$FT"), G, "row 2", "field 'ticker'")


@pytest.mark.parametrize("text", ["", "event_id,ticker,announced\n", "\n\n"])
def test_csv_rejects_zero_events(text):
    with pytest.raises(InputError) as info:
        parse_catalog_csv(text, G)
    assert G in str(info.value)


# --- fuzzing: nothing but InputError ---------------------------------------------------------


def mutate(text: str, data: st.DataObject) -> str:
    """Apply a few random edits (delete, insert, replace) to ``text``."""
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 20)))
        insert = data.draw(st.sampled_from(["", "\n", '"', ",", "=", "[", "]", "-", "x", "1", " ", "T"]) | st.text(max_size=8))
        text = text[:i] + insert + text[j:]
    return text


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text())
def test_arbitrary_text_raises_only_input_error(text):
    for parse in (parse_catalog_toml, parse_catalog_csv):
        try:
            parse(text, "fuzz")
        except InputError:
            pass


@FUZZ
@given(st.data())
def test_mutated_toml_raises_only_input_error(data):
    try:
        parse_catalog_toml(mutate(SHIPPED.read_text(encoding="utf-8"), data), F)
    except InputError:
        pass


@FUZZ
@given(st.data())
def test_mutated_csv_raises_only_input_error(data):
    try:
        parse_catalog_csv(mutate(GOOD_CSV, data), G)
    except InputError:
        pass


_CELL = st.text(alphabet=st.sampled_from(list("abcAZ09.-_ ^:+\t")), max_size=12)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(
    st.sampled_from(["e1", "e2", "ev-3", "E4", "", "e1 "]), st.sampled_from(["AMZN", " msft", "^GSPC", "BAD TICKER", ""]),
    st.sampled_from(["2025-11-03", "2025-10-30T16:01:00-04:00", " 2025-02-30", "", "tomorrow"]),
    st.sampled_from(["", "after-close", "pre-open", "soon"]), _CELL, st.sampled_from(["1.5", " 2 ", "", "x", "1e400"]),
), max_size=6), header=st.sampled_from(["event_id,ticker,announced,timing,note,size", "Event_ID , TICKER,announced,timing,note,size",
                                           "event_id,ticker,announced,timing,note,note"]))
def test_the_polars_read_of_a_plain_catalog_equals_the_row_by_row_read(rows, header):
    """A plain CSV catalog (no quotes, one line per row) is read by polars; any text gives the
    same events, or the same error, as the row-by-row read of the csv module."""
    import analysis.catalog as catalog

    text = header + "\n" + "".join(",".join(r) + "\n" for r in rows)

    def read(plain):
        real = catalog._plain_table
        catalog._plain_table = real if plain else (lambda text: None)
        try:
            return parse_catalog_csv(text, "c.csv")
        except InputError as error:
            return str(error)
        finally:
            catalog._plain_table = real

    assert read(True) == read(False)


def test_a_characteristic_made_text_by_some_cells_is_named():
    text = ("event_id,ticker,announced,size,label,debt\ne1,AMZN,2025-11-03,2.5,x,\ne2,MSFT,2025-11-04,\"1,000\",y,n/a\n"
            "e3,NVDA,2025-11-05,3,z,\n")
    events = parse_catalog_csv(text, "c.csv")
    assert almost_numeric(events) == [
        "characteristic 'size' is text, not a regressor, because of 1 value(s) that are no number: '1,000' (event e2); "
        "2 other value(s) are numbers"
    ]  # 'label' is text throughout, 'debt' has no number: nothing to say about them
    assert almost_numeric(parse_catalog_csv(text.replace('"1,000"', "1000"), "c.csv")) == []
