"""CAR path plots (matplotlib figures, no pyplot): one per event and one per group, PNG and SVG.

* per event: the CAR of every ticker from the first reported day to each day, with a 95 %
  band ±1.96 × its standard error (prediction-error variances and their cross-day covariance,
  ``StudyResult.paths``) around the event's primary tickers; related tickers dashed;
* per group: the CAAR of its events' primary tickers with the cross-sectional band
  ±1.96 × s/√N (:func:`analysis.paths.caar_paths`).

Output is deterministic (no dates in the SVG metadata, fixed SVG ids), so an unchanged
result gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import polars as pl

from analysis import schema as S
from analysis.formats import pct
from analysis.paths import BAND_Z, CAAR, CAAR_SE

MAX_EVENT_PLOTS = 10
"""Events plotted (the first of ``StudyResult.paths``); about 0.2 s a figure in both formats."""
MAX_GROUP_PLOTS = 10
"""Groups plotted (the first of :func:`analysis.paths.caar_paths`)."""
FORMATS = ("png", "svg")


def slug(text: str) -> str:
    """A safe file-name part for user text: lowercase letters, digits and '-'; text that had to
    change gets a short hash so two different names never share a file."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "x"
    return s if s == text else f"{s}-{hashlib.sha1(text.encode()).hexdigest()[:6]}"


SAFE_STEM = re.compile(r"[a-z0-9][a-z0-9_-]{0,127}")  # event ids are of this form (analysis.specs.EVENT_ID_PATTERN)


def file_stem(text: str) -> str:
    """``text`` itself when it is a safe file-name part (lowercase letters, digits, '-', '_',
    not starting with '-' or '_'), else :func:`slug` of it: names from catalogs (event ids,
    group names) never leave the folder they are written to (``../x``, ``/abs``, ``.hidden``)."""
    return text if SAFE_STEM.fullmatch(text) else slug(text)


def file_stems(texts: list[str]) -> dict[str, str]:
    """:func:`file_stem` of each distinct text, made unique (``-2``, ``-3``... on a clash, in
    the order given), so that two names never share a file."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for text in texts:
        if text in out:
            continue
        stem, n = file_stem(text), 1
        while stem in used:
            n += 1
            stem = f"{file_stem(text)}-{n}"
        out[text] = stem
        used.add(stem)
    return out


def _plain(text: str) -> str:
    """User text shown by matplotlib: escape '$' so it is not read as mathtext."""
    return text.replace("$", r"\$")


def _figure():
    """A new figure, without pyplot (no backend is chosen or changed, nothing global holds the
    figure: a notebook's backend stays as it is, and a figure is freed with its last reference)."""
    import matplotlib
    from matplotlib.figure import Figure

    matplotlib.rcParams.update({"svg.hashsalt": "market-reaction", "svg.fonttype": "none", "font.size": 9})
    return Figure(figsize=(7.0, 3.8))


def _save(fig, folder: Path, stem: str) -> list[Path]:
    paths = []
    for ext in FORMATS:
        path = folder / f"{stem}.{ext}"
        fig.savefig(path, format=ext, dpi=100,
                    metadata={"Date": None} if ext == "svg" else {"Software": None})
        paths.append(path)
    return paths


def _axes(title: str):
    fig = _figure()
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.11, right=0.98, top=0.91, bottom=0.13)  # fixed: layout engines cost ~0.2 s a figure
    ax.axhline(0.0, color="#888888", linewidth=0.8)
    ax.axvline(0.0, color="#888888", linewidth=0.8, linestyle=":")
    ax.set_xlabel("event day (sessions relative to day 0)")
    ax.set_ylabel("cumulative abnormal return")
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: pct(y)))  # the tables' percent (analysis.formats)
    ax.set_title(_plain(title), fontsize=10, loc="left")
    ax.grid(True, color="#eeeeee")
    return fig, ax


def plotted_events(paths: pl.DataFrame) -> list[str]:
    """The events :func:`event_plots` draws: the first :data:`MAX_EVENT_PLOTS` of ``paths``
    that have a CAR."""
    return paths.drop_nulls(S.CAR)[S.EVENT_ID].unique(maintain_order=True).head(MAX_EVENT_PLOTS).to_list()


def plotted_groups(caar: pl.DataFrame) -> list[str]:
    """The groups :func:`group_plots` draws: the first :data:`MAX_GROUP_PLOTS` of ``caar``."""
    return caar[S.GROUP].unique(maintain_order=True).head(MAX_GROUP_PLOTS).to_list()


def event_plots(paths: pl.DataFrame, folder: Path) -> list[Path]:
    """``car-<event>.png/.svg`` for the events of :func:`plotted_events` (``paths``:
    ``StudyResult.paths``)."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    events = plotted_events(paths)
    stems = file_stems(events)
    for event in events:  # one figure per event (drawing, not statistics)
        written += _save(event_figure(paths, event), folder, f"car-{stems[event]}")
    return written


def event_figure(paths: pl.DataFrame, event: str):
    """The figure of ``event``'s CAR paths (``paths``: ``StudyResult.paths``): a line per
    ticker, with the band of ±:data:`BAND_Z` s.e. around the primary tickers' lines."""
    fig, ax = _axes(f"{event}: CAR with 95% band (±{BAND_Z} s.e.)")
    part = paths.filter(pl.col(S.EVENT_ID) == event)
    for (ticker, role), rows in part.partition_by(S.TICKER, S.ROLE, as_dict=True, maintain_order=True).items():
        rows = rows.drop_nulls(S.CAR)
        if not rows.height:
            continue
        day, car, se = rows[S.EVENT_DAY].to_numpy(), rows[S.CAR].to_numpy(), rows[S.CAR_SE].to_numpy()
        primary = role == "primary"
        (line,) = ax.plot(day, car, marker="o" if primary else None, markersize=3,
                          linestyle="-" if primary else "--", linewidth=1.8 if primary else 1.0,
                          label=_plain(f"{ticker}" + ("" if primary else " (related)")))
        if primary:
            ax.fill_between(day, car - BAND_Z * se, car + BAND_Z * se, color=line.get_color(), alpha=0.18, linewidth=0)
    if ax.lines[2:]:
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig


def group_plots(caar: pl.DataFrame, folder: Path) -> list[Path]:
    """``caar-<group>.png/.svg`` for the groups of :func:`plotted_groups` (``caar``: output of
    :func:`analysis.paths.caar_paths`)."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    parts = caar.filter(pl.col(S.GROUP).is_in(plotted_groups(caar))).partition_by(S.GROUP, as_dict=True, maintain_order=True)
    stems = file_stems([group for (group,) in parts])
    for (group,), rows in parts.items():
        n = rows[S.N_EVENTS].max()
        fig, ax = _axes(f"group {group}: CAAR of {n} event(s), 95% cross-sectional band")
        day, mean = rows[S.EVENT_DAY].to_numpy(), rows[CAAR].to_numpy()
        (line,) = ax.plot(day, mean, marker="o", markersize=3, linewidth=1.8, label="CAAR")
        band = rows.drop_nulls(CAAR_SE)
        if band.height:
            d, m, se = band[S.EVENT_DAY].to_numpy(), band[CAAR].to_numpy(), band[CAAR_SE].to_numpy()
            ax.fill_between(d, m - BAND_Z * se, m + BAND_Z * se, color=line.get_color(), alpha=0.18, linewidth=0,
                            label=f"±{BAND_Z} s/√N")
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        written += _save(fig, folder, f"caar-{stems[group]}")
    return written
