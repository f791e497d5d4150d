"""The manifest's record of the inputs: the catalog hash and the store-file hashes change
exactly when the inputs change (``flows.orchestration.study.run_manifest``, no Prefect run needed)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from analysis import schema as S
from analysis.specs import EventSpec, StudySpec
from flows.io.importers import import_price_files
from flows.io.store import PriceStore
from flows.orchestration.study import run_manifest


def price_file(path, close0: float):
    dates = [date(2025, 1, 2) + timedelta(days=i) for i in range(30)]
    pl.DataFrame({S.DATE: dates, S.CLOSE: [close0 + i for i in range(30)]}).write_csv(path)
    return path


def test_hashes_change_exactly_when_the_inputs_change(tmp_path):
    store = PriceStore(tmp_path / "home")
    a, b = price_file(tmp_path / "AAA.csv", 10), price_file(tmp_path / "BBB.csv", 20)
    import_price_files(store, [a, b])
    catalog = tmp_path / "events.csv"
    catalog.write_text("event_id,ticker,announced\nev,AAA,2025-01-20\n")
    events = (EventSpec("ev", ("AAA",), date(2025, 1, 20)),)
    needs = pl.DataFrame({S.TICKER: ["AAA", "BBB"], "start": [date(2025, 1, 2)] * 2, "end": [date(2025, 1, 31)] * 2})

    def manifest(spec=StudySpec()):
        m = run_manifest(catalog, events, spec, "store", store, needs, [])
        return m["catalog"]["sha256"], {t: d["sha256"] for t, d in m["data"].items()}, m["parameters"]

    cat0, data0, params0 = manifest()
    assert manifest() == (cat0, data0, params0)  # nothing changed, nothing differs
    assert len(cat0) == 64 and all(len(h) == 64 for h in data0.values())

    import_price_files(store, [a])  # the same file again: same bytes in the store
    assert manifest()[:2] == (cat0, data0)

    price_file(b, 20.5)  # BBB's prices change: only BBB's hash moves
    import_price_files(store, [b])
    cat1, data1, _ = manifest()
    assert cat1 == cat0 and data1["AAA"] == data0["AAA"] and data1["BBB"] != data0["BBB"]

    catalog.write_text(catalog.read_text() + "\n")  # one byte more in the catalog
    cat2, data2, _ = manifest()
    assert cat2 != cat0 and data2 == data1

    _, _, params3 = manifest(StudySpec(min_estimation_obs=100))
    assert params3 != params0 and params3["min_estimation_obs"] == 100
