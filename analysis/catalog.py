"""The event catalog: TOML (curated events) and CSV (bulk events) text into :class:`EventSpec` s.

Pure: these functions parse *text*; reading files is :mod:`flows.io.catalog`'s job. Every
mistake ends in an :class:`~analysis.errors.InputError` naming the file, the event (TOML) or
row (CSV) and the field, so the message alone tells the analyst what to fix.

TOML (DESIGN.md, "Event catalog format")::

    [defaults]                      # optional: applied to events that omit these keys
    benchmark = "^GSPC"
    timing = "unknown"
    group = "openai-compute-deals"

    [[events]]
    id = "amzn-openai-aws-2025"
    tickers = ["AMZN"]              # a list, or a single string
    announced = 2025-11-03          # see "announced" below
    timing = "unknown"              # pre-open | intraday | after-close | unknown
    benchmark = "^GSPC"
    related = ["MSFT", "NVDA", "GOOGL"]
    group = "openai-compute-deals"
    description = "..."
    source = "..."
    claims = ["record high close"]  # optional: statements to check against the results
    [events.characteristics]        # optional: numbers or text, later used as regressors
    deal_value_bn = 38

CSV: one row per event x ticker, header ``event_id,ticker,announced,timing,benchmark,group``
(``timing``, ``benchmark`` and ``group`` may be empty or absent: defaults apply). Columns
``description``, ``source`` and ``related`` (tickers separated by spaces, commas or ``;``) fill
those fields; every other column is a characteristic, parsed as a float when every non-empty
value of the column is a number. Rows with the same ``event_id`` merge into one event with
several tickers; they must agree on every other column (an empty cell counts as "not given").
Rows are numbered as :class:`InputError` expects: the header is row 0, row *n* is on line *n + 1*.

``announced`` accepts a date (TOML ``2025-11-03`` or ``"2025-11-03"``), an offset datetime
(TOML ``2025-10-30T16:01:00-04:00`` or the same as a string) or a local datetime followed by an
IANA zone name (``"2025-10-30 16:01 America/New_York"``, ``"2025-10-30T16:01 America/New_York"``).
A time of day without a zone is rejected: the day-0 rule depends on it.

``timing`` is matched ignoring case, spaces and underscores (``"After_Close"``), and a few
synonyms are accepted (:data:`TIMING_ALIASES`, e.g. ``"before open"`` is ``pre-open``).

**Extras.** ``EventSpec.extra`` is a flat tuple of ``(name, value)`` pairs with hashable values,
so ``dict(event.extra)`` is a one-level record: each characteristic ``x`` is the pair
``("char.x", value)`` (``float`` or ``str``; an empty CSV cell gives no pair), in catalog order,
followed by ``("claims", ("...", ...))`` when the event lists claims. Read them with
:func:`characteristics` and :func:`claims` rather than by hand.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import re
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from analysis.errors import InputError, separator_hint
from analysis.specs import (
    CHAR_PREFIX, DEFAULT_BENCHMARK, DEFAULT_GROUP, EVENT_ID_PATTERN, TIMINGS, EventSpec, check_text, check_ticker,
)

CLAIMS = "claims"

EVENT_KEYS = (
    "id", "tickers", "announced", "timing", "benchmark", "related", "group", "description",
    "source", "characteristics", "claims",
)
REQUIRED_KEYS = ("id", "tickers", "announced")
DEFAULT_KEYS = ("benchmark", "timing", "group")
TOP_KEYS = ("events", "defaults")

CSV_REQUIRED = ("event_id", "ticker", "announced")
CSV_HEADER = ("event_id", "ticker", "announced", "timing", "benchmark", "group")
CSV_FIELDS = ("timing", "benchmark", "group", "description", "source", "related")

TIMING_ALIASES = {
    "before-open": "pre-open",
    "pre-market": "pre-open",
    "during-session": "intraday",
    "after-hours": "after-close",
    "after-market": "after-close",
}
ANNOUNCED_FORMS = (
    "a date 2025-11-03, an offset datetime 2025-10-30T16:01:00-04:00, or a datetime with an "
    "IANA zone '2025-10-30 16:01 America/New_York'"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*")
_WITH_ZONE = re.compile(r"(.+?)\s+([A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*)")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


# --- public helpers ----------------------------------------------------------------------


def check_regressors(numeric: Collection[str], regressors: Collection[str]) -> None:
    """Raise an :class:`~analysis.errors.InputError` naming the ``regressors`` that are not
    among the ``numeric`` characteristics (names without ``char.``), and those that are."""
    unknown = [r for r in regressors if r not in set(numeric)]
    if unknown:
        raise InputError(f"not a numeric characteristic of the events: {', '.join(unknown)} "
                         f"(numeric ones: {', '.join(numeric) or 'none'})", field="regressors")


def characteristics(event: EventSpec) -> dict[str, float | str]:
    """The event's characteristics (regressors) by name, without the ``char.`` prefix."""
    n = len(CHAR_PREFIX)
    return {k[n:]: v for k, v in event.extra if k.startswith(CHAR_PREFIX)}


