"""``index.html``: every report below a folder, and the latest result of every event.

The index lists each report folder (one holding a ``manifest.json``, up to three levels
down; hidden folders such as unfinished ``.x.tmp-*`` ones are ignored) with links to its group
briefs (:mod:`flows.reporting.flagship`), the latest brief of every event group, and, per event and
primary ticker, the result of its most recent report (by ``created_utc``; of a report with
more than :data:`MAX_REPORT_ROWS` such rows, its :data:`MAX_REPORT_ROWS` most significant, the
others counted, so the index stays small and quick whatever the reports hold; a skipped row
gives the cause its ``events.parquet`` gives), and the folders of ``market-reaction simulate``
in a section of their own. The demo and the simulations write below ``simulations/`` by
default, real runs below ``reports/``: each folder's index lists what is below it. It is readable
offline: relative links, inline CSS, no script. Every text that comes from a catalog or a
file (descriptions, tickers, groups, headlines, titles) is HTML-escaped.

It is rebuilt from the reports alone (no clock), and written atomically under a lock, only
when its text changes, so an unchanged set of reports leaves it byte-identical.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import quote

import polars as pl

from analysis import schema as S
from analysis.engine import STATUS
from analysis.formats import dollars, num, pvalue, starred
from analysis.specs import Window
from flows import progress
from flows.io.atomic import locked, replace_file
from flows.reporting.markup import html_page
from flows.reporting.ownership import is_own_index, report_manifest, simulation_manifest

INDEX = "index.html"
MAX_DEPTH = 3
MAX_REPORT_ROWS = 50  # event rows a report contributes to the index
CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;max-width:96em;"
    "padding:0 1.5em;color:#1f2328}table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "th,td{padding:4px 10px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top}"
    "th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "tr.sig td.car{background:#fff3bf;font-weight:bold}.muted{color:#57606a;font-size:12px}"
)


def _reports(root: Path) -> list[Path]:
    found = []
    for manifest in root.rglob("manifest.json"):
        rel = manifest.parent.relative_to(root)
        if rel.parts and len(rel.parts) <= MAX_DEPTH and not any(p.startswith(".") for p in rel.parts):
            found.append(manifest.parent)
    return sorted(found)


def _latest_rows(folder: Path, manifest: dict) -> tuple[pl.DataFrame, int] | None:
    """Primary rows of the report's first window, with day 0 and the event's description (of
    more than :data:`MAX_REPORT_ROWS`, the most significant: smallest p, then largest |t|),
    and the number of rows left out. Reads only the columns it shows."""
    keys = [S.EVENT_ID, S.TICKER]
    try:
        first = Window.parse(manifest["parameters"]["windows"][0])
        car = pl.scan_parquet(folder / "car.parquet").filter(
            (pl.col(S.ROLE) == "primary") & (pl.col(S.WINDOW_START) == first.start) & (pl.col(S.WINDOW_END) == first.end)
        ).select(*keys, S.CAR, S.T_STAT, S.P_VALUE, S.DOLLAR_ABNORMAL, S.REASON).collect(engine="in-memory")
        total = car.height
        if total > MAX_REPORT_ROWS:
            car = car.with_row_index("_order").sort(
                S.P_VALUE, pl.col(S.T_STAT).abs(), "_order", descending=[False, True, False], nulls_last=True,
            ).head(MAX_REPORT_ROWS).sort("_order").drop("_order")
        events = (  # the shown events' rows, filtered as each row group is read (10^6 reasons: 1.5 GB)
            pl.scan_parquet(folder / "events.parquet").select(*keys, S.DAY0, STATUS, S.REASON)
            .filter(pl.col(S.EVENT_ID).is_in(car[S.EVENT_ID].unique().implode()))
            .join(car.lazy().select(keys), on=keys, how="semi").rename({S.REASON: "_why"}).collect()
        )
    except (OSError, KeyError, IndexError, pl.exceptions.PolarsError, ValueError):
        return None
    shown = set(car[S.EVENT_ID].to_list())
    info = {e.get("id"): e for e in manifest.get("event_info", []) if e.get("id") in shown}
    rows = (
        car.join(events, on=keys, how="left", maintain_order="left")
        .select(
            S.EVENT_ID, S.TICKER, S.DAY0, S.CAR, S.T_STAT, S.P_VALUE, S.DOLLAR_ABNORMAL,
            # a skipped row: its cause as the events table gives it (a report written before the car
            # table gave it too said how few estimation returns the missing prices left)
            pl.when(pl.col(STATUS) == "skipped").then(pl.format("no data: {}", "_why")).otherwise(S.REASON).alias(S.REASON),
            pl.lit(first.label).alias("window"),
            pl.col(S.EVENT_ID).replace_strict({k: str(v.get("description", "")) for k, v in info.items()},
                                              default="", return_dtype=pl.String).alias("description"),
            pl.lit(manifest.get("created_utc", "")).alias("created"),
            pl.lit(folder.as_posix()).alias("folder"),
        )
    )
    return rows, total - rows.height


def _link(root: Path, folder: Path, text: str, page: str = "report.html") -> str:
    href = quote((folder.relative_to(root) / page).as_posix(), safe="/")
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


BRIEF_FILE = re.compile(r"brief-[a-z0-9-]+\.html")


def _briefs(folder: Path, manifest: dict) -> list[dict]:
    """The manifest's group briefs whose page is in the folder (a name of the expected form)."""
    found = []
    for b in manifest.get("briefs") or []:
        name = b.get("file") if isinstance(b, dict) else None
        if isinstance(name, str) and BRIEF_FILE.fullmatch(name) and (folder / name).is_file():
            events = b.get("events")
            found.append({"group": str(b.get("group", "")), "file": name, "headline": str(b.get("headline", "")),
                          "events": events if isinstance(events, int) else 0})
    return found


