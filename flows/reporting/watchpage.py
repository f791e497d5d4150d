"""The watch page, ``<reports>/watch/index.html``: what happened this week.

The newest events the watch found (:mod:`flows.orchestration.watch`), newest first by
acceptance time (the exchange's clock): those of the last :data:`WEEK` under "This week", then older ones
up to :data:`MAX_ROWS` in all. Each row gives the event's day-0 reaction from the newest
report that studied it (its ``car.parquet``, window ``[0,0]``, primary tickers): the abnormal
return with its stars, its t statistic and its dollar value (one money unit per table), and a
link to the report; an event not studied yet says when its study is due, or that it was asked
for. Offline: inline CSS, no script, every text from a catalog or a file HTML-escaped. Written
only over a page this tool wrote (:func:`flows.reporting.ownership.is_own_index`), atomically,
and only when its text changed.
"""

from __future__ import annotations

import html
import os
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl

from analysis import schema as S
from analysis.formats import dollars, money_unit, num, starred
from flows import progress
from flows.io.atomic import replace_file
from flows.reporting.index import CSS, _reports
from flows.reporting.markup import html_page
from flows.reporting.ownership import is_own_index, report_manifest

PAGE = "index.html"
WEEK = timedelta(days=7)
MAX_ROWS = 100
CREATED = "created"
FOLDER = "folder"


def day0_results(root: Path, ids: set[str]) -> pl.DataFrame:
    """Per event of ``ids`` and primary ticker, the ``[0,0]`` row of the newest report below
    ``root`` that studied it: ``event_id, ticker, car, t_stat, p_value, dollar_abnormal,
    reason, created, folder``. Reads only the reports whose manifest names one of ``ids``."""
    frames = []
    for folder in _reports(root) if ids else []:
        manifest = report_manifest(folder)
        if manifest is None or not ids & set(manifest.get("events") or ()):
            continue
        try:
            frames.append(
                pl.scan_parquet(folder / "car.parquet")
                .filter(pl.col(S.EVENT_ID).is_in(sorted(ids)) & (pl.col(S.ROLE) == "primary")
                        & (pl.col(S.WINDOW_START) == 0) & (pl.col(S.WINDOW_END) == 0))
                .select(S.EVENT_ID, S.TICKER, S.CAR, S.T_STAT, S.P_VALUE, S.DOLLAR_ABNORMAL, S.REASON)
                .with_columns(pl.lit(str(manifest.get("created_utc", ""))).alias(CREATED),
                              pl.lit(folder.as_posix()).alias(FOLDER))
                .collect(engine="in-memory")
            )
        except (OSError, pl.exceptions.PolarsError):
            progress.warn(f"{folder / 'car.parquet'}: unreadable; left out of the watch page")
    if not frames:
        return pl.DataFrame(schema={S.EVENT_ID: pl.String, S.TICKER: pl.String, S.CAR: pl.Float64, S.T_STAT: pl.Float64,
                                    S.P_VALUE: pl.Float64, S.DOLLAR_ABNORMAL: pl.Float64, S.REASON: pl.String,
                                    CREATED: pl.String, FOLDER: pl.String})
    return (pl.concat(frames, how="diagonal_relaxed").sort(CREATED, FOLDER, descending=True)
            .unique([S.EVENT_ID, S.TICKER], keep="first", maintain_order=True))


def _clock(tz: tzinfo) -> str:
    """The clock's name as people say it: ``America/New_York`` -> ``New York``."""
    return str(getattr(tz, "key", tz)).rsplit("/", 1)[-1].replace("_", " ")


def _local(iso: str | None, tz: tzinfo) -> str:
    return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if iso else ""


def _status(record: dict[str, Any], tz: tzinfo) -> str:
    if record.get("study_requested_at"):
        return f"study requested {_local(record['study_requested_at'], tz)}"
    if record.get("ready_at"):
        return f"not yet studied (window closes; study due {_local(record['ready_at'], tz)})"
    return "not studied (day 0 outside the exchange calendar)"


