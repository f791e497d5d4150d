"""Import analysts' own price and shares-outstanding files.

Price files are CSV (UTF-8, comma-separated, with a header) or Parquet, one row per day::

    date,open,high,low,close,adj_close,volume

A CSV whose header has semicolons and no comma is read as ``;``-separated. If a price in it
has a decimal comma, every price must be written so, without thousands separators
(``254,00``), and a volume may group thousands with ``.`` (``47.229.600``); otherwise numbers
have decimal points and a volume such as ``1.500`` is refused (1.5 or 1500?). A row with more
or fewer fields than the header is refused, naming its row and line.

Column names are case-insensitive, spaces and underscores are ignored, and common aliases are
accepted (``timestamp`` for ``date``, ``Adj Close``/``adjclose`` for ``adj_close``, ``symbol``
for ``ticker``); other columns are ignored. ``date`` and ``close`` are required. A ``ticker``
column makes the file a long file holding many tickers; otherwise the ticker is the one given,
or the file name without suffix, upper-cased (``GSPC.csv`` -> ``GSPC``).

Dates are ``YYYY-MM-DD``, ``M/D/YYYY`` or ``D/M/YYYY``, or ISO datetimes at midnight
(``2025-11-03 00:00:00``, optionally with a UTC offset); the format is taken from the first date
of the file and must hold on every row. Slashed dates are month first, or day first when a
first number exceeds 12 and no second one does; a file whose dates all read both ways (every
number up to 12) is refused unless ``date_format`` (``--date-format``) names the order. Rows
may come in any order; they are sorted.

Every row is checked and all problems are collected: the error names the file, the first bad
row and field, and how many other rows are bad; nothing of a bad file (or of the other files
of the same import) is written. Files that are not text (an image, a workbook, UTF-16) or use
another separator (tabs, "|") are named as such. When ``adj_close`` is absent or empty for every row of a
ticker (price indices such as ^GSPC), ``close`` is used and a warning says so; an ``adj_close``
missing on only some rows is an error. Rows with only a close (open, high, low, volume empty)
are valid.

What is suspicious but possible — sessions of the XNYS calendar missing inside a ticker's
range, rows on non-session days, jumps beyond 1:1.8, split-like jumps of the close and seams
(:mod:`analysis.quality`) — is imported with a warning naming the file, the ticker, the count
and the first dates (with the ratio of a jump).

A stored history has one ``adj_close`` basis (:mod:`flows.io.store`): merging a file without
``adj_close`` into stored rows with dividend-adjusted closes, or the reverse, is refused
(``--replace`` makes the file the whole history); adjusted closes meeting stored adjusted ones
of another download are imported with a warning on the seam.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from analysis import schema as S
from analysis.errors import InputError, separator_hint
from analysis.quality import price_quality, quality_notes, shows_adjustment
from analysis.specs import check_ticker
from flows.io.calendars import exchange_calendar
from flows.io.filetype import binary_kind
from flows.params import DateFormat
from flows.io.store import FIRST_DATE, LAST_DATE, PRICE_SCHEMA, ROWS, SOURCE, PriceStore, arrow_frame, rebased

ACCEPTED_SUFFIXES = (".csv", ".parquet")
PRICE_HEADER = ",".join(S.PRICE_COLUMNS)
SHARES_HEADER = ",".join((S.TICKER, S.SHARES, S.AS_OF_DATE))

_PRICE_ALIASES = {
    "date": S.DATE, "timestamp": S.DATE, "open": S.OPEN, "high": S.HIGH, "low": S.LOW,
    "close": S.CLOSE, "adjclose": S.ADJ_CLOSE, "volume": S.VOLUME, "ticker": S.TICKER, "symbol": S.TICKER,
}
_SHARES_ALIASES = {
    "ticker": S.TICKER, "symbol": S.TICKER, "sharesoutstanding": S.SHARES, "shares": S.SHARES,
    "asofdate": S.AS_OF_DATE,
}
_PRICES = (S.OPEN, S.HIGH, S.LOW, S.CLOSE, S.ADJ_CLOSE)
_NUMBERS = (*_PRICES, S.VOLUME)

# (regular expression of a whole cell capturing its date part, strptime format, description)
_DATE_FORMATS = (
    (r"(\d{4}-\d{2}-\d{2})", "%Y-%m-%d", "YYYY-MM-DD"),
    (r"(\d{1,2}/\d{1,2}/\d{4})", "%m/%d/%Y", "M/D/YYYY"),  # or D/M/YYYY: _date_parser
    (r"(\d{4}-\d{2}-\d{2})[T ]00:00(?::00(?:\.0+)?)?(?:Z|[+-]\d{2}:?\d{2})?", "%Y-%m-%d",
     "an ISO datetime at midnight"),
)

_SLASHED = r"(\d{1,2})/(\d{1,2})/\d{4}"
_SLASHED_FORMATS = {"M/D/YYYY": "%m/%d/%Y", "D/M/YYYY": "%d/%m/%Y"}

_ROW = "__row"  # 1-based data row
_LINE = "__line"  # 1-based file line of a row, when not row + 1
_FIELD = "__field"
_REASON = "__reason"
_ORDER = "__order"
_NO_ADJ = "__no_adj_close"
_BAD = "__bad"


def _raw(column: str) -> str:
    """Name of the column holding the text of ``column`` as found in the file."""
    return f"__raw_{column}"


def _raw_name(column: str) -> str:
    """:func:`_raw` of a column read from the file; the file lines (``__line``) keep their name."""
    return column if column == _LINE else _raw(column)


@dataclass(frozen=True, slots=True)
class ImportedPrices:
    """Validated prices of one file.

    Attributes
    ----------
    frames
        Ticker -> frame of :data:`flows.io.store.PRICE_SCHEMA` columns, sorted by date.
    warnings
        Things the user should know: that returns of a ticker use close, and the findings of
        the data checks (gaps, off-calendar rows, jumps) per ticker.
    close_only
        The tickers without ``adj_close`` (their ``adj_close`` is the close).
    """

    frames: dict[str, pl.DataFrame]
    warnings: tuple[str, ...]
    close_only: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What :func:`import_price_files` wrote.

    Attributes
    ----------
    summary
        One row per imported ticker: ``ticker, source, rows, first_date, last_date``.
    warnings
        The warnings of all files.
    """

    summary: pl.DataFrame
    warnings: tuple[str, ...]


