"""What Prefect shows of the tracked runs: the parameter descriptions of a deployment's run
form, and readable flow run and task run names.

Prefect reads a flow's parameter descriptions from a Google-style docstring only (``Args:``,
:func:`prefect.utilities.callables.parameter_docstrings`; a ``pydantic.Field`` in the
annotation loses its description to the field Prefect builds around it). The project's
docstrings are numpydoc, so :func:`run_form_docstring` parses them (griffe, which Prefect
brings) and writes the flow's docstring in the style Prefect reads: the numpydoc docstring of
the plain function stays the one source. A description that defers to another flow ("As for
``event-study``") takes that flow's text.

Run names come from the events or the catalog: ``amzn-openai-aws-2025``,
``amzn-openai-aws-2025-and-2-more`` or ``events-all`` for ``event-study``;
``events-2026-12-07`` (the catalog's name and the UTC day; ``-forced`` with ``force``) for
``refresh-catalog``; tasks by what they work on (``fetch-prices AMZN,^GSPC 2024-10-01..2025-11-10``).

Only :mod:`flows.orchestration.tracked` imports this module (griffe comes with Prefect).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from griffe import Docstring, DocstringSectionKind, Parser, parse

from analysis import schema as S
from flows.reporting.plots import slug

DEFERS = re.compile(r"^As for ``?([a-z-]+)``?")  # "As for ``event-study`` ...": that flow's text
SHOWN = 3  # tickers or events a task run's name lists


def parameter_help(doc: str | None) -> dict[str, str]:
    """Parameter name -> its description in the numpydoc ``Parameters`` section of ``doc``, as
    one line of Markdown (``x`` and :role:`x` become `x`)."""
    out: dict[str, str] = {}
    for section in parse(Docstring(doc or ""), Parser.numpy, warnings=False):
        if section.kind is DocstringSectionKind.parameters:
            for param in section.value:
                text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", param.description)
                out[param.name] = " ".join(text.replace("``", "`").split())
    return out


def run_form_docstring(fn: Callable[..., Any], others: dict[str, Callable[..., Any]]) -> str:
    """``fn``'s numpydoc docstring as Prefect reads it: its summary, then an ``Args:`` section
    with one line per parameter of ``fn`` (from its ``Parameters``; ``others``: the flows, by
    name, a description may defer to). A parameter without a description raises ``ValueError``."""
    doc = inspect.getdoc(fn) or ""
    own = parameter_help(doc)
    lines = []
    for name in inspect.signature(fn).parameters:
        text = own.get(name, "")
        if (other := DEFERS.match(text)) and other.group(1) in others:
            text = parameter_help(inspect.getdoc(others[other.group(1)])).get(name, "")
        if not text:
            raise ValueError(f"{fn.__qualname__}: parameter {name!r} has no description in its docstring")
        lines.append(f"    {name}: {text}")
    summary = re.split(r"\n\s*Parameters\n\s*-{3,}\n", doc)[0].strip()
    return summary + "\n\nArgs:\n" + "\n".join(lines) + "\n"


def _current_parameters() -> dict[str, Any]:
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return dict(ctx.parameters or {}) if ctx else {}


def _catalog_name(catalog: str | None) -> str:
    return slug(Path(catalog).stem) if catalog else "events"


def study_run_name() -> str:
    """``event-study``: the first event id (``-and-N-more``), or ``<catalog>-all``."""
    params = _current_parameters()
    ids = params.get("event_ids") or []
    if not ids:
        return f"{_catalog_name(params.get('catalog'))}-all"
    return slug(str(ids[0])) + (f"-and-{len(ids) - 1}-more" if len(ids) > 1 else "")


def refresh_run_name() -> str:
    """``refresh-catalog``: ``<catalog>-<UTC day>`` (``-forced`` with ``force``)."""
    params = _current_parameters()
    day = datetime.now(timezone.utc).date().isoformat()
    return f"{_catalog_name(params.get('catalog'))}-{day}" + ("-forced" if params.get("force") else "")


def _few(names: Any) -> str:
    """``a,b,c+2``: the first :data:`SHOWN` names and how many more."""
    names = list(names)
    return ",".join(names[:SHOWN]) + (f"+{len(names) - SHOWN}" if len(names) > SHOWN else "")


def _batch(batch: Any) -> str:
    return f"{_few(batch.tickers)} {batch.start}..{batch.end}"


NAMED_BY: dict[str, Callable[[dict[str, Any]], str]] = {
    "load-catalog": lambda p: Path(p["catalog"]).name,
    "load-factors": lambda p: p["spec"].model,
    "load-discovered-filings": lambda p: _few(dict.fromkeys(t for e in p["events"] for t in (*e.tickers, *e.related))),
    "plan-prices": lambda p: f"{len(p['events'])} events",
    "fetch-prices": lambda p: _batch(p["batch"]),
    "store-prices": lambda p: _batch(p["batch"]),
    "fetch-shares": lambda p: f"{len(p['events'])} events",
    "load-history": lambda p: _few(p["tickers"]),
    "load-data": lambda p: _few(p["needs"][S.TICKER].unique(maintain_order=True)),
    "write-report": lambda p: Path(p["out"]).name,
    "update-index": lambda p: Path(p["reports"]).name,
    "fingerprint-events": lambda p: f"{len(p['events'])} events",
    "find-changed-events": lambda p: f"{len(p['prints'])} events",
    "write-event-reports": lambda p: _few(e.id for e in p["events"]),
    "event-batch": lambda p: f"{p['rows'].height} event rows",
    "publish-artifacts": lambda p: _few(p["reports"]),
    "publish-briefs": lambda p: Path(p["report"]).name,
}
"""Task name -> what its run's name adds from the run's parameters."""


def task_run_name(task: str) -> Callable[..., str]:
    """The ``task_run_name`` of the task called ``task``: ``<task> <what it works on>``, or the
    task's name alone when the parameters do not say (a name never fails a task)."""
    describe = NAMED_BY.get(task, lambda p: "")

    def name(parameters: dict[str, Any]) -> str:
        try:
            return f"{task} {describe(parameters)}".strip()
        except Exception:  # noqa: BLE001 - a name is a courtesy
            return task

    return name
