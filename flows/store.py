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
``"; "``).

Writes are atomic (temporary file in the same directory, fsync, ``os.replace``), so readers
never see a torn file and need no lock; read-merge-write cycles hold an exclusive ``flock`` on
``.lock``, so concurrent writers (processes or threads) never lose each other's rows. The lock
is POSIX-only.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import polars as pl

from analysis import schema as S
from analysis.errors import DataUnavailableError

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
        """The price file of ``ticker`` (which need not exist)."""
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
            old = _read_metadata(path)
            if old is not None:
                start, end = min(start, old[0]), max(end, old[1])
                sources = [*old[2].split(SOURCE_SEPARATOR), source]
                new = pl.concat([_read_prices(path), new])
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
        stored = [t for t in dict.fromkeys(_as_list(tickers)) if self.path(t).exists()]
        lf = pl.concat([self._scan(t) for t in stored]) if stored else _empty_prices().lazy()
        if start is not None:
            lf = lf.filter(pl.col(S.DATE) >= start)
        if end is not None:
            lf = lf.filter(pl.col(S.DATE) <= end)
        return self._collect(lf.sort(S.TICKER, S.DATE), stored)

    def tickers(self) -> pl.DataFrame:
        """One row per stored ticker: rows, first and last date, covered range and source."""
        paths = sorted((self.root / "prices").glob("*.parquet"))
        names = [unquote(p.name.removesuffix(".parquet")) for p in paths]
        if not names:
            return pl.DataFrame(schema=TICKERS_SCHEMA)
        stats = self._collect(pl.concat([
            self._scan(t).select(
                pl.lit(t, pl.String).alias(S.TICKER), pl.len().alias(ROWS),
                pl.col(S.DATE).min().alias(FIRST_DATE), pl.col(S.DATE).max().alias(LAST_DATE),
            )
            for t in names
        ]), names)
        meta = pl.DataFrame(
            [(t, *_read_metadata(p)) for t, p in zip(names, paths)],
            schema=[S.TICKER, COVERED_START, COVERED_END, SOURCE], orient="row",
        )
        return stats.join(meta, on=S.TICKER).select(TICKERS_SCHEMA.names()).cast(TICKERS_SCHEMA).sort(S.TICKER)

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

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return _locked(self.root)

    def _scan(self, ticker: str) -> pl.LazyFrame:
        return pl.scan_parquet(self.path(ticker), glob=False).select(
            pl.lit(ticker, pl.String).alias(S.TICKER), *(pl.col(c) for c in PRICE_SCHEMA)
        )

    def _collect(self, lf: pl.LazyFrame, tickers: Sequence[str]) -> pl.DataFrame:
        """Collect ``lf`` (built from the files of ``tickers``); name the bad file on failure."""
        try:
            return lf.collect()
        except (pl.exceptions.PolarsError, OSError) as error:
            for t in tickers:
                try:
                    self._scan(t).collect()
                except (pl.exceptions.PolarsError, OSError) as bad:
                    raise _unreadable(self.path(t), bad) from None
            raise _unreadable(self.root / "prices", error) from None

    def _read_shares(self) -> pl.DataFrame:
        if not self.shares_path.exists():
            return pl.DataFrame(schema=SHARES_SCHEMA)
        try:
            return pl.read_parquet(self.shares_path).select(SHARES_SCHEMA.names()).cast(SHARES_SCHEMA)
        except (pl.exceptions.PolarsError, OSError) as error:
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
        """The file of set ``name`` (which need not exist)."""
        return self.root / "factors" / f"{name}.parquet"

    def write(self, name: str, frame: pl.DataFrame, source: str) -> None:
        """Store ``frame`` (``date`` + Float64 factor columns) as set ``name``, replacing it."""
        frame = frame.select(pl.col(S.DATE).cast(pl.Date), pl.exclude(S.DATE).cast(pl.Float64)).sort(S.DATE)
        if frame.get_column(S.DATE).is_duplicated().any():
            raise ValueError(f"factor set {name}: duplicate dates")
        with _locked(self.root):
            _write_atomic(self.path(name), frame, metadata={"name": name, SOURCE: source})

    def read(self, name: str) -> pl.DataFrame | None:
        """Set ``name`` (``date`` + factor columns), or None if it is not stored."""
        path = self.path(name)
        if not path.exists():
            return None
        try:
            return pl.read_parquet(path)
        except (pl.exceptions.PolarsError, OSError) as error:
            raise _unreadable(path, error) from None

    def source(self, name: str) -> str | None:
        """Where set ``name`` came from, or None if it is not stored."""
        path = self.path(name)
        if not path.exists():
            return None
        try:
            return pl.read_parquet_metadata(path).get(SOURCE, "")
        except (pl.exceptions.PolarsError, OSError) as error:
            raise _unreadable(path, error) from None

    def sets(self) -> pl.DataFrame:
        """One row per stored set: ``name, columns, rows, first_date, last_date, source``."""
        rows = []
        for path in sorted((self.root / "factors").glob("*.parquet")):
            name = path.name.removesuffix(".parquet")
            frame = self.read(name)
            rows.append((name, ",".join(c for c in frame.columns if c != S.DATE), frame.height,
                         frame[S.DATE].min(), frame[S.DATE].max(), self.source(name)))
        return pl.DataFrame(rows, schema=FACTOR_SETS_SCHEMA, orient="row")

    def content_hash(self, name: str) -> str | None:
        """sha256 (hex) of the file of set ``name``, or None if it is not stored."""
        try:
            with self.path(name).open("rb") as f:
                return hashlib.file_digest(f, "sha256").hexdigest()
        except FileNotFoundError:
            return None


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``root/.lock`` (released when the file closes)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
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


def _read_prices(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path).select(PRICE_SCHEMA.names()).cast(PRICE_SCHEMA)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _unreadable(path, error) from None


def _read_metadata(path: Path) -> tuple[date, date, str] | None:
    """``(covered_start, covered_end, source)`` of a price file, or None if there is none."""
    if not path.exists():
        return None
    try:
        meta = pl.read_parquet_metadata(path)
        return date.fromisoformat(meta[COVERED_START]), date.fromisoformat(meta[COVERED_END]), meta[SOURCE]
    except (pl.exceptions.PolarsError, OSError, KeyError, ValueError) as error:
        raise _unreadable(path, error) from None


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
