"""The local price store: one Parquet file per ticker, plus one file of shares outstanding.

Layout under the store root::

    prices/<name>.parquet   one file per ticker; <name> = urllib.parse.quote(ticker, safe="")
                            (so ``^GSPC`` -> ``%5EGSPC.parquet``)
    shares.parquet          ticker, as_of_date, shares_outstanding, source
    .lock                   flock'ed by every writer

A price file holds ``date`` (Date) and ``open, high, low, close, adj_close, volume`` (Float64;
``open``, ``high``, ``low`` and ``volume`` may be null), sorted by date with unique dates. Its
Parquet key-value metadata records the ticker, the *covered* range ``covered_start ..
covered_end`` (the calendar dates that have been fetched or imported, wider than the first and
last row when the range ends on holidays; always one contiguous range) and the ``source``
(``yfinance`` or ``import:<file name>``; several sources that contributed are joined by
``"; "``).

Writes are atomic (temporary file ``.<name>.<random>.tmp`` in the same directory, fsync,
``os.replace``), so a file is always either its old or its new version, even when the writer is
killed (``kill -9``) at any moment; read-merge-write cycles hold an exclusive ``flock`` on
``.lock``, so concurrent writers (processes or threads) never lose each other's rows. A killed
writer can leave its temporary file behind: no reader looks at those, and the next writer
(holding the lock, so no write is in progress) deletes them. The lock is POSIX-only.

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
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from analysis import schema as S
from analysis.errors import DataUnavailableError, InputError
from analysis.specs import check_ticker

# Columns of PriceStore.tickers() and of the shares file beyond the schema module's names.
SOURCE = "source"
ROWS = "rows"
FIRST_DATE = "first_date"
LAST_DATE = "last_date"
COVERED_START = "covered_start"
COVERED_END = "covered_end"

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

SOURCE_SEPARATOR = "; "
_DAY = timedelta(days=1)
_TEMP = re.compile(r"\..+\.[0-9a-f]{32}\.tmp")  # what _write_atomic names its temporary files
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
        meta = _read_metadata(self.path(ticker))
        return None if meta is None else (meta[0], meta[1])

    def missing_ranges(self, ticker: str, start: date, end: date) -> list[tuple[date, date]]:
        """What must still be fetched so that the covered range includes ``start .. end``.

        Coverage stays one contiguous range, so a request that lies wholly before (after)
        the covered range is extended up to the day before its start (after its end): the
        answer bridges the hole instead of leaving it.

        Parameters
        ----------
        ticker
            The ticker.
        start, end
            The inclusive calendar range wanted.

        Returns
        -------
        list of (date, date)
            Empty when covered; else the part before and/or the part after the covered range
            (the whole request when nothing is stored).
        """
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        covered = self.coverage(ticker)
        if covered is None:
            return [(start, end)]
        lo, hi = covered
        return [r for r in ((start, lo - _DAY), (hi + _DAY, end)) if r[0] <= r[1]]

    # --- prices ----------------------------------------------------------------------

    def upsert(self, ticker: str, prices: pl.DataFrame, covered: tuple[date, date], source: str) -> None:
        """Merge ``prices`` into the stored rows of ``ticker`` and widen its coverage.

        New rows win on the same date. The coverage becomes the smallest range holding the
        old coverage, ``covered`` and the new rows (a gap between them is bridged). The whole
        read-merge-write holds the store lock, and the file is replaced atomically.

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
        """
        new = _conform(prices)
        start, end = covered
        if new.height:
            start, end = min(start, new[S.DATE].min()), max(end, new[S.DATE].max())
        sources = [source]
        path = self.path(ticker)
        with self._locked():
            old = _load_prices(path)
            if old is not None:
                rows, (old_start, old_end, old_source) = old
                start, end = min(start, old_start), max(end, old_end)
                sources = [*old_source.split(SOURCE_SEPARATOR), source]
                new = pl.concat([rows, new])
            merged = new.unique(subset=S.DATE, keep="last", maintain_order=True).sort(S.DATE)
            _write_atomic(path, merged, metadata={
                S.TICKER: ticker,
                COVERED_START: start.isoformat(),
                COVERED_END: end.isoformat(),
                SOURCE: SOURCE_SEPARATOR.join(dict.fromkeys(sources)),
            })

    def read(self, tickers: Sequence[str], start: date | None = None, end: date | None = None) -> pl.DataFrame:
        """Stored prices of ``tickers`` as one long frame.

        Parameters
        ----------
        tickers
            Tickers to read; those not in the store are absent from the result.
        start, end
            Optional inclusive date bounds.

        Returns
        -------
        pl.DataFrame
            ``ticker`` + :data:`PRICE_SCHEMA` columns, sorted by ticker and date.
        """
        frames = [_empty_prices()]
        for t in dict.fromkeys(_as_list(tickers)):
            loaded = _load_prices(self.path(t))
            if loaded is not None:
                frames.append(loaded[0].select(pl.lit(t, pl.String).alias(S.TICKER), *PRICE_SCHEMA.names()))
        out = pl.concat(frames)
        if start is not None:
            out = out.filter(pl.col(S.DATE) >= start)
        if end is not None:
            out = out.filter(pl.col(S.DATE) <= end)
        return out.sort(S.TICKER, S.DATE)

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
        try:
            with self.path(ticker).open("rb") as f:
                return hashlib.file_digest(f, "sha256").hexdigest()
        except FileNotFoundError:
            return None

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

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an exclusive lock on ``root/.lock`` (released when the file closes, or when
        the process dies), after deleting the temporary files of writers that were killed."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("ab") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for folder in (self.root, self.root / "prices"):
                for stale in folder.glob(".*.tmp") if folder.is_dir() else ():
                    if _TEMP.fullmatch(stale.name):
                        stale.unlink(missing_ok=True)
            yield

    def _read_shares(self) -> pl.DataFrame:
        loaded = _load(self.shares_path)
        if loaded is None:
            return pl.DataFrame(schema=SHARES_SCHEMA)
        try:
            return loaded[0].select(SHARES_SCHEMA.names()).cast(SHARES_SCHEMA)
        except pl.exceptions.PolarsError as error:
            raise _unreadable(self.shares_path, error) from None


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
    open handle (so from one version of the file); None if there is no file."""
    try:
        with path.open("rb") as f:
            parquet = pq.ParquetFile(f)
            meta = {k.decode(): v.decode() for k, v in (parquet.metadata.metadata or {}).items()}
            return pl.from_arrow(parquet.read(columns=columns)), meta
    except FileNotFoundError:
        return None
    except _PARQUET_ERRORS as error:
        _reraise_os_failure(error)
        raise _unreadable(path, error) from None


