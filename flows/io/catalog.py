"""Reading event catalogs from disk and choosing events from them.

The parsing itself is pure and lives in :mod:`analysis.catalog`; this module only finds the
file, reads it as UTF-8 and turns file-system failures into :class:`InputError` s.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

from analysis.catalog import parse_catalog_csv, parse_catalog_toml
from analysis.errors import InputError
from analysis.specs import EventSpec
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
