"""Writing a run's results: the output contract of DESIGN.md, atomically.

A report folder holds::

    abnormal_returns.parquet/.csv   event x ticker x event day
    models.parquet/.csv             event x ticker x model
    car.parquet/.csv                event x ticker x window
    tests.parquet/.csv              group x window x test
    events.parquet/.csv             event x ticker: day 0, its rule, status and reason
    regressions.parquet/.csv        statsmodels regressions, tidy
    confounders.parquet/.csv        other catalog events of the same ticker around each event row
    outliers.parquet/.csv           estimation days with |residual| > 4 sigma
    claims.parquet/.csv             the catalog's headline claims beside the data, with verdicts
    brief-<group>.html|.md          one page per event group (flows.flagship), passed in ``extra``
    tables/<name>.md|.html|.csv     the human tables (.tex with latex=True)
    tables/cross_section_<group>.*  regressions of CARs on characteristics, summary_col layout
    tables/pooled_<group>.*         pooled dummy-variable event regression, summary_col layout
    plots/car-<event>.png|.svg      CAR path with its 95 % band, per event (first 50 events)
    plots/caar-<group>.png|.svg     CAAR path with its cross-sectional band, per group
    report.md, report.html          headline, plots and every table on one page (offline:
                                    relative links, no external CSS or scripts)
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
from analysis.paths import caar_paths
from flows.plots import event_plots, group_plots
from flows.tables import Table, all_tables, to_html, to_latex, to_markdown

PACKAGES = (
    "market-reaction", "polars", "numpy", "scipy", "statsmodels", "pyarrow", "prefect", "yfinance",
    "exchange-calendars", "great-tables", "pandas",
)
CONTRACT_FILES = ("abnormal_returns", "models", "car", "tests", "events", "regressions", "confounders", "outliers", "claims")


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


PAGE_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;max-width:96em;"
    "padding:0 1.5em;color:#1f2328}h1{font-size:1.5em}p.headline{font-size:1.1em;background:#f6f8fa;"
    "border-left:4px solid #0969da;padding:.6em 1em}section{margin:2em 0;overflow-x:auto}"
    "figure{display:inline-block;margin:0 1.5em 1.5em 0}figure img{width:36em;max-width:100%;height:auto}"
    "figcaption{font-size:.85em;color:#57606a}nav a{margin-right:1em}"
)


def _page(title: str, tables: list[Table], headline: str, plots: list[str], regression_tables=(), links=()) -> str:
    esc = html.escape
    figures = "".join(
        f'<figure><img src="{esc(p)}" alt="{esc(Path(p).stem)}"><figcaption>{esc(Path(p).stem)}</figcaption></figure>'
        for p in plots
    )
    nav = " ".join([f'<a href="{esc(href)}">{esc(text)}</a>' for href, text in links]
                   + [f'<a href="#{t.key}">{esc(t.title)}</a>' for t in tables])
    body = "\n".join(
        [f'<section id="{t.key}">{to_html(t)}</section>' for t in tables]
        + [f'<section id="{t.key}"><h2>{esc(t.title)}</h2>{t.html}</section>' for t in regression_tables]
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)}</title><style>{PAGE_CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><p class=\"headline\">{esc(headline)}</p><nav>{nav}</nav>"
        f"<section id=\"plots\">{figures}</section>{body}</body></html>\n"
    )


def write_report(
    result: StudyResult, out: Path, manifest: dict[str, Any], *, title: str, headline: str = "", latex: bool = False,
    extra: dict[str, str] | None = None, links: tuple[tuple[str, str], ...] = (),
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
    extra
        Further text files, name -> content (e.g. ``fingerprint.json``, the group briefs),
        written in the same atomic swap.
    links
        ``(relative href, text)`` shown first in the page's navigation (the group briefs).
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
        figures = event_plots(result.paths, tmp / "plots") + group_plots(caar_paths(result.paths), tmp / "plots")
        svgs = [p.relative_to(tmp).as_posix() for p in figures if p.suffix == ".svg"]
        pngs = [p.relative_to(tmp).as_posix() for p in figures if p.suffix == ".png"]
        md = (
            f"# {title}\n\n{headline}\n\n" + "".join(f"[{_md_link_text(text)}]({href})\n" for href, text in links)
            + "".join(f"![{Path(p).stem}]({p})\n" for p in pngs) + "\n"
            + "\n".join([*(to_markdown(t) for t in tables), *(t.markdown for t in result.regression_tables)])
        )
        (tmp / "report.md").write_text(md, encoding="utf-8")
        (tmp / "report.html").write_text(_page(title, tables, headline, svgs, result.regression_tables, links), encoding="utf-8")
        for name, text in (extra or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
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


def _md_link_text(text: str) -> str:
    return html.escape(text, quote=False).replace("[", "\\[").replace("]", "\\]")


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
