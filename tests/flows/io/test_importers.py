"""Importing analysts' price and shares files: the reference files, and every rejection."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import schema as S
from analysis.errors import DataUnavailableError, InputError
from flows.io.importers import import_price_files, read_price_file, read_shares_file
from flows.io.store import PRICE_SCHEMA, PriceStore

HEADER = "date,open,high,low,close,adj_close,volume\n"


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def close_on(frame: pl.DataFrame, day: date) -> float:
    return frame.filter(pl.col(S.DATE) == day).get_column(S.CLOSE).item()


# --- the reference files -------------------------------------------------------------------


def test_amzn_reference_file(shared_data):
    imported = read_price_file(shared_data / "prices" / "AMZN.csv")
    assert list(imported.frames) == ["AMZN"] and imported.warnings == ()
    amzn = imported.frames["AMZN"]
    assert amzn.schema == PRICE_SCHEMA
    assert amzn.height == 2786
    assert close_on(amzn, date(2025, 11, 3)) == 254.00
    assert close_on(amzn, date(2025, 10, 31)) == 244.22
    assert amzn.get_column(S.DATE).is_sorted() and amzn.get_column(S.DATE).is_unique().all()


def test_gspc_reference_file_as_caret_ticker(shared_data):
    imported = read_price_file(shared_data / "prices" / "GSPC.csv", ticker="^GSPC")
    gspc = imported.frames["^GSPC"]
    assert gspc.height == 2773
    assert imported.warnings == ("^GSPC: no adj_close; returns use close (no dividend adjustment)",)
    assert gspc.get_column(S.ADJ_CLOSE).equals(gspc.get_column(S.CLOSE), check_names=False)
    tail = gspc.filter(pl.col(S.DATE) >= date(2025, 12, 31))
    assert tail.height == 8
    assert tail.select(pl.col(S.OPEN, S.HIGH, S.LOW, S.VOLUME).is_null().all()).row(0) == (True,) * 4
    assert close_on(gspc, date(2026, 1, 12)) == 6977.27


def test_ticker_defaults_to_upper_case_file_stem(tmp_path):
    path = write(tmp_path, "gspc.csv", HEADER + "2025-01-02,,,,5868.55,,\n")
    imported = read_price_file(path)
    assert list(imported.frames) == ["GSPC"]
    assert imported.warnings == ("GSPC: no adj_close; returns use close (no dividend adjustment)",)


def test_shares_reference_file(shared_data):
    shares = read_shares_file(shared_data / "shares_outstanding.csv")
    assert shares.schema == pl.Schema({S.TICKER: pl.String, S.AS_OF_DATE: pl.Date, S.SHARES: pl.Int64})
    amzn = shares.filter(pl.col(S.TICKER) == "AMZN", pl.col(S.AS_OF_DATE) == date(2025, 10, 22))
    assert amzn.get_column(S.SHARES).to_list() == [10690216011]


# --- accepted variations ----------------------------------------------------------------------


def test_aliases_us_dates_and_unsorted_rows(tmp_path):
    path = write(tmp_path, "x.csv", "Date,Close,Adj Close,Volume,Dividends\n1/3/2025,2,1.9,10,0\n12/31/2024,1,0.9,5,0\n")
    frame = read_price_file(path, ticker="amzn").frames["AMZN"]
    assert frame.get_column(S.DATE).to_list() == [date(2024, 12, 31), date(2025, 1, 3)]
    assert frame.get_column(S.ADJ_CLOSE).to_list() == [0.9, 1.9]
    assert frame.get_column(S.OPEN).is_null().all()


def test_iso_datetimes_at_midnight(tmp_path):
    path = write(tmp_path, "X.csv", "timestamp,close\n2025-01-02 00:00:00-05:00,1\n2025-01-03T00:00:00,2\n")
    assert read_price_file(path).frames["X"].get_column(S.DATE).to_list() == [date(2025, 1, 2), date(2025, 1, 3)]


def test_long_file_with_ticker_column(tmp_path):
    path = write(tmp_path, "many.csv", "symbol,date,close,adj_close\nmsft,2025-01-02,10,9\n^GSPC,2025-01-02,5,\nMSFT,2025-01-03,11,10\n")
    imported = read_price_file(path)
    assert sorted(imported.frames) == ["MSFT", "^GSPC"]
    assert imported.frames["MSFT"].get_column(S.ADJ_CLOSE).to_list() == [9.0, 10.0]
    assert imported.warnings == ("^GSPC: no adj_close; returns use close (no dividend adjustment)",)


def test_parquet_input(tmp_path):
    path = tmp_path / "NVDA.parquet"
    pl.DataFrame({
        "Date": [date(2025, 1, 3), date(2025, 1, 2)], "Close": [2.0, 1.0], "Adj Close": [2.0, 1.0],
        "Volume": [100, 200],
    }).write_parquet(path)
    frame = read_price_file(path).frames["NVDA"]
    assert frame.schema == PRICE_SCHEMA
    assert frame.get_column(S.VOLUME).to_list() == [200.0, 100.0]


# --- rejections: file, row and field named ---------------------------------------------------------

REJECTIONS = [
    ("bad date", HEADER + "2025-01-02,1,1,1,1,1,1\n2025-13-01,1,1,1,1,1,1\n", 2, S.DATE, "expected a date as YYYY-MM-DD"),
    ("mixed date formats", HEADER + "2025-01-02,1,1,1,1,1,1\n1/3/2025,1,1,1,1,1,1\n", 2, S.DATE, "'1/3/2025'"),
    ("datetime not at midnight", "date,close\n2025-01-02 00:00:00,1\n2025-01-03 16:00:00,1\n", 2, S.DATE, "at midnight"),
    ("missing date", HEADER + "2025-01-02,1,1,1,1,1,1\n,1,1,1,1,1,1\n", 2, S.DATE, "missing date"),
    ("bad number", HEADER + "2025-01-02,1,1,1,1,1,1\n2025-01-03,1,1,1,1.2.3,1,1\n", 2, S.CLOSE, "expected a number, got '1.2.3'"),
    ("missing close", HEADER + "2025-01-02,1,1,1,,1,1\n", 1, S.CLOSE, "missing close"),
    ("duplicate date", HEADER + "2025-01-02,1,1,1,1,1,1\n2025-01-03,1,1,1,1,1,1\n2025-01-02,1,1,1,1,1,1\n", 3, S.DATE, "first on row 1"),
    ("zero price", HEADER + "2025-01-02,0,1,1,1,1,1\n", 1, S.OPEN, "positive"),
    ("negative price", HEADER + "2025-01-02,1,1,1,-1,1,1\n", 1, S.CLOSE, "positive"),
    ("NaN price", HEADER + "2025-01-02,1,NaN,1,1,1,1\n", 1, S.HIGH, "got 'NaN'"),
    ("inf price", HEADER + "2025-01-02,1,1,inf,1,1,1\n", 1, S.LOW, "got 'inf'"),
    ("negative volume", HEADER + "2025-01-02,1,1,1,1,1,-5\n", 1, S.VOLUME, "volume >= 0"),
    ("partial adj_close", HEADER + "2025-01-02,1,1,1,1,1,1\n2025-01-03,1,1,1,1,,1\n", 2, S.ADJ_CLOSE, "missing adj_close"),
]


@pytest.mark.parametrize(("case", "text", "row", "field", "reason"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_rejected_rows_name_file_row_and_field(tmp_path, case, text, row, field, reason):
    path = write(tmp_path, "BAD.csv", text)
    with pytest.raises(InputError) as info:
        read_price_file(path)
    error = info.value
    assert (error.file, error.row, error.field) == (str(path), row, field)
    assert str(path) in str(error) and f"row {row} (line {row + 1})" in str(error) and f"'{field}'" in str(error)
    assert reason in str(error)
    assert "more problem" not in str(error)


def test_all_problems_counted_in_one_error(tmp_path):
    text = HEADER + "2025-01-02,1,1,1,1,1,1\n2025-01-03,1,1,1,x,1,1\nbad,1,1,1,1,1,1\n2025-01-05,1,1,1,-1,1,-1\n"
    with pytest.raises(InputError, match=r"row 2 .*'close'.*got 'x' \(and 2 more problem rows\)"):
        read_price_file(write(tmp_path, "BAD.csv", text))


def test_bad_ticker_in_long_file(tmp_path):
    path = write(tmp_path, "long.csv", "ticker,date,close\nAMZN,2025-01-02,1\nnot a ticker!,2025-01-02,1\n")
    with pytest.raises(InputError, match="row 2 .*'ticker'.*got 'not a ticker!'"):
        read_price_file(path)


def test_semicolon_files_with_decimal_commas_are_read(tmp_path):
    """A ';' file (Excel in a decimal-comma locale) was refused with "separated by ';'"."""
    text = ("Date;Open;Close;Adj Close;Volume\n2025-11-03;250,5;254,00;253,10;47.229.600\n"
            "2025-11-04;251;255,25;254,3;1200\n")
    got = read_price_file(write(tmp_path, "X.csv", text)).frames["X"]
    assert got.select("open", "close", "adj_close", "volume").rows() == [
        (250.5, 254.0, 253.1, 47229600.0), (251.0, 255.25, 254.3, 1200.0),
    ]
    points = read_price_file(write(tmp_path, "Y.csv", "date;close;volume\n2025-11-03;254.00;1000\n")).frames["Y"]
    assert points.select("close", "volume").row(0) == (254.0, 1000.0)


@pytest.mark.parametrize(("text", "row", "field", "reason"), [
    ("date;close\n2025-11-03;254,00\n2025-11-04;1.234,56\n", 2, "close",
     "expected a number with a decimal comma and no thousands separator, as the file's other prices (such as "
     "'254,00'), got '1.234,56'"),
    ("date;close\n2025-11-03;254,00\n2025-11-04;1,234.56\n", 2, "close", "got '1,234.56'"),
    ("date;close;volume\n2025-11-03;254,00;1.5\n", 1, "volume",
     "expected a volume such as '47229600' or '47.229.600' (the file's prices have decimal commas), got '1.5'"),
    ("date;close;volume\n2025-11-03;254.00;1.500\n", 1, "volume",
     "expected a volume without thousands separators (is '1.500' 1.5 or 1500?), got '1.500'"),
    ('date,close\n2025-11-03,"254,00"\n', 1, "close",
     "expected a number, got '254,00'; a decimal comma? write decimal points, or save the file separated by ';'"),
], ids=["thousands-dot", "thousands-comma", "decimal-volume", "grouped-volume", "quoted-decimal-comma"])
def test_ambiguous_numbers_are_refused_naming_row_and_field(tmp_path, text, row, field, reason):
    with pytest.raises(InputError) as info:
        read_price_file(write(tmp_path, "X.csv", text))
    assert (info.value.row, info.value.field) == (row, field) and info.value.reason.endswith(reason)


@pytest.mark.parametrize(("text", "row", "line", "reason"), [
    ("date,close,volume\n2025-11-03,1,5\n2025-11-04,2\n2025-11-05,3,3\n", 2, 3,
     "2 fields where the header has 3 (date,close,volume)"),
    ("date,close,volume\n2025-11-03,1,5\n\n2025-11-04,2,4,4\n", 2, 4,
     "4 fields where the header has 3 (date,close,volume); decimal commas? write decimal points, or save the file "
     "separated by ';'"),
    ("date,close\n2025-11-03,254,00\n", 1, 2,
     "3 fields where the header has 2 (date,close); decimal commas? write decimal points, or save the file "
     "separated by ';'"),
    ("date;close;volume\n2025-11-03;254,00;5\n2025-11-04;255,00\n", 2, 3, "2 fields where the header has 3 (date;close;volume)"),
], ids=["short", "long-below-a-blank-line", "decimal-commas-in-a-comma-file", "short-semicolons"])
def test_ragged_rows_name_file_row_line_and_field_count(tmp_path, text, row, line, reason):
    """A row with more fields than the header gave "not a readable comma-separated file (found
    more fields than defined in 'Schema')"; one with fewer was read with its last fields empty."""
    path = write(tmp_path, "X.csv", text)
    with pytest.raises(InputError) as info:
        read_price_file(path)
    assert (info.value.file, info.value.row, info.value.reason) == (str(path), row, reason)
    assert f"row {row} (line {line})" in str(info.value)