def read_price_file(path: Path, ticker: str | None = None, date_format: DateFormat | None = None) -> ImportedPrices:
    """Read and validate one price file (CSV or Parquet, by suffix).

    Parameters
    ----------
    path
        The file.
    ticker
        The ticker of a file without a ticker column (default: the file name upper-cased).
        Not allowed for a file with a ticker column.
    date_format
        The order of slashed dates (module docstring; default: read from the file).

    Returns
    -------
    ImportedPrices
        The frames by ticker, and warnings.

    Raises
    ------
    InputError
        Naming the file, the first bad row and field, and the number of other bad rows.
    """
    path = Path(path)
    table, separator = _read_table(path)
    return check_prices(table, str(path), None if _has_ticker(table) else _file_ticker(path, ticker), ticker, date_format,
                        separator == ";")


def check_prices(
    table: pl.DataFrame, file: str, ticker: str | None = None, given: str | None = None,
    date_format: DateFormat | None = None, semicolons: bool = False,
) -> ImportedPrices:
    """Check and normalise a price table exactly as an imported file (module docstring).

    Parameters
    ----------
    table
        The rows, as read from a file or given as a frame (any column types: they are read
        as their text).
    file
        What to name in errors and warnings (the file, or ``prices`` for a frame).
    ticker
        The ticker of a table without a ticker column.
    given
        The ticker the user gave, when it is an error for a table with a ticker column.
    date_format
        The order of slashed dates (module docstring).
    semicolons
        The table is a ``;``-separated file: its numbers may have decimal commas (module
        docstring).

    Returns
    -------
    ImportedPrices

    Raises
    ------
    InputError
        Naming ``file``, the first bad row and field, and the number of other bad rows.
    """
    text = _columns(table, _PRICE_ALIASES, (S.DATE, S.CLOSE), PRICE_HEADER, file)
    if S.TICKER in text.columns:
        if given is not None:
            raise InputError("the table has a ticker column; do not also give a ticker", file=file, field=S.TICKER)
    elif ticker is None:
        raise InputError("no ticker column; give the ticker of these prices", file=file, field=S.TICKER)
    else:
        text = text.with_columns(pl.lit(ticker).alias(S.TICKER))
    text = text.with_columns(pl.lit(None, pl.String).alias(c) for c in _NUMBERS if c not in text.columns)
    parse_date, date_reason = _date_parser(text[S.DATE], S.DATE, file, date_format)
    numbers = _number_parsers(text, semicolons)
    adj_all_missing = pl.col(_raw(S.ADJ_CLOSE)).is_null().all().over(S.TICKER)
    frame = text.rename(_raw_name).with_row_index(_ROW, offset=1).with_columns(
        pl.col(_raw(S.TICKER)).str.to_uppercase().alias(S.TICKER),
        parse_date.alias(S.DATE),
        *(parse.cast(pl.Float64, strict=False).alias(c) for c, (parse, _) in numbers.items()),
    )
    _raise_problems(frame, file, [
        *_ticker_checks(frame),
        *_date_checks(S.DATE, date_reason),
        (S.CLOSE, pl.col(_raw(S.CLOSE)).is_null(), pl.lit("missing close")),
        *((c, pl.col(c).is_null() & pl.col(_raw(c)).is_not_null(), reason) for c, (_, reason) in numbers.items()),
        *((c, (pl.col(c) <= 0) | ~pl.col(c).is_finite(), _got("expected a positive price", c)) for c in _PRICES),
        (S.VOLUME, (pl.col(S.VOLUME) < 0) | ~pl.col(S.VOLUME).is_finite(), _got("expected a volume >= 0", S.VOLUME)),
        (S.ADJ_CLOSE, pl.col(_raw(S.ADJ_CLOSE)).is_null() & ~adj_all_missing, pl.format(
            "missing adj_close while other rows of {} have one (fill it in, or leave the column empty "
            "on every row to use close)", pl.col(S.TICKER),
        )),
        _duplicate_check(S.TICKER, S.DATE),
    ])
    frame = frame.with_columns(
        adj_all_missing.alias(_NO_ADJ),
        pl.when(adj_all_missing).then(pl.col(S.CLOSE)).otherwise(pl.col(S.ADJ_CLOSE)).alias(S.ADJ_CLOSE),
    )
    no_adj = frame.filter(pl.col(_NO_ADJ)).get_column(S.TICKER).unique().sort()
    cal = exchange_calendar()
    notes = quality_notes(price_quality(frame.select(S.TICKER, S.DATE, S.CLOSE, S.ADJ_CLOSE), cal), cal)
    return ImportedPrices(
        frames={
            t: part.select(PRICE_SCHEMA.names()).sort(S.DATE)
            for (t,), part in frame.partition_by(S.TICKER, as_dict=True).items()
        },
        warnings=(
            *(f"{t}: no adj_close; returns use close (no dividend adjustment)" for t in no_adj),
            *(f"{file}: {note}" for note in notes[S.REASON]),
        ),
        close_only=frozenset(no_adj),
    )


