"""Factor data: files in both forms, T-bill rates, the factor store, ``factors fetch`` against a
fake French library, and the CLI and flow with factor models.

The Ken French original form is rebuilt from the shared (cleaned) files: text lines with
commas, a blank line, ``,Mkt-RF,SMB,HML,RF``, ``YYYYMMDD`` rows with padded values, a blank
line and the copyright, with Windows line ends, as the library publishes them.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import zipfile
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis.errors import DataUnavailableError, InputError
from flows.io import factors as ff
from flows.cli.main import main
from flows.io.store import FactorStore
from tests.conftest import REPO_ROOT

CATALOG = REPO_ROOT / "deployments" / "events.toml"
AWS = "amzn-openai-aws-2025"
FRENCH_HEADERS = {"ff3": ",Mkt-RF,SMB,HML,RF", "ff5": ",Mkt-RF,SMB,HML,RMW,CMA,RF", "mom": ",Mom   "}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def french_text(shared_data: Path, name: str, rows: int | None = None) -> str:
    """The shared cleaned file of ``name`` written back in the Ken French download form."""
    with (shared_data / "factors" / f"{name}_daily.csv").open(newline="") as f:
        records = list(csv.reader(f))[1:]
    body = [f"{r[0].replace('-', '')},{','.join(f'{v:>8}' for v in r[1:])}" for r in records[:rows]]
    lines = [
        "This file was created by CMPT_ME_BEME_RETS_DAILY using the 202604 CRSP database.",
        "The 1-month TBill rate data until 202405 are from Ibbotson Associates, Inc., and from ICE BofA after that.",
        "",
        FRENCH_HEADERS[name],
        *body,
        "",
        "Copyright 2026 Kenneth R. French",
        "",
    ]
    return "\r\n".join(lines)


def plain(shared_data: Path, name: str) -> dict[date, dict[str, float]]:
    with (shared_data / "factors" / f"{name}_daily.csv").open(newline="") as f:
        return {date.fromisoformat(r["date"]): {k: float(v) / 100 for k, v in r.items() if k != "date"}
                for r in csv.DictReader(f)}


# --- the two file forms ---------------------------------------------------------------------------


def test_plain_file_in_percent_becomes_decimals(shared_data):
    frame = ff.read_factor_file(shared_data / "factors" / "ff5_daily.csv")
    assert frame.columns == ["date", "mkt_rf", "smb", "hml", "rmw", "cma", "rf"]
    want = plain(shared_data, "ff5")
    assert frame.height == len(want) == 2848
    for row in frame.iter_rows(named=True):
        assert {k: v for k, v in row.items() if k != "date"} == want[row["date"]]
    assert frame.filter(pl.col("date") == date(2015, 1, 5)).row(0, named=True)["mkt_rf"] == -0.0184


@pytest.mark.parametrize("name", ["ff3", "ff5", "mom"])
def test_french_download_form_equals_the_plain_form(shared_data, tmp_path, name):
    path = tmp_path / f"F-F_{name}_daily.CSV"
    path.write_bytes(french_text(shared_data, name).encode("ascii"))
    got = ff.read_factor_file(path)
    assert_frame_equal(got, ff.read_factor_file(shared_data / "factors" / f"{name}_daily.csv"), check_exact=True)
    assert got.columns[1:] == list(ff.FRENCH_COLUMNS[name])


def test_missing_value_codes_and_decimal_units(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("Date,Value Factor,Q.Mom\n2025-01-02,-99.99,0.5\n2025-01-03,,-999\n2025-01-06,1.5,.\n")
    frame = ff.read_factor_file(path)
    assert frame.columns == ["date", "value_factor", "q_mom"]
    assert frame["value_factor"].to_list() == [None, None, 0.015]
    assert frame["q_mom"].to_list() == [0.005, None, None]
    assert ff.read_factor_file(path, "decimal")["value_factor"].to_list() == [None, None, 1.5]


@pytest.mark.parametrize(
    ("text", "row", "line", "field", "fragment"),
    [
        ("date,a,b\n2025-01-02,1,2\n2025-01-03,1,x\n", 2, 3, "b", "expected a number, got 'x'"),
        ("date,a\n2025-01-02,1\n2025-01-02,2\n", 2, 3, "date", "duplicate date 2025-01-02 (first on row 1)"),
        ("date,a\n2025-02-30,1\n", 1, 2, "date", "expected a date as YYYYMMDD or YYYY-MM-DD, got '2025-02-30'"),
        ("text, with commas\n\n,Mkt-RF\n202501,1.0\n202502,2.0\n", 1, 4, "date", "this is a monthly file"),
        (",Mkt-RF,SMB\n20250102,1,2\n20250103,1\n", 2, 3, "columns", "expected 3 comma-separated values"),
        ("Intro\n\n,Mkt-RF\n20250102,1\n20250103,1\nN/A,2\n20250107,1\n\nCopyright\n", 3, 6, "date", "got 'N/A' (daily rows follow it"),
        ("date,a\n2025-01-02,inf\n", 1, 2, "a", "expected a number, got 'inf'"),
    ],
)
def test_bad_factor_files_name_file_row_line_and_field(tmp_path, text, row, line, field, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        ff.read_factor_file(path)
    err = info.value
    assert (err.file, err.row, err.field) == (str(path), row, field), str(err)
    assert f"row {row} (line {line})" in str(err) and fragment in str(err), str(err)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no header found"),
        ("just some text\nand more\n", "no header found"),
        ("date,a,A\n2025-01-02,1,2\n", "header column 3 ('a') is not a usable factor name"),
        ("date,1st\n2025-01-02,1\n", "header column 2 ('1st')"),
    ],
)
def test_files_without_a_usable_header(tmp_path, text, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match="bad.csv") as info:
        ff.read_factor_file(path)
    assert fragment in str(info.value)


def test_unreadable_file_is_named(tmp_path):
    with pytest.raises(InputError, match="nope.csv.*cannot read the file"):
        ff.read_factor_file(tmp_path / "nope.csv")


# --- T-bill rates ---------------------------------------------------------------------------------


def test_dtb3_file_and_its_per_session_rate(shared_data):
    quotes = ff.read_rates_file(shared_data / "rates" / "DTB3.csv")
    assert quotes.columns == ["date", "dtb3"] and quotes.height == 2931
    assert quotes.filter(pl.col("date") == date(2015, 1, 1))["dtb3"].item() is None  # holiday: empty
    rf = ff.tbill_factor_set(quotes)
    assert rf.columns == ["date", "rf"]
    # 2026-03-26 (Thu) uses the quote of 2026-03-25, 3.63%, over 1 calendar day
    assert quotes.filter(pl.col("date") == date(2026, 3, 25))["dtb3"].item() == 3.63
    got = rf.filter(pl.col("date") == date(2026, 3, 26))["rf"].item()
    assert got == pytest.approx((1 - 0.0363 * 91 / 360) ** (-1 / 91) - 1, rel=1e-14)
    # Monday 2026-03-23 accrues the weekend: 3 days at Friday 03-20's quote
    friday = quotes.filter(pl.col("date") == date(2026, 3, 20))["dtb3"].item() / 100
    got = rf.filter(pl.col("date") == date(2026, 3, 23))["rf"].item()
    assert got == pytest.approx((1 - friday * 91 / 360) ** (-3 / 91) - 1, rel=1e-14)


def test_fred_header_and_dot_for_missing(tmp_path):
    path = tmp_path / "DTB3.csv"
    path.write_text("observation_date,DTB3\n2025-11-06,3.60\n2025-11-07,.\n2025-11-10,3.80\n")
    quotes = ff.read_rates_file(path)
    assert quotes["dtb3"].to_list() == [3.60, None, 3.80]


def test_rates_in_the_wrong_units_or_shape_are_refused(tmp_path):
    path = tmp_path / "bp.csv"
    path.write_text("date,dtb3\n2025-11-06,3.60\n2025-11-07,363\n")
    with pytest.raises(InputError, match=r"row 2 \(line 3\), field 'dtb3': expected a value within ±50"):
        ff.read_rates_file(path)
    path.write_text("date,dtb3,dtb6\n2025-11-06,3.60,3.7\n")
    with pytest.raises(InputError, match="one rate column"):
        ff.read_rates_file(path)


# --- the store and the CLI -----------------------------------------------------------------------


def test_factor_commands(mr_home, shared_data, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "factors", "show")
    assert code == 0 and "no factor sets stored" in out
    french = tmp_path / "F-F_Research_Data_Factors_daily.CSV"
    french.write_text(french_text(shared_data, "ff3"), newline="")
    code, out, err = run_cli(capsys, "factors", "import", str(french), "--name", "ff3")
    assert code == 0, err
    assert "imported factor set ff3: mkt_rf, smb, hml, rf; 2848 days 2015-01-02..2026-04-30" in out
    code, out, _ = run_cli(capsys, "rates", "import", str(shared_data / "rates" / "DTB3.csv"))
    assert code == 0 and "--risk-free dtb3" in out
    code, out, _ = run_cli(capsys, "factors", "show")
    lines = out.splitlines()
    assert lines[0].startswith("dtb3") and "columns rf" in lines[0]
    assert lines[1].startswith("ff3") and "2848 days  2015-01-02..2026-04-30  columns mkt_rf,smb,hml,rf" in lines[1]
    assert "source import:F-F_Research_Data_Factors_daily.CSV" in lines[1]
    stored = FactorStore(mr_home).read("ff3")
    assert_frame_equal(stored, ff.read_factor_file(shared_data / "factors" / "ff3_daily.csv"), check_exact=True)
    # importing again under the same name replaces the set
    small = tmp_path / "small.csv"
    small.write_text("date,mkt_rf\n2025-01-02,1\n")
    assert run_cli(capsys, "factors", "import", str(small), "--name", "ff3")[0] == 0
    assert FactorStore(mr_home).read("ff3").columns == ["date", "mkt_rf"]


def test_bad_factor_file_through_the_cli(mr_home, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,a\n2025-01-02,1\n2025-01-03,one\n")
    code, _, err = run_cli(capsys, "factors", "import", str(bad), "--name", "mine")
    assert code == 2 and err.count("\n") == 1
    assert "bad.csv, row 2 (line 3), field 'a': expected a number, got 'one'" in err
    assert not FactorStore(mr_home).path("mine").exists()
    code, _, err = run_cli(capsys, "factors", "import", str(bad), "--name", "My Set")
    assert code == 2 and "'--name'" in err


def fake_french_zip(shared_data: Path, name: str, member: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(member, french_text(shared_data, name))
    return buf.getvalue()


def test_fetch_from_a_fake_french_library(mr_home, shared_data, monkeypatch, capsys):
    asked = []

    def download(url: str, timeout: float) -> bytes:
        asked.append((url, timeout))
        name = {v: k for k, v in ff.FRENCH_FILES.items()}[url.rsplit("/", 1)[1]]
        return fake_french_zip(shared_data, name, url.rsplit("/", 1)[1].replace("_CSV.zip", ".CSV"))

    monkeypatch.setattr(ff, "_download", download)
    code, out, err = run_cli(capsys, "factors", "fetch", "ff3", "ff5", "mom", "--timeout", "5")
    assert code == 0, err
    assert [u.rsplit("/", 1)[1] for u, _ in asked] == list(ff.FRENCH_FILES.values()) and {t for _, t in asked} == {5.0}
    assert all(u.startswith(ff.FRENCH_URL) for u, _ in asked)
    store = FactorStore(mr_home)
    for name in ("ff3", "ff5", "mom"):
        assert_frame_equal(store.read(name), ff.read_factor_file(shared_data / "factors" / f"{name}_daily.csv"))
        assert store.source(name) == ff.FRENCH_URL + ff.FRENCH_FILES[name]
    assert "fetched factor set mom: mom; 2848 days 2015-01-02..2026-04-30" in out


def test_fetch_offline_or_garbage_says_what_to_do(mr_home, monkeypatch, capsys):
    def offline(url: str, timeout: float) -> bytes:
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(ff, "_download", offline)
    code, _, err = run_cli(capsys, "factors", "fetch", "ff5")
    assert code == 3
    assert "cannot download the ff5 factors" in err and "Name or service not known" in err
    assert "market-reaction factors import FILE --name ff5" in err
    monkeypatch.setattr(ff, "_download", lambda url, timeout: b"<html>maintenance</html>")
    with pytest.raises(DataUnavailableError, match="did not answer with a zip"):
        ff.fetch_french("mom")
    monkeypatch.setattr(ff, "_download", lambda url, timeout: (_ for _ in ()).throw(TimeoutError("timed out")))
    with pytest.raises(DataUnavailableError, match="timed out"):
        ff.fetch_french("ff3")
    assert not (mr_home / "factors").exists()


def test_run_names_the_missing_factor_set_before_starting(mr_home, capsys):
    code, _, err = run_cli(capsys, "run", AWS, "--catalog", str(CATALOG), "--model", "carhart4", "--source", "store")
    assert code == 3 and err.count("\n") == 1
    assert "the carhart4 model needs the factor sets ff3, mom, which are not in the store" in err
    assert "market-reaction factors fetch ff3" in err and "market-reaction factors import FILE --name mom" in err


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("--factors", "mine"), 2, "expected NAME:COLUMN[,COLUMN...]"),
        (("--factors", "mine:a,b", "--model", "ff3"), 2, "goes with --model factors"),
        (("--model", "ff3", "--risk-free", "none"), 2, "'none' is only for --model factors"),
        (("--model", "market", "--risk-free", "dtb3"), 2, "the market model uses raw returns"),
        (("--factors", "mine:a,rf"), 2, "rf is the risk-free rate"),
        (("--factors", "mine:mkt_rf,smb"), 3, "needs the factor set mine"),
        (("--factors", "mine:mkt_rf", "--risk-free", "dtb3"), 3, "factor sets mine, dtb3"),
    ],
)
def test_factor_options_fail_fast(mr_home, capsys, args, code, fragment):
    got, _, err = run_cli(capsys, "run", AWS, "--catalog", str(CATALOG), "--source", "store", *args)
    assert got == code and fragment in err, err


def test_a_set_without_the_needed_column(mr_home, tmp_path, capsys):
    own = tmp_path / "own.csv"
    own.write_text("date,a\n2025-01-02,1\n")
    assert run_cli(capsys, "factors", "import", str(own), "--name", "own")[0] == 0
    code, _, err = run_cli(capsys, "run", AWS, "--catalog", str(CATALOG), "--factors", "own:a,b")
    assert code == 2 and "the factor set 'own' has no column b (it has: a)" in err


@pytest.mark.slow
def test_run_ff3_and_user_factors_from_the_store(prefect_api, mr_home, shared_data, tmp_path, capsys):
    """``--model ff3`` and ``--factors`` through the CLI and the Prefect flow, no network."""
    p = shared_data / "prices"
    assert run_cli(capsys, "prices", "import", str(p / "AMZN.csv"), str(p / "MSFT.csv"), str(p / "NVDA.csv"), str(p / "GOOGL.csv"))[0] == 0
    assert run_cli(capsys, "prices", "import", str(p / "GSPC.csv"), "--ticker", "^GSPC")[0] == 0
    for name in ("ff3", "ff5"):
        assert run_cli(capsys, "factors", "import", str(shared_data / "factors" / f"{name}_daily.csv"), "--name", name)[0] == 0
    assert run_cli(capsys, "rates", "import", str(shared_data / "rates" / "DTB3.csv"))[0] == 0
    out = tmp_path / "ff3"
    code, stdout, err = run_cli(capsys, "run", AWS, "--catalog", str(CATALOG), "--source", "store", "--model", "ff3", "--out", str(out))
    assert code == 0, err
    models = pl.read_parquet(out / "models.parquet")
    assert models.columns[:12] == ["event_id", "ticker", "model", "alpha", "beta", "sigma", "r_squared", "n_obs",
                                   "estimation_start", "estimation_end", "beta_smb", "beta_hml"]
    amzn = models.filter(pl.col("ticker") == "AMZN").row(0, named=True)
    assert amzn["model"] == "ff3" and amzn["n_obs"] == 250 and 1.1 < amzn["beta"] < 1.4
    car = pl.read_parquet(out / "car.parquet")
    assert {"abnormal_volume", "abnormal_volume_t", "volume_reason"} <= set(car.columns)
    assert car.filter(pl.col("ticker") == "AMZN")["abnormal_volume"].null_count() == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["model"] == "ff3" and manifest["parameters"]["risk_free"] == "ff3"
    assert manifest["factors"]["ff3"]["covered"] == ["2015-01-02", "2026-04-30"] and manifest["factors"]["ff3"]["sha256"]
    assert "beta\\_smb" in (out / "tables" / "models.md").read_text()  # Markdown escapes the underscore
    # your own factors from a stored set, on excess returns over the T-bill rate
    out = tmp_path / "own"
    code, _, err = run_cli(capsys, "run", AWS, "--catalog", str(CATALOG), "--source", "store", "--factors", "ff5:mkt_rf,rmw,cma",
                           "--risk-free", "dtb3", "--out", str(out))
    assert code == 0, err
    models = pl.read_parquet(out / "models.parquet")
    assert models["model"].unique().to_list() == ["factors"] and {"beta_rmw", "beta_cma"} <= set(models.columns)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["factor_set"] == "ff5" and manifest["parameters"]["factors"] == ["mkt_rf", "rmw", "cma"]
    assert set(manifest["factors"]) == {"ff5", "dtb3"}


def test_factors_in_decimals_imported_as_percent_are_a_warning(mr_home, tmp_path, capsys):
    """A decimal file read as percent made every factor 100x too small without a word."""
    import numpy as np

    rng = np.random.default_rng(0)
    days = pl.date_range(date(2024, 1, 1), date(2024, 6, 30), eager=True)
    frame = pl.DataFrame({"date": days, "mkt_rf": rng.normal(0, 0.01, days.len()), "smb": rng.normal(0, 0.005, days.len()),
                          "rf": np.full(days.len(), 0.0002)})
    path = tmp_path / "mine.csv"
    frame.write_csv(path)
    code, _, err = run_cli(capsys, "factors", "import", str(path), "--name", "mine")
    assert code == 0
    for name in ("mkt_rf", "smb"):
        assert f"{path}: {name}: daily standard deviation" in err and "looks like decimals read as percent" in err
    assert ": rf:" not in err  # the risk-free rate is small by nature
    code, _, err = run_cli(capsys, "factors", "import", str(path), "--name", "mine", "--units", "decimal")
    assert code == 0 and "warning" not in err