def test_quoted_separators_and_empty_fields_are_not_ragged(tmp_path):
    text = 'date,close,volume,note\n2025-11-03,1,,"a, b"\n2025-11-04,2,,\n'
    assert read_price_file(write(tmp_path, "X.csv", text)).frames["X"]["close"].to_list() == [1.0, 2.0]


def test_non_utf8_file(tmp_path):
    path = write(tmp_path, "X.csv", "date,close\n2025-01-02,1\n".encode() + "2025-01-03,1 €\n".encode("cp1252"))
    with pytest.raises(InputError, match=r"X\.csv.*not UTF-8.*line 3.*save it as UTF-8"):
        read_price_file(path)


@pytest.mark.parametrize(("name", "message"), [("X.txt", r"expected a file ending in \.csv or \.parquet"), ("X.csv", "empty")])
def test_unreadable_files(tmp_path, name, message):
    with pytest.raises(InputError, match=message):
        read_price_file(write(tmp_path, name, ""))


def test_header_only_and_corrupt_parquet(tmp_path):
    with pytest.raises(InputError, match="no data rows"):
        read_price_file(write(tmp_path, "X.csv", HEADER))
    with pytest.raises(InputError, match=r"X\.parquet.*not a readable Parquet file"):
        read_price_file(write(tmp_path, "X.parquet", b"not parquet"))
    with pytest.raises(InputError, match=r"Y\.csv, row 1 \(line 2\): 3 fields where the header has 2"):
        read_price_file(write(tmp_path, "Y.csv", "date,close\n2025-01-02,1,7\n"))


