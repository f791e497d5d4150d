"""Per-row output tables written batch by batch, as the engine computes them.

:func:`analysis.engine.run_study` (and ``combine_batches``) take a ``sink`` that receives
each batch's abnormal-return rows, in row order, so a study of 10^6 events never holds its
2 x 10^7 event-day rows in memory. :class:`FrameSpill` is that sink for files: it appends
every batch of a named frame to ``<folder>/<name>.parquet`` through one
``pyarrow.parquet.ParquetWriter`` per name (zstd; each batch one or more row groups), and to
its CSV twin ``<folder>/<name>.csv`` (the text of ``pl.read_parquet(...).write_csv()``), on a
thread of its own::

    with FrameSpill(folder) as spill:
        result = run_study(events, prices, spec, cal, shares, sink=spill.append)
    # folder/abnormal_returns.parquet and folder/abnormal_returns.csv are complete here

Atomic: a file is written under a hidden temporary name (:func:`flows.io.atomic.temporary_file`)
and renamed into place only by :meth:`FrameSpill.close` (the end of the ``with`` block
without an error), after an fsync; on an error the temporaries are deleted
(:meth:`FrameSpill.abort`) and nothing appears under the final names.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
from pathlib import Path
from types import TracebackType

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from flows.io.atomic import commit_file, naming, temporary_file

NAME = re.compile(r"[a-z][a-z0-9_]*")
QUEUED = 1
"""Batches that wait for :class:`FrameSpill`'s thread (each ~50 MB at 25,000 event rows of 21
days: one more than a writer on the caller's thread holds)."""


class FrameSpill:
    """Appends batches of named frames to Parquet files in ``folder``, each with its CSV twin
    (module docstring).

    The files are written on a thread of their own, a batch at a time (at most
    :data:`QUEUED` batches wait), so the engine's thread goes on combining while they are
    written, and what is still to write when the batches end is written beside the group
    tests; :meth:`close` waits for it. An error of that thread is raised by the next
    :meth:`append` or by :meth:`close`.

    Parameters
    ----------
    folder
        Where ``<name>.parquet`` and ``<name>.csv`` are written (created if needed).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._open: dict[str, _Files] = {}
        self._queue: queue.Queue[tuple[_Files, pa.Table] | None] = queue.Queue(QUEUED)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def append(self, name: str, frame: pl.DataFrame) -> None:
        """Append ``frame`` to ``<name>.parquet`` and ``<name>.csv``; the first batch of a name
        fixes its columns and types, and a later batch whose columns differ is a ``ValueError``."""
        self._raise()
        table = frame.to_arrow()
        if name not in self._open:
            if not NAME.fullmatch(name):
                raise ValueError(f"not a plain file name: {name!r}")
            with naming(self.folder / f"{name}.parquet"):
                self.folder.mkdir(parents=True, exist_ok=True)
                self._open[name] = _Files(self.folder, name, table.schema)
        files = self._open[name]
        if table.schema != files.parquet.schema:
            try:
                table = table.cast(files.parquet.schema)
            except (pa.ArrowInvalid, ValueError) as e:
                raise ValueError(f"{name}: a batch's columns differ from the first batch's: {e}") from None
        if self._thread is None:
            self._thread = threading.Thread(target=self._write, name="spill", daemon=True)
            self._thread.start()
        self._queue.put((files, table))

    def _write(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    item[0].write(item[1])
                except BaseException as e:  # noqa: BLE001 - raised in the caller's thread
                    self._error = e

    def _drain(self) -> None:
        """Wait until every queued batch is written (or its error kept)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self.abort()
            raise error

    def close(self) -> dict[str, Path]:
        """Finish every file and rename it into place; returns the Parquet files by name (each
        CSV twin beside its file)."""
        self._drain()
        self._raise()
        done = {}
        while self._open:
            name, files = self._open.popitem()
            try:
                files.commit()
            except BaseException:
                files.discard()
                self.abort()
                raise
            done[name] = files.final
        return done

    def abort(self) -> None:
        """Delete the unfinished files (the final names are left untouched)."""
        self._drain()
        while self._open:
            self._open.popitem()[1].discard()

    def __enter__(self) -> FrameSpill:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


class _Files:
    """One name's Parquet file and CSV twin, under hidden temporary names until :meth:`commit`."""

    def __init__(self, folder: Path, name: str, schema: pa.Schema) -> None:
        self.final = folder / f"{name}.parquet"
        self.twin = folder / f"{name}.csv"
        self.tmp, self.tmp_twin = temporary_file(self.final), temporary_file(self.twin)
        self.parquet = pq.ParquetWriter(self.tmp, schema, compression="zstd")
        self.csv = self.tmp_twin.open("wb")
        self.header = True

    def write(self, table: pa.Table) -> None:
        with naming(self.final):  # a full disk: pyarrow's OSError names no file
            self.parquet.write_table(table)
        with naming(self.twin):  # the text of write_csv_twin: a Parquet round trip keeps every type
            pl.from_arrow(table).write_csv(self.csv, include_header=self.header)
        self.header = False

    def commit(self) -> None:
        with naming(self.final):
            self.parquet.close()
            commit_file(self.tmp, self.final)
        with naming(self.twin):
            if self.header:  # no batch: the header alone, as write_csv_twin writes it
                pl.from_arrow(self.parquet.schema.empty_table()).write_csv(self.csv)
            self.csv.close()
            commit_file(self.tmp_twin, self.twin)

    def discard(self) -> None:
        with contextlib.suppress(OSError):  # a full disk fails the close too
            self.parquet.close()
        with contextlib.suppress(OSError):
            self.csv.close()
        for path in (self.tmp, self.tmp_twin):
            path.unlink(missing_ok=True)
