"""Reading event catalogs from disk, choosing events from them, and appending events to them.

The parsing and the writing of the text are pure and live in :mod:`analysis.catalog`; this
module finds the file, reads it as UTF-8, turns file-system failures into
:class:`InputError` s and appends found events (:func:`append_events`: idempotent, atomic).
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import fcntl
import io
import os
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from analysis.catalog import csv_events, parse_catalog_csv, parse_catalog_toml, toml_events
from analysis.errors import InputError
from analysis.specs import EventSpec
from flows.io.atomic import naming, replace_file
from flows.io.filetype import binary_kind

CATALOG_ENV = "MARKET_REACTION_CATALOG"
PARSERS = {".toml": parse_catalog_toml, ".csv": parse_catalog_csv}


def load_catalog(path: Path | str) -> tuple[EventSpec, ...]:
    """Read and parse a ``.toml`` or ``.csv`` event catalog.

    Parameters
    ----------
    path
        The catalog file; its suffix chooses the format.

    Returns
    -------
    tuple of EventSpec
        The events in catalog order.

    Raises
    ------
    InputError
        Unknown suffix, missing or unreadable file, a file that is not text (an image, a
        workbook), text that is not UTF-8, or any problem found by the parser.
    """
    path = Path(path)
    parse = PARSERS.get(path.suffix.lower())
    if parse is None:
        raise InputError(
            f"unsupported catalog type {path.suffix or '(no suffix)'!r}; expected one of {', '.join(PARSERS)}",
            file=str(path),
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"catalog not found: {path}") from None
    except OSError as e:
        raise InputError(f"cannot read the catalog: {e.strerror or e}", file=str(path)) from None
    kind = binary_kind(data)
    if kind is not None:
        raise InputError(f"not a text file: it is {kind}", file=str(path))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(
            f"not UTF-8 text (invalid byte at offset {e.start}); save the catalog with UTF-8 encoding",
            file=str(path),
        ) from None
    if "\r" in text and "\n" not in text:  # classic Mac line endings
        text = text.replace("\r", "\n")
    return parse(text, str(path))


def default_catalog_path() -> Path:
    """The catalog used when none is named.

    ``$MARKET_REACTION_CATALOG`` if set; else ``deployments/events.toml`` in the current
    directory if it exists; else the repository's ``deployments/events.toml``.
    """
    env = os.environ.get(CATALOG_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    local = Path.cwd() / "deployments" / "events.toml"
    if local.is_file():
        return local
    return Path(__file__).resolve().parents[2] / "deployments" / "events.toml"


def select_events(events: Sequence[EventSpec], ids: Sequence[str]) -> tuple[EventSpec, ...]:
    """The events named by ``ids``, in catalog order (all events when ``ids`` is empty).

    Raises
    ------
    InputError
        Listing the ids not in the catalog, with close matches.
    """
    if isinstance(ids, str):
        ids = [ids]
    if not ids:
        return tuple(events)
    wanted = {i.strip().lower() for i in ids}
    known = [ev.id for ev in events]
    unknown = [i for i in dict.fromkeys(i.strip().lower() for i in ids) if i not in known]
    if unknown:
        parts = []
        for i in unknown:
            close = difflib.get_close_matches(i, known, n=3)
            parts.append(f"{i!r} (did you mean {', '.join(map(repr, close))}?)" if close else repr(i))
        raise InputError(f"unknown event id(s): {'; '.join(parts)}", field="event_id")
    return tuple(ev for ev in events if ev.id in wanted)


@dataclass(frozen=True)
class Appended:
    """What :func:`append_events` did: the events ``added`` to the catalog ``path``, and those
    it already held (``kept``: each new event with the id it has there)."""

    path: Path
    added: tuple[EventSpec, ...]
    kept: tuple[tuple[EventSpec, str], ...]


def append_events(
    path: Path | str, events: Sequence[EventSpec], key: Callable[[EventSpec], Hashable | None] | None = None,
) -> Appended:
    """Append to the catalog ``path`` (``.toml`` or ``.csv``; created when missing) the events
    it does not hold yet: idempotent (appending the same events again adds nothing) and atomic
    (a reader, or a writer killed at any moment, sees the old file or the new one, complete).

    An event is already there when the catalog has its id, or an event with the same ``key``
    (e.g. :func:`analysis.filings.accession_of`: a filing is recognised by its accession number
    whatever id the analyst gave it, and keeps that id). The catalog's own text is kept as it
    is (comments, order, ``[defaults]``); new TOML events are appended as ``[[events]]``
    tables, new CSV rows below the others (the header gains the columns they need, older rows
    get empty cells there). The new text is parsed before it replaces the file, and writers
    take turns (an exclusive ``flock`` on the hidden ``.<name>.lock`` beside the catalog).

    Raises
    ------
    InputError
        An unsupported suffix, or an existing catalog that does not parse (named as by
        :func:`load_catalog`); nothing is written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in PARSERS:
        raise InputError(f"unsupported catalog type {suffix or '(no suffix)'!r}; expected one of {', '.join(PARSERS)}",
                         file=str(path))
    key = key or (lambda _e: None)
    with _catalog_lock(path):
        existing = _events_in(path)
        ids = {e.id for e in existing}
        keys = {k: e.id for e in existing if (k := key(e)) is not None}
        added: list[EventSpec] = []
        kept: list[tuple[EventSpec, str]] = []
        for e in events:
            k = key(e)
            there = e.id if e.id in ids else keys.get(k) if k is not None else None
            if there is not None:
                kept.append((e, there))
                continue
            added.append(e)
            ids.add(e.id)
            if k is not None:
                keys[k] = e.id
        if added:
            old = path.read_text(encoding="utf-8-sig") if path.exists() else ""
            text = _appended_toml(old, added) if suffix == ".toml" else _appended_csv(old, added)
            PARSERS[suffix](text, str(path))  # the new file reads back, or nothing is written
            replace_file(path, text.encode("utf-8"))
    return Appended(path, tuple(added), tuple(kept))