def test_ticker_argument_with_ticker_column(tmp_path):
    path = write(tmp_path, "long.csv", "ticker,date,close\nAMZN,2025-01-02,1\n")
    with pytest.raises(InputError, match="ticker column"):
        read_price_file(path, ticker="AMZN")


def test_bad_file_name_ticker(tmp_path):
    with pytest.raises(InputError, match=r"my prices\.csv.*file name; pass --ticker"):
        read_price_file(write(tmp_path, "my prices.csv", "date,close\n2025-01-02,1\n"))


# --- shares ------------------------------------------------------------------------------------

SHARES_REJECTIONS = [
    ("fractional", "ticker,shares_outstanding,as_of_date\nAMZN,1.5,2025-01-02\n", 1, S.SHARES, "whole number"),
    ("zero", "ticker,shares_outstanding,as_of_date\nAMZN,0,2025-01-02\n", 1, S.SHARES, "positive"),
    ("bad date", "ticker,shares_outstanding,as_of_date\nAMZN,5,2025-01-02\nAMZN,5,2025-02-30\n", 2, S.AS_OF_DATE, "expected a date"),
    ("duplicate", "ticker,shares_outstanding,as_of_date\nAMZN,5,2025-01-02\namzn,6,2025-01-02\n", 2, S.AS_OF_DATE, "duplicate"),
    ("missing ticker", "ticker,shares_outstanding,as_of_date\n,5,2025-01-02\n", 1, S.TICKER, "missing ticker"),
]


