"""``report.xlsx`` (``--xlsx``): the report's data tables in one Excel workbook.

For the people who live in Excel: a sheet per data table of the report (:data:`SHEETS`: the
Parquet files' columns, under their contract names), numbers written as numbers, each
column with the Excel number format that shows the digits the report's tables show
(:mod:`analysis.formats`):

==============================  ===========================  ==========================
columns                         Excel number format          shown as
==============================  ===========================  ==========================
returns, ARs, CARs, alphas      ``+0.00%;-0.00%;+0.00%``     ``+3.78%``
t statistics, betas, R²         ``0.00``                     ``2.76``
p-values                        ``[<0.001]"<0.001";0.000``   ``0.006``, ``<0.001``
money (market cap)              ``$#,##0.0,,,"bn"`` ...      ``$2,610.8bn``
money changes ($ abnormal)      ``+$#,##0.0,,,"bn"`` ...     ``+$98.6bn``
dates                           ``yyyy-mm-dd``               ``2025-11-03``
==============================  ===========================  ==========================

Money has one unit per column, that of :func:`analysis.formats.money_unit` (bn or m, by the
column's median size; whole dollars below a million), so a column reads down in one unit as a
table does. The regressions' estimates and standard errors are percent, but those of ``beta``
(a ratio). Headers are frozen and filtered, the first sheet (``about``) gives the title, the
headline and each sheet's rows. Text is written as text: a cell starting with ``=`` is never
a formula, a URL never a link.

A sheet costs what a person reads, as the report's tables do: the sheets keyed by event
list the event rows those tables list (:func:`flows.reporting.tables.shown_rows`: every row
up to 200 event rows, else a selection of 50), each sheet at most :data:`MAX_SHEET_ROWS`
rows; ``about`` says how many more the Parquet files hold. The file is reproducible: two
runs on the same results write the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import polars as pl
import xlsxwriter

from analysis import schema as S
from analysis.confounders import CONFOUNDER_AR0, CONFOUNDER_AR0_P, CONFOUNDER_AR0_T, CONFOUNDER_DOLLARS
from analysis.engine import AR_AT_OFFSET, StudyResult
from analysis.formats import money_unit
from analysis.regression import ESTIMATE, STD_ERROR, TERM
from flows.reporting.tables import Shown, shown_rows

WORKBOOK = "report.xlsx"
SHEETS = ("car", "tests", "events", "models", "abnormal_returns", "confounders", "outliers", "claims", "regressions")
"""The sheets after ``about``: data tables of :class:`~analysis.engine.StudyResult`, in this order."""
MAX_SHEET_ROWS = 10_000
"""Rows of a sheet at most (the group tests of thousands of groups); the Parquet file has them all."""

PERCENT = "+0.00%;-0.00%;+0.00%"  # analysis.formats.pct
STAT = "0.00"  # analysis.formats.num
SIGNED = "+0.00;-0.00;+0.00"  # analysis.formats.signed
PVALUE = '[<0.001]"<0.001";0.000'  # analysis.formats.pvalue
DATE = "yyyy-mm-dd"
DATETIME = "yyyy-mm-dd hh:mm:ss"
SCALES = {"bn": ",,,", "m": ",,", "": ""}  # each trailing comma divides by 1,000: the units of analysis.formats.dollars
FIXED_CREATED = datetime(2000, 1, 1)  # the workbook's creation date: fixed, so the file is reproducible

COLUMN_FORMATS: dict[str, str] = {
    **dict.fromkeys((S.RET, S.BENCHMARK_RET, S.NORMAL_RET, S.ABNORMAL_RET, S.CUM_ABNORMAL_RET, S.AR_SE, S.CAR,
                     S.CAR_SE, S.BHAR, S.RAW_RETURN, S.ALPHA, S.SIGMA, S.MEAN, AR_AT_OFFSET, CONFOUNDER_AR0), PERCENT),
    **dict.fromkeys((S.AR_T, S.T_STAT, S.ABNORMAL_VOLUME_T, S.STATISTIC, S.STD_RESID, CONFOUNDER_AR0_T, S.BETA,
                     S.R_SQUARED), STAT),
    **dict.fromkeys((S.AR_P, S.P_VALUE, CONFOUNDER_AR0_P), PVALUE),
    S.ABNORMAL_VOLUME: SIGNED,
}
"""Excel number formats by column name, as the report's tables format these columns."""
MONEY_COLUMNS = frozenset((S.MARKET_CAP, S.DOLLAR_ABNORMAL, S.DOLLAR_RAW, CONFOUNDER_DOLLARS))
MONEY_CHANGES = frozenset((S.DOLLAR_ABNORMAL, S.DOLLAR_RAW, CONFOUNDER_DOLLARS))
"""Money columns that are changes: signed (``+$98.6bn``), as in the tables."""


def money_format(values: pl.Series, signed: bool = False) -> str:
    """The Excel format of a money column in the unit :func:`analysis.formats.money_unit` gives
    its values: ``$#,##0.0,,,"bn";-$#,##0.0,,,"bn"`` (``signed``: ``+$...`` above zero)."""
    unit = money_unit(values.to_list())
    body = f'$#,##0.0{SCALES[unit]}"{unit}"' if unit else "$#,##0"
    return f"+{body};-{body};{body}" if signed else f"{body};-{body}"