def almost_numeric(events: Sequence[EventSpec]) -> list[str]:
    """A note for each characteristic that is text only because of some of its values: at
    least one value is a number (or a cell a CSV catalog would read as one) and others are not
    (``"1,000"``, ``"n/a"``), so it is no regressor of the cross-sectional regression. Each
    note names the first such values and their events."""
    seen: dict[str, tuple[int, list[tuple[str, str]]]] = {}
    for event in events:
        for name, value in characteristics(event).items():
            numbers, odd = seen.get(name, (0, []))
            if isinstance(value, float) or _NUMBER.fullmatch(str(value)):
                seen[name] = (numbers + 1, odd)
            else:
                seen[name] = (numbers, [*odd, (event.id, str(value))])
    return [
        f"characteristic {name!r} is text, not a regressor, because of {len(odd)} value(s) that are no number: "
        + ", ".join(f"{value!r} (event {ev})" for ev, value in odd[:3]) + f"; {numbers} other value(s) are numbers"
        for name, (numbers, odd) in seen.items() if numbers and odd
    ]


def claims(event: EventSpec) -> tuple[str, ...]:
    """The statements the catalog attaches to the event (empty when none)."""
    return dict(event.extra).get(CLAIMS, ())


def parse_timing(value: object, *, file: str | None = None, event: str | None = None,
                 row: int | None = None) -> str:
    """Map ``"After_Close"``, ``"before open"`` and the like to one of :data:`TIMINGS`."""
    if isinstance(value, str):
        key = re.sub(r"[\s_]+", "-", value.strip().lower())
        key = TIMING_ALIASES.get(key, key)
        if key in TIMINGS:
            return key
    raise InputError(f"expected one of {', '.join(TIMINGS)}, got {value!r}",
                     file=file, row=row, event=event, field="timing")