@pytest.mark.parametrize(("case", "text", "row", "field", "reason"), SHARES_REJECTIONS, ids=[r[0] for r in SHARES_REJECTIONS])
def test_shares_rejections(tmp_path, case, text, row, field, reason):
    path = write(tmp_path, "shares.csv", text)
    with pytest.raises(InputError) as info:
        read_shares_file(path)
    assert (info.value.file, info.value.row, info.value.field) == (str(path), row, field)
    assert reason in str(info.value)


# --- importing into the store -----------------------------------------------------------------


def test_import_writes_every_ticker_with_its_source(tmp_path):
    store = PriceStore(tmp_path / "store")
    amzn = write(tmp_path, "AMZN.csv", HEADER + "2025-01-02,1,1,1,1,1,1\n2025-01-03,1,1,1,1.1,1.1,1\n")
    long = write(tmp_path, "long.csv", "ticker,date,close\nMSFT,2025-01-02,1\nNVDA,2025-01-03,1\n")
    report = import_price_files(store, [amzn, long])
    assert report.summary.get_column(S.TICKER).to_list() == ["AMZN", "MSFT", "NVDA"]
    assert len(report.warnings) == 2
    shown = store.tickers()
    assert shown.get_column("source").to_list() == ["import:AMZN.csv", "import:long.csv", "import:long.csv"]
    assert store.coverage("AMZN") == (date(2025, 1, 2), date(2025, 1, 3))


def test_import_is_all_or_nothing(tmp_path):
    store = PriceStore(tmp_path / "store")
    good = write(tmp_path, "AMZN.csv", "date,close\n2025-01-02,1\n")
    bad = write(tmp_path, "MSFT.csv", "date,close\n2025-01-02,-1\n")
    with pytest.raises(InputError, match="MSFT.csv"):
        import_price_files(store, [good, bad])
    assert store.tickers().is_empty()


def test_import_ticker_option_rules(tmp_path):
    store = PriceStore(tmp_path / "store")
    a = write(tmp_path, "A.csv", "date,close\n2025-01-02,1\n")
    b = write(tmp_path, "B.csv", "date,close\n2025-01-02,1\n")
    with pytest.raises(InputError, match="--ticker"):
        import_price_files(store, [a, b], ticker="X")
    with pytest.raises(InputError, match="also in"):
        import_price_files(store, [a, a])
    import_price_files(store, [a], ticker="^gspc")
    assert store.tickers().get_column(S.TICKER).to_list() == ["^GSPC"]


# --- files that are not price files -------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"


def parquet_bytes() -> bytes:
    buf = io.BytesIO()
    pl.DataFrame({"date": [date(2025, 1, 2)], "close": [1.0]}).write_parquet(buf)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("AMZN.csv", PNG, r"not a comma-separated text file: it is a PNG image"),
        ("AMZN.csv", b"PK\x03\x04" + b"\x00" * 40, r"it is a zip archive or an Excel workbook; export the sheet as 'CSV UTF-8'"),
        ("AMZN.csv", "date,close\n2025-01-02,1\n".encode("utf-16"), r"it is UTF-16 text; save it as UTF-8"),
        ("AMZN.csv", b"date,close\n2025-01-02,1\x00\x00\n", r"it is binary data"),
        ("AMZN.csv", None, r"it is a Parquet file; give it the suffix \.parquet"),
        ("AMZN.parquet", b"date,close\n2025-01-02,1\n", r"not a readable Parquet file .*; it looks like text: give a CSV file the suffix \.csv"),
        ("AMZN.parquet", PNG, r"not a readable Parquet file .*; it is a PNG image"),
        ("AMZN.csv", b"date|close\n2025-01-02|1\n", r"separated by '\|'; save it comma-separated"),
        ("AMZN.csv", b"date\tclose\n2025-01-02\t1\n", r"separated by tabs; save it comma-separated"),
        ("AMZN.csv", b"date,close,close\n2025-01-02,1,2\n", r"row 0 \(line 1\), field 'close': the header names column 'close' more than once"),
        ("AMZN.csv", b"\n\n  \n", r"the file is empty"),
    ],
    ids=["png", "xlsx", "utf16", "nul", "parquet-as-csv", "csv-as-parquet", "png-as-parquet", "pipes", "tabs",
         "duplicate-column", "blank"],
)
def test_files_that_are_not_price_files_say_what_they_are(tmp_path, name, data, message):
    path = write(tmp_path, name, parquet_bytes() if data is None else data)
    with pytest.raises(InputError, match=message) as info:
        read_price_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("where", ["schema", "field"])