def build_watch_page(root: Path, page_folder: Path, state: dict[str, dict[str, Any]], now: datetime, tz: tzinfo) -> str:
    """The HTML text of the watch page (module docstring) of the events in ``state`` (the
    watch's records), with the results of the reports below ``root``; links relative to
    ``page_folder``; ``now`` decides what "this week" is, ``tz`` the clock shown."""
    esc = html.escape
    newest = sorted(state.values(), key=lambda r: (datetime.fromisoformat(r["announced"]), r["id"]), reverse=True)[:MAX_ROWS]
    results = day0_results(root, {r["id"] for r in newest})
    by_key = {(r[S.EVENT_ID], r[S.TICKER]): r for r in results.iter_rows(named=True)}
    unit = money_unit(results[S.DOLLAR_ABNORMAL].to_list())
    week_start = now - WEEK

    def rows(records: list[dict[str, Any]]) -> str:
        out = []
        for rec in records:
            for ticker in rec.get("tickers") or [""]:
                r = by_key.get((rec["id"], ticker))
                if r is not None and r[S.CAR] is not None:
                    href = quote(Path(os.path.relpath(Path(r[FOLDER]) / "report.html", page_folder)).as_posix(), safe="/.")
                    sig = r[S.P_VALUE] is not None and r[S.P_VALUE] < 0.05
                    cells = (f'<td class="n car">{esc(starred(r[S.CAR], r[S.P_VALUE]))}</td><td class="n">{num(r[S.T_STAT])}</td>'
                             f'<td class="n">{esc(dollars(r[S.DOLLAR_ABNORMAL], unit, signed=True))}</td>'
                             f'<td><a href="{esc(href)}">{esc(Path(r[FOLDER]).name)}</a></td>')
                else:
                    sig = False
                    said = f"no result: {r[S.REASON]}" if r is not None else _status(rec, tz)
                    cells = f'<td colspan="4" class="muted">{esc(said)}</td>'
                source = rec.get("source") or ""
                filing = (f'<a href="{esc(source)}">{esc(rec.get("description") or source)}</a>'
                          if source.startswith("https://") else esc(rec.get("description") or ""))
                out.append(
                    f'<tr class="{"sig" if sig else ""}"><td class="nowrap">{esc(_local(rec["announced"], tz))}</td>'
                    f"<td>{esc(rec['id'])}</td><td>{esc(ticker)}</td><td>{esc(rec.get('day0') or '')}</td>{cells}"
                    f'<td class="muted">{filing}</td></tr>'
                )
        return "".join(out)

    head = (f"<tr><th>accepted ({esc(_clock(tz))})</th><th>event</th><th>ticker</th><th>day 0</th><th>AR day 0</th><th>t</th>"
            f"<th>$ abnormal{f' ({unit})' if unit else ''}</th><th>report</th><th>filing</th></tr>")
    week = [r for r in newest if datetime.fromisoformat(r["announced"]) >= week_start]
    earlier = [r for r in newest if datetime.fromisoformat(r["announced"]) < week_start]
    body = (
        "<h1>What happened this week</h1>"
        f'<p class="muted">As of {esc(now.astimezone(tz).strftime("%Y-%m-%d %H:%M"))} {esc(_clock(tz))}. The filings the watch '
        "found, newest first, with the day-0 abnormal return of their study (window [0,0]), its t statistic and dollar "
        "value; *** p&lt;0.01, ** p&lt;0.05, * p&lt;0.10; shaded: p&lt;0.05. An event is studied once its first "
        "event window has closed.</p>"
        f"<h2>This week (since {esc(week_start.astimezone(tz).strftime('%Y-%m-%d %H:%M'))})</h2>"
        + (f"<table>{head}{rows(week)}</table>" if week else '<p class="muted">No new filing this week.</p>')
        + (f"<h2>Earlier</h2><table>{head}{rows(earlier)}</table>" if earlier else "")
        + (f'<p class="muted">The newest {MAX_ROWS} of {len(state)} events watched.</p>' if len(state) > MAX_ROWS else "")
    )
    return html_page("market-reaction: what happened this week", CSS + ".nowrap{white-space:nowrap}", body)


def write_watch_page(page_folder: Path, root: Path, state: dict[str, dict[str, Any]], now: datetime, tz: tzinfo) -> Path:
    """Write ``page_folder/index.html`` (:func:`build_watch_page`) unless another tool's page is
    there (said, not replaced); call it with the lock of ``page_folder`` held."""
    path = Path(page_folder) / PAGE
    if not is_own_index(path):
        progress.warn(f"{path} was not written by market-reaction: the watch page is not written there")
        return path
    text = build_watch_page(Path(root), Path(page_folder), state, now, tz)
    if not (path.is_file() and path.read_text(encoding="utf-8") == text):
        replace_file(path, text.encode("utf-8"))
    return path