def parse_announced(value: object, *, file: str | None = None, event: str | None = None,
                    row: int | None = None) -> date | datetime:
    """A date, or a timezone-aware datetime, from a TOML value or a string (see module doc)."""

    def fail(message: str) -> InputError:
        return InputError(message, file=file, row=row, event=event, field="announced")

    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise fail(f"a time of day needs a zone; expected {ANNOUNCED_FORMS}, got {value.isoformat()}")
        return value
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise fail(f"expected {ANNOUNCED_FORMS}, got {value!r}")
    text = value.strip()
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError as e:
            raise fail(f"{e}: {value!r}") from None
    zone = None
    m = _WITH_ZONE.fullmatch(text)
    if m and _DATETIME.fullmatch(m.group(1)):
        text, zone = m.group(1), m.group(2)
    if not _DATETIME.fullmatch(text):
        raise fail(f"expected {ANNOUNCED_FORMS}, got {value!r}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"expected {ANNOUNCED_FORMS}, got {value!r}") from None
    if zone is not None:
        if parsed.tzinfo is not None:
            raise fail(f"give either an offset or a zone name, not both: {value!r}")
        try:
            parsed = parsed.replace(tzinfo=ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise fail(f"unknown time zone {zone!r}; use an IANA name such as America/New_York") from None
    if parsed.tzinfo is None:
        raise fail(f"a time of day needs a zone; expected {ANNOUNCED_FORMS}, got {value!r}")
    try:
        parsed.utcoffset()
    except (ValueError, OverflowError):
        raise fail(f"date out of range: {value!r}") from None
    return parsed


# --- writing events --------------------------------------------------------------------------


def toml_events(events: Sequence[EventSpec]) -> str:
    """The events as ``[[events]]`` tables that :func:`parse_catalog_toml` reads back to equal
    events (appended to a catalog, a ``[defaults]`` benchmark applies to those whose benchmark
    is the default ``^GSPC``, which is left out)."""

    def text(value: str) -> str:  # a TOML basic string: JSON's escapes are TOML's
        return json.dumps(value, ensure_ascii=False)

    out = []
    for e in events:
        lines = ["[[events]]", f"id = {text(e.id)}", f"tickers = [{', '.join(map(text, e.tickers))}]",
                 f"announced = {text(e.announced_text)}", f"timing = {text(e.timing)}"]
        if e.benchmark != DEFAULT_BENCHMARK:
            lines.append(f"benchmark = {text(e.benchmark)}")
        if e.related:
            lines.append(f"related = [{', '.join(map(text, e.related))}]")
        lines += [f"{k} = {text(getattr(e, k))}" for k in ("group", "description", "source") if getattr(e, k)]
        if claims(e):
            lines.append(f"claims = [{', '.join(map(text, claims(e)))}]")
        chars = characteristics(e)
        if chars:
            lines.append("[events.characteristics]")
            lines += [f"{text(k)} = {v!r}" if isinstance(v, float) else f"{text(k)} = {text(v)}" for k, v in chars.items()]
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def csv_events(events: Sequence[EventSpec], header: bool = True) -> str:
    """The events as CSV rows (one per event x primary ticker; :data:`CSV_HEADER`, then
    ``description``, ``source``, ``related`` when any event has related tickers, and one column
    per characteristic), with the header line unless ``header`` is False. Claims have no CSV
    column and are left out."""
    chars = list(dict.fromkeys(k for e in events for k in characteristics(e)))
    related = any(e.related for e in events)
    columns = [*CSV_HEADER, "description", "source", *(["related"] if related else []), *chars]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for e in events:
        values = characteristics(e)
        tail = ([" ".join(e.related)] if related else []) + [
            repr(values[c]) if isinstance(values.get(c), float) else values.get(c, "") for c in chars]
        for t in e.tickers:
            writer.writerow([e.id, t, e.announced_text, e.timing, e.benchmark, e.group, e.description, e.source, *tail])
    return buf.getvalue()


# --- TOML ----------------------------------------------------------------------------------


def parse_catalog_toml(text: str, file: str) -> tuple[EventSpec, ...]:
    """Parse a TOML catalog (``[[events]]`` tables, optional ``[defaults]``).

    Parameters
    ----------
    text
        The catalog's text.
    file
        The file name to report in errors.

    Returns
    -------
    tuple of EventSpec
        The events in catalog order.

    Raises
    ------
    InputError
        Syntax errors (with the line), unknown keys (with the closest known key), missing or
        mistyped values, duplicate ids, an empty catalog.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        if "at end of document" in msg:
            msg = msg.replace("(at end of document)", f"(at end of document, line {text.count(chr(10)) + 1})")
        raise InputError(f"not valid TOML: {msg}", file=file) from None
    except RecursionError:
        raise InputError("not valid TOML: nested too deeply", file=file) from None
    _check_keys(doc, TOP_KEYS, file=file, event=None, what="top-level key")
    defaults = _defaults(doc.get("defaults", {}), file)
    tables = doc.get("events", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise InputError("expected [[events]] tables", file=file, field="events")
    events: list[EventSpec] = []
    seen: dict[str, int] = {}
    for n, table in enumerate(tables, start=1):
        ev = _toml_event(table, n, defaults, file)
        if ev.id in seen:
            raise InputError(f"duplicate event id: [[events]] #{seen[ev.id]} and #{n} both use it",
                             file=file, event=ev.id, field="id")
        seen[ev.id] = n
        events.append(ev)
    if not events:
        raise InputError("the catalog has no events; add [[events]] tables", file=file)
    return tuple(events)


def _check_keys(table: Mapping[str, Any], known: Iterable[str], *, file: str, event: str | None,
                what: str = "key") -> None:
    known = tuple(known)
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(f"unknown {what} {key!r}; {hint}known: {', '.join(known)}",
                             file=file, event=event, field=key)


def _defaults(table: object, file: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise InputError("expected a [defaults] table", file=file, field="defaults")
    _check_keys(table, DEFAULT_KEYS, file=file, event=None, what="key in [defaults]")
    out = {}
    for key, value in table.items():
        if not isinstance(value, str):
            raise InputError(f"expected text, got {value!r}", file=file, field=f"defaults.{key}")
        out[key] = parse_timing(value, file=file) if key == "timing" else value
    return out


def _text_list(value: object, *, file: str, event: str, field: str) -> tuple[str, ...]:
    """A list of strings, or one string as a one-element list."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InputError(f"expected a string or a list of strings, got {value!r}", file=file, event=event, field=field)


def _text(value: object, *, file: str, event: str, field: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"expected text, got {value!r}", file=file, event=event, field=field)
    return value


def _toml_event(table: dict[str, Any], n: int, defaults: Mapping[str, str], file: str) -> EventSpec:
    raw_id = table.get("id")
    if raw_id is None:
        raise InputError(f"[[events]] table #{n} has no 'id'", file=file, field="id")
    if not isinstance(raw_id, str):
        raise InputError(f"[[events]] table #{n}: expected the id as text, got {raw_id!r}", file=file, field="id")
    ev = raw_id
    _check_keys(table, EVENT_KEYS, file=file, event=ev)
    for key in REQUIRED_KEYS:
        if key not in table:
            raise InputError(f"missing required key {key!r}", file=file, event=ev, field=key)
    kw = dict(defaults)
    for key in ("benchmark", "group", "description", "source"):
        if key in table:
            kw[key] = _text(table[key], file=file, event=ev, field=key)
    if "timing" in table:
        kw["timing"] = parse_timing(table["timing"], file=file, event=ev)
    extra: list[tuple[str, Any]] = []
    chars = table.get("characteristics", {})
    if not isinstance(chars, dict):
        raise InputError("expected a table [events.characteristics]", file=file, event=ev, field="characteristics")
    for name, value in chars.items():
        extra.append((CHAR_PREFIX + name, _characteristic(value, file=file, event=ev, field=f"characteristics.{name}")))
    if "claims" in table:
        extra.append((CLAIMS, _text_list(table["claims"], file=file, event=ev, field="claims")))
    try:
        return EventSpec(
            id=ev,
            tickers=_text_list(table["tickers"], file=file, event=ev, field="tickers"),
            announced=parse_announced(table["announced"], file=file, event=ev),
            related=_text_list(table.get("related", []), file=file, event=ev, field="related"),
            extra=tuple(extra),
            **kw,
        )
    except InputError as e:
        if e.file is not None:
            raise
        raise InputError(e.reason, file=file, event=e.event or ev, field=e.field) from None


def _characteristic(value: object, *, file: str, event: str, field: str) -> float | str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out = float(value)
        if math.isfinite(out):
            return out
    elif isinstance(value, str):
        return value
    raise InputError(f"expected a finite number or text, got {value!r}", file=file, event=event, field=field)


# --- CSV -----------------------------------------------------------------------------------


def parse_catalog_csv(text: str, file: str) -> tuple[EventSpec, ...]:
    """Parse a CSV catalog: one row per event x ticker (see the module docstring).

    Parameters
    ----------
    text
        The catalog's text.
    file
        The file name to report in errors.

    Returns
    -------
    tuple of EventSpec
        One event per distinct ``event_id``, in order of first appearance.

    Raises
    ------
    InputError
        Naming the row (header = row 0) and column: missing header columns, ragged rows,
        rows of one event that disagree, invalid values, an empty catalog.
    """
    text = text.removeprefix("\ufeff")
    table = _plain_table(text)
    if table is not None:  # the usual catalog, read by polars: checked column by column
        header, columns = table
        _check_columns(header, file)
        fast = _one_row_per_event(header, columns, _numeric(header, columns))
        if fast is not None:
            return fast
    header, rows = _csv_rows(text, file)  # row by row: names the first problem exactly
    _check_columns(header, file)
    columns = dict(zip(header, zip(*(cells for _, cells in rows)), strict=True)) if rows else {}
    numeric = _numeric(header, columns)
    fast = _one_row_per_event(header, columns, numeric)
    if fast is not None:
        return fast
    id_at, ticker_at = header.index("event_id"), header.index("ticker")
    others = [(j, col) for j, col in enumerate(header) if j not in (id_at, ticker_at)]
    parsed: dict[tuple[int, str], Any] = {}  # (column, cell) -> value: each distinct cell is parsed once
    # event id -> {"row": first row, "tickers": {ticker: row}, "values": {col: (row, value, cell)}}
    merged: dict[str, dict[str, Any]] = {}
    for n, cells in rows:
        ev = cells[id_at]
        if not ev:
            raise InputError("empty event_id", file=file, row=n, field="event_id")
        ticker = cells[ticker_at]
        if not ticker:
            raise InputError("empty ticker", file=file, row=n, event=ev, field="ticker")
        acc = merged.get(ev)
        if acc is None:
            acc = merged[ev] = {"row": n, "tickers": {}, "values": {}}
        if ticker in acc["tickers"]:
            raise InputError(f"ticker listed twice for this event (rows {acc['tickers'][ticker]} and {n})",
                             file=file, row=n, event=ev, field="ticker")
        acc["tickers"][ticker] = n
        values = acc["values"]
        for j, col in others:
            cell = cells[j]
            if not cell:
                continue
            value = parsed.get((j, cell), parsed)
            if value is parsed:
                value = parsed[j, cell] = _csv_value(col, cell, numeric, file=file, row=n, event=ev)
            if col in values:
                if values[col][1] != value:
                    first, _, first_cell = values[col]
                    raise InputError(f"rows {first} and {n} of this event disagree: {first_cell!r} vs {cell!r}",
                                     file=file, row=n, event=ev, field=col)
            else:
                values[col] = (n, value, cell)
    if not merged:
        raise InputError("the catalog has no events; add rows below the header", file=file)
    chars = [col for col in header if col not in CSV_HEADER and col not in CSV_FIELDS]
    return tuple(_csv_event(ev, acc, chars, file) for ev, acc in merged.items())


def _check_columns(header: list[str], file: str) -> None:
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}; expected a header like "
                         f"{','.join(CSV_HEADER)}{separator_hint(','.join(header))}",
                         file=file, row=0, field=missing[0])