def test_parquet_metadata_that_is_not_utf8_is_ignored(tmp_path, where):
    # polars panics (a BaseException from Rust) on such metadata; found by the mutation test below.
    table = pl.DataFrame({"date": [date(2025, 1, 2)], "close": [1.0]}).to_arrow()
    bad = {b"k\xff": b"\xfe\xff"}
    if where == "schema":
        table = table.replace_schema_metadata(bad)
    else:
        table = table.cast(pa.schema([table.schema.field(0), table.schema.field(1).with_metadata(bad)]))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    frame = read_price_file(write(tmp_path, "AMZN.parquet", buf.getvalue())).frames["AMZN"]
    assert frame.get_column(S.CLOSE).to_list() == [1.0]


def test_utf8_byte_order_mark_and_crlf_are_accepted(tmp_path):
    path = write(tmp_path, "AMZN.csv", b"\xef\xbb\xbfDate,Close,Adj Close\r\n2025-01-02,1,1\r\n2025-01-03,1.1,1.1\r\n")
    frame = read_price_file(path).frames["AMZN"]
    assert frame.get_column(S.CLOSE).to_list() == [1.0, 1.1]


def test_a_shares_file_that_is_an_image(tmp_path):
    with pytest.raises(InputError, match=r"shares\.csv.*it is a PNG image"):
        read_shares_file(write(tmp_path, "shares.csv", PNG))


# --- suspicious but possible: imported, with a warning naming ticker, dates and ratio ------------


def test_gaps_and_split_like_jumps_are_warned_about_not_rejected(tmp_path):
    # Missing sessions: 01-06, 01-07, 01-14, 01-15, 01-16. Not sessions: 01-09 (national day of
    # mourning for President Carter) and 01-20 (Martin Luther King Day).
    rows = [
        ("2025-01-02", 100, 98), ("2025-01-03", 101, 99), ("2025-01-08", 102, 100), ("2025-01-10", 51, 100.5),
        ("2025-01-13", 51, 101), ("2025-01-17", 51, 101), ("2025-01-21", 51, 101), ("2025-01-22", 104, 202),
    ]
    text = "date,close,adj_close\n" + "".join(f"{d},{c},{a}\n" for d, c, a in rows)
    path = write(tmp_path, "ACME.csv", text)
    imported = read_price_file(path)
    assert imported.frames["ACME"].height == len(rows)
    gap, jump, split = imported.warnings
    assert gap == (f"{path}: ACME: 5 XNYS sessions without a price (their returns and the next are missing): "
                   "2025-01-06, 2025-01-07, 2025-01-14, ...")
    assert jump.startswith(f"{path}: ACME: 1 adj_close jump beyond 1:1.8") and jump.endswith("2025-01-22 ×2.0")
    assert split.startswith(f"{path}: ACME: 1 split-like close jump") and split.endswith("2025-01-10 ×0.5")


def test_rows_on_non_session_days_are_warned_about(tmp_path):
    path = write(tmp_path, "X.csv", "date,close\n2025-01-02,1\n2025-01-04,1\n2025-01-03,1\n")  # 01-04 is a Saturday
    (warning,) = [w for w in read_price_file(path).warnings if "session" in w]
    assert warning == f"{path}: X: 1 row on a day that is not an XNYS session (ignored): 2025-01-04"


# --- property tests: arbitrary and mutated files give only the project's own errors -----------------

VALID_CSV = (HEADER + "2025-01-02,1,2,0.5,1.5,1.4,100\n2025-01-03,1,2,0.5,1.6,1.5,100\n").encode()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOKENS = st.sampled_from([b",", b"\n", b"\r", b'"', b"-", b"1", b"e", b"NaN", b"\x00", b"/", b":", b" ", b"\xff", b"\xef\xbb\xbf"])


def read_any(tmp_dir: Path, name: str, data: bytes) -> None:
    """Read ``data`` as a price and as a shares file; only InputError may come out."""
    path = tmp_dir / name
    path.write_bytes(data)
    for read in (read_price_file, read_shares_file):
        try:
            read(path)
        except (InputError, DataUnavailableError):
            pass


def mutate(data: bytes, draw) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(out)))
        j = draw(st.integers(i, min(len(out), i + 12)))
        out[i:j] = draw(st.binary(max_size=8) | TOKENS)
    return bytes(out)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".parquet"]))
