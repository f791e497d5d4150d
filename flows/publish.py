"""Writing a run's results: the output contract of DESIGN.md, atomically.

A report folder holds::

    abnormal_returns.parquet/.csv   event x ticker x event day
    models.parquet/.csv             event x ticker x model
    car.parquet/.csv                event x ticker x window
    tests.parquet/.csv              group x window x test
    events.parquet/.csv             event x ticker: day 0, its rule, status and reason
    regressions.parquet/.csv        statsmodels regressions, tidy
    tables/<name>.md|.html|.csv     the human tables (.tex with latex=True)
    tables/cross_section_<group>.*  regressions of CARs on characteristics, summary_col layout
    tables/pooled_<group>.*         pooled dummy-variable event regression, summary_col layout
    report.md, report.html          every table on one page
    manifest.json                   inputs, parameters, coverage, hashes, versions, warnings

Everything is written into a hidden sibling folder first and moved into place at the end, so
a failed or killed run never leaves a half-written report, and the previous report stays
until the new one is complete.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from analysis.engine import StudyResult
from flows.tables import Table, all_tables, to_html, to_latex, to_markdown

PACKAGES = (
    "market-reaction", "polars", "numpy", "scipy", "statsmodels", "pyarrow", "prefect", "yfinance",
    "exchange-calendars", "great-tables", "pandas",
)
CONTRACT_FILES = ("abnormal_returns", "models", "car", "tests", "events", "regressions")


def versions() -> dict[str, str]:
    """Installed versions of the packages that decide the numbers."""
    import platform

    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _page(title: str, tables: list[Table], headline: str, regression_tables=()) -> str:
    body = "\n".join(
        [f'<section id="{t.key}">{to_html(t)}</section>' for t in tables]
        + [f'<section id="{t.key}"><h2>{html.escape(t.title)}</h2>{t.html}</section>' for t in regression_tables]
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:90em}"
        "section{margin:2em 0;overflow-x:auto}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(headline)}</p>{body}</body></html>\n"
    )


def write_report(
    result: StudyResult, out: Path, manifest: dict[str, Any], *, title: str, headline: str = "", latex: bool = False
) -> Path:
    """Write the report of ``result`` to ``out`` atomically and return ``out``.

    Parameters
    ----------
    result
        The study's results.
    out
        The report folder; replaced as a whole if it exists.
    manifest
        Inputs and parameters of the run; versions, output hashes and the result's warnings
        are added here.
    title, headline
        Shown at the top of ``report.md`` / ``report.html``.
    latex
        Also write ``tables/*.tex``.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        (tmp / "tables").mkdir(parents=True)
        for name in CONTRACT_FILES:
            frame: pl.DataFrame = getattr(result, name)
            frame.write_parquet(tmp / f"{name}.parquet", statistics=False)
            frame.write_csv(tmp / f"{name}.csv")
        tables = all_tables(result)
        for t in tables:
            (tmp / "tables" / f"{t.key}.md").write_text(to_markdown(t), encoding="utf-8")
            (tmp / "tables" / f"{t.key}.html").write_text(to_html(t), encoding="utf-8")
            t.frame.write_csv(tmp / "tables" / f"{t.key}.csv")
            if latex:
                (tmp / "tables" / f"{t.key}.tex").write_text(to_latex(t), encoding="utf-8")
        for t in result.regression_tables:  # statsmodels summary_col layout
            (tmp / "tables" / f"{t.key}.md").write_text(t.markdown, encoding="utf-8")
            (tmp / "tables" / f"{t.key}.html").write_text(t.html, encoding="utf-8")
            (tmp / "tables" / f"{t.key}.tex").write_text(t.latex, encoding="utf-8")
        md = f"# {title}\n\n{headline}\n\n" + "\n".join(
            [*(to_markdown(t) for t in tables), *(t.markdown for t in result.regression_tables)]
        )
        (tmp / "report.md").write_text(md, encoding="utf-8")
        (tmp / "report.html").write_text(_page(title, tables, headline, result.regression_tables), encoding="utf-8")
        full = {
            **manifest,
            "versions": versions(),
            "warnings": [*manifest.get("warnings", []), *result.warnings],
            "outputs": {
                p.relative_to(tmp).as_posix(): file_sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()
            },
        }
        (tmp / "manifest.json").write_text(json.dumps(full, indent=2, default=str) + "\n", encoding="utf-8")
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _swap_into_place(new: Path, out: Path) -> None:
    """Replace ``out`` by ``new``: rename the old folder aside, move the new one in, delete
    the old one. A crash between the two renames leaves the old report beside, complete, as
    ``.<name>.old-*``."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
        os.replace(out, old)
    os.replace(new, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
