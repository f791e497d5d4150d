"""The spill writer: batches of named frames appended to Parquet files, atomically."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.io.spill import FrameSpill, write_csv_twin


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
        assert not (tmp_path / "abnormal_returns.parquet").exists()  # only a hidden temporary until closed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abnormal_returns.parquet", "car.parquet"]
    assert_frame_equal(pl.read_parquet(tmp_path / "abnormal_returns.parquet"), pl.concat(parts), check_exact=True)
    csv = write_csv_twin(tmp_path / "abnormal_returns.parquet")
    assert csv.read_text() == pl.concat(parts).write_csv()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abnormal_returns.csv", "abnormal_returns.parquet", "car.parquet"]


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