def test_arbitrary_bytes_raise_only_input_error(fuzz_dir, data, suffix):
    read_any(fuzz_dir, "X" + suffix, data)


@FUZZ
@given(st.data())
def test_mutated_csv_raises_only_input_error(fuzz_dir, data):
    read_any(fuzz_dir, "X.csv", mutate(VALID_CSV, data.draw))


@FUZZ
@given(st.data())
def test_mutated_parquet_raises_only_input_error(fuzz_dir, data):
    read_any(fuzz_dir, "X.parquet", mutate(parquet_bytes(), data.draw))


# --- a huge file ------------------------------------------------------------------------------------

MEASURE = """
import json, resource, sys, time
from flows.cli.main import main
start = time.perf_counter()
code = main(["--quiet", "prices", "import", sys.argv[1]])
print(json.dumps({"code": code, "seconds": time.perf_counter() - start,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


@pytest.mark.slow
def test_two_million_rows_import_in_reasonable_time_and_memory(tmp_path):
    """250 tickers x 8000 sessions in one long CSV (131 MB). Measured on the 2-core machine:
    13-17 s and 1.5 GB peak RSS (README, "Inputs tried and faults injected")."""
    import json
    import os
    import subprocess
    import sys

    import numpy as np

    from analysis.calendar import exchange_calendar
    from tests.conftest import REPO_ROOT

    days = exchange_calendar().sessions.filter(pl.col(S.DATE) >= date(1995, 1, 1))[S.DATE].head(8000)
    tickers = [f"T{i:03d}" for i in range(250)]
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, (len(tickers), days.len())), axis=1)).ravel()
    big = tmp_path / "big.csv"
    pl.DataFrame({
        S.TICKER: np.repeat(tickers, days.len()), S.DATE: pl.concat([days] * len(tickers)),
        S.OPEN: close, S.HIGH: close * 1.01, S.LOW: close * 0.99, S.CLOSE: close, S.ADJ_CLOSE: close * 0.98,
        S.VOLUME: np.full(close.size, 1000),
    }).write_csv(big, float_precision=4)
    home = tmp_path / "home"
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(big)], capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "MARKET_REACTION_HOME": str(home)},
    )
    measured = json.loads(run.stdout.splitlines()[-1])
    print(f"2,000,000 rows ({big.stat().st_size / 1e6:.0f} MB): {measured}")
    assert measured["code"] == 0, run.stderr
    assert measured["seconds"] < 120 and measured["max_rss_mb"] < 4096
    stored = PriceStore(home).tickers()
    assert stored.height == 250 and stored["rows"].unique().to_list() == [8000]


def test_cr_only_line_endings_are_read(tmp_path):
    path = tmp_path / "AMZN.csv"
    path.write_bytes(b"date,close\r2025-01-02,220.2\r2025-01-03,224.2\r")
    frame = read_price_file(path).frames["AMZN"]
    assert frame["close"].to_list() == [220.2, 224.2]


def test_blank_lines_are_skipped_and_errors_name_the_files_lines(tmp_path):
    path = tmp_path / "AMZN.csv"
    path.write_text("date,close\n2025-01-02,220.2\n\n   \n2025-01-03,224.2\n,\n")
    assert read_price_file(path).frames["AMZN"]["close"].to_list() == [220.2, 224.2]
    path.write_text("date,close\n2025-01-02,220.2\n\n2025-01-03,-1\n")
    with pytest.raises(InputError) as bad:
        read_price_file(path)
    assert (bad.value.row, bad.value.field) == (2, "close") and "row 2 (line 4)" in str(bad.value)
    path.write_text("date,close\n\n \n")
    with pytest.raises(InputError, match="no data rows below the header"):
        read_price_file(path)


@pytest.mark.parametrize(("text", "date_format", "want"), [
    ("date,close\n1/2/2025,1\n1/13/2025,2\n", None, [date(2025, 1, 2), date(2025, 1, 13)]),  # month first: a day > 12
    ("date,close\n02/01/2025,1\n13/01/2025,2\n", None, [date(2025, 1, 2), date(2025, 1, 13)]),  # day first: a day > 12
    ("date,close\n01/02/2025,1\n01/03/2025,2\n", "D/M/YYYY", [date(2025, 2, 1), date(2025, 3, 1)]),
    ("date,close\n01/02/2025,1\n01/03/2025,2\n", "M/D/YYYY", [date(2025, 1, 2), date(2025, 1, 3)]),
    ("date,close\n01/01/2025,1\n02/02/2025,2\n", None, [date(2025, 1, 1), date(2025, 2, 2)]),  # reads one way only
])
def test_slashed_dates_are_read_in_the_order_the_file_shows(tmp_path, text, date_format, want):
    path = tmp_path / "AMZN.csv"
    path.write_text(text)
    assert read_price_file(path, date_format=date_format).frames["AMZN"]["date"].to_list() == want


def test_day_month_dates_that_read_both_ways_are_refused(tmp_path, mr_home, capsys):
    """A DD/MM file whose days are all <= 12 was stored as the wrong dates with only gap warnings."""
    path = tmp_path / "AMZN.csv"
    path.write_text("date,close\n01/02/2025,1\n01/03/2025,2\n")
    with pytest.raises(InputError, match=r"ambiguous: every one reads as M/D/YYYY and as D/M/YYYY \(e.g. '01/02/2025'\)"):
        read_price_file(path)
    from flows.cli.main import main

    assert main(["prices", "import", str(path)]) == 2 and "--date-format" in capsys.readouterr().err
    assert main(["prices", "import", str(path), "--date-format", "D/M/YYYY"]) == 0


def test_a_reimport_says_what_it_replaced_and_what_the_store_holds(tmp_path, mr_home, capsys):
    from flows.cli.main import main

    path = tmp_path / "AMZN.csv"
    path.write_text("date,close\n2025-01-02,100\n2025-01-03,101\n2025-01-06,102\n2025-01-07,103\n")
    assert main(["prices", "import", str(path)]) == 0
    capsys.readouterr()
    path.write_text("date,close\n2025-01-03,101\n2025-01-06,104.04\n")  # one close changed by +2%
    assert main(["prices", "import", str(path)]) == 0
    out, err = capsys.readouterr()
    assert ("AMZN: replaced 2 stored row(s) 2025-01-03..2025-01-06; 1 close(s) changed, the most by +2.00% on "
            "2025-01-06 (102 -> 104)") in err
    assert "imported AMZN: 2 rows 2025-01-03..2025-01-06 from import:AMZN.csv; the store holds 4 rows 2025-01-02..2025-01-07" in out


def test_replace_shortens_a_history_and_remove_deletes_one(tmp_path, mr_home, capsys):
    from flows.cli.main import main
    from flows.io.store import PriceStore

    path = tmp_path / "AMZN.csv"
    path.write_text("date,close\n2025-01-02,100\n2025-01-03,101\n2025-01-06,102\n2025-01-07,103\n")
    assert main(["prices", "import", str(path)]) == 0
    path.write_text("date,close\n2025-01-06,102\n2025-01-07,103\n")
    assert main(["prices", "import", str(path), "--replace"]) == 0
    out, err = capsys.readouterr()
    store = PriceStore(mr_home)
    assert store.read(["AMZN"])["date"].to_list() == [date(2025, 1, 6), date(2025, 1, 7)]
    assert store.coverage("AMZN") == (date(2025, 1, 6), date(2025, 1, 7))
    assert "AMZN: replaced the whole stored history 2025-01-02..2025-01-07 (--replace)" in err
    assert main(["prices", "remove", "amzn"]) == 0 and "removed AMZN" in capsys.readouterr().out
    assert store.coverage("AMZN") is None and store.tickers().is_empty()
    assert main(["prices", "remove", "AMZN"]) == 2 and "no stored prices for AMZN" in capsys.readouterr().err


def test_shares_typed_in_millions_are_a_warning(mr_home, shared_data, tmp_path, capsys):
    """Shares typed in millions gave Amazon a $98,565 reaction without a word."""
    from flows.cli.main import main

    assert main(["prices", "import", str(shared_data / "prices" / "AMZN.csv")]) == 0
    millions = tmp_path / "shares.csv"
    millions.write_text("ticker,shares_outstanding,as_of_date\nAMZN,10690,2025-10-22\n")
    capsys.readouterr()
    assert main(["shares", "import", str(millions)]) == 0
    err = capsys.readouterr().err
    assert "AMZN: 10,690 shares as of 2025-10-22 x close" in err and "shares typed in millions?" in err
    units = tmp_path / "units.csv"
    units.write_text("ticker,shares_outstanding,as_of_date\nAMZN,10690216011,2025-10-23\n")
    assert main(["shares", "import", str(units)]) == 0
    assert ("AMZN: 10,690,216,011 shares as of 2025-10-23 is about 1000^+2 times the stored 10,690 as of 2025-10-22"
            in capsys.readouterr().err)
    again = tmp_path / "again.csv"
    again.write_text("ticker,shares_outstanding,as_of_date\nAMZN,10700000000,2025-11-01\n")
    assert main(["shares", "import", str(again)]) == 0 and "warning" not in capsys.readouterr().err


def test_a_date_in_another_format_among_slashed_ones_is_named(tmp_path):
    """The order check read only the slashed cells' numbers but filtered all cells (ShapeError)."""
    path = tmp_path / "AMZN.csv"
    path.write_text("date,close\n01/02/2025,1\n2025-01-03,2\n01/03/2025,3\n")
    with pytest.raises(InputError, match="ambiguous.*'01/02/2025'"):
        read_price_file(path)
    path.write_text("date,close\n1/13/2025,1\n2025-01-03,2\n")
    with pytest.raises(InputError) as bad:
        read_price_file(path)
    assert (bad.value.row, bad.value.field) == (2, "date")


