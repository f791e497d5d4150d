"""Writing a run's results: the output contract of DESIGN.md, atomically.

A report folder holds::

    abnormal_returns.parquet/.csv   event x ticker x event day (every row: the data files, with
                                    their CSV twins, hold the whole study whatever its size)
    models.parquet/.csv             event x ticker x model
    car.parquet/.csv                event x ticker x window
    tests.parquet/.csv              group x window x test
    events.parquet/.csv             event x ticker: day 0, its rule, status and reason
    regressions.parquet/.csv        statsmodels regressions, tidy
    confounders.parquet/.csv        other catalog events of the same ticker around each event row
    outliers.parquet/.csv           estimation days with |residual| > 4 sigma
    claims.parquet/.csv             the catalog's headline claims beside the data, with verdicts
    brief-<group>.html|.md          one page per event group (flows.reporting.flagship), passed in ``extra``
    tables/<name>.md|.html|.csv     the human tables (.tex with latex=True): every event row up
                                    to flows.reporting.tables.MAX_EVENT_ROWS (200), else the SELECTED_ROWS
                                    (50) of flows.reporting.tables.shown_rows and "N more in <file>.parquet"
    tables/cross_section_<group>.*  regressions of CARs on characteristics, summary_col layout
    tables/pooled_<group>.*         pooled dummy-variable event regression, summary_col layout
    plots/car-<event>.png|.svg      CAR path with its 95 % band, confounders' days and the event
                                    windows, per event (the first 10: flows.reporting.plots.MAX_EVENT_PLOTS)
    plots/move-<event>.png|.svg     the day-0 move in dollars: the model's part, the abnormal
                                    part, the claimed figure (the same events, with a market cap)
    plots/caar-<group>.png|.svg     CAAR path with its cross-sectional band, per group (the
                                    first 10: flows.reporting.plots.MAX_GROUP_PLOTS)
    report.md, report.html          the answer per event (flows.reporting.answers), a table of
                                    contents, plots and every table with rows on one page
                                    (long ones collapsed, linking their CSV; offline: relative
                                    links, no external CSS or scripts; a print stylesheet)
    report.xlsx                     with xlsx=True: the data tables as Excel sheets, numbers as
                                    numbers in the tables' formats (flows.reporting.workbook)
    manifest.json                   inputs, parameters, coverage, hashes, versions, warnings
                                    (the first MAX_EVENT_ROWS skipped or flagged rows, then a count)

Everything is written into a hidden sibling folder first and swapped into place at the end
(:mod:`flows.io.atomic`), so a failed or killed run never leaves a half-written report, the
previous report stays until the new one is complete, and the next write repairs what a
killed one left. Two runs on the same inputs write byte-identical files except the
manifest's :data:`VARYING_FIELDS`. User text is escaped in every format (HTML, Markdown,
LaTeX, SVG) and never becomes a path outside the report folder.

The write costs what a person reads: the data files are written by polars on a second
thread while the human tables, plots and pages (bounded in rows whatever the number of
events) are rendered, and a progress line gives the time of each part.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl

import analysis
from analysis.engine import STATUS, StudyResult
from flows import progress
from flows.io.atomic import naming, staged_folder
from flows.reporting.ownership import GENERATOR, is_report, report_manifest
from flows.reporting.figures import OWN_PROCESS, saving_figures
from flows.reporting.plots import event_figures, file_stems, group_figures
from flows.reporting.answers import answer_sentences
from flows.reporting.markup import PAGE_CSS, TABLE_CSS, collapsible, html_page, md_block, md_text, toc
from flows.reporting.tables import (
    MAX_EVENT_ROWS, Table, all_tables, summary_markdown, table_section, to_csv, to_html, to_latex, to_markdown,
)

PACKAGES = (
    "market-reaction", "polars", "numpy", "scipy", "statsmodels", "pyarrow", "prefect", "yfinance",
    "exchange-calendars", "great-tables", "pandas",
)
CONTRACT_FILES = ("abnormal_returns", "models", "car", "tests", "events", "regressions", "confounders", "outliers", "claims")
VARYING_FIELDS = ("created_utc", "flow_run")  # the manifest's fields that differ between two runs on the same inputs
SAFE_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # names of the ``extra`` files


def versions() -> dict[str, str]:
    """Installed versions of the packages that decide the numbers."""
    import platform

    return {"python": platform.python_version(), **{name: package_version(name) for name in PACKAGES}}


@functools.cache
def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


@functools.cache
def engine_digest() -> str:
    """sha256 of the sources of the imported ``analysis`` package (the code that computes the
    numbers): every file but compiled ones, in the order of their relative paths, each as its
    path and content with their lengths. It follows the files, not their times, so two
    machines with the same sources agree. Computed once per process (about 1 ms for 29 files)."""
    root = Path(analysis.__file__).resolve().parent
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    digest = hashlib.sha256()
    for name, path in files:
        data = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(name.encode()), name.encode(), len(data)))
        digest.update(data)
    return digest.hexdigest()


CHECKOUT_CODE = ("analysis", "flows")  # the checkout's folders whose uncommitted edits a manifest names


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def code_revision() -> dict[str, Any]:
    """The code a run used, for its manifest: the market-reaction ``version``, the
    ``analysis_sha256`` of :func:`engine_digest` and, when ``analysis`` is imported from a git
    checkout, its ``git_commit`` and the files of :data:`CHECKOUT_CODE` that differ from it
    (``git_modified``; untracked files are not listed, the digest covers them)."""
    return {"version": package_version("market-reaction"), "analysis_sha256": engine_digest(), **_checkout()}


@functools.cache
def _checkout() -> dict[str, Any]:
    """The git commit of the checkout ``analysis`` is imported from, and its modified code
    files (two ``git`` calls, about 8 ms, once per process)."""
    root = Path(analysis.__file__).resolve().parent.parent
    commit = status = None
    if (root / ".git").exists():
        commit = _git(root, "rev-parse", "HEAD")
        status = _git(root, "status", "--porcelain", "--untracked-files=no", "--", *CHECKOUT_CODE)
    return {
        "git_commit": commit.strip() if commit else None,
        "git_modified": sorted(line[3:] for line in status.splitlines()) if status is not None else None,
    }


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _page(
    title: str, tables: list[tuple[Table, str]], answers: list[str], plots: list[str], regression_tables=(), links=(),
) -> str:
    """``report.html``: the title, the ``answers`` (one paragraph each), a table of contents
    (``links`` first: the briefs), the plots and the tables with rows (long ones collapsed, see
    :func:`flows.reporting.tables.table_section`). Every text is escaped (titles, answers and
    links here, table cells by :func:`~flows.reporting.tables.to_html`, regression titles here; statsmodels' regression
    tables hold numbers and checked regressor names only)."""
    esc = html.escape
    figures = "".join(
        f'<figure class="{Path(p).stem.split("-")[0]}"><img src="{esc(quote(p))}" alt="{esc(Path(p).stem)}">'
        f'<figcaption>{esc(Path(p).stem)}</figcaption></figure>'
        for p in plots  # a move plot beside its event's CAR plot (the order of event_figures)
    )
    tables = [(t, rendered) for t, rendered in tables if t.frame.height]  # empty sections are left out
    contents = ([(quote(href), text) for href, text in links] + ([("#plots", "Plots")] if plots else [])
                + [(f"#{t.key}", t.title) for t, _ in tables] + [(f"#{key}", t.title) for key, t in regression_tables])
    body = "".join(
        [table_section(t, rendered) for t, rendered in tables]
        + [collapsible(key, t.title, t.html) for key, t in regression_tables]
    )
    opening = "".join(f"<p>{esc(a)}</p>" for a in answers)
    return html_page(title, PAGE_CSS, f"<h1>{esc(title)}</h1>" + (f'<section class="answers" id="answer">{opening}</section>' if opening else "")
                     + toc(contents) + (f'<section id="plots">{figures}</section>' if figures else "") + body)


def _markdown(title: str, answers: list[str], tables: list[Table], plots: list[str], regression_tables=(), links=()) -> str:
    """``report.md``: title, answers, link and image alt texts through :func:`md_text` /
    :func:`md_block`; tables (those with rows) through :func:`to_markdown` / :func:`summary_markdown`."""
    refs = "".join(f"[{md_text(text, link=True)}]({quote(href)})\n" for href, text in links)
    images = "".join(f"![{md_text(Path(p).stem, link=True)}]({quote(p)})\n" for p in plots)
    body = [*(to_markdown(t) for t in tables if t.frame.height), *(summary_markdown(t) for _, t in regression_tables)]
    return f"# {md_text(title)}\n\n" + "".join(f"{md_block(a)}\n\n" for a in answers) + f"{refs}{images}\n" + "\n".join(body)


def write_data_file(frame: pl.DataFrame, folder: Path, name: str) -> None:
    """``<name>.parquet`` (the contract) and its CSV twin ``<name>.csv`` in ``folder``, every
    row: the one place a data file of the report is written. zstd level 1: half the time of
    the default level for the same size on these frames."""
    parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
    with naming(parquet):  # polars reports a full disk as a ComputeError naming no file
        frame.write_parquet(parquet, compression="zstd", compression_level=1, statistics=False)
    with naming(csv):
        frame.write_csv(csv)


def _write_data(folder: Path, result: StudyResult, spilled: Mapping[str, Path]) -> tuple[float, dict[str, str]]:
    """Every data file of :data:`CONTRACT_FILES` (those in ``spilled`` moved in with their CSV
    twins); returns the seconds it took and the files' sha256 (hashed while the file is in the
    page cache)."""
    started = time.perf_counter()
    hashes = {}
    for name in CONTRACT_FILES:
        if name in spilled:  # with its CSV twin beside it
            for ext in ("parquet", "csv"):
                os.replace(spilled[name].with_suffix(f".{ext}"), folder / f"{name}.{ext}")
        else:
            write_data_file(getattr(result, name), folder, name)
        hashes |= {f"{name}.{ext}": file_sha256(folder / f"{name}.{ext}") for ext in ("parquet", "csv")}
    return time.perf_counter() - started, hashes


def run_warnings(result: StudyResult) -> list[str]:
    """The result's warnings (a line per skipped or flagged event row) for the manifest: the
    first :data:`~flows.reporting.tables.MAX_EVENT_ROWS`, then one line counting the rest (every row's
    status and reason are in ``events.parquet``)."""
    bad = result.events.filter(pl.col(STATUS) != "ok")
    lines = dataclasses.replace(result, events=bad.head(MAX_EVENT_ROWS)).warnings
    if bad.height > MAX_EVENT_ROWS:
        lines.append(f"... and {bad.height - MAX_EVENT_ROWS:,} more skipped or flagged event rows: "
                     "events.parquet (status, reason)")
    return lines


@dataclasses.dataclass(frozen=True)
class Pages:
    """Further pages of a report made while its data files are written (:func:`write_report`):
    ``files`` (name -> text), ``links`` for the navigation and ``manifest`` entries."""

    files: dict[str, str]
    links: tuple[tuple[str, str], ...] = ()
    manifest: dict[str, Any] = dataclasses.field(default_factory=dict)


def write_report(
    result: StudyResult, out: Path, manifest: dict[str, Any], *, title: str, headline: str = "", latex: bool = False,
    xlsx: bool = False, extra: dict[str, str] | None = None, links: tuple[tuple[str, str], ...] = (),
    spilled: Mapping[str, Path] | None = None, pages: Callable[[], Pages] | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> Path:
    """Write the report of ``result`` to ``out`` atomically and return ``out``.

    Parameters
    ----------
    result
        The study's results.
    out
        The report folder; replaced as a whole if it exists. A folder that exists, is not
        empty and holds no ``manifest.json`` is not a report and is refused
        (``FileExistsError``): ``--out .`` must not replace the current folder.
    manifest
        Inputs and parameters of the run; versions, output hashes and the result's warnings
        are added here, and :data:`VARYING_FIELDS` names its fields that differ between two
        runs on the same inputs.
    title, headline
        The title of ``report.md`` / ``report.html``; they open with the answer of each event
        (:func:`flows.reporting.answers.answer_sentences`), or ``headline`` when none has one.
    latex
        Also write ``tables/*.tex``.
    xlsx
        Also write ``report.xlsx`` (:func:`flows.reporting.workbook.write_workbook`).
    extra
        Further text files, name -> content (e.g. ``fingerprint.json``, the group briefs),
        written in the same atomic swap.
    links
        ``(relative href, text)`` shown first in the page's navigation (the group briefs).
    spilled
        Data files already written as Parquet (name -> file on the same file system, e.g.
        ``abnormal_returns`` streamed by :class:`flows.io.spill.FrameSpill`): moved into the
        report, with their CSV twins, instead of being written from ``result``.
    pages
        Makes further pages (the group briefs): called while the data files are written, on
        the other thread, as the tables and plots are; its files, links and manifest entries
        join ``extra``, ``links`` and ``manifest``.
    descriptions
        Event id -> catalog description (of the events and of the catalog events around them):
        the answers name the confounders by it.

    Notes
    -----
    The report is written into a hidden sibling folder and swapped into place
    (:func:`flows.io.atomic.staged_folder`): a run killed at any moment leaves the previous
    report or the new one, complete, and the next write repairs what it left. Names taken
    from the results (event ids, group names) become file names through
    :func:`flows.reporting.plots.file_stems`, so no file is written outside ``out``.
    """
    out = Path(out)
    _check_names(extra or {})
    with staged_folder(out, owned=is_report, carry=_keep_added_files) as tmp:
        clock = _write_contents(tmp, result, manifest, title=title, headline=headline, latex=latex, xlsx=xlsx,
                                extra=extra or {}, links=links, spilled=spilled or {}, pages=pages,
                                descriptions=descriptions or {})
    clock.lap("fsync and swap")
    progress.say("report files: " + ", ".join(f"{part} {t:.1f} s" for part, t in clock.times.items()))
    return out


def _keep_added_files(old: Path, new: Path) -> None:
    """Copy into the new report folder ``new`` every file of the old report ``old`` that its
    manifest does not list (an analyst's notes), at the same place, or, where the new report
    has a file of that name, as ``<name>.kept``; say which."""
    listed = set((report_manifest(old) or {}).get("outputs", {})) | {"manifest.json"}
    kept = []
    for path in sorted(p for p in old.rglob("*") if p.is_file()):
        name = path.relative_to(old).as_posix()
        if name in listed:
            continue
        target = new / name
        if target.exists():
            target = target.with_name(target.name + ".kept")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        kept.append(target.relative_to(new).as_posix())
    if kept:
        progress.warn(f"{old}: kept {len(kept)} file(s) market-reaction did not write: {', '.join(kept[:5])}"
                      + (" ..." if len(kept) > 5 else ""))


def _check_names(files: Mapping[str, str]) -> None:
    for name in files:
        if not SAFE_FILE.fullmatch(name):
            raise ValueError(f"extra file name {name!r} is not a plain file name")


class _Clock:
    """Seconds per part of the write, for the progress line."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, part: str) -> None:
        now = time.perf_counter()
        self.times[part] = now - self._last
        self._last = now


def _write_contents(
    tmp: Path, result: StudyResult, manifest: dict[str, Any], *, title: str, headline: str, latex: bool, xlsx: bool,
    extra: dict[str, str], links: tuple[tuple[str, str], ...], spilled: Mapping[str, Path],
    pages: Callable[[], Pages] | None, descriptions: Mapping[str, str],
) -> _Clock:
    """Write the report into ``tmp``; returns the seconds of each part so far."""
    (tmp / "tables").mkdir()
    clock = _Clock()
    with ThreadPoolExecutor(2) as pool:  # polars writes the data files without the GIL while Python renders
        data = pool.submit(_write_data, tmp, result, spilled)
        code = pool.submit(code_revision)  # its git calls wait beside the rendering
        figures = event_figures(result) + group_figures(result)
        clock.lap("figures")
        with saving_figures(figures, tmp / "plots") as plots:  # in a process of its own for many figures
            if pages is not None:
                made = pages()
                _check_names(made.files)
                extra, links, manifest = {**extra, **made.files}, (*made.links, *links), {**manifest, **made.manifest}
                clock.lap("briefs")
            tables = [(t, to_html(t)) for t in all_tables(result)]
            for t, rendered in tables:
                (tmp / "tables" / f"{t.key}.md").write_text(to_markdown(t), encoding="utf-8")
                (tmp / "tables" / f"{t.key}.html").write_text(f"<style>{TABLE_CSS}</style>{rendered}", encoding="utf-8")
                (tmp / "tables" / f"{t.key}.csv").write_text(to_csv(t), encoding="utf-8")
                if latex:
                    (tmp / "tables" / f"{t.key}.tex").write_text(to_latex(t), encoding="utf-8")
            # statsmodels summary_col layout; keys name the group (user text): safe, unique file names
            stems = file_stems([t.key for t in result.regression_tables])
            regression_tables = [(stems[t.key], t) for t in result.regression_tables]
            for key, t in regression_tables:
                (tmp / "tables" / f"{key}.md").write_text(summary_markdown(t), encoding="utf-8")
                (tmp / "tables" / f"{key}.html").write_text(t.html, encoding="utf-8")
                (tmp / "tables" / f"{key}.tex").write_text(t.latex, encoding="utf-8")
            clock.lap("tables")
            svgs = [p.relative_to(tmp).as_posix() for p in plots if p.suffix == ".svg"]
            pngs = [p.relative_to(tmp).as_posix() for p in plots if p.suffix == ".png"]
            answers = [a.sentence for a in answer_sentences(result, descriptions)] or ([headline] if headline else [])
            (tmp / "report.md").write_text(_markdown(title, answers, [t for t, _ in tables], pngs, regression_tables, links),
                                           encoding="utf-8")
            (tmp / "report.html").write_text(_page(title, tables, answers, svgs, regression_tables, links), encoding="utf-8")
            for name, text in extra.items():
                (tmp / name).write_text(text, encoding="utf-8")
            clock.lap("pages")
            if xlsx:
                from flows.reporting.workbook import WORKBOOK, write_workbook

                write_workbook(tmp / WORKBOOK, result, title, headline)
                clock.lap("workbook")
        clock.lap("then the plots left" + (" (the rest saved beside, by a process of their own)" if len(figures) >= OWN_PROCESS else ""))
        clock.times["data files and their hashes (beside the rest)"], hashes = data.result()
        code_used = code.result()
        clock.lap("then waiting for the data files")
    full = {
        **manifest,
        "generator": GENERATOR,
        "varying_fields": list(VARYING_FIELDS),
        "versions": versions(),
        "code": code_used,
        "warnings": [*manifest.get("warnings", []), *run_warnings(result)],
        "outputs": {
            name: hashes.get(name) or file_sha256(p)
            for p in sorted(tmp.rglob("*")) if p.is_file() and (name := p.relative_to(tmp).as_posix())
        },
    }
    (tmp / "manifest.json").write_text(json.dumps(full, indent=2, default=str) + "\n", encoding="utf-8")
    clock.lap("manifest and hashes")
    return clock