def import_price_files(
    store: PriceStore, paths: Sequence[Path], ticker: str | None = None, date_format: DateFormat | None = None,
    replace: bool = False,
) -> ImportReport:
    """Validate all ``paths``, then store every ticker they hold.

    Nothing is written unless every file is valid and no ticker would mix closes with and
    without dividend adjustment (:func:`_check_seams`), and then every ticker or none
    (:meth:`~flows.io.store.PriceStore.upsert_all`: a full disk or a read-only store file
    stops the import with an ``OSError`` naming the file, the store as it was). Each ticker
    is upserted with covered range = its first..last date and source ``import:<file name>``;
    imported rows replace stored rows of the same dates.

    Parameters
    ----------
    store
        The price store.
    paths
        Price files (see :func:`read_price_file`); a ticker may appear in only one of them.
    ticker
        The ticker of a single file without a ticker column (``--ticker``).
    date_format
        The order of slashed dates in every file (``--date-format``).
    replace
        Make each file the ticker's whole stored history (``--replace``: to shorten it, or to
        start again), instead of merging it in.

    Returns
    -------
    ImportReport
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("no price files given")
    if ticker is not None and len(paths) > 1:
        raise InputError(f"--ticker names the ticker of one file, but {len(paths)} files were given", field="--ticker")
    found: dict[str, tuple[Path, pl.DataFrame]] = {}
    close_only: set[str] = set()
    warnings: list[str] = []
    for path in paths:
        imported = read_price_file(path, ticker, date_format)
        for t, frame in imported.frames.items():
            if t in found:
                raise InputError(
                    f"{t} is also in {found[t][0]}; import each ticker from one file", file=str(path), field=S.TICKER
                )
            found[t] = (path, frame)
        close_only |= imported.close_only
        warnings.extend(imported.warnings)
    for t, (path, frame) in found.items():  # an unreadable store file or a mix of bases stops the import
        store.coverage(t)  # before anything is written
        if not replace:
            warnings.extend(_check_seams(store, t, path, frame, t in close_only))
    for t, (path, frame) in found.items():
        warnings.extend(_replaced(t, store.read([t], frame[S.DATE].min(), frame[S.DATE].max(), columns=[S.CLOSE]), frame))
        before = store.coverage(t)
        if replace and before is not None:
            warnings.append(f"{t}: replaced the whole stored history {before[0]}..{before[1]} (--replace)")
    store.upsert_all(  # all or none: a full disk at the 19th of 60 tickers leaves the store as it was
        [(t, frame, (frame[S.DATE].min(), frame[S.DATE].max()), f"import:{path.name}", t in close_only)
         for t, (path, frame) in found.items()],
        replace,
    )
    summary = pl.DataFrame(
        [(t, f"import:{p.name}", f.height, f[S.DATE].min(), f[S.DATE].max()) for t, (p, f) in found.items()],
        schema={S.TICKER: pl.String, SOURCE: pl.String, ROWS: pl.Int64, FIRST_DATE: pl.Date, LAST_DATE: pl.Date},
        orient="row",
    )
    return ImportReport(summary=summary, warnings=tuple(warnings))


def _check_seams(store: PriceStore, ticker: str, path: Path, frame: pl.DataFrame, close_only: bool) -> list[str]:
    """Refuse to merge closes without dividend adjustment (no ``adj_close``) with adjusted
    ones, either way (a stored history has one basis: :mod:`flows.io.store`); return notes on
    the seams (:func:`analysis.quality.price_quality`) where the file's rows would meet the
    stored ones (adjusted closes of different downloads)."""
    stored_close_only = store.close_only(ticker)
    if stored_close_only is None:
        return []
    stored = store.read([ticker], columns=[S.CLOSE, S.ADJ_CLOSE]).drop(S.TICKER)
    if not (close_only or stored_close_only):
        stored = rebased(stored, frame)
    kept = stored.filter(~pl.col(S.DATE).is_in(frame[S.DATE].implode()))
    if kept.is_empty():
        return []
    span = f"the stored {ticker} rows it would join ({kept[S.DATE].min()}..{kept[S.DATE].max()})"
    remedy = f"or give --replace to make this file {ticker}'s whole history"
    if close_only and shows_adjustment(kept):
        raise InputError(
            f"{ticker}: the file has no adj_close, but {span} have dividend-adjusted closes: raw closes beside "
            f"adjusted ones make the returns where they meet wrong; import a file with an adj_close column, {remedy}",
            file=str(path), field=S.ADJ_CLOSE,
        )
    if stored_close_only and not close_only and shows_adjustment(frame):
        raise InputError(
            f"{ticker}: the file's adj_close is dividend-adjusted, but {span} have none (imported without "
            f"adj_close): adjusted closes beside raw ones make the returns where they meet wrong; import the "
            f"file without its adj_close column, {remedy}",
            file=str(path), field=S.ADJ_CLOSE,
        )
    merged = pl.concat([kept.with_columns(pl.lit(False).alias("_new")),
                        frame.select(stored.columns).with_columns(pl.lit(True).alias("_new"))]).sort(S.DATE)
    meets = merged.filter(pl.col("_new") != pl.col("_new").shift()).get_column(S.DATE)
    cal = exchange_calendar()
    seams = price_quality(merged.with_columns(pl.lit(ticker).alias(S.TICKER)), cal).filter(
        (pl.col(S.CHECK) == "seam") & pl.col(S.DATE).is_in(meets.implode()))
    return [f"{path}: where its rows meet the stored ones, {note}" for note in quality_notes(seams, cal)[S.REASON]]


def _replaced(ticker: str, stored: pl.DataFrame, new: pl.DataFrame) -> list[str]:
    """A note on the stored rows of ``ticker`` an import replaced (``stored``: those on the
    dates of ``new``): how many, their dates, how many closes changed and the largest change."""
    both = stored.select(S.DATE, pl.col(S.CLOSE).alias("_old")).join(new.select(S.DATE, S.CLOSE), on=S.DATE)
    if both.is_empty():
        return []
    change = both.with_columns((pl.col(S.CLOSE) / pl.col("_old") - 1).alias("_change")).filter(pl.col("_change") != 0)
    note = f"{ticker}: replaced {both.height} stored row(s) {both[S.DATE].min()}..{both[S.DATE].max()}"
    if change.is_empty():
        return [note + " with the same closes"]
    worst = change.sort(pl.col("_change").abs(), descending=True).row(0, named=True)
    return [note + f"; {change.height} close(s) changed, the most by {worst['_change']:+.2%} on {worst[S.DATE]} "
                   f"({worst['_old']:,.4g} -> {worst[S.CLOSE]:,.4g})"]


def read_shares_file(path: Path) -> pl.DataFrame:
    """Read and validate a shares-outstanding file.

    Header ``ticker,shares_outstanding,as_of_date`` (CSV or Parquet; other columns ignored).
    Shares must be positive whole numbers, dates as in price files, each ticker and date once.

    Returns
    -------
    pl.DataFrame
        ``ticker`` (String), ``as_of_date`` (Date), ``shares_outstanding`` (Int64), sorted by
        ticker and date.
    """
    path = Path(path)
    return check_shares(_read_table(path)[0], str(path))


def check_shares(table: pl.DataFrame, file: str) -> pl.DataFrame:
    """Check and normalise a shares-outstanding table as :func:`read_shares_file` does (``file``:
    what to name in errors)."""
    required = (S.TICKER, S.SHARES, S.AS_OF_DATE)
    text = _columns(table, _SHARES_ALIASES, required, SHARES_HEADER, file)
    parse_date, date_reason = _date_parser(text[S.AS_OF_DATE], S.AS_OF_DATE, file)
    frame = text.rename(_raw_name).with_row_index(_ROW, offset=1).with_columns(
        pl.col(_raw(S.TICKER)).str.to_uppercase().alias(S.TICKER),
        parse_date.alias(S.AS_OF_DATE),
        pl.col(_raw(S.SHARES)).cast(pl.Int64, strict=False).alias(S.SHARES),
    )
    _raise_problems(frame, file, [
        *_ticker_checks(frame),
        *_date_checks(S.AS_OF_DATE, date_reason),
        (S.SHARES, pl.col(_raw(S.SHARES)).is_null(), pl.lit(f"missing {S.SHARES}")),
        (S.SHARES, pl.col(S.SHARES).is_null() & pl.col(_raw(S.SHARES)).is_not_null(),
         _got("expected a whole number of shares", S.SHARES)),
        (S.SHARES, pl.col(S.SHARES) <= 0, _got("expected a positive number of shares", S.SHARES)),
        _duplicate_check(S.TICKER, S.AS_OF_DATE),
    ])
    return frame.select(S.TICKER, S.AS_OF_DATE, S.SHARES).sort(S.TICKER, S.AS_OF_DATE)


# --- reading -------------------------------------------------------------------------------


def _read_table(path: Path) -> tuple[pl.DataFrame, str | None]:
    """The file as a frame — CSV as text columns, Parquet with its own types — and the CSV's
    separator (``,``, or ``;`` when the header has semicolons and no comma; None for Parquet)."""
    file = str(path)
    suffix = path.suffix.lower()
    if suffix not in ACCEPTED_SUFFIXES:
        raise InputError(
            f"expected a file ending in {' or '.join(ACCEPTED_SUFFIXES)}, got {path.suffix or 'no suffix'!r}",
            file=file,
        )
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read the file ({error.strerror or error})", file=file) from None
    if suffix == ".parquet":
        return _read_parquet(data, file), None
    kind = binary_kind(data)
    if kind is not None:
        raise InputError(f"not a comma-separated text file: it is {kind}", file=file)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InputError(
            f"the file is not UTF-8 text (byte {data[error.start]:#04x} on line {line}); "
            "save it as UTF-8 (Excel: 'CSV UTF-8')",
            file=file,
        ) from None
    data = data.removeprefix(b"\xef\xbb\xbf")
    if b"\r" in data and b"\n" not in data:  # classic Mac line endings
        data = data.replace(b"\r", b"\n")
    if not data or data.isspace():
        raise InputError("the file is empty", file=file)
    start = data[:65536].lstrip(b"\r\n").decode("utf-8", errors="replace")
    first = start.splitlines()[0] if start else ""
    separator = ";" if ";" in first and "," not in first else ","  # ';': decimal commas, see check_prices
    header = next(csv.reader(io.StringIO(start, newline=""), delimiter=separator), [])
    twice = sorted(c for c, n in Counter(c.strip() for c in header).items() if n > 1)
    if twice:  # polars would rename the second one and the first would win unnoticed
        raise InputError(f"the header names column {twice[0]!r} more than once; keep one", file=file, row=0,
                         field=twice[0])
    try:
        table = pl.read_csv(data, infer_schema=False, separator=separator)
    except pl.exceptions.PolarsError as error:
        _raise_ragged(data, separator, file)  # more fields than the header: name the row
        raise InputError(f"not a readable comma-separated file ({_first_line(error)})", file=file) from None
    # polars fills a row with fewer fields than the header with nulls: one count of the
    # separators finds those (no row has more, or polars had refused the file); blank lines
    # and quoted separators also change the count, so the rows are then looked at one by one
    if table.height and data.count(separator.encode()) != (len(header) - 1) * (table.height + 1):
        _raise_ragged(data, separator, file)
    blank = pl.all_horizontal(pl.all().is_null() | (pl.all().str.strip_chars() == ""))
    if table.height and table.select(blank.any()).item():  # blank lines are skipped; errors name the file's lines
        table = table.with_columns(blank.alias(_BAD)).with_row_index(_LINE, offset=2).filter(~pl.col(_BAD)).drop(_BAD)
    return table, separator


def _raise_ragged(data: bytes, separator: str, file: str) -> None:
    """Raise an InputError naming the first row whose field count is not the header's, if any
    (blank lines skipped; a separator inside quotes is part of its field)."""
    rows = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=separator)
    header = next((fields for fields in rows if fields), [])
    row = 0
    for fields in rows:
        if all(not f.strip() for f in fields) and len(fields) <= len(header):
            continue  # a blank line
        row += 1
        if len(fields) != len(header):
            hint = "; decimal commas? write decimal points, or save the file separated by ';'" if (
                separator == "," and len(fields) > len(header)) else ""
            raise InputError(
                f"{len(fields)} fields where the header has {len(header)} ({separator.join(header)}){hint}",
                file=file, row=row, line=rows.line_num,
            )


def _read_parquet(data: bytes, file: str) -> pl.DataFrame:
    """A Parquet file read by pyarrow (which reports damaged files as errors where polars may
    panic), as a polars frame (:func:`flows.io.store.arrow_frame`: without its metadata)."""
    try:
        return arrow_frame(pq.read_table(pa.BufferReader(data)))
    except (pa.ArrowException, OSError, ValueError, TypeError, pl.exceptions.PolarsError) as error:
        kind = binary_kind(data)
        hint = "" if data.startswith(b"PAR1") else (
            f"; it is {kind}" if kind else "; it looks like text: give a CSV file the suffix .csv"
        )
        raise InputError(f"not a readable Parquet file ({_first_line(error)}){hint}", file=file) from None


def _columns(
    table: pl.DataFrame, aliases: dict[str, str], required: Sequence[str], header: str, file: str
) -> pl.DataFrame:
    """The recognised columns under their schema names, as stripped text (empty -> null)."""
    found: dict[str, str] = {}
    for column in table.columns:
        name = aliases.get(re.sub(r"[\s_]+", "", column).lower())
        if name in found:
            raise InputError(
                f"columns {found[name]!r} and {column!r} both mean {name}; keep one", file=file, field=name
            )
        if name is not None:
            found[name] = column
    missing = [c for c in required if c not in found]
    if missing:
        got = ",".join(table.columns)
        raise InputError(
            f"missing column {', '.join(missing)}: expected a comma-separated header such as "
            f"{header!r}, got {got!r}{separator_hint(got)}",
            file=file, field=missing[0],
        )
    if table.is_empty():
        raise InputError("no data rows below the header", file=file)
    try:
        text = table.select(pl.col(src).cast(pl.String).str.strip_chars().alias(name) for name, src in found.items())
    except pl.exceptions.PolarsError as error:
        raise InputError(f"a column cannot be read as text ({_first_line(error)})", file=file) from None
    text = text.with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in text.columns)
    return text.with_columns(table[_LINE]) if _LINE in table.columns else text


def _has_ticker(table: pl.DataFrame) -> bool:
    return any(_PRICE_ALIASES.get(re.sub(r"[\s_]+", "", c).lower()) == S.TICKER for c in table.columns)


def _file_ticker(path: Path, ticker: str | None) -> str:
    """The ticker of a file without a ticker column: ``ticker`` or the file name."""
    try:
        return check_ticker(path.stem if ticker is None else ticker)
    except InputError as error:
        origin = "given" if ticker is not None else "taken from the file name; pass --ticker SYMBOL"
        raise InputError(f"{error.reason} (ticker {origin})", file=str(path), field=S.TICKER) from None


def _date_parser(
    text: pl.Series, column: str, file: str, date_format: DateFormat | None = None,
) -> tuple[pl.Expr, str]:
    """The expression parsing ``column`` in the format of its first date, and that format's name.

    Slashed dates (``1/2/2025``) are month first unless ``date_format`` says otherwise, or
    unless a first number above 12 (and no second one) shows they are day first; when every
    date reads both ways and some differ, the file is refused (``date_format`` decides)."""
    first = text.drop_nulls().head(1).to_list()
    if first and re.fullmatch(_SLASHED, first[0]):
        order = date_format or _slashed_order(text, column, file)
        parsed = pl.col(_raw(column)).str.extract(f"^({_SLASHED})$", 1).str.to_date(_SLASHED_FORMATS[order], strict=False)
        return parsed, f"{order} like the first date {first[0]!r}"
    for pattern, fmt, description in _DATE_FORMATS:
        if first and re.fullmatch(pattern, first[0]):
            parsed = pl.col(_raw(column)).str.extract(f"^{pattern}$", 1).str.to_date(fmt, strict=False)
            return parsed, f"{description} like the first date {first[0]!r}"
    pattern, fmt, _ = _DATE_FORMATS[0]
    accepted = ", ".join(d for *_, d in _DATE_FORMATS[:-1]) + f" or {_DATE_FORMATS[-1][2]}"
    return pl.col(_raw(column)).str.extract(f"^{pattern}$", 1).str.to_date(fmt, strict=False), accepted


def _slashed_order(text: pl.Series, column: str, file: str) -> DateFormat:
    """``M/D/YYYY``, or ``D/M/YYYY`` when some first number exceeds 12 and no second one does;
    an ``InputError`` when every date reads both ways and some do not read the same."""
    cell = pl.col("cell")
    parts = text.drop_nulls().to_frame("cell").select(  # the slashed cells only: the others fail their own check
        cell, *(cell.str.extract(f"^{_SLASHED}$", k).cast(pl.Int32).alias(n) for k, n in ((1, "a"), (2, "b")))
    ).drop_nulls()
    if parts.is_empty():
        return "M/D/YYYY"
    a, b = parts["a"], parts["b"]
    if a.max() > 12 >= b.max():
        return "D/M/YYYY"
    if a.max() <= 12 and b.max() <= 12 and (a != b).any():
        example = parts.filter(a != b)["cell"][0]
        raise InputError(
            f"the dates are ambiguous: every one reads as M/D/YYYY and as D/M/YYYY (e.g. {example!r}); "
            "give --date-format M/D/YYYY or D/M/YYYY", file=file, field=column,
        )
    return "M/D/YYYY"


# --- checks: (field, expression true on bad rows, reason) ---------------------------------------


def _got(expected: str, column: str) -> pl.Expr:
    return pl.format(f"{expected}, got '{{}}'", pl.col(_raw(column)))


_GROUPED = r"^\d{1,3}(?:\.\d{3})+$"  # 47.229.600


def _number_parsers(text: pl.DataFrame, semicolons: bool) -> dict[str, tuple[pl.Expr, pl.Expr]]:
    """Per number column, the expression giving its text as a number (cast to Float64; null
    when it is not one) and the reason of a row where it is not.

    In a ``;`` file whose prices have a decimal comma anywhere, every price must be written
    with a decimal comma and no thousands separator (``254,00``), and a volume may group its
    thousands with ``.`` (``47.229.600``: in such a file a ``.`` can only group thousands); in
    other ``;`` files a volume such as ``1.500`` (1.5 or 1500?) is refused."""
    raw = {c: pl.col(_raw(c)) for c in _NUMBERS}
    if not semicolons:
        comma = "; a decimal comma? write decimal points, or save the file separated by ';'"
        return {c: (raw[c], pl.when(raw[c].str.contains(r"\d,\d")).then(_got("expected a number", c) + pl.lit(comma))
                            .otherwise(_got("expected a number", c))) for c in _NUMBERS}
    present = [c for c in _PRICES if c in text.columns]
    if text.select(pl.any_horizontal(pl.col(c).str.contains(",", literal=True).any() for c in present)).item():
        # a '.' can only group thousands here: refused in prices (no cast reads '1.234,56' or '1,234.56' either)
        point = lambda c: pl.when(~raw[c].str.contains(".", literal=True)).then(raw[c].str.replace(",", ".", literal=True))  # noqa: E731
        parsers = {c: (point(c), _got(
            "expected a number with a decimal comma and no thousands separator, as the file's other prices "
            "(such as '254,00')", c)) for c in _PRICES}
        volume = point(S.VOLUME).when(raw[S.VOLUME].str.contains(_GROUPED)).then(
            raw[S.VOLUME].str.replace_all(".", "", literal=True))
        return parsers | {S.VOLUME: (volume, _got(
            "expected a volume such as '47229600' or '47.229.600' (the file's prices have decimal commas)", S.VOLUME))}
    return {c: (raw[c], _got("expected a number", c)) for c in _PRICES} | {S.VOLUME: (
        pl.when(~raw[S.VOLUME].str.contains(_GROUPED)).then(raw[S.VOLUME]),
        _got("expected a volume without thousands separators (is '1.500' 1.5 or 1500?)", S.VOLUME),
    )}


def _date_checks(column: str, expected: str) -> list[tuple[str, pl.Expr, pl.Expr]]:
    return [
        (column, pl.col(_raw(column)).is_null(), pl.lit(f"missing {column}")),
        (column, pl.col(column).is_null() & pl.col(_raw(column)).is_not_null(),
         _got(f"expected a date as {expected}", column)),
    ]


def _ticker_checks(frame: pl.DataFrame) -> list[tuple[str, pl.Expr, pl.Expr]]:
    valid = [t for t in frame.get_column(S.TICKER).drop_nulls().unique().to_list() if _is_ticker(t)]
    return [
        (S.TICKER, pl.col(S.TICKER).is_null(), pl.lit("missing ticker")),
        (S.TICKER, ~pl.col(S.TICKER).is_in(valid),
         _got("expected a ticker symbol such as 'AMZN', '^GSPC' or 'BRK-B'", S.TICKER)),
    ]


def _is_ticker(text: str) -> bool:
    try:
        return check_ticker(text) == text
    except InputError:
        return False


def _duplicate_check(key: str, column: str) -> tuple[str, pl.Expr, pl.Expr]:
    first_row = pl.col(_ROW).min().over(key, column)
    repeated = ~pl.struct(key, column).is_first_distinct()
    return column, pl.col(column).is_not_null() & repeated, pl.format(
        "duplicate {} for {} (first on row {})", pl.col(column), pl.col(key), first_row,
    )


def _raise_problems(frame: pl.DataFrame, file: str, checks: Sequence[tuple[str, pl.Expr, pl.Expr]]) -> None:
    """Raise one InputError for the first bad row (by row, then check order), if any.

    A ``__line`` column in ``frame`` gives the file line of each row (default: row + 1).
    """
    if not frame.select(pl.any_horizontal(bad.fill_null(False) for _, bad, _ in checks).any()).item():
        return  # the usual case, checked without building the reasons
    line = pl.col(_LINE) if _LINE in frame.columns else pl.col(_ROW) + 1
    problems = pl.concat([  # reasons are computed on the whole frame: they may use windows
        frame.select(pl.col(_ROW), line.alias(_LINE), bad.alias(_BAD), reason.alias(_REASON))
        .filter(pl.col(_BAD))
        .select(pl.col(_ROW), pl.col(_LINE), pl.lit(order).alias(_ORDER), pl.lit(field).alias(_FIELD), pl.col(_REASON))
        for order, (field, bad, reason) in enumerate(checks)
    ]).sort(_ROW, _ORDER)
    if problems.is_empty():
        return
    first = problems.row(0, named=True)
    more = problems.get_column(_ROW).n_unique() - 1
    suffix = f" (and {more} more problem row{'s' if more > 1 else ''})" if more else ""
    raise InputError(first[_REASON] + suffix, file=file, row=first[_ROW], field=first[_FIELD], line=first[_LINE])


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