# --- seams: raw closes beside adjusted ones -------------------------------------------------------


def test_raw_closes_over_an_adjusted_history_are_refused(shared_data, tmp_path, mr_home, capsys):
    """`date,close` rows imported over AAPL's adjusted history were stored: the return where they
    met moved by 0.4 points, with only a "no adj_close" warning and no flag on any event."""
    from flows.cli.main import main
    from flows.io.store import PriceStore

    assert main(["prices", "import", str(shared_data / "prices" / "AAPL.csv")]) == 0
    store = PriceStore(mr_home)
    before = store.content_hash("AAPL")
    raw = pl.read_csv(shared_data / "prices" / "AAPL.csv").filter(pl.col("date") >= "2025-11-03").select("date", "close")
    path = tmp_path / "AAPL.csv"
    raw.write_csv(path)
    capsys.readouterr()
    assert main(["prices", "import", str(path)]) == 2
    err = capsys.readouterr().err
    assert (f"{path}, field 'adj_close': AAPL: the file has no adj_close, but the stored AAPL rows it would join "
            "(2023-01-03..2025-10-31) have dividend-adjusted closes") in err
    assert "import a file with an adj_close column, or give --replace to make this file AAPL's whole history" in err
    assert store.content_hash("AAPL") == before  # nothing written
    assert main(["prices", "import", str(path), "--replace"]) == 0
    assert store.close_only("AAPL") and store.read(["AAPL"]).height == raw.height