def _numeric(header: list[str], columns: Mapping[str, Sequence[str]]) -> set[str]:
    """The characteristic columns whose every non-empty cell is a number."""
    numeric = set()
    for col in header:
        if col not in CSV_HEADER and col not in CSV_FIELDS:
            cells = set(columns.get(col, ())) - {""}
            if cells and all(_NUMBER.fullmatch(c) for c in cells):
                numeric.add(col)
    return numeric


_UNUSUAL = re.compile(r'["\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\n[ \t\r]*\n|^[ \t\r]*\n')


def _plain_table(text: str) -> tuple[list[str], dict[str, list[str]]] | None:
    """The header (lower-cased) and the stripped cells by column of a plain catalog, read by
    polars (10^5 rows in a few milliseconds; ``csv`` and Python strings took a second):
    ASCII, no quotes, no control characters, no blank line, every line with the same number
    of cells and at least one row. None for any other text, which :func:`_csv_rows` reads."""
    if not text.isascii() or _UNUSUAL.search(text):
        return None
    lines = text.rstrip("\r\n").split("\n")
    if len(lines) < 2 or pl.Series(lines).str.count_matches(",", literal=True).n_unique() != 1:
        return None
    try:
        frame = pl.read_csv(text.encode(), has_header=False, infer_schema=False, quote_char=None,
                            empty_string_is_null=False)
    except pl.exceptions.PolarsError:
        return None
    if frame.height != len(lines):
        return None
    frame = frame.select(pl.all().fill_null("").str.strip_chars(" \t\r\n\x0b\x0c"))
    header = [c.lower() for c in frame.row(0)]
    if len(set(header)) < len(header) or "" in header:
        return None  # _csv_rows names the column
    return header, {name: frame.to_series(j).slice(1).to_list() for j, name in enumerate(header)}