def build_index(root: Path) -> str:
    """The HTML text of the index of the reports below ``root``."""
    esc = html.escape
    root = Path(root)
    reports, latest, left_out, simulations = [], [], [], []
    for folder in _reports(root):
        manifest = report_manifest(folder)
        if manifest is None and (sim := simulation_manifest(folder)) is not None:
            simulations.append((str(sim.get("created_utc", "")), folder, sim))
            continue
        if manifest is None:
            progress.warn(f"{folder / 'manifest.json'}: not a report market-reaction wrote (unreadable or "
                          "another tool's); left out of the index")
            continue
        reports.append((manifest.get("created_utc", ""), folder, manifest))
        found = _latest_rows(folder, manifest) if manifest.get("kind") != "catalog" else None
        if found is not None and found[0].height:
            latest.append(found[0])
        if found is not None and found[1]:
            left_out.append((folder, found[1]))
    reports.sort(key=lambda r: (r[0], r[1].as_posix()), reverse=True)
    latest_briefs: dict[str, tuple[str, Path, dict]] = {}
    for created, folder, manifest in reports:  # newest first; a brief covering more of the group's events wins
        for b in _briefs(folder, manifest):
            kept = latest_briefs.get(b["group"])
            if kept is None or b["events"] > kept[2]["events"]:
                latest_briefs[b["group"]] = (created, folder, b)
    brief_rows = "".join(
        f"<tr><td>{esc(group)}</td><td>{_link(root, folder, folder.relative_to(root).as_posix() + '/' + b['file'], b['file'])}</td>"
        f"<td>{esc(created)}</td><td class=\"muted\">{esc(b['headline'])}</td></tr>"
        for group, (created, folder, b) in sorted(latest_briefs.items())
    )

    head = ("<tr><th>event</th><th>ticker</th><th>day 0</th><th>window</th><th>CAR</th><th>t</th><th>p</th>"
            "<th>$ abnormal</th><th>report</th><th>as of (UTC)</th><th>description</th></tr>")
    body = []
    if latest:
        best = (
            pl.concat(latest, how="diagonal_relaxed")
            .sort("created", "folder", descending=True)
            .unique([S.EVENT_ID, S.TICKER], keep="first", maintain_order=True)
            .sort(S.EVENT_ID, S.TICKER)
        )
        for r in best.iter_rows(named=True):
            sig = r[S.P_VALUE] is not None and r[S.P_VALUE] < 0.05
            car = starred(r[S.CAR], r[S.P_VALUE]) if r[S.CAR] is not None else r[S.REASON] or "no result"  # escaped below
            body.append(
                f'<tr class="{"sig" if sig else ""}"><td>{esc(r[S.EVENT_ID])}</td><td>{esc(r[S.TICKER])}</td>'
                f"<td>{esc(str(r[S.DAY0] or ''))}</td><td>{esc(r['window'])}</td>"
                f'<td class="n car">{esc(car)}</td><td class="n">{num(r[S.T_STAT])}</td>'
                f'<td class="n">{esc(pvalue(r[S.P_VALUE]))}</td><td class="n">{esc(dollars(r[S.DOLLAR_ABNORMAL]))}</td>'
                f"<td>{_link(root, Path(r['folder']), Path(r['folder']).relative_to(root).as_posix())}</td>"
                f"<td>{esc(r['created'])}</td><td class=\"muted\">{esc(r['description'])}</td></tr>"
            )
    runs = [
        f"<tr><td>{esc(created)}</td><td>{_link(root, folder, folder.relative_to(root).as_posix())}</td>"
        f"<td>{esc(str(m.get('kind', 'run')))}</td><td>{len(m.get('events', []))}</td>"
        f"<td>{' '.join(_link(root, folder, b['group'], b['file']) for b in _briefs(folder, m))}</td>"
        f"<td class=\"muted\">{esc(str(m.get('headline') or ''))}</td></tr>"
        for created, folder, m in reports
    ]
    return html_page("market-reaction reports", CSS,
        "<h1>market-reaction reports</h1>"
        f"<h2>Latest result per event</h2><p class=\"muted\">The most recent report of each event and primary "
        f"ticker, on its first event window. *** p&lt;0.01, ** p&lt;0.05, * p&lt;0.10; shaded: p&lt;0.05.</p>"
        f"<table>{head}{''.join(body)}</table>"
        + "".join(f'<p class="muted">{_link(root, folder, folder.relative_to(root).as_posix())}: its {MAX_REPORT_ROWS} most '
                  f"significant event rows above; {n:,} more in its car.parquet.</p>" for folder, n in sorted(left_out))
        + (f"<h2>Group briefs</h2><p class=\"muted\">The one-page brief of every event group (the latest of those "
           f"covering the most of its events): its CAAR, each event's reaction and dollar value, headline claims "
           f"beside the data, confounders and who moved.</p>"
           f"<table><tr><th>group</th><th>brief</th><th>as of (UTC)</th><th>headline</th></tr>{brief_rows}</table>"
           if brief_rows else "")
        + f"<h2>All reports ({len(reports)})</h2><table><tr><th>created (UTC)</th><th>report</th><th>kind</th>"
        f"<th>events</th><th>briefs</th><th>headline</th></tr>{''.join(runs)}</table>"
        + _simulations(root, simulations)
    )