def test_adjusted_closes_over_a_raw_history_are_refused(tmp_path):
    store = PriceStore(tmp_path / "home")
    import_price_files(store, [write(tmp_path, "A.csv", "date,close\n2025-11-03,100\n2025-11-04,101\n")])
    adjusted = write(tmp_path, "B.csv", "date,close,adj_close\n2025-11-05,102,101.5\n2025-11-06,103,102.5\n")
    with pytest.raises(InputError, match=r"B\.csv, field 'adj_close': A: the file's adj_close is dividend-adjusted, "
                                         r"but the stored A rows it would join \(2025-11-03..2025-11-04\) have none"):
        import_price_files(store, [adjusted], ticker="A")
    assert store.read(["A"]).height == 2


def test_a_mix_that_changes_no_return_is_imported_on_one_basis(tmp_path):
    """An index fetched with adj_close = close, then its file without adj_close: no seam."""
    store = PriceStore(tmp_path / "home")
    store.upsert("^GSPC", pl.DataFrame({"date": [date(2025, 11, 3)], "close": [6800.0], "adj_close": [6800.0]}),
                 (date(2025, 11, 3), date(2025, 11, 3)), "yfinance")
    assert store.close_only("^GSPC") is False
    import_price_files(store, [write(tmp_path, "GSPC.csv", "date,close\n2025-11-04,6810\n")], ticker="^GSPC")
    assert store.close_only("^GSPC") and store.read(["^GSPC"])["adj_close"].to_list() == [6800.0, 6810.0]


def test_adjusted_histories_of_different_downloads_meet_at_a_seam_that_is_warned_about(tmp_path):
    store = PriceStore(tmp_path / "home")
    old = "date,close,adj_close\n2025-10-30,100,99\n2025-10-31,101,99.99\n2025-11-03,102,100.98\n"
    import_price_files(store, [write(tmp_path, "A.csv", old)])
    newer = write(tmp_path, "B.csv", "date,close,adj_close\n2025-11-04,103,101.562\n2025-11-05,104,102.5472\n")
    report = import_price_files(store, [newer], ticker="A")  # no shared date: nothing to rebase on
    (seam,) = [w for w in report.warnings if "seam" in w]
    assert seam.startswith(f"{newer}: where its rows meet the stored ones, A: 1 seam: adj_close falls against close")
    assert seam.endswith("2025-11-04 ×0.996")


def test_a_later_download_sharing_a_date_rebases_the_stored_adjusted_closes(tmp_path):
    store = PriceStore(tmp_path / "home")
    old = "date,close,adj_close\n2025-10-30,100,99\n2025-10-31,101,99.99\n2025-11-03,102,100.98\n"
    import_price_files(store, [write(tmp_path, "A.csv", old)])
    newer = write(tmp_path, "B.csv", "date,close,adj_close\n2025-11-03,102,100.576\n2025-11-04,103,101.562\n")
    report = import_price_files(store, [newer], ticker="A")
    assert not [w for w in report.warnings if "seam" in w]
    k = (100.576 / 102) / (100.98 / 102)  # the later download's factor on the shared 2025-11-03
    assert store.read(["A"])["adj_close"].to_list() == pytest.approx([99 * k, 99.99 * k, 100.576, 101.562], rel=1e-12)
