"""What this tool wrote, and so may replace: report folders and the reports index.

A report folder is replaced only when its ``manifest.json`` is this tool's
(:func:`report_manifest`); files an analyst added to it are kept
(:func:`flows.reporting.publish.write_report`). The reports index is written only over an
``index.html`` this tool wrote (:func:`is_own_index`). Plain Python (``json``, ``pathlib``):
the command line checks ``--out`` before anything heavy is imported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GENERATOR = {"name": "market-reaction", "format": 1}
"""The manifest's mark of a report folder this tool wrote (with the files of :func:`report_manifest`)."""
GENERATOR_MARK = "<!-- generator: market-reaction -->"
"""Marks every page this tool writes, in its head (:func:`flows.reporting.markup.html_page`)."""


def _manifest(folder: Path) -> dict[str, Any] | None:
    """The JSON object in ``folder/manifest.json``, else None."""
    try:
        manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def report_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a report folder this tool wrote, else None (no manifest, not JSON, or
    another tool's ``manifest.json``).

    Ours: a JSON object marked :data:`GENERATOR` (or, written before the mark, holding
    ``varying_fields`` and ``versions``) whose ``outputs`` list ``report.html`` and
    ``car.parquet``, both present in ``folder``: a web app's or another tool's manifest has
    neither."""
    manifest = _manifest(folder)
    if manifest is None:
        return None
    marked = manifest.get("generator") == GENERATOR or {"varying_fields", "versions"} <= manifest.keys()
    outputs = manifest.get("outputs")
    files = ("report.html", "car.parquet")
    if marked and isinstance(outputs, dict) and all(f in outputs and (Path(folder) / f).is_file() for f in files):
        return manifest
    return None


SIMULATION_KIND = "simulation"
"""The ``kind`` in the manifest of a ``market-reaction simulate`` folder (:mod:`flows.devtools.simulate`)."""


def simulation_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a folder ``market-reaction simulate`` wrote (marked :data:`GENERATOR`, of
    kind :data:`SIMULATION_KIND`, with its ``simulation.md``), else None."""
    manifest = _manifest(folder)
    if (manifest is not None and manifest.get("generator") == GENERATOR and manifest.get("kind") == SIMULATION_KIND
            and (Path(folder) / "simulation.md").is_file()):
        return manifest
    return None


def is_report(folder: Path) -> bool:
    """Whether ``folder`` is a report folder this tool wrote (:func:`report_manifest`)."""
    return report_manifest(folder) is not None


def is_own_index(path: Path) -> bool:
    """True when ``path`` does not exist or is an index this tool wrote (marked
    :data:`GENERATOR_MARK`; one written before the mark has its title)."""
    try:
        head = path.read_bytes()[:4096].decode("utf-8", errors="replace")
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return GENERATOR_MARK in head or "<title>market-reaction reports</title>" in head