def _simulations(root: Path, found: list[tuple[str, Path, dict]]) -> str:
    """The section listing the ``market-reaction simulate`` folders (size and power of the group
    tests), newest first; empty without any."""
    if not found:
        return ""
    esc = html.escape
    rows = []
    for created, folder, m in sorted(found, key=lambda r: (r[0], r[1].as_posix()), reverse=True):
        sim = m.get("simulation") if isinstance(m.get("simulation"), dict) else {}
        rows.append(
            f"<tr><td>{esc(created)}</td><td>{_link(root, folder, folder.relative_to(root).as_posix(), 'simulation.md')}</td>"
            f"<td>{esc(str(m.get('source', '')))}</td><td class=\"n\">{esc(str(sim.get('events', '')))}</td>"
            f"<td class=\"n\">{esc(str(sim.get('group_size', '')))}</td><td>{esc(str(sim.get('seed', '')))}</td></tr>"
        )
    return (f"<h2>Simulations ({len(found)})</h2><p class=\"muted\">Size and power of the group tests on pseudo-events "
            "(market-reaction simulate).</p><table><tr><th>created (UTC)</th><th>tables</th><th>prices</th>"
            f"<th>pseudo-events</th><th>per group</th><th>seed</th></tr>{''.join(rows)}</table>")


def write_index(root: Path) -> Path:
    """Write ``root/index.html`` and return its path.

    The index is built and written under the lock of ``root`` (:func:`flows.io.atomic.locked`,
    which first repairs what killed writers left there), through a temporary file renamed
    over it, and only when its text changed. Concurrent runs therefore never write an index
    built before another's: the last one to take the lock sees every finished report."""
    root = Path(root)
    path = root / INDEX
    with locked(root):
        if not is_own_index(path):
            progress.warn(f"{path} was not written by market-reaction: the reports index is not written there")
            return path
        text = build_index(root)
        if not (path.is_file() and path.read_text(encoding="utf-8") == text):
            replace_file(path, text.encode("utf-8"))
    return path
