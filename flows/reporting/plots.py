"""Plots (matplotlib figures, no pyplot), PNG and SVG: per event its CAR paths and its day-0
move in dollars, per group its CAAR path.

* ``car-<event>``: the CAR of every ticker from the first reported day to each day, with a 95 %
  band ±1.96 × its standard error (prediction-error variances and their cross-day covariance,
  ``StudyResult.paths``) around the event's primary tickers; related tickers dashed; every
  confounder's day 0 inside the reported days as a labelled vertical line (SVG id
  ``confounder-<id>``); the study's event windows as bars on a strip under the plot;
* ``move-<event>``: per primary ticker, the day-0 move in dollars split into the part the
  model expects and the abnormal part (a waterfall: ``R·M = N·M + AR·M`` with M the market
  cap at the close of day −1), with each claimed dollar figure (or claimed percentage × M)
  as a marker;
* ``caar-<group>``: the CAAR of its events' primary tickers with the cross-sectional band
  ±1.96 × s/√N (:func:`analysis.paths.caar_paths`), the confounders of its events and the windows.

Sizes read at 1400 px and on a phone: the SVGs scale to their box (the pages show them 36em /
28em wide, at most 100 % of a narrow screen) and the text is about 1/40 of a figure's width. Output is deterministic (no dates in the SVG metadata, fixed
SVG ids), so an unchanged result gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import re
from functools import partial
from typing import TYPE_CHECKING

import polars as pl

from analysis import schema as S
from analysis.claims import CLAIMED
from analysis.engine import StudyResult
from analysis.formats import dollars, money_unit, offset, pct
from analysis.paths import BAND_Z, CAAR, CAAR_SE, caar_paths
from analysis.specs import Window
from flows.reporting.figures import dollar_tick, pct_tick, plain, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_EVENT_PLOTS = 10
"""Events plotted (the first of ``StudyResult.paths``): their CAR and move plots."""
MAX_GROUP_PLOTS = 10
"""Groups plotted (the first of :func:`analysis.paths.caar_paths`)."""


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


LEGEND_ROW = 0.22  # inches a legend row takes
WIDTH, MOVE_WIDTH = 5.2, 4.2
"""Figure widths in inches (the pages show them 36em and 28em wide): 10 pt tick labels are
9 px on a 390 px phone (342 px of page), 15 px at 36em."""
MAX_MARKERS = 4
"""Confounder lines a plot draws (then "+N more")."""
CONFOUNDER_COLOR = "#cf222e"
CLAIM_COLORS = ("#bf8700", "#8250df", "#1a7f37")
CONFOUNDER_LABEL = "confounder: another event's day 0"
BAND_LABEL = f"95% band: CAR ± {BAND_Z} s.e. of the CAR\n(s.e. ≈ σ·√days, σ: the model's residual s.d.)"


def _path_figure(title: str, windows: tuple[Window, ...], days: Window, n_lines: int, n_notes: int):
    """A figure with the path axes, the event windows as bars between the axes and its tick
    labels, and room below for a legend of ``n_lines`` lines (two a row) and ``n_notes`` long
    entries (one a row). Fixed positions in inches (layout engines cost ~0.2 s a figure); the
    bars are lines in figure coordinates (an axes of their own doubled the drawing time)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    top, main, strip, ticks = 0.45, 2.6, 0.2 * len(windows) + 0.08, 0.55
    legend = LEGEND_ROW * (-(-n_lines // 2) + n_notes) + 0.12
    height = top + main + strip + ticks + legend
    left, right = 0.95 / WIDTH, 1 - 0.15 / WIDTH
    fig = Figure(figsize=(WIDTH, height))
    ax = fig.add_axes((left, (legend + ticks + strip) / height, right - left, main / height))
    ax.axhline(0.0, color="#888888", linewidth=0.8)
    ax.axvline(0.0, color="#888888", linewidth=0.8, linestyle=":")
    ax.set_ylabel("cumulative abnormal return")
    ax.yaxis.set_major_formatter(FuncFormatter(pct_tick))
    # y given: no search for a free position (~20 ms); wrapping measures each word: only long titles
    ax.set_title(plain(title), loc="left", wrap=len(title) > 42, y=1.0)
    ax.grid(True, color="#eeeeee")
    lo, hi = days.start - 0.5, days.end + 0.5
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="x", pad=strip * 72 + 3)  # the tick labels below the bars
    ax.set_xlabel("event day (sessions from day 0); bars: event windows")
    x = lambda day: left + (day - lo) / (hi - lo) * (right - left)  # noqa: E731
    for k, w in enumerate(windows):  # the first on top
        level = (legend + ticks + strip - 0.08 - 0.2 * (k + 0.5)) / height
        fig.add_artist(Line2D([x(w.start - 0.35), x(w.end + 0.35)], [level, level], transform=fig.transFigure,
                              color="#8c959f", linewidth=5, solid_capstyle="butt", gid=f"window-{k}"))
        fig.text(left - 0.08 / WIDTH, level, w.label, ha="right", va="center", fontsize=9)
    return fig, ax


def _legend(fig, ax, notes=()) -> None:
    """The lines of ``ax`` two a row, then the ``notes`` (handle, text) one a row, under the figure."""
    style = {"frameon": False, "borderaxespad": 0.0, "handlelength": 1.8, "columnspacing": 1.2, "loc": "lower left"}
    if notes:
        fig.legend(*zip(*notes), bbox_to_anchor=(0.1 / WIDTH, 0.08 / fig.get_figheight()), **style)
    rows = sum(text.count("\n") + 1 for _, text in notes)
    fig.legend(*ax.get_legend_handles_labels(), ncols=2, **style,
               bbox_to_anchor=(0.1 / WIDTH, (0.1 + LEGEND_ROW * rows) / fig.get_figheight()))


def _confounder_lines(ax, marks: pl.DataFrame) -> bool:
    """A dashed vertical line on each confounder's day 0 (``marks``: ``offset, label, gid``),
    labelled (two lines) at the top of the plot beside it; True if any was drawn."""
    shown = marks.head(MAX_MARKERS)
    lo, hi = ax.get_xlim()
    width, height = (ax.get_position().width * ax.figure.get_figwidth(), ax.get_position().height * ax.figure.get_figheight())
    per_char = 0.57 * 9.5 / 72 * (hi - lo) / width  # days a character takes (DejaVu Sans)
    step = 2 * 1.25 * 9.5 / 72 / height + 0.025  # axes height a label takes
    for k, (day, label, gid) in enumerate(shown.select(S.OFFSET, "label", "gid").iter_rows()):
        ax.axvline(day, color=CONFOUNDER_COLOR, linewidth=1.4, linestyle="--", gid=gid)
        need = max(map(len, label.split("\n"))) * per_char + 0.15
        x, ha = ((day + 0.12, "left") if day + need <= hi else (day - 0.12, "right") if day - need >= lo
                 else (lo + 0.05, "left"))  # beside its line, else from the left edge across it
        ax.text(x, 0.98 - step * k, plain(label), transform=ax.get_xaxis_transform(), ha=ha, va="top", fontsize=9.5,
                color=CONFOUNDER_COLOR, linespacing=1.1,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    if marks.height > shown.height:
        ax.text(0.99, 0.03, f"+{marks.height - shown.height} more confounders (confounders.parquet)",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=9, color=CONFOUNDER_COLOR)
    return bool(shown.height)


def confounder_marks(result: StudyResult, events: list[str], primary_only: bool = False) -> pl.DataFrame:
    """The confounders of ``events`` whose day 0 is a reported day, as plot marks: ``event_id,
    ticker, confounder_id, offset, label`` ("amzn-q3-2025-earnings\\nAMZN, day -1") and ``gid``,
    the SVG id of its line (``confounder-<file stem of its id>``, then ``-2``, ``-3``... for a
    confounder marked again), one per (event, confounder, day): the marks of one figure."""
    days = result.spec.report_days
    c = result.confounders.filter(pl.col(S.EVENT_ID).is_in(events) & pl.col(S.OFFSET).is_between(days.start, days.end))
    if primary_only:
        c = c.filter(pl.col(S.ROLE) == "primary")
    c = (c.group_by(S.EVENT_ID, S.CONFOUNDER_ID, S.OFFSET, maintain_order=True)
         .agg(pl.col(S.TICKER).unique(maintain_order=True).str.join(", ")))
    seen: dict[str, int] = {}
    labels, gids = [], []
    for cid, tickers, day in c.select(S.CONFOUNDER_ID, S.TICKER, S.OFFSET).iter_rows():  # a figure's few marks
        seen[cid] = seen.get(cid, 0) + 1
        labels.append(f"{cid}\n{tickers}, day {offset(day)}")
        gids.append(f"confounder-{file_stem(cid)}" + (f"-{seen[cid]}" if seen[cid] > 1 else ""))
    return c.select(S.EVENT_ID, S.TICKER, S.CONFOUNDER_ID, S.OFFSET).with_columns(
        pl.Series("label", labels, dtype=pl.String), pl.Series("gid", gids, dtype=pl.String))


def plotted_events(paths: pl.DataFrame) -> list[str]:
    """The events :func:`event_figures` draws: the first :data:`MAX_EVENT_PLOTS` of ``paths``
    that have a CAR."""
    return paths.drop_nulls(S.CAR)[S.EVENT_ID].unique(maintain_order=True).head(MAX_EVENT_PLOTS).to_list()


def plotted_groups(caar: pl.DataFrame) -> list[str]:
    """The groups :func:`group_figures` draws: the first :data:`MAX_GROUP_PLOTS` of ``caar``."""
    return caar[S.GROUP].unique(maintain_order=True).head(MAX_GROUP_PLOTS).to_list()


def event_figures(result: StudyResult) -> list[tuple[str, Figure]]:
    """``(stem, figure)``: ``car-<event>`` and ``move-<event>`` for the events of
    :func:`plotted_events` (a move plot where :func:`day0_moves` has a row), each event's
    two next to each other."""
    figures = []
    events = plotted_events(result.paths)
    stems = file_stems(events)
    moves = day0_moves(result, events)
    with style():
        for event in events:  # one figure per event (drawing, not statistics)
            figures.append((f"car-{stems[event]}", _car_figure(result, event)))
            mine = moves.filter(pl.col(S.EVENT_ID) == event)
            if mine.height:
                figures.append((f"move-{stems[event]}", _move_figure(event, mine, result.claims)))
    return figures


def event_figure(result: StudyResult, event: str):
    """The figure of ``event``'s CAR paths: a line per ticker, with the band of ±:data:`BAND_Z`
    s.e. around the primary tickers' lines, its confounders' days and the event windows."""
    with style():
        return _car_figure(result, event)


def _car_figure(result: StudyResult, event: str):
    part = result.paths.filter(pl.col(S.EVENT_ID) == event).drop_nulls(S.CAR)
    lines = part.partition_by(S.TICKER, S.ROLE, as_dict=True, maintain_order=True)
    marks = confounder_marks(result, [event])
    fig, ax = _path_figure(f"{event}: CAR of each ticker", result.spec.windows, result.spec.report_days,
                           len(lines), 2 * any(role == "primary" for _, role in lines) + bool(marks.height))
    band = None
    for (ticker, role), rows in lines.items():
        day, car, se = rows[S.EVENT_DAY].to_numpy(), rows[S.CAR].to_numpy(), rows[S.CAR_SE].to_numpy()
        primary = role == "primary"
        (line,) = ax.plot(day, car, marker="o" if primary else None, markersize=3.5,
                          linestyle="-" if primary else "--", linewidth=2.0 if primary else 1.2,
                          label=plain(f"{ticker}" + ("" if primary else " (related)")))
        if primary:
            band = ax.fill_between(day, car - BAND_Z * se, car + BAND_Z * se, color=line.get_color(), alpha=0.18,
                                   linewidth=0)
    extra = [(band, BAND_LABEL)] if band is not None else []
    if _confounder_lines(ax, marks):
        extra.append((_confounder_handle(), CONFOUNDER_LABEL))
    _legend(fig, ax, extra)
    return fig


def _confounder_handle():
    from matplotlib.lines import Line2D

    return Line2D([], [], color=CONFOUNDER_COLOR, linewidth=1.4, linestyle="--")


def group_figures(result: StudyResult) -> list[tuple[str, Figure]]:
    """``(stem, figure)``: ``caar-<group>`` for the groups of :func:`plotted_groups` (the CAAR
    of :func:`analysis.paths.caar_paths`), with the confounders of the group's plotted event rows."""
    figures = []
    caar = caar_paths(result.paths)
    parts = caar.filter(pl.col(S.GROUP).is_in(plotted_groups(caar))).partition_by(S.GROUP, as_dict=True, maintain_order=True)
    stems = file_stems([group for (group,) in parts])
    members = (result.paths.filter((pl.col(S.ROLE) == "primary") & pl.col(S.CAR).is_not_null())
               .select(S.GROUP, S.EVENT_ID).unique(maintain_order=True))  # the events in the CAAR
    with style():
        for (group,), rows in parts.items():
            marks = confounder_marks(result, members.filter(pl.col(S.GROUP) == group)[S.EVENT_ID].to_list(),
                                     primary_only=True)
            band = rows.drop_nulls(CAAR_SE)
            fig, ax = _path_figure(f"group {group}: CAAR of {rows[S.N_EVENTS].max()} event(s)", result.spec.windows,
                                   result.spec.report_days, 1, 2 * bool(band.height) + bool(marks.height))
            (line,) = ax.plot(rows[S.EVENT_DAY].to_numpy(), rows[CAAR].to_numpy(), marker="o", markersize=3.5,
                              linewidth=2.0, label="CAAR")
            extra = []
            if band.height:
                d, m, se = band[S.EVENT_DAY].to_numpy(), band[CAAR].to_numpy(), band[CAAR_SE].to_numpy()
                fill = ax.fill_between(d, m - BAND_Z * se, m + BAND_Z * se, color=line.get_color(), alpha=0.18, linewidth=0)
                extra.append((fill, f"95% band: CAAR ± {BAND_Z} s/√N\n(s: the cross-sectional s.d. of the CARs)"))
            if _confounder_lines(ax, marks):
                extra.append((_confounder_handle(), CONFOUNDER_LABEL))
            _legend(fig, ax, extra)
            figures.append((f"caar-{stems[group]}", fig))
    return figures


# --- the day-0 move in dollars -------------------------------------------------------------------

MOVE = "move_usd"
NORMAL = "normal_usd"
ABNORMAL = "abnormal_usd"


def day0_moves(result: StudyResult, events: list[str]) -> pl.DataFrame:
    """The day-0 move of the primary tickers of ``events`` in dollars, where the market cap
    and the day-0 abnormal return are known: ``event_id, ticker, market_cap``, ``move_usd``
    = R·M, ``normal_usd`` = N·M (the model's expected return), ``abnormal_usd`` = AR·M, with
    M the market cap at the close of day −1 (``events``) and R, N, AR the day-0 return, normal
    and abnormal return (``abnormal_returns``); in the order of ``result.events``."""
    keys = [S.EVENT_ID, S.TICKER]
    rows = (result.events.filter((pl.col(S.ROLE) == "primary") & pl.col(S.MARKET_CAP).is_not_null()
                                 & pl.col(S.EVENT_ID).is_in(events)).select(*keys, S.MARKET_CAP))
    day0 = (result.abnormal_returns.filter((pl.col(S.EVENT_DAY) == 0) & pl.col(S.EVENT_ID).is_in(rows[S.EVENT_ID].unique().to_list()))
            .select(*keys, S.RET, S.NORMAL_RET, S.ABNORMAL_RET))
    cap = pl.col(S.MARKET_CAP)
    return (
        rows.join(day0, on=keys, how="inner", maintain_order="left")
        .drop_nulls([S.RET, S.NORMAL_RET, S.ABNORMAL_RET])
        .select(*keys, S.MARKET_CAP, (pl.col(S.RET) * cap).alias(MOVE), (pl.col(S.NORMAL_RET) * cap).alias(NORMAL),
                (pl.col(S.ABNORMAL_RET) * cap).alias(ABNORMAL))
    )


def moved_events(result: StudyResult) -> list[str]:
    """The events with a ``move-<event>`` plot: those of :func:`plotted_events` with a row in
    :func:`day0_moves`."""
    events = plotted_events(result.paths)
    have = set(day0_moves(result, events)[S.EVENT_ID].to_list())
    return [e for e in events if e in have]


def move_figure(result: StudyResult, event: str):
    """The figure of ``event``'s day-0 move in dollars (see :func:`_move_figure`), or None
    when no primary ticker of the event has a market cap and a day-0 abnormal return."""
    moves = day0_moves(result, [event])
    if not moves.height:
        return None
    with style():
        return _move_figure(event, moves, result.claims)


def _claimed_usd(claims: pl.DataFrame, event: str, ticker: str, cap: float) -> list[tuple[float, float | None]]:
    """Each claimed dollar move of the event's ticker: ``(dollars, claimed percentage)`` — a
    ``value_change`` claim's figure (no percentage), a ``pct_change`` claim's percentage × M."""
    mine = claims.filter((pl.col(S.EVENT_ID) == event) & (pl.col(S.TICKER) == ticker) & pl.col(CLAIMED).is_not_null())
    kinds = {"value_change": lambda v: (v, None), "pct_change": lambda v: (v * cap, v)}
    return [kinds[kind](value) for kind, value in mine.select(S.CLAIM_KIND, CLAIMED).iter_rows() if kind in kinds]


def _move_figure(event: str, moves: pl.DataFrame, claims: pl.DataFrame):
    """The waterfall of ``event``'s day-0 moves (``moves``: its rows of :func:`day0_moves`):
    per ticker a bar for the part the model expects (0 to N·M), the abnormal part (N·M to
    R·M) and the day's move (0 to R·M), and each claimed figure as a diamond on the move's bar
    (its figure in the legend).
    The bars have SVG ids ``move-<ticker>-normal``, ``-abnormal``, ``-move``."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    several = moves.height > 1
    claimed = [(r[S.TICKER], *c) for r in moves.iter_rows(named=True)
               for c in _claimed_usd(claims, r[S.EVENT_ID], r[S.TICKER], r[S.MARKET_CAP])]
    unit = money_unit([*moves[MOVE], *moves[NORMAL], *moves[ABNORMAL]])  # one unit in a figure, as in a table
    below = 0.45 + 0.2 * several + LEGEND_ROW * (3 + len(claimed)) + 0.1  # inches: tick labels, legend
    fig_height = 0.6 + 2.5 + below
    fig = Figure(figsize=(MOVE_WIDTH, fig_height))
    ax = fig.add_axes((1.0 / MOVE_WIDTH, below / fig_height, 1 - 1.15 / MOVE_WIDTH, 2.5 / fig_height))
    whose = "" if several else f"{moves[S.TICKER][0]}'s "
    ax.set_title(plain(f"{event}\n{whose}day-0 move in dollars"), loc="left", fontsize=11, wrap=len(event) > 34, y=1.0)
    ax.axhline(0.0, color="#888888", linewidth=0.8)
    ax.grid(True, axis="y", color="#eeeeee")
    ax.set_axisbelow(True)
    ticks, labels, handles, texts = [], [], [], []
    for i, r in enumerate(moves.iter_rows(named=True)):
        x0, ticker, n, a, m = 3.6 * i, r[S.TICKER], r[NORMAL], r[ABNORMAL], r[MOVE]
        stem = file_stem(ticker.lower())
        bars = ((x0, 0.0, n, "#8c959f", "normal"), (x0 + 1, n, a, "#0969da", "abnormal"), (x0 + 2, 0.0, m, "#1f2328", "move"))
        for x, base, size, color, part in bars:
            ax.bar(x, size, bottom=base, width=0.7, color=color, gid=f"move-{stem}-{part}")
            ax.annotate(plain(dollars(size, unit, signed=True)), (x, base + size), xytext=(0, 3 if size >= 0 else -3),
                        textcoords="offset points", ha="center", va="bottom" if size >= 0 else "top", fontsize=9)
        ax.plot([x0 + 0.35, x0 + 0.65], [n, n], color="#8c959f", linewidth=0.8)  # the step of the waterfall
        for k, (_, value, share) in enumerate(c for c in claimed if c[0] == ticker):
            label = f"claimed: {pct(share)} × cap = {dollars(value, unit)}" if share is not None else f"claimed: {dollars(value, unit)}"
            (mark,) = ax.plot([x0 + 2], [value], marker="D", markersize=7, color=CLAIM_COLORS[k % 3], linestyle="none",
                              gid=f"claim-{stem}" + (f"-{k + 1}" if k else ""))
            handles.append(mark)
            texts.append(plain(f"{ticker} {label}" if several else label))
        prefix = f"{ticker}\n" if several else ""
        ticks += [x0, x0 + 1, x0 + 2]
        labels += [plain(f"{prefix}model"), plain(f"{prefix}abnormal"), plain(f"{prefix}day 0")]
    ax.set_xticks(ticks, labels=labels)
    ax.set_xlim(-0.6, ticks[-1] + 0.6)
    low, high = ax.get_ylim()
    ax.set_ylim(low - 0.08 * (high - low), high + 0.08 * (high - low))  # room for the values
    ax.yaxis.set_major_formatter(FuncFormatter(partial(dollar_tick, unit=unit)))
    handles = [*(Line2D([], [], color=c, linewidth=6) for c in ("#8c959f", "#0969da", "#1f2328")), *handles]
    texts = ["model: expected return × market cap", "abnormal: abnormal return × market cap",
             "day 0: return × market cap (day −1 close)", *texts]
    fig.legend(handles, texts, loc="lower left", bbox_to_anchor=(0.1 / MOVE_WIDTH, 0.08 / fig_height), frameon=False,
               fontsize=9.5, handlelength=1.4, borderaxespad=0.0)
    return fig
