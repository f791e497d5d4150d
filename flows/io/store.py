"""The local price store: one Parquet file per ticker, one file of shares outstanding, and
one file per factor set.

Layout under the store root::

    prices/<name>.parquet   one file per ticker; <name> = urllib.parse.quote(ticker, safe="")
                            (so ``^GSPC`` -> ``%5EGSPC.parquet``)
    shares.parquet          ticker, as_of_date, shares_outstanding, source
    factors/<set>.parquet   one file per factor set (:class:`FactorStore`)
    .lock                   flock'ed by every writer

A price file holds ``date`` (Date) and ``open, high, low, close, adj_close, volume`` (Float64;
``open``, ``high``, ``low`` and ``volume`` may be null), sorted by date with unique dates. Its
Parquet key-value metadata records the ticker, the *covered* range ``covered_start ..
covered_end`` (the calendar dates that have been fetched or imported, wider than the first and
last row when the range ends on holidays; always one contiguous range) and the ``source``
(``yfinance`` or ``import:<file name>``; several sources that contributed are joined by
``"; "``) and the ``adj_close`` basis: ``close`` when the ``adj_close`` column is the close
(imported without ``adj_close``: no dividend adjustment), else ``adjusted``. A history has one
basis: rows merged into a ``close`` history, or a ``close`` import merged into an ``adjusted``
history, make every row's ``adj_close`` its close (:meth:`PriceStore.upsert`; the importer
first refuses a merge that would drop a real adjustment). Files written before the basis was
recorded count as ``close`` when imported and ``adj_close`` equals ``close`` on every row.

Writes are atomic (temporary file ``.<name>.<random>.tmp`` in the same directory, fsync,
``os.replace``), so a file is always either its old or its new version, even when the writer is
killed (``kill -9``) at any moment; read-merge-write cycles hold an exclusive ``flock`` on
``.lock``, so concurrent writers (processes or threads) never lose each other's rows. A killed
writer can leave its temporary file behind: no reader looks at those, and the next writer
(holding the lock, so no write is in progress) deletes them. The tickers of one import or one
Yahoo download are written all or none (:meth:`PriceStore.upsert_all`): a full disk names the
file it could not write and leaves the store as it was. The lock is POSIX-only.

Readers need no lock: each file is opened once and read (metadata and rows) through that one
open handle, so a reader sees one version of the file even while a writer replaces it (reading
the same path twice — once for its layout, again for its data — can mix two versions).

Tickers are checked before they become file names (:meth:`PriceStore.path`): only symbols
that :func:`analysis.specs.check_ticker` accepts unchanged, so no name can leave ``prices/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from dataclasses import dataclass
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from analysis import schema as S
from analysis.errors import DataUnavailableError, InputError
from analysis.specs import FACTOR_SET_PATTERN, check_factor_set, check_ticker
from flows.io.atomic import TEMP_FILE, naming, replace_file, replacing_files

# Columns of PriceStore.tickers() and of the shares file beyond the schema module's names.
SOURCE = "source"
ROWS = "rows"
FIRST_DATE = "first_date"
LAST_DATE = "last_date"
COVERED_START = "covered_start"
COVERED_END = "covered_end"
BASIS = "adj_close"  # metadata key: "close" or "adjusted"
OVERLAP = timedelta(days=7)
"""How far a fetch of missing prices reaches into the covered range (a week holds sessions to
rebase the stored ``adj_close`` on: :meth:`PriceStore.missing_ranges`)."""

PRICE_SCHEMA = pl.Schema(
    {S.DATE: pl.Date} | dict.fromkeys((S.OPEN, S.HIGH, S.LOW, S.CLOSE, S.ADJ_CLOSE, S.VOLUME), pl.Float64)
)
"""Columns and types of a stored price file (and of an imported price frame)."""

SHARES_SCHEMA = pl.Schema({S.TICKER: pl.String, S.AS_OF_DATE: pl.Date, S.SHARES: pl.Int64, SOURCE: pl.String})
"""Columns and types of the shares-outstanding file."""

TICKERS_SCHEMA = pl.Schema({
    S.TICKER: pl.String, ROWS: pl.UInt32, FIRST_DATE: pl.Date, LAST_DATE: pl.Date,
    COVERED_START: pl.Date, COVERED_END: pl.Date, SOURCE: pl.String,
})
"""Columns of :meth:`PriceStore.tickers`."""

_ARROW_PRICES = pl.DataFrame(schema=PRICE_SCHEMA).to_arrow().schema
READ_THREADS = 4  # files read at once by PriceStore.read (I/O and Parquet decoding release the GIL)
SOURCE_SEPARATOR = "; "
_DAY = timedelta(days=1)
def arrow_frame(table: pa.Table) -> pl.DataFrame:
    """An Arrow table as a polars frame, without its schema and field metadata: polars panics
    (a Rust panic, not an error) on metadata that is not UTF-8, and no reader needs it."""
    plain = pa.schema([pa.field(f.name, f.type, f.nullable) for f in table.schema])
    return pl.from_arrow(pa.Table.from_arrays(table.columns, schema=plain))


_PARQUET_ERRORS = (pa.ArrowException, OSError, ValueError, TypeError, KeyError, pl.exceptions.PolarsError)  # ValueError: bad UTF-8 too


class PriceStore:
    """Daily prices and shares outstanding kept as Parquet files under ``root``.

    Parameters
    ----------
    root
        The store directory (usually ``flows.settings.home()``). Created on the first write.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"PriceStore({str(self.root)!r})"

    @property
    def shares_path(self) -> Path:
        """The shares-outstanding file."""
        return self.root / "shares.parquet"

    def path(self, ticker: str) -> Path:
        """The price file of ``ticker`` (which need not exist).

        Raises
        ------
        InputError
            ``ticker`` is not a normalised symbol (:func:`analysis.specs.check_ticker`): this
            keeps '../', '/', NUL bytes and over-long names out of file names.
        """
        if not _is_symbol(ticker):
            raise InputError(
                f"not a ticker symbol the store can hold: {ticker!r}; expected upper-case letters, digits, "
                "'.', '-', '=', '^' (at most 32)",
                field="ticker",
            )
        return self.root / "prices" / f"{quote(ticker, safe='')}.parquet"

    # --- coverage --------------------------------------------------------------------

    def coverage(self, ticker: str) -> tuple[date, date] | None:
        """The covered date range of ``ticker`` (inclusive), or None if it is not stored."""
        meta = _read_metadata(self.path(ticker), ticker)
        return None if meta is None else (meta[0], meta[1])

    def missing_ranges(self, ticker: str, start: date, end: date) -> list[tuple[date, date]]:
        """What must still be fetched so that the covered range includes ``start .. end``.

        Coverage stays one contiguous range, so a request that lies wholly before (after)
        the covered range is extended up to the day before its start (after its end): the
        answer bridges the hole instead of leaving it. Each part reaches :data:`OVERLAP` into
        the covered range, so that the rows fetched share sessions with the stored ones: the
        stored ``adj_close`` is rebased on them (:func:`rebased`; Yahoo re-adjusts the whole
        history after each dividend).

        Parameters
        ----------
        ticker
            The ticker.
        start, end
            The inclusive calendar range wanted.

        Returns
        -------
        list of (date, date)
            Empty when covered; else the part before and/or the part after the covered range,
            each with its overlap (the whole request when nothing is stored).
        """
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        covered = self.coverage(ticker)
        if covered is None:
            return [(start, end)]
        lo, hi = covered
        before = [(start, min(lo - _DAY + OVERLAP, hi))] if start < lo else []
        return before + ([(max(hi + _DAY - OVERLAP, lo), end)] if end > hi else [])

    # --- prices ----------------------------------------------------------------------

    def upsert(
        self, ticker: str, prices: pl.DataFrame, covered: tuple[date, date], source: str, replace: bool = False,
        close_only: bool = False,
    ) -> None:
        """Merge ``prices`` into the stored rows of ``ticker`` and widen its coverage (with
        ``replace``: make them its whole history, ``covered`` its coverage).

        New rows win on the same date; the stored ``adj_close`` is rebased on the new rows
        where they share a date (:func:`rebased`). The coverage becomes the smallest range holding the
        old coverage, ``covered`` and the new rows (a gap between them is bridged). When the
        new rows and the stored rows they leave have different bases (module docstring), the
        merged history's ``adj_close`` is its close. The whole read-merge-write holds the store lock, and the
        file is replaced atomically.

        Parameters
        ----------
        ticker
            The ticker (already normalised, e.g. by :func:`analysis.specs.check_ticker`).
        prices
            ``date`` and ``close`` at least; any of ``open, high, low, adj_close, volume``.
        covered
            The inclusive calendar range these rows were fetched or imported for.
        source
            ``yfinance`` or ``import:<file name>``.
        close_only
            The ``adj_close`` of ``prices`` is their close (no adjustment).
        """
        self.upsert_all([(ticker, prices, covered, source, close_only)], replace)

    def upsert_all(
        self, updates: Sequence[tuple[str, pl.DataFrame, tuple[date, date], str, bool]], replace: bool = False,
    ) -> None:
        """:meth:`upsert` of every ``(ticker, prices, covered, source, close_only)`` of
        ``updates``, all or none: each merged file is written under a temporary name, and only
        when all are written are they renamed into place (:func:`flows.io.atomic.replacing_files`),
        under one hold of the store lock. A full disk (or a read-only file or folder) at the 19th
        of 60 tickers raises an ``OSError`` naming that file, saying none was stored, and
        leaves the store as it was."""
        tickers = [u[0] for u in updates]
        then = (f"; {tickers[0]} was not stored" if len(tickers) == 1
                else f"; none of the {len(tickers)} tickers was stored") + " (the store is as it was)"
        with self._locked(), replacing_files(then) as write:
            for ticker, prices, covered, source, close_only in updates:
                path = self.path(ticker)
                merged, metadata = _merged(path, ticker, prices, covered, source, replace, close_only)
                write(path, partial(merged.write_parquet, metadata=metadata))

    def close_only(self, ticker: str) -> bool | None:
        """Whether the stored ``adj_close`` of ``ticker`` is its close (module docstring), or
        None if it is not stored."""
        loaded = _load_prices(self.path(ticker), columns=[S.DATE, S.CLOSE, S.ADJ_CLOSE])
        return None if loaded is None else loaded[2]

    def remove(self, ticker: str) -> bool:
        """Delete the stored prices of ``ticker`` (under the store lock); False when there were none."""
        path = self.path(ticker)
        with self._locked():
            if not path.is_file():
                return False
            path.unlink()
        return True

    def read(
        self, tickers: Sequence[str], start: date | None = None, end: date | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Stored prices of ``tickers`` as one long frame.

        The files are read in a few threads (each through one open handle, see the module
        docstring) and assembled once, in ticker order: a study's thousands of files in well
        under a second.

        Parameters
        ----------
        tickers
            Tickers to read; those not in the store are absent from the result.
        start, end
            Optional inclusive date bounds.
        columns
            The price columns wanted besides ``date`` (default: all of :data:`PRICE_SCHEMA`).

        Returns
        -------
        pl.DataFrame
            ``ticker`` + the :data:`PRICE_SCHEMA` columns asked for, sorted by ticker and date.
        """
        names = [c for c in PRICE_SCHEMA.names() if columns is None or c == S.DATE or c in columns]
        wanted = sorted(dict.fromkeys(_as_list(tickers)))
        paths = [self.path(t) for t in wanted]
        with ThreadPoolExecutor(READ_THREADS) as pool:
            versions = list(pool.map(lambda t, path: _read_version(path, t, names), wanted, paths))
        found = [(t, v.table) for t, v in zip(wanted, versions, strict=True) if v is not None]
        del versions
        return _assemble(found, names, start, end)

    def snapshot(
        self, tickers: Sequence[str], start: date | None = None, end: date | None = None,
        columns: Sequence[str] | None = None, history: Sequence[str] = (),
    ) -> Snapshot:
        """What a run reads of the store, each file read once: the prices of ``tickers`` (as
        :meth:`read`), the whole history (``date, close, high, low``) of ``history`` and every
        file's sha256 and covered range, all from the same bytes, so an import running
        meanwhile can never give a report of mixed versions."""
        names = [c for c in PRICE_SCHEMA.names() if columns is None or c == S.DATE or c in columns]
        kept = [S.DATE, S.CLOSE, S.HIGH, S.LOW]
        wide = set(_as_list(history))
        wanted = sorted(set(_as_list(tickers)) | wide)

        def read(ticker: str) -> _Version | None:
            return _read_version(self.path(ticker), ticker, sorted(set(names) | set(kept), key=PRICE_SCHEMA.names().index)
                                 if ticker in wide else names, digest=True)

        with ThreadPoolExecutor(READ_THREADS) as pool:
            found = {t: v for t, v in zip(wanted, pool.map(read, wanted), strict=True) if v is not None}
        chosen = set(_as_list(tickers))
        sha256, covered = {t: v.sha256 for t, v in found.items()}, {t: v.covered for t, v in found.items()}
        price_tables = [(t, v.table.select(names)) for t, v in found.items() if t in chosen]
        history_tables = [(t, v.table.select(kept)) for t, v in found.items() if t in wide]
        del found  # the per-file tables are freed as they are assembled
        return Snapshot(_assemble(price_tables, names, start, end), _assemble(history_tables, kept, None, None),
                        sha256, covered)

    def tickers(self) -> pl.DataFrame:
        """One row per stored ticker: rows, first and last date, covered range and source."""
        rows = []
        for path in sorted((self.root / "prices").glob("*.parquet")):
            ticker = unquote(path.name.removesuffix(".parquet"))
            if not _is_symbol(ticker) or self.path(ticker) != path:
                continue  # not a file of the store's (a stray file someone put there)
            loaded = _load_prices(path, columns=[S.DATE])
            if loaded is not None:
                dates, (start, end, source) = loaded[0].get_column(S.DATE), loaded[1]
                rows.append((ticker, dates.len(), dates.min(), dates.max(), start, end, source))
        return pl.DataFrame(rows, schema=TICKERS_SCHEMA, orient="row").sort(S.TICKER)

    def content_hash(self, ticker: str) -> str | None:
        """sha256 (hex) of the stored file of ``ticker``, or None if it is not stored."""
        return _digest(self.path(ticker))

    # --- shares outstanding ----------------------------------------------------------

    def upsert_shares(self, frame: pl.DataFrame, source: str) -> None:
        """Merge shares outstanding (``ticker, as_of_date, shares_outstanding``) into the store.

        New rows win on the same ticker and as-of date; ``source`` is recorded on each new
        row. Locked and atomic like :meth:`upsert`.
        """
        new = frame.select(
            pl.col(S.TICKER), pl.col(S.AS_OF_DATE), pl.col(S.SHARES), pl.lit(source).alias(SOURCE),
        ).cast(SHARES_SCHEMA)
        with self._locked():
            merged = pl.concat([self._read_shares(), new])
            merged = merged.unique(subset=[S.TICKER, S.AS_OF_DATE], keep="last", maintain_order=True)
            _write_atomic(self.shares_path, merged.sort(S.TICKER, S.AS_OF_DATE))

    def read_shares(self, tickers: Sequence[str]) -> pl.DataFrame:
        """Stored shares outstanding of ``tickers`` (:data:`SHARES_SCHEMA`), sorted by ticker, date."""
        return self._read_shares().filter(pl.col(S.TICKER).is_in(_as_list(tickers))).sort(S.TICKER, S.AS_OF_DATE)

    # --- internals ---------------------------------------------------------------------

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return _locked(self.root)

    def _read_shares(self) -> pl.DataFrame:
        loaded = _load(self.shares_path)
        if loaded is None:
            return pl.DataFrame(schema=SHARES_SCHEMA)
        try:
            return loaded[0].select(SHARES_SCHEMA.names()).cast(SHARES_SCHEMA)
        except pl.exceptions.PolarsError as error:
            raise _unreadable(self.shares_path, error) from None


FACTOR_SETS_SCHEMA = pl.Schema({
    "name": pl.String, "columns": pl.String, ROWS: pl.UInt32, FIRST_DATE: pl.Date, LAST_DATE: pl.Date, SOURCE: pl.String,
})
"""Columns of :meth:`FactorStore.sets`."""


class FactorStore:
    """Factor sets kept as Parquet files under ``root/factors`` (same root as the prices).

    A set ``<name>.parquet`` holds ``date`` (Date, unique, sorted) and one Float64 column per
    factor, in decimals per session (0.0123 = 1.23%; null where the source has no value).
    Its metadata records the ``name`` and the ``source`` (``import:<file>`` or the download
    address). Writing a set replaces it as a whole (the Fama-French files are revised every
    month), atomically and under the store lock.

    Parameters
    ----------
    root
        The store directory (usually ``flows.settings.home()``).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FactorStore({str(self.root)!r})"

    def path(self, name: str) -> Path:
        """The file of set ``name`` (which need not exist); the name is checked first, so no
        name can leave ``factors/``."""
        return self.root / "factors" / f"{check_factor_set(name)}.parquet"

    def write(self, name: str, frame: pl.DataFrame, source: str) -> None:
        """Store ``frame`` (``date`` + Float64 factor columns) as set ``name``, replacing it."""
        frame = frame.select(pl.col(S.DATE).cast(pl.Date), pl.exclude(S.DATE).cast(pl.Float64)).sort(S.DATE)
        if frame.get_column(S.DATE).is_duplicated().any():
            raise ValueError(f"factor set {name}: duplicate dates")
        with _locked(self.root):
            _write_atomic(self.path(name), frame, metadata={"name": name, SOURCE: source})

    def load(self, name: str) -> tuple[pl.DataFrame, str] | None:
        """Set ``name`` (``date`` + factor columns) and its source, read from one version of
        its file; None if it is not stored."""
        loaded = _load(self.path(name))
        if loaded is None:
            return None
        frame, meta = loaded
        if S.DATE not in frame.columns:
            raise _unreadable(self.path(name), KeyError(S.DATE))
        return frame, meta.get(SOURCE, "")

    def read(self, name: str) -> pl.DataFrame | None:
        """Set ``name`` (``date`` + factor columns), or None if it is not stored."""
        loaded = self.load(name)
        return None if loaded is None else loaded[0]

    def source(self, name: str) -> str | None:
        """Where set ``name`` came from (``import:<file>`` or an address), or None."""
        loaded = self.load(name)
        return None if loaded is None else loaded[1]

    def sets(self) -> pl.DataFrame:
        """One row per stored set: ``name, columns, rows, first_date, last_date, source``."""
        rows = []
        for path in sorted((self.root / "factors").glob("*.parquet")):
            name = path.name.removesuffix(".parquet")
            loaded = self.load(name) if FACTOR_SET_PATTERN.match(name) else None
            if loaded is not None:
                frame, source = loaded
                rows.append((name, ",".join(c for c in frame.columns if c != S.DATE), frame.height,
                             frame[S.DATE].min(), frame[S.DATE].max(), source))
        return pl.DataFrame(rows, schema=FACTOR_SETS_SCHEMA, orient="row")

    def content_hash(self, name: str) -> str | None:
        """sha256 (hex) of the file of set ``name``, or None if it is not stored."""
        return _digest(self.path(name))


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``root/.lock`` (released when the file closes, or when the
    process dies), after deleting the temporary files of writers that were killed."""
    with naming(root):  # a read-only store: one line naming it
        root.mkdir(parents=True, exist_ok=True)
        lock = (root / ".lock").open("ab")
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for folder in (root, root / "prices", root / "factors"):
            for stale in folder.glob(".*.tmp") if folder.is_dir() else ():
                if TEMP_FILE.fullmatch(stale.name):
                    stale.unlink(missing_ok=True)
        yield


def _as_list(tickers: Sequence[str]) -> list[str]:
    """``tickers`` as a list; a single ticker given as a string is one ticker, not letters."""
    return [tickers] if isinstance(tickers, str) else list(tickers)


def _conform(prices: pl.DataFrame) -> pl.DataFrame:
    """The store's price columns with their types; absent optional columns become null."""
    missing = [c for c in (S.DATE, S.CLOSE) if c not in prices.columns]
    if missing:
        raise ValueError(f"a price frame needs the columns {', '.join(missing)}; got {', '.join(prices.columns)}")
    return prices.select(
        pl.col(c).cast(dtype) if c in prices.columns else pl.lit(None, dtype).alias(c)
        for c, dtype in PRICE_SCHEMA.items()
    )


def _empty_prices() -> pl.DataFrame:
    return pl.DataFrame(schema=pl.Schema({S.TICKER: pl.String}) | PRICE_SCHEMA)


def _is_symbol(ticker: object) -> bool:
    """Whether ``ticker`` is a symbol as :func:`check_ticker` returns it (so a safe file name)."""
    try:
        return isinstance(ticker, str) and check_ticker(ticker) == ticker
    except InputError:
        return False


def _load(path: Path, columns: list[str] | None = None) -> tuple[pl.DataFrame, dict[str, str]] | None:
    """Rows (``columns``, or all) and key-value metadata of a Parquet file, read through one
    open handle (so from one version of the file); None if there is no file. Read on this
    thread: an Arrow thread reading a Python file object could still hold it at exit and then
    aborted the process ("terminate called without an active exception", exit 134)."""
    try:
        with path.open("rb") as f:
            parquet = pq.ParquetFile(f, pre_buffer=False)
            meta = {k.decode(): v.decode() for k, v in (parquet.metadata.metadata or {}).items()}
            return arrow_frame(parquet.read(columns=columns, use_threads=False)), meta
    except FileNotFoundError:
        return None
    except _PARQUET_ERRORS as error:
        _reraise_os_failure(error)
        raise _unreadable(path, error) from None


def _assemble(found: list[tuple[str, pa.Table]], names: list[str], start: date | None, end: date | None) -> pl.DataFrame:
    """One long frame ``ticker`` + ``names`` of the per-ticker tables ``found`` (in ticker
    order), within ``start .. end``, sorted by ticker and date."""
    if not found:
        return _empty_prices().select(S.TICKER, *names)
    owner = np.repeat(np.arange(len(found), dtype=np.uint32), [table.num_rows for _, table in found])
    out = arrow_frame(pa.concat_tables([table for _, table in found])).rechunk().with_columns(
        pl.Series(S.TICKER, [t for t, _ in found], dtype=pl.String).gather(pl.Series(owner))
    ).select(S.TICKER, *names)
    found.clear()
    pa.default_memory_pool().release_unused()  # the per-file tables' memory, which the pool would keep
    days = out[S.DATE]
    if out.height and ((start is not None and days.min() < start) or (end is not None and days.max() > end)):
        keep = days.is_between(start or days.min(), end or days.max())
        out, owner = out.filter(keep), owner[keep.to_numpy()]
    # files are sorted by date; check, as writers might not be ours
    ordered = (np.diff(out[S.DATE].to_physical().to_numpy()) >= 0) | (np.diff(owner) != 0)
    return out if ordered.all() else out.sort(S.TICKER, S.DATE)


@dataclass(frozen=True, eq=False)
class Snapshot:
    """What a run read of the price store (:meth:`PriceStore.snapshot`), each file once."""

    prices: pl.DataFrame
    history: pl.DataFrame
    sha256: dict[str, str]
    covered: dict[str, tuple[date, date] | None]


@dataclass(frozen=True, eq=False)
class _Version:
    table: pa.Table
    sha256: str | None
    covered: tuple[date, date] | None


def _read_version(path: Path, ticker: str, columns: list[str], digest: bool = False) -> _Version | None:
    """The ``columns`` of the price file of ``ticker`` as an Arrow table with
    :data:`PRICE_SCHEMA` types, and the covered range (and, with ``digest``, the sha256) of
    the same bytes; None if there is no file. The whole file is read in one call through one
    open handle (one version of it), then decoded from memory."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data), pre_buffer=False)
        meta = {k.decode(errors="replace"): v.decode(errors="replace")  # another tool may have written any bytes
                for k, v in (parquet.metadata.metadata or {}).items()}
        _check_owner(path, meta, ticker)
        table = parquet.read(columns=columns, use_threads=False)
        schema = pa.schema([_ARROW_PRICES.field(c) for c in columns])
        table = table if table.schema.equals(schema) else table.select(columns).cast(schema)
        covered = _covered(meta)[:2] if COVERED_START in meta else None
    except _PARQUET_ERRORS as error:
        _reraise_os_failure(error)
        raise _unreadable(path, error) from None
    return _Version(table, hashlib.sha256(data).hexdigest() if digest else None, covered)


def rebased(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    r"""``old`` with its ``adj_close`` on the basis of ``new``'s, where the two share a date.

    A dividend-adjusted close is the close times the product of the adjustment factors of the
    ex-dividend days after it, as of the download: a later download of the same days carries
    the factors of the dividends since. On the last shared date d with positive prices,

    .. math:: k = \frac{a^{new}_d / c^{new}_d}{a^{old}_d / c^{old}_d},

    and every old row's ``adj_close`` becomes :math:`k \, a^{old}_t`: the same factor for all
    of them, since those dividends are all after every stored day (the returns within the old
    rows are unchanged; the one where old and new rows meet loses the step). ``old`` unchanged
    when they share no date or :math:`k = 1`.
    """
    ratio = (pl.col(S.ADJ_CLOSE) / pl.col(S.CLOSE)).alias("_q")
    valid = (pl.col(S.ADJ_CLOSE) > 0) & (pl.col(S.CLOSE) > 0)
    shared = (
        old.filter(valid).select(S.DATE, ratio)
        .join(new.filter(valid).select(S.DATE, ratio), on=S.DATE, suffix="_new")
        .sort(S.DATE)
    )
    if shared.is_empty():
        return old
    k = shared["_q_new"][-1] / shared["_q"][-1]
    return old if k == 1 else old.with_columns(pl.col(S.ADJ_CLOSE) * k)


def _load_prices(
    path: Path, columns: list[str] | None = None,
) -> tuple[pl.DataFrame, tuple[date, date, str], bool | None] | None:
    """:func:`_load` for a price file: rows with :data:`PRICE_SCHEMA` types, the covered range
    and source from its metadata, and whether its ``adj_close`` is the close (None when that
    is not recorded and ``columns`` lack ``close`` or ``adj_close`` to tell)."""
    loaded = _load(path, columns)
    if loaded is None:
        return None
    frame, meta = loaded
    try:
        names = columns or PRICE_SCHEMA.names()
        rows, covered = frame.select(names).cast({c: PRICE_SCHEMA[c] for c in names}), _covered(meta)
    except (KeyError, ValueError, pl.exceptions.PolarsError) as error:
        raise _unreadable(path, error) from None
    if BASIS in meta:
        return rows, covered, meta[BASIS] == "close"
    if S.CLOSE not in names or S.ADJ_CLOSE not in names:
        return rows, covered, None
    # written before the basis was recorded: an import whose adj_close is its close on every row
    return rows, covered, "import:" in covered[2] and bool(rows.select((pl.col(S.ADJ_CLOSE) == pl.col(S.CLOSE)).all()).item())


def _covered(meta: dict[str, str]) -> tuple[date, date, str]:
    return date.fromisoformat(meta[COVERED_START]), date.fromisoformat(meta[COVERED_END]), meta[SOURCE]


def _read_metadata(path: Path, ticker: str) -> tuple[date, date, str] | None:
    """``(covered_start, covered_end, source)`` of the price file of ``ticker`` (its footer
    only), or None."""
    try:
        with path.open("rb") as f:
            meta = pq.read_metadata(f).metadata or {}
        meta = {k.decode(): v.decode() for k, v in meta.items()}
        _check_owner(path, meta, ticker)
        return _covered(meta)
    except FileNotFoundError:
        return None
    except _PARQUET_ERRORS as error:
        _reraise_os_failure(error)
        raise _unreadable(path, error) from None


def _digest(path: Path) -> str | None:
    """sha256 (hex) of the file ``path``, or None if there is none."""
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def _check_owner(path: Path, meta: dict[str, str], ticker: str) -> None:
    """Refuse a price file that says it holds another ticker's prices (copied or renamed):
    every file the store writes records its ticker."""
    owner = meta.get(S.TICKER)
    if owner is not None and owner != ticker:
        raise DataUnavailableError(
            f"{path}: the file holds the prices of {owner}, not {ticker} (copied or renamed?); "
            f"delete it, or re-import {ticker}"
        )


def _reraise_os_failure(error: BaseException) -> None:
    """Re-raise ``error`` if the operating system refused (permissions, not a folder, I/O
    error: the CLI names the path); return None for a file whose content is bad (pyarrow
    reports those as OSErrors without an errno)."""
    if isinstance(error, OSError) and error.errno is not None:
        raise error


def _unreadable(path: Path, error: BaseException) -> DataUnavailableError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, KeyError):
        reason = f"no {error} in its metadata"
    return DataUnavailableError(
        f"{path}: the store file cannot be read ({reason}); re-import or re-fetch the data, "
        f"or delete the file"
    )


def _merged(
    path: Path, ticker: str, prices: pl.DataFrame, covered: tuple[date, date], source: str, replace: bool,
    close_only: bool,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """The rows and metadata of the price file ``path`` of ``ticker`` once ``prices`` are
    merged into what it holds (:meth:`PriceStore.upsert`); call it with the store lock held."""
    new = _conform(prices)
    start, end = covered
    if new.height:
        start, end = min(start, new[S.DATE].min()), max(end, new[S.DATE].max())
    sources = [source]
    old = None if replace else _load_prices(path)
    if old is not None:
        rows, (old_start, old_end, old_source), old_close_only = old
        start, end = min(start, old_start), max(end, old_end)
        sources = [*old_source.split(SOURCE_SEPARATOR), source]
        if not (close_only or old_close_only):
            rows = rebased(rows, new)
        kept = rows.filter(~pl.col(S.DATE).is_in(new[S.DATE].implode()))
        close_only = close_only or (old_close_only and kept.height > 0)
        new = pl.concat([kept, new])
    merged = new.unique(subset=S.DATE, keep="last", maintain_order=True).sort(S.DATE)
    if close_only:
        merged = merged.with_columns(pl.col(S.CLOSE).alias(S.ADJ_CLOSE))
    return merged, {
        S.TICKER: ticker,
        COVERED_START: start.isoformat(),
        COVERED_END: end.isoformat(),
        SOURCE: SOURCE_SEPARATOR.join(dict.fromkeys(sources)),
        BASIS: "close" if close_only else "adjusted",
    }


def _write_atomic(path: Path, frame: pl.DataFrame, metadata: dict[str, str] | None = None) -> None:
    """Write ``frame`` as Parquet to ``path``, atomically (:func:`flows.io.atomic.replace_file`)."""
    replace_file(path, lambda f: frame.write_parquet(f, metadata=metadata))