def column_formats(name: str, frame: pl.DataFrame) -> str | list[str] | None:
    """The Excel number format of column ``name`` of ``frame`` (None: Excel's General), or one
    per row: the regressions' ``estimate`` and ``std_error`` are percent but those of ``beta``."""
    values = frame[name]
    if name in MONEY_COLUMNS:
        return money_format(values, signed=name in MONEY_CHANGES)
    if name in (ESTIMATE, STD_ERROR) and TERM in frame.columns:
        return [STAT if term == "beta" else PERCENT for term in frame[TERM].to_list()]
    if name in COLUMN_FORMATS:
        return COLUMN_FORMATS[name]
    if name.startswith(S.LOADING_PREFIX):
        return STAT
    if values.dtype == pl.Date:
        return DATE
    if values.dtype == pl.Datetime:
        return DATETIME
    return None


def sheet_frames(result: StudyResult, shown: Shown | None = None) -> dict[str, tuple[pl.DataFrame, int]]:
    """Each sheet's rows (those of the event rows ``shown``, default :func:`shown_rows`, at most
    :data:`MAX_SHEET_ROWS`) and the number of rows of its data table."""
    shown = shown or shown_rows(result)
    keys = [S.EVENT_ID, S.TICKER]
    order = shown.keys.with_row_index("_shown")
    out = {}
    for name in SHEETS:
        frame = getattr(result, name)
        if not shown.complete and set(keys) <= set(frame.columns):  # group rows (null keys) stay, first
            frame = (frame.join(order, on=keys, how="left", maintain_order="left")
                     .filter(pl.col("_shown").is_not_null() | pl.col(S.EVENT_ID).is_null())
                     .sort("_shown", nulls_last=False, maintain_order=True).drop("_shown"))
        out[name] = (frame.head(MAX_SHEET_ROWS), getattr(result, name).height)
    return out


def _cells(values: pl.Series) -> list:
    """The column's Python values for Excel: text for what is neither number, date nor
    boolean; NaN and infinities blank (the tables show them empty); datetimes in UTC
    without their zone (Excel has none)."""
    dtype = values.dtype
    if dtype == pl.Datetime:
        zone = getattr(dtype, "time_zone", None)
        return (values.dt.convert_time_zone("UTC").dt.replace_time_zone(None) if zone else values).to_list()
    if dtype.is_float():
        return [None if v is None or not math.isfinite(v) else v for v in values.to_list()]
    if dtype.is_numeric() or dtype in (pl.Date, pl.Boolean):
        return values.to_list()
    return values.cast(pl.String).to_list()


def _writer(ws, dtype: pl.DataType) -> Callable:
    if dtype in (pl.Date, pl.Datetime):
        return ws.write_datetime
    if dtype == pl.Boolean:
        return ws.write_boolean
    if dtype.is_numeric():
        return ws.write_number
    return ws.write_string


def write_workbook(path: Path, result: StudyResult, title: str, headline: str) -> Path:
    """Write the workbook of ``result`` to ``path`` (see the module docstring) and return it."""
    sheets = sheet_frames(result)
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    with xlsxwriter.Workbook(str(path), options) as wb:
        wb.set_properties({"title": title[:255], "created": FIXED_CREATED})
        bold = wb.add_format({"bold": True})
        wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        about = wb.add_worksheet("about")
        about.set_column(0, 0, 22)
        about.set_column(1, 1, 100, wrap)
        lines = [("title", title), ("headline", headline), ("", ""), ("sheet", "rows")]
        for name, (frame, total) in sheets.items():
            more = f" of {total:,}: every row in {name}.parquet" if frame.height < total else ""
            lines.append((name, f"{frame.height:,}{more}"))
        lines += [("", ""), ("formats", "returns, CARs, alphas +0.00%; t, betas, R2 0.00; p 0.000 (<0.001 below); money "
                                        "in one unit per column (bn, m or $), changes signed; dates yyyy-mm-dd; "
                                        "datetimes in UTC")]
        for i, (key, text) in enumerate(lines):
            about.write_string(i, 0, key, bold)
            about.write_string(i, 1, text)
        for name, (frame, _) in sheets.items():
            _write_sheet(wb, wb.add_worksheet(name), frame, bold)
    return path


def _write_sheet(wb, ws, frame: pl.DataFrame, bold) -> None:
    """``frame`` under a frozen, filtered header, column by column, each in its number format."""
    ws.freeze_panes(1, 0)
    made: dict[str, object] = {}

    def fmt(spec: str | None):
        if spec is not None and spec not in made:
            made[spec] = wb.add_format({"num_format": spec})
        return made.get(spec) if spec is not None else None

    for j, name in enumerate(frame.columns):
        values = frame[name]
        spec = column_formats(name, frame)
        specs = spec if isinstance(spec, list) else [spec] * frame.height
        cells = _cells(values)
        width = max([len(name), *(len(str(v)) for v in cells[:50] if v is not None)]) + 2
        ws.set_column(j, j, min(width, 60) if spec is None else max(len(name) + 2, 12),
                      None if isinstance(spec, list) else fmt(spec))
        ws.write_string(0, j, name, bold)
        write = _writer(ws, values.dtype)
        for i, (v, s) in enumerate(zip(cells, specs, strict=True), start=1):
            if v is not None:
                write(i, j, v, fmt(s))
    if frame.width:
        ws.autofilter(0, 0, max(frame.height, 1), frame.width - 1)
