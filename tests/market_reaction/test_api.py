"""The Python API (:mod:`market_reaction`): the README's example as written, the same frames as
the command line for the shipped catalog (prices from the store and from frames), the
importer's checks on frames, and the results object (read-only, summary, plot, report)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import market_reaction as mr
from flows.cli.main import main

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "deployments" / "events.toml"
AWS = "amzn-openai-aws-2025"
TICKERS = ("AMZN", "MSFT", "NVDA", "GOOGL")
FRAMES = ("events", "car", "tests", "models", "abnormal_returns", "confounders", "claims", "regressions", "outliers")


def test_the_public_surface_is_one_import():
    assert set(mr.__all__) == {n for n in dir(mr) if not n.startswith("_")} - {"api"}
    for name in mr.__all__:
        assert getattr(mr, name).__doc__, name


def readme_example() -> str:
    """The first code block of the README's section "Python API"."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_as_written(shared_data, tmp_path):
    for name in ("AMZN.csv", "GSPC.csv"):
        (tmp_path / name).write_bytes((shared_data / "prices" / name).read_bytes())
    (tmp_path / "example.py").write_text(readme_example())
    env = {"MARKET_REACTION_HOME": str(tmp_path / "no-store"), "PATH": "", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "+3.78%" in done.stdout and "2.76" in done.stdout, done.stdout
    assert not (tmp_path / "no-store" / "prices").exists()  # no store (only the calendar cache), no network


@pytest.fixture(scope="module")
def shared_frames(shared_data):
    """The shared prices as one frame (``^GSPC`` from GSPC.csv) and the shares outstanding."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mr.DataWarning)
        prices = pl.concat([mr.read_prices(shared_data / "prices" / f"{t}.csv") for t in TICKERS]
                           + [mr.read_prices(shared_data / "prices" / "GSPC.csv", "^GSPC")])
    return prices, pl.read_csv(shared_data / "shares_outstanding.csv")


@pytest.fixture(scope="module")
def cli_run(shared_data, tmp_path_factory):
    """``market-reaction run`` on the shipped catalog with the shared prices imported: its
    store and report folder."""
    home = tmp_path_factory.mktemp("cli") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("MARKET_REACTION_HOME", str(home))
    mp.delenv("PREFECT_API_URL", raising=False)
    p = shared_data / "prices"
    try:
        assert main(["prices", "import", *(str(p / f"{t}.csv") for t in TICKERS)]) == 0
        assert main(["prices", "import", str(p / "GSPC.csv"), "--ticker", "^GSPC"]) == 0
        assert main(["shares", "import", str(shared_data / "shares_outstanding.csv")]) == 0
        out = home.parent / "report"
        assert main(["run", "--catalog", str(CATALOG), "--source", "store", "--out", str(out)]) == 0
    finally:
        mp.undo()
    return home, out


def assert_same_frames(study: mr.Study, report: Path) -> None:
    for name in FRAMES:
        written = pl.read_parquet(report / f"{name}.parquet")
        assert_frame_equal(getattr(study, name), written, check_dtypes=True, check_exact=True), name


def test_the_api_and_the_command_line_give_identical_frames(cli_run, shared_frames):
    home, report = cli_run
    from_store = mr.study(CATALOG, store=home)
    assert_same_frames(from_store, report)
    prices, shares = shared_frames
    with pytest.warns(mr.DataWarning) as said:
        from_frames = mr.study(CATALOG, prices, shares=shares, store=home.parent / "unused")
    assert sorted(str(w.message) for w in said) == [f"{t}: no prices given" for t in ("AMD", "AVGO", "ORCL")]
    assert_same_frames(from_frames, report)
    assert from_frames.car.filter(pl.col("event_id") == AWS).height > 0


def test_to_report_writes_the_command_lines_folder(cli_run, shared_frames, tmp_path):
    home, report = cli_run
    prices, shares = shared_frames
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mr.DataWarning)
        written = mr.study(CATALOG, prices, shares=shares).to_report(tmp_path / "api")
    files = {p.relative_to(written).as_posix() for p in written.rglob("*") if p.is_file()}
    assert files == {p.relative_to(report).as_posix() for p in report.rglob("*") if p.is_file()}
    for name in ("car.csv", "tests.csv", "tables/summary.md", "plots/car-amzn-openai-aws-2025.svg"):
        assert (written / name).read_bytes() == (report / name).read_bytes(), name
    manifest, cli = (json.loads((folder / "manifest.json").read_text()) for folder in (written, report))
    assert manifest["parameters"] == {**cli["parameters"], "source": "frames"} and manifest["store"] is None
    (first, last), (start, end) = manifest["data"]["AMZN"]["covered"], cli["data"]["AMZN"]["needed"]
    assert first <= start and end <= last  # the frames cover what was needed


def test_the_results_object(shared_frames):
    prices, shares = shared_frames
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mr.DataWarning)
        result = mr.study(CATALOG, prices, shares=shares, ids=[AWS])
    assert repr(result) == "<Study of 1 event(s), market model: 4 flagged>"  # AMZN and its 3 related tickers
    with pytest.raises(AttributeError, match="read-only"):
        result.car = None  # type: ignore[misc]
    html = result._repr_html_()
    assert "<table" in html and "AMZN" in html and type(result.summary()).__name__ == "GT"
    fig = result.plot(AWS)
    assert type(fig).__name__ == "Figure" and fig.axes[0].get_lines()
    with pytest.raises(mr.InputError, match="no CAR path for 'nope'"):
        result.plot("nope")
    # the catalog's other events were context: the earnings two sessions earlier confound the deal
    assert "amzn-q3-2025-earnings" in result.confounders["confounder_id"].to_list()


def test_events_from_a_frame_a_file_or_values(tmp_path):
    frame = pl.DataFrame({"event_id": ["a", "a", "b"], "ticker": ["AMZN", "MSFT", "NVDA"],
                          "announced": [date(2025, 11, 3)] * 3, "size": [1.5, 1.5, 2.0]})
    events = mr.events(frame)
    assert [(e.id, e.tickers, e.extra) for e in events] == [
        ("a", ("AMZN", "MSFT"), (("char.size", 1.5),)), ("b", ("NVDA",), (("char.size", 2.0),))]
    assert mr.events(frame.to_pandas(), ids=["b"]) == events[1:]
    assert mr.events(events) == events
    frame.write_csv(tmp_path / "c.csv")
    assert mr.events(tmp_path / "c.csv") == events
    with pytest.raises(mr.InputError, match=r"row 2.*announced|announced.*row 2"):
        mr.events(frame.with_columns(pl.Series("announced", ["2025-11-03", "2025-13-03", "2025-11-03"])))
    with pytest.raises(mr.InputError, match="did you mean 'a'"):
        mr.events(frame, ids=["aa"])


def test_price_frames_are_checked_as_imported_files():
    days = [date(2025, 11, 3), date(2025, 11, 4), date(2025, 11, 4)]
    frame = pl.DataFrame({"Ticker": ["amzn"] * 3, "Date": days, "Close": [254.0, 249.3, 250.1], "Adj Close": [None] * 3})
    with pytest.raises(mr.InputError) as bad:
        mr.prices(frame)
    assert (bad.value.file, bad.value.row, bad.value.field) == ("prices", 3, "date")
    assert "duplicate 2025-11-04 for AMZN (first on row 2)" in str(bad.value)
    with pytest.warns(mr.DataWarning, match="AMZN: no adj_close; returns use close"):
        got = mr.prices(frame.head(2).to_pandas())  # pandas: dates become datetimes at midnight
    assert got.columns == ["ticker", "date", "open", "high", "low", "close", "adj_close", "volume"]
    assert got["adj_close"].to_list() == got["close"].to_list() == [254.0, 249.3]
    assert got["date"].to_list() == days[:2]
    with pytest.raises(mr.InputError, match="no ticker column"):
        mr.prices(frame.drop("Ticker"))
    with pytest.warns(mr.DataWarning, match=r"\^GSPC: no adj_close"):
        assert mr.prices(frame.drop("Ticker").head(1), ticker="^gspc")["ticker"].to_list() == ["^GSPC"]
    with pytest.raises(mr.InputError, match="expected a positive price"):
        mr.prices(frame.head(2).with_columns(pl.lit(-1.0).alias("Close")))


def test_spec_options_from_text():
    spec = mr.StudySpec(estimation="-120:-11", windows=["0:0", "-2:2"], min_estimation_obs=60)
    assert spec.estimation == mr.Window(-120, -11) and spec.windows == (mr.Window(0, 0), mr.Window(-2, 2))
    with pytest.raises(mr.InputError, match="START:END") as bad:
        mr.StudySpec(windows=["0-1"])
    assert bad.value.field == "windows"


def test_a_characteristic_made_text_by_one_value_is_a_data_warning(shared_frames):
    prices, _ = shared_frames
    frame = pl.DataFrame({"event_id": ["a", "b"], "ticker": ["AMZN", "MSFT"], "announced": ["2025-11-03", "2025-10-28"],
                          "size": ["2.5", "1,000"]})
    with pytest.warns(mr.DataWarning, match=r"characteristic 'size' is text, not a regressor.*'1,000' \(event b\)"):
        mr.study(frame, prices)
