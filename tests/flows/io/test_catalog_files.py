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
