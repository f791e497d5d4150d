"""Per-row output tables written batch by batch, as the engine computes them.

:func:`analysis.engine.run_study` (and ``combine_batches``) take a ``sink`` that receives
each batch's abnormal-return rows, in row order, so a study of 10^6 events never holds its
2 x 10^7 event-day rows in memory. :class:`FrameSpill` is that sink for files: it appends
every batch of a named frame to ``<folder>/<name>.parquet`` through one
``pyarrow.parquet.ParquetWriter`` per name (zstd; each batch one or more row groups)::

    with FrameSpill(folder) as spill:
        result = run_study(events, prices, spec, cal, shares, sink=spill.append)
    # folder/abnormal_returns.parquet is complete here
    write_csv_twin(folder / "abnormal_returns.parquet")   # folder/abnormal_returns.csv

Atomic: a file is written under a hidden temporary name (:func:`flows.io.atomic.temporary_file`)
and renamed into place only by :meth:`FrameSpill.close` (the end of the ``with`` block
without an error), after an fsync; on an error the temporaries are deleted
(:meth:`FrameSpill.abort`) and nothing appears under the final names. The CSV twin is
written the same way, from the Parquet file one row group at a time.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from types import TracebackType

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from flows.io.atomic import commit_file, naming, temporary_file

NAME = re.compile(r"[a-z][a-z0-9_]*")


class FrameSpill:
    """Appends batches of named frames to Parquet files in ``folder`` (module docstring).

    Parameters
    ----------
    folder
        Where ``<name>.parquet`` are written (created if needed).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._open: dict[str, tuple[pq.ParquetWriter, Path]] = {}

    def append(self, name: str, frame: pl.DataFrame) -> None:
        """Append ``frame`` to ``<name>.parquet``; the first batch of a name fixes its columns
        and types, and a later batch whose columns differ is a ``ValueError``."""
        table = frame.to_arrow()
        if name not in self._open:
            if not NAME.fullmatch(name):
                raise ValueError(f"not a plain file name: {name!r}")
            with naming(self.folder / f"{name}.parquet"):
                self.folder.mkdir(parents=True, exist_ok=True)
                tmp = temporary_file(self.folder / f"{name}.parquet")
                self._open[name] = (pq.ParquetWriter(tmp, table.schema, compression="zstd"), tmp)
        writer, _ = self._open[name]
        if table.schema != writer.schema:
            try:
                table = table.cast(writer.schema)
            except (pa.ArrowInvalid, ValueError) as e:
                raise ValueError(f"{name}: a batch's columns differ from the first batch's: {e}") from None
        with naming(self.folder / f"{name}.parquet"):  # a full disk: pyarrow's OSError names no file
            writer.write_table(table)

    def close(self) -> dict[str, Path]:
        """Finish every file and rename it into place; returns the files by name."""
        done = {}
        while self._open:
            name, (writer, tmp) = self._open.popitem()
            try:
                with naming(self.folder / f"{name}.parquet"):
                    writer.close()
                    commit_file(tmp, self.folder / f"{name}.parquet")
            except BaseException:
                tmp.unlink(missing_ok=True)
                self.abort()
                raise
            done[name] = self.folder / f"{name}.parquet"
        return done

    def abort(self) -> None:
        """Delete the unfinished files (the final names are left untouched)."""
        while self._open:
            _, (writer, tmp) = self._open.popitem()
            with contextlib.suppress(OSError):  # a full disk fails the close too
                writer.close()
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> FrameSpill:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def write_csv_twin(parquet: Path, csv: Path | None = None) -> Path:
    """Write the CSV twin of a Parquet file (default: the same name with ``.csv``), one row
    group at a time (the same text as ``pl.read_parquet(parquet).write_csv()``), through a
    hidden temporary file renamed into place."""
    parquet = Path(parquet)
    csv = parquet.with_suffix(".csv") if csv is None else Path(csv)
    tmp = temporary_file(csv)
    try:
        source = pq.ParquetFile(parquet)
        with naming(csv), tmp.open("wb") as out:
            if source.metadata.num_row_groups == 0:
                pl.from_arrow(source.schema_arrow.empty_table()).write_csv(out)
            for group in range(source.metadata.num_row_groups):
                pl.from_arrow(source.read_row_group(group)).write_csv(out, include_header=group == 0)
        with naming(csv):
            commit_file(tmp, csv)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return csv