class _RowByRow(Exception):
    """The catalog needs the row-by-row parse (several rows per event, or a problem to name)."""


def _one_row_per_event(
    header: list[str], columns: Mapping[str, Sequence[str]], numeric: set[str]
) -> tuple[EventSpec, ...] | None:
    """The events of a catalog with one row per event and no ``related`` column, checked
    column by column: each distinct cell of a column is parsed once, and the events are made
    from the checked values (:meth:`EventSpec.prechecked`). None when the catalog has
    several rows for an event or a value fails a check: then the row-by-row parse runs,
    which names the first problem exactly (row, event and field)."""
    ids = columns.get("event_id", ())
    if not ids or "related" in header:
        return None
    n = len(ids)
    distinct = set(ids)
    if len(distinct) < n or not all(EVENT_ID_PATTERN.fullmatch(i) for i in distinct):
        return None

    def parsed(col: str, parse: Callable[[str], Any], default: Any = None) -> list[Any] | tuple[Any, ...]:
        cells = columns.get(col)
        if cells is None:
            return [default] * n
        values = {}
        for cell in set(cells):  # each distinct cell once
            if not cell and default is not None:
                values[cell] = default
                continue
            try:
                values[cell] = parse(cell)
            except (InputError, ValueError):
                raise _RowByRow from None
        return [values[c] for c in cells]

    def number(cell: str) -> float:
        value = float(cell)
        if not math.isfinite(value):
            raise ValueError(cell)
        return value

    try:
        tickers = parsed("ticker", check_ticker)
        announced = parsed("announced", parse_announced)
        timing = parsed("timing", parse_timing, "unknown")
        benchmark = parsed("benchmark", check_ticker, DEFAULT_BENCHMARK)
        group = parsed("group", lambda cell: check_text(cell, field="group"), DEFAULT_GROUP)
        description = parsed("description", lambda cell: check_text(cell, field="description"), "")
        source = parsed("source", lambda cell: check_text(cell, field="source"), "")
        chars = [(CHAR_PREFIX + col, columns[col] if col not in numeric else parsed(col, number, ""))
                 for col in header if col not in CSV_HEADER and col not in CSV_FIELDS]
    except _RowByRow:
        return None
    extra = [tuple((name, values[i]) for name, values in chars if values[i] != "") for i in range(n)] if chars else [()] * n
    return tuple(
        EventSpec.prechecked(i, (t,), a, tm, b, (), g, d, s, x)
        for i, t, a, tm, b, g, d, s, x in zip(ids, tickers, announced, timing, benchmark, group, description, source,
                                              extra, strict=True)
    )