def _events_in(path: Path) -> tuple[EventSpec, ...]:
    """The events of the catalog ``path``: none when it is missing, empty, or only
    ``[defaults]`` or a header so far."""
    if not path.exists():
        return ()
    try:
        return load_catalog(path)
    except InputError as e:
        if "the catalog has no events" in e.reason or not path.read_bytes().strip():
            return ()
        raise


@contextlib.contextmanager
def _catalog_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``.<catalog name>.lock`` beside the catalog (the catalog
    itself is replaced by a rename, so it cannot carry the lock)."""
    with naming(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.with_name(f".{path.name}.lock").open("ab")
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _appended_toml(old: str, events: Sequence[EventSpec]) -> str:
    return (old.rstrip() + "\n\n" if old.strip() else "") + toml_events(events)


def _appended_csv(old: str, events: Sequence[EventSpec]) -> str:
    new = list(csv.reader(io.StringIO(csv_events(events))))
    if not old.strip():
        return csv_events(events)
    rows = [r for r in csv.reader(io.StringIO(old, newline="")) if "".join(r).strip()]
    header, names = rows[0], [c.strip().lower() for c in rows[0]]
    missing = [c for c in new[0] if c not in names]
    at = {c: j for j, c in enumerate(new[0])}
    width = len(header) + len(missing)
    lines = [[row[at[c]] if c in at else "" for c in (*names, *missing)] for row in new[1:]]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if missing:  # the header gains columns: every row is written again, padded
        writer.writerows([header + missing, *(r + [""] * (width - len(r)) for r in rows[1:]), *lines])
        return buf.getvalue()
    writer.writerows(lines)
    return old.rstrip("\r\n") + "\n" + buf.getvalue()
