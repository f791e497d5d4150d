"""Loading catalogs from files, the default catalog location, and choosing events."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.errors import InputError
from flows.io.catalog import CATALOG_ENV, default_catalog_path, load_catalog, select_events

REPO_ROOT = Path(__file__).resolve().parents[3]

TOML = """
[[events]]
id = "amzn-aws"
tickers = ["AMZN"]
announced = "2025-11-03"
description = "OpenAI–AWS deal"

[[events]]
id = "amd-6gw"
tickers = ["AMD"]
announced = "2025-10-06"

[[events]]
id = "nvda-loi"
tickers = ["NVDA"]
announced = "2025-09-22"
"""

CSV = 'event_id,ticker,announced,timing,benchmark,group\namzn-aws,AMZN,2025-11-03,,,\namzn-aws,MSFT,2025-11-03,,,\n'


def test_load_toml(tmp_path):
    path = tmp_path / "events.toml"
    path.write_text(TOML, encoding="utf-8")
    events = load_catalog(path)
    assert [ev.id for ev in events] == ["amzn-aws", "amd-6gw", "nvda-loi"]
    assert events[0].description == "OpenAI–AWS deal"


def test_load_csv_with_byte_order_mark(tmp_path):
    path = tmp_path / "events.CSV"
    path.write_bytes(b"\xef\xbb\xbf" + CSV.encode())
    (ev,) = load_catalog(path)
    assert ev.tickers == ("AMZN", "MSFT")


def test_load_rejects_other_suffix(tmp_path):
    path = tmp_path / "events.txt"
    path.write_text(TOML, encoding="utf-8")
    with pytest.raises(InputError, match=r"\.toml, \.csv"):
        load_catalog(path)


def test_load_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(InputError, match="catalog not found") as info:
        load_catalog(path)
    assert str(path) in str(info.value)


def test_load_latin1_bytes(tmp_path):
    path = tmp_path / "events.toml"
    path.write_bytes(TOML.replace("–", "é").encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8") as info:
        load_catalog(path)
    assert info.value.file == str(path)


def test_load_errors_name_the_file(tmp_path):
    path = tmp_path / "events.toml"
    path.write_text(TOML.replace('"AMD"', '"A M D"'), encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_catalog(path)
    assert (info.value.file, info.value.event, info.value.field) == (str(path), "amd-6gw", "tickers")


def test_default_catalog_path_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv(CATALOG_ENV, str(tmp_path / "mine.csv"))
    assert default_catalog_path() == tmp_path / "mine.csv"


def test_default_catalog_path_in_current_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(CATALOG_ENV, raising=False)
    (tmp_path / "deployments").mkdir()
    (tmp_path / "deployments" / "events.toml").write_text(TOML, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert default_catalog_path() == tmp_path / "deployments" / "events.toml"


def test_default_catalog_path_falls_back_to_repository(tmp_path, monkeypatch):
    monkeypatch.delenv(CATALOG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    path = default_catalog_path()
    assert path == REPO_ROOT / "deployments" / "events.toml"
    assert load_catalog(path)[0].id == "amzn-openai-aws-2025"


def test_select_events_in_catalog_order():
    events = load_catalog_text()
    assert [ev.id for ev in select_events(events, ["nvda-loi", "amzn-aws"])] == ["amzn-aws", "nvda-loi"]
    assert select_events(events, []) == events
    assert [ev.id for ev in select_events(events, "amd-6gw")] == ["amd-6gw"]


def test_select_events_unknown_ids_with_close_matches():
    with pytest.raises(InputError) as info:
        select_events(load_catalog_text(), ["amzn-aws", "amd-6gv", "zzz"])
    message = str(info.value)
    assert "'amd-6gv' (did you mean 'amd-6gw'?)" in message and "'zzz'" in message
    assert "'amzn-aws'" not in message.split(":", 1)[1]


def load_catalog_text():
    from analysis.catalog import parse_catalog_toml

    return parse_catalog_toml(TOML, "events.toml")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("events.toml", b"\x89PNG\r\n\x1a\n\x00\x00", "not a text file: it is a PNG image"),
        ("events.csv", b"PK\x03\x04\x14\x00", "it is a zip archive or an Excel workbook"),
        ("events.csv", CSV.encode("utf-16"), "it is UTF-16 text; save it as UTF-8"),
        ("events.toml", b"[[events]]\nid = 'x'\x00\n", "it is binary data"),
    ],
    ids=["png", "xlsx", "utf16", "nul"],
)
def test_load_files_that_are_not_catalogs(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError, match=message) as info:
        load_catalog(path)
    assert info.value.file == str(path)


def test_load_a_directory(tmp_path):
    path = tmp_path / "events.toml"
    path.mkdir()
    with pytest.raises(InputError, match="cannot read the catalog") as info:
        load_catalog(path)
    assert info.value.file == str(path)


def test_a_catalog_with_cr_only_line_endings_is_read(tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes(b"event_id,ticker,announced\rev,AMZN,2025-11-03\r")
    (event,) = load_catalog(path)
    assert (event.id, event.tickers) == ("ev", ("AMZN",))


# --- appending events (flows.io.catalog.append_events) ------------------------------------------

def _found():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from analysis.specs import EventSpec

    at = datetime(2025, 10, 30, 16, 1, 52, tzinfo=ZoneInfo("America/New_York"))
    src = "https://www.sec.gov/Archives/edgar/data/1018724/000101872425000090/0001018724-25-000090-index.htm"
    return [EventSpec("amzn-8k-0001018724-25-000090", ("AMZN",), at, "after-close", group="earnings",
                      description='8-K: 2.02 "Results", with a comma', source=src),
            EventSpec("amd-6gw", ("AMD",), at, "after-close", related=("NVDA",))]


@pytest.mark.parametrize("suffix", [".toml", ".csv"])
def test_append_keeps_the_text_adds_only_new_events_and_reads_back(tmp_path, suffix):
    from analysis.filings import accession_of
    from flows.io.catalog import append_events

    path = tmp_path / f"events{suffix}"
    path.write_text(TOML if suffix == ".toml" else "event_id,ticker,announced,timing,benchmark,group\namd-6gw,AMD,2025-10-06,,,\n",
                    encoding="utf-8")  # the CSV gains the columns description and source
    before = path.read_text(encoding="utf-8")
    done = append_events(path, _found(), key=accession_of)
    assert [e.id for e in done.added] == ["amzn-8k-0001018724-25-000090"] and [t for _, t in done.kept] == ["amd-6gw"]
    after = load_catalog(path)
    assert [e.id for e in after][-1] == "amzn-8k-0001018724-25-000090" and after[-1] == _found()[0]
    if suffix == ".toml":
        assert path.read_text(encoding="utf-8").startswith(before.rstrip())  # the analyst's text as it was
    again = path.read_bytes()
    assert append_events(path, _found(), key=accession_of).added == () and path.read_bytes() == again
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left


def test_append_creates_a_missing_catalog_and_fills_one_with_only_defaults(tmp_path):
    from flows.io.catalog import append_events

    new = tmp_path / "sub" / "found.csv"
    assert len(append_events(new, _found()).added) == 2 and len(load_catalog(new)) == 2
    defaults = tmp_path / "d.toml"
    defaults.write_text('[defaults]\nbenchmark = "^NDX"\n', encoding="utf-8")
    append_events(defaults, _found()[:1])
    assert load_catalog(defaults)[0].benchmark == "^NDX"  # the catalog's default applies


def test_append_to_a_broken_catalog_writes_nothing(tmp_path):
    from flows.io.catalog import append_events

    path = tmp_path / "events.toml"
    path.write_text("[[events]]\nid = 'x'\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing required key 'tickers'"):
        append_events(path, _found())
    assert path.read_text(encoding="utf-8") == "[[events]]\nid = 'x'\n"
    with pytest.raises(InputError, match="unsupported catalog type '.txt'"):
        append_events(tmp_path / "events.txt", _found())