def _csv_rows(text: str, file: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The normalised header and ``(row number, stripped cells)`` for each record."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    start = 1
    if '"' not in text:  # no quoted cell, so one record per line: read them all at once
        try:
            records = [(n, cells) for n, cells in enumerate(reader) if "".join(cells).strip()]
        except csv.Error:
            reader, records = csv.reader(io.StringIO(text, newline="")), None  # the loop below names the line
        if records:
            width = len(records[0][1])
            if all(len(cells) == width for _, cells in records):
                cells = records[0][1]
                header = [c.strip().lower() for c in cells]
                _check_header(header, cells, file)
                return header, [(n, [c.strip() for c in cells]) for n, cells in records[1:]]
            reader = csv.reader(io.StringIO(text, newline=""))  # the loop below names the ragged row
    try:
        for cells in reader:
            row, start = start - 1, reader.line_num + 1
            if not "".join(cells).strip():
                continue
            if header is None:
                header = [c.strip().lower() for c in cells]
                _check_header(header, cells, file)
                continue
            if len(cells) != len(header):
                raise InputError(f"expected {len(header)} values (one per header column), got {len(cells)}",
                                 file=file, row=row)
            rows.append((row, [c.strip() for c in cells]))
    except csv.Error as e:
        raise InputError(f"not valid CSV: {e}", file=file, row=start - 1) from None
    if header is None:
        raise InputError(f"empty file; expected a header like {','.join(CSV_HEADER)}", file=file, row=0)
    return header, rows


def _check_header(header: list[str], cells: list[str], file: str) -> None:
    dup = next((c for c in header if header.count(c) > 1 or not c), None)
    if dup is not None:
        raise InputError(f"column names must be distinct and non-empty, got {cells!r}", file=file, row=0, field=dup)


def _csv_value(col: str, cell: str, numeric: set[str], *, file: str, row: int, event: str) -> Any:
    if col == "announced":
        return parse_announced(cell, file=file, row=row, event=event)
    if col == "timing":
        return parse_timing(cell, file=file, row=row, event=event)
    if col == "related":
        return tuple(t for t in re.split(r"[\s,;]+", cell) if t)
    if col in numeric:
        value = float(cell)
        if not math.isfinite(value):
            raise InputError(f"number out of range: {cell!r}", file=file, row=row, event=event, field=col)
        return value
    return cell


def _csv_event(ev: str, acc: dict[str, Any], chars: list[str], file: str) -> EventSpec:
    values = acc["values"]
    kw = {k: values[k][1] for k in CSV_FIELDS if k in values}
    extra = tuple((CHAR_PREFIX + col, values[col][1]) for col in chars if col in values)
    row = acc["row"]
    if "announced" not in values:
        raise InputError("empty announced date", file=file, row=row, event=ev, field="announced")
    try:
        return EventSpec(id=ev, tickers=tuple(acc["tickers"]), announced=values["announced"][1],
                         extra=extra, **kw)
    except InputError as e:
        field = {"tickers": "ticker", "id": "event_id"}.get(e.field, e.field)  # CSV column names
        if field == "ticker":
            row = _bad_ticker_row(acc["tickers"]) or row
        elif field in acc["values"]:
            row = acc["values"][field][0]
        raise InputError(e.reason, file=file, row=row, event=e.event or ev, field=field) from None


def _bad_ticker_row(tickers: dict[str, int]) -> int | None:
    """The row of the first ticker that does not pass :func:`~analysis.specs.check_ticker`."""
    for ticker, row in tickers.items():
        try:
            check_ticker(ticker)
        except InputError:
            return row
    return None