def _load_prices(path: Path, columns: list[str] | None = None) -> tuple[pl.DataFrame, tuple[date, date, str]] | None:
    """:func:`_load` for a price file: rows with :data:`PRICE_SCHEMA` types, and the covered
    range and source from its metadata."""
    loaded = _load(path, columns)
    if loaded is None:
        return None
    frame, meta = loaded
    try:
        names = columns or PRICE_SCHEMA.names()
        return frame.select(names).cast({c: PRICE_SCHEMA[c] for c in names}), _covered(meta)
    except (KeyError, ValueError, pl.exceptions.PolarsError) as error:
        raise _unreadable(path, error) from None


def _covered(meta: dict[str, str]) -> tuple[date, date, str]:
    return date.fromisoformat(meta[COVERED_START]), date.fromisoformat(meta[COVERED_END]), meta[SOURCE]


def _read_metadata(path: Path) -> tuple[date, date, str] | None:
    """``(covered_start, covered_end, source)`` of a price file (its footer only), or None."""
    try:
        with path.open("rb") as f:
            meta = pq.read_metadata(f).metadata or {}
        return _covered({k.decode(): v.decode() for k, v in meta.items()})
    except FileNotFoundError:
        return None
    except _PARQUET_ERRORS as error:
        _reraise_os_failure(error)
        raise _unreadable(path, error) from None


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


def _write_atomic(path: Path, frame: pl.DataFrame, metadata: dict[str, str] | None = None) -> None:
    """Write ``frame`` to ``path`` so that ``path`` is always either the old or the new file.

    The frame goes to a hidden temporary file in the same directory, which is flushed,
    fsync'ed and renamed over ``path`` with ``os.replace``; the directory is fsync'ed after.
    On any failure the temporary file is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("xb") as f:
            frame.write_parquet(f, metadata=metadata)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
