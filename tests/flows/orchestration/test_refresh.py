"""``refresh-catalog``: per-event fingerprints decide what is recomputed; an unchanged catalog
leaves every file byte-identical."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path
from uuid import UUID

import polars as pl
import pytest

import analysis
from analysis import schema as S
from analysis.specs import Window
from flows.io.catalog import load_catalog
from flows.io.importers import import_price_files
from flows.orchestration.refresh import CATALOG_DIR, EVENTS_DIR, FINGERPRINT, fingerprints, refresh_catalog, what_changed
from flows.params import study_spec
from flows.io.store import PriceStore
from flows.reporting.publish import code_revision, engine_digest

CATALOG = """
[[events]]
id = "amzn-june"
tickers = ["AMZN"]
announced = "2025-06-02"
description = "An <b>early</b> & quiet event"

[[events]]
id = "amzn-openai-aws-2025"
tickers = ["AMZN"]
announced = "2025-11-03"
group = "deals"
description = "OpenAI-AWS $38bn deal <script>alert(1)</script>"
"""


def import_reference(store: PriceStore, shared: Path, tmp: Path, until: date | None = None) -> None:
    """AMZN and ^GSPC from the reference data (optionally only up to ``until``)."""
    for name, ticker in (("AMZN", "AMZN"), ("GSPC", "^GSPC")):
        frame = pl.read_csv(shared / "prices" / f"{name}.csv", try_parse_dates=True)
        if until is not None:
            frame = frame.filter(pl.col(S.DATE) <= until)
        path = tmp / f"{name}-{until}.csv"
        frame.write_csv(path)
        import_price_files(store, [path], ticker)


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def catalog(tmp_path) -> Path:
    path = tmp_path / "deals.toml"
    path.write_text(CATALOG)
    return path


def test_fingerprint_follows_the_rows_inside_the_window_only(shared_data, tmp_path, catalog):
    store = PriceStore(tmp_path / "store")
    import_reference(store, shared_data, tmp_path, until=date(2025, 12, 31))
    events, spec = load_catalog(catalog), study_spec()
    before = fingerprints(events, spec, store)
    assert set(before["amzn-june"]["parts"]["prices"]) == {"AMZN", "^GSPC"}

    # later rows (January 2026) arrive: outside both events' ranges, the store file changes
    full_hash = store.content_hash("AMZN")
    import_reference(store, shared_data, tmp_path)
    assert store.content_hash("AMZN") != full_hash
    assert fingerprints(events, spec, store) == before

    # a corrected close inside the November event's window changes that event only
    fixed = store.read(["AMZN"]).drop(S.TICKER).with_columns(
        pl.when(pl.col(S.DATE) == date(2025, 11, 5)).then(pl.col(S.CLOSE) + 1).otherwise(pl.col(S.CLOSE)).alias(S.CLOSE)
    )
    store.upsert("AMZN", fixed, (fixed[S.DATE].min(), fixed[S.DATE].max()), "test")
    after = fingerprints(events, spec, store)
    assert after["amzn-june"] == before["amzn-june"]
    assert what_changed(before["amzn-openai-aws-2025"], after["amzn-openai-aws-2025"]) == "prices of AMZN changed inside its window"

    # parameters and catalog text are part of it too
    wider = fingerprints(events, replace(spec, windows=(*spec.windows, Window(0, 10))), store)
    assert what_changed(after["amzn-june"], wider["amzn-june"]).startswith("study parameters changed")
    edited = (replace(events[0], description="edited"), events[1])
    assert what_changed(after["amzn-june"], fingerprints(edited, spec, store)["amzn-june"]) == "catalog entry changed"
    assert what_changed(None, after["amzn-june"]) == "no previous report"
    assert what_changed(after["amzn-june"], after["amzn-june"]) is None


def test_fingerprint_follows_factor_rows_inside_the_window(shared_data, tmp_path, catalog):
    store = PriceStore(tmp_path / "store")
    import_reference(store, shared_data, tmp_path, until=date(2025, 12, 31))
    events, spec = load_catalog(catalog), study_spec(model="ff3")
    ff3 = pl.read_csv(shared_data / "factors" / "ff3_daily.csv", try_parse_dates=True)
    before = fingerprints(events, spec, store, {"ff3": ff3})
    assert set(before["amzn-june"]["parts"]["factors"]) == {"ff3"}
    later = ff3.filter(pl.col(S.DATE) > date(2026, 2, 1)).with_columns(pl.col("smb") + 1)
    assert fingerprints(events, spec, store, {"ff3": ff3.update(later, on=S.DATE)}) == before
    edited = ff3.with_columns(pl.when(pl.col(S.DATE) == date(2025, 11, 5)).then(pl.col("hml") + 0.01).otherwise(pl.col("hml")).alias("hml"))
    after = fingerprints(events, spec, store, {"ff3": edited})
    assert after["amzn-june"] == before["amzn-june"]
    assert what_changed(before["amzn-openai-aws-2025"], after["amzn-openai-aws-2025"]) == "factor data changed inside its window"


@pytest.mark.parametrize("mode", ["local", pytest.param("tracked", marks=pytest.mark.slow)])
def test_refresh_recomputes_only_events_whose_window_gained_data(mode, request, shared_data, tmp_path, catalog):
    if mode == "tracked":
        request.getfixturevalue("prefect_api")
        from flows.orchestration.tracked import refresh_catalog as refresh
    else:
        refresh = refresh_catalog
    store = PriceStore(tmp_path / "store")
    import_reference(store, shared_data, tmp_path, until=date(2025, 11, 5))  # the November window is incomplete
    reports = tmp_path / "reports"
    args = dict(catalog=str(catalog), source="store", reports=str(reports), store=str(store.root))

    first = refresh(**args)
    folder = Path(first["reports"])
    assert folder == reports / "deals"
    assert set(first["recomputed"]) == {"amzn-june", "amzn-openai-aws-2025"} and first["unchanged"] == []
    for event in ("amzn-june", "amzn-openai-aws-2025"):
        assert (folder / EVENTS_DIR / event / FINGERPRINT).is_file()
        assert (folder / EVENTS_DIR / event / "report.html").is_file()
    whole = pl.read_parquet(folder / CATALOG_DIR / "car.parquet")
    assert set(whole[S.EVENT_ID]) == {"amzn-june", "amzn-openai-aws-2025"}
    assert (reports / "index.html").is_file()

    # nothing new: nothing recomputed, every file byte-identical
    snapshot = tree_hashes(reports)
    second = refresh(**args)
    assert second["recomputed"] == {} and sorted(second["unchanged"]) == ["amzn-june", "amzn-openai-aws-2025"]
    assert tree_hashes(reports) == snapshot

    # the November window gains its last sessions: only that event is recomputed
    import_reference(store, shared_data, tmp_path)
    third = refresh(**args)
    assert list(third["recomputed"]) == ["amzn-openai-aws-2025"]
    assert "prices of AMZN, ^GSPC changed inside its window" in third["recomputed"]["amzn-openai-aws-2025"]
    now = tree_hashes(reports)
    june = [k for k in snapshot if k.startswith("deals/events/amzn-june/")]
    assert june and all(now[k] == snapshot[k] for k in june)
    assert now["deals/events/amzn-openai-aws-2025/car.parquet"] != snapshot["deals/events/amzn-openai-aws-2025/car.parquet"]
    manifest = json.loads((folder / CATALOG_DIR / "manifest.json").read_text())
    assert manifest["kind"] == "catalog" and set(manifest["fingerprints"]) == {"amzn-june", "amzn-openai-aws-2025"}
    assert manifest["code"] == code_revision() and manifest["code"]["analysis_sha256"] == engine_digest()
    if mode == "tracked":  # the flow run that wrote it
        assert manifest["flow_run"]["flow"] == "refresh-catalog" and UUID(manifest["flow_run"]["id"])
        assert manifest["flow_run"]["name"].startswith("deals-")
    else:
        assert manifest["flow_run"] is None
    days = pl.read_parquet(folder / EVENTS_DIR / "amzn-openai-aws-2025" / "car.parquet")
    assert days.filter(pl.col(S.WINDOW_END) == 5)[S.N_DAYS].item() == 11

    # an event leaves the catalog: the catalog report no longer lists it; amzn-june sat in the deal's estimation
    # window (a confounder), so the deal is recomputed for that reason alone
    catalog.write_text(CATALOG.split("[[events]]")[0] + "[[events]]" + CATALOG.split("[[events]]")[2])
    fourth = refresh(**args)
    assert fourth["recomputed"] == {"amzn-openai-aws-2025": "confounding events changed"} and fourth["unchanged"] == []
    assert "confounding events" not in (pl.read_parquet(folder / EVENTS_DIR / "amzn-openai-aws-2025" / "events.parquet")[S.REASON].item() or "")
    assert set(pl.read_parquet(folder / CATALOG_DIR / "car.parquet")[S.EVENT_ID]) == {"amzn-openai-aws-2025"}
    assert (folder / EVENTS_DIR / "amzn-june" / "report.html").is_file()



@pytest.fixture
def engine_copy(tmp_path, monkeypatch) -> Path:
    """A copy of the ``analysis`` sources that :func:`engine_digest` reads from now on (the
    imported modules stay the originals: only the digest follows the copy)."""
    copy = tmp_path / "checkout" / "analysis"
    shutil.copytree(Path(analysis.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    engine_digest.cache_clear()
    monkeypatch.setattr(analysis, "__file__", str(copy / "__init__.py"))
    yield copy
    engine_digest.cache_clear()


def test_engine_digest_follows_contents_not_places_or_times(engine_copy, monkeypatch):
    copied = engine_digest()
    engine_digest.cache_clear()
    monkeypatch.undo()  # the installed sources: another folder, other file times, the same contents
    assert engine_digest() == copied
    engine_digest.cache_clear()
    monkeypatch.setattr(analysis, "__file__", str(engine_copy / "__init__.py"))
    os.utime(engine_copy / "engine.py", (0, 0))
    (engine_copy / "__pycache__").mkdir()
    (engine_copy / "__pycache__" / "engine.cpython-311.pyc").write_bytes(b"compiled")
    assert engine_digest() == copied
    (engine_copy / "inference" / "notes.txt").write_text("x")  # every source file counts
    engine_digest.cache_clear()
    assert engine_digest() != copied


def test_refresh_recomputes_every_event_after_an_engine_edit_then_nothing(shared_data, tmp_path, catalog, engine_copy):
    store = PriceStore(tmp_path / "store")
    import_reference(store, shared_data, tmp_path)
    reports = tmp_path / "reports"
    args = dict(catalog=str(catalog), source="store", reports=str(reports), store=str(store.root))
    assert set(refresh_catalog(**args)["recomputed"]) == {"amzn-june", "amzn-openai-aws-2025"}
    old_digest = engine_digest()

    engine = engine_copy / "engine.py"
    engine.write_text(engine.read_text() + "\n# an edit of the engine\n")
    engine_digest.cache_clear()  # a new process (the next nightly run) reads the edited sources
    edited = refresh_catalog(**args)
    why = "engine code changed (analysis/ or the version)"
    assert edited["recomputed"] == {"amzn-june": why, "amzn-openai-aws-2025": why}
    prints = json.loads((reports / "deals" / EVENTS_DIR / "amzn-june" / FINGERPRINT).read_text())
    assert prints["parts"]["code"]["analysis"] == engine_digest() != old_digest
    manifest = json.loads((reports / "deals" / CATALOG_DIR / "manifest.json").read_text())
    assert manifest["code"]["analysis_sha256"] == engine_digest()

    snapshot = tree_hashes(reports)
    again = refresh_catalog(**args)
    assert again["recomputed"] == {} and tree_hashes(reports) == snapshot
