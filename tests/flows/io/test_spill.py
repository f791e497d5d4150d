"""The spill writer: batches of named frames appended to Parquet files, atomically."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.io.spill import FrameSpill


def batches() -> list[pl.DataFrame]:
    day = pl.Series(["2025-11-03", "2025-11-04", "2025-11-05"]).str.to_date()
    return [
        pl.DataFrame({"event_id": ["a", "a"], "date": day[:2], "abnormal_ret": [0.01, None], "event_day": [0, 1]},
                     schema_overrides={"event_day": pl.Int32}),
        pl.DataFrame(schema={"event_id": pl.String, "date": pl.Date, "abnormal_ret": pl.Float64, "event_day": pl.Int32}),
        pl.DataFrame({"event_id": ["b"], "date": day[2:], "abnormal_ret": [-0.02], "event_day": [-1]},
                     schema_overrides={"event_day": pl.Int32}),
    ]


def test_the_file_equals_the_concatenated_frames_and_appears_on_close(tmp_path):
    parts = batches()
    with FrameSpill(tmp_path) as spill:
        for frame in parts:
            spill.append("abnormal_returns", frame)
        spill.append("car", parts[0])
        spill.append("empty", parts[1])
        assert not (tmp_path / "abnormal_returns.parquet").exists()  # only hidden temporaries until closed
        assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "abnormal_returns.csv", "abnormal_returns.parquet", "car.csv", "car.parquet", "empty.csv", "empty.parquet"]
    for name, frame in (("abnormal_returns", pl.concat(parts)), ("car", parts[0]), ("empty", parts[1])):
        assert_frame_equal(pl.read_parquet(tmp_path / f"{name}.parquet"), frame, check_exact=True)
        assert (tmp_path / f"{name}.csv").read_text() == pl.read_parquet(tmp_path / f"{name}.parquet").write_csv()


def test_an_error_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError), FrameSpill(tmp_path) as spill:
        spill.append("abnormal_returns", batches()[0])
        raise RuntimeError("the study failed")
    assert list(tmp_path.iterdir()) == []


def test_a_batch_with_other_columns_is_refused(tmp_path):
    with FrameSpill(tmp_path) as spill:
        spill.append("car", pl.DataFrame({"car": [0.1]}))
        with pytest.raises(ValueError, match="car: a batch's columns differ"):
            spill.append("car", pl.DataFrame({"car": ["text"]}))
        with pytest.raises(ValueError, match="not a plain file name"):
            spill.append("../car", pl.DataFrame({"car": [0.1]}))


def test_an_error_of_the_writing_thread_is_raised_by_the_caller_and_leaves_no_file(tmp_path, monkeypatch):
    from flows.io import spill as module

    def full(self, table):
        raise OSError(28, "No space left on device", str(self.final))

    parts = batches()
    spill = FrameSpill(tmp_path)
    spill.append("abnormal_returns", parts[0])
    spill.close()
    monkeypatch.setattr(module._Files, "write", full)
    with pytest.raises(OSError, match="No space left on device"), FrameSpill(tmp_path) as spill:
        for frame in parts * 3:  # raised by a later append or by the close
            spill.append("abnormal_returns", frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abnormal_returns.csv", "abnormal_returns.parquet"]
    assert_frame_equal(pl.read_parquet(tmp_path / "abnormal_returns.parquet"), parts[0])  # the earlier file untouched
