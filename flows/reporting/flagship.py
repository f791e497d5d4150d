"""Group briefs: one page per event group, beyond the peers' tables.

Every report folder gets, for each event group of its primary tickers, ``brief-<group>.html``
and ``brief-<group>.md`` (offline: relative links to ``plots/``, inline CSS, no script; every
catalog text escaped). A brief puts on one page:

* first, per event with a result, the answer in one sentence
  (:func:`flows.reporting.answers.answer_sentences`), then the group's line (events, data,
  CAAR and tests, claims: :attr:`Brief.headline`) and a table of contents;
* the group's CAAR per window with the main tests, and its CAAR path plot;
* each event's reaction — AR on day 0 and the CAR of every window with t, p and dollar value,
  and events without data ("no data: no prices for ORCL") with the reason;
* per event with a result, the answer in words: the raw move in dollars, the part the market
  model attributes to the market, the abnormal part (AR(0) × market cap) and its
  significance, the share of a claimed dollar figure it explains, the confounding events with
  their own reaction and what each window is without their day, and the claim verdicts;
* the claims table, the confounders table and the "who moved" table of the group's events
  (those with rows; a long one collapsed, with a link to the CSV of every row).

A page costs what a person reads: a group of more than :data:`BRIEF_ROWS` event rows lists
:data:`BRIEF_SELECTED` of them (:func:`flows.reporting.tables.shown_rows`: the most significant, the
largest dollar reactions, the skipped and flagged rows) with a line saying how many more
``car.parquet`` holds, and a report of more than :data:`MAX_BRIEFS` groups has the briefs of
the :data:`MAX_BRIEFS` largest.

The *flagship* report of the 2025 OpenAI compute deals is the brief of the group
``openai-compute-deals``: ``market-reaction run`` on ``deployments/events.toml`` (all events)
writes ``brief-openai-compute-deals.html`` into the run's report folder; the nightly
``refresh-catalog`` writes it into ``<reports>/events/catalog/``. The report index lists the
latest brief of every group, and each brief is published as the Prefect markdown artifact
``<group>-brief`` (the answers, the group's line, claim verdicts, link).
"""

from __future__ import annotations

import dataclasses
import html
import weakref
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from analysis import schema as S
from analysis.claims import CANNOT_TELL, CLAIMED, CONSISTENT, INCONSISTENT, PART
from analysis.confounders import (
    CONFOUNDER_AR0, CONFOUNDER_AR0_P, CONFOUNDER_DOLLARS, EVENT_WINDOW, confounder_effects,
)
from analysis.engine import AR_AT_OFFSET, STATUS, StudyResult
from analysis.inference import BMP_T, CORRADO_RANK, CROSS_SECTIONAL_T, GENERALIZED_SIGN, KP_ADJUSTED_BMP_T, PATELL_Z, TESTS
from analysis.paths import caar_paths
from analysis.spillovers import RELATED_SUFFIX
from flows.orchestration.artifacts import artifact_key, where
from flows.reporting.plots import moved_events, plotted_events, plotted_groups, slug
from analysis.formats import dollars, num, offset, p_text, pct, price, pvalue, share, starred, stat_p
from flows.reporting.answers import answer_sentences
from flows.reporting.markup import PAGE_CSS, html_page, md_block, md_text, toc
from flows.reporting.tables import (
    STARS_NOTE, Shown, Table, _fmt, _limit, _money, claims_table, confounders_table, flags, shown_rows, spillovers_table,
    starred_expr, table_section, to_html, to_markdown,
)

BRIEF_PREFIX = "brief-"
MAX_BRIEFS = 10
"""Groups with a brief: all up to this many, else the groups with the most event rows."""
BRIEF_ROWS = 20
"""Event rows a brief lists: all of its group's up to this many, else a selection of
:data:`BRIEF_SELECTED` (:func:`flows.reporting.tables.shown_rows`), with a line saying how many more
the Parquet files hold."""
BRIEF_SELECTED = 10
MAX_NAMED = 10  # tickers named in a headline's "no data: ..." list
BRIEF_TESTS = (CROSS_SECTIONAL_T, PATELL_Z, BMP_T, KP_ADJUSTED_BMP_T, GENERALIZED_SIGN, CORRADO_RANK)


@dataclass(frozen=True)
class Brief:
    """One group's brief.

    Attributes
    ----------
    group
        The event group.
    file
        ``brief-<group slug>.html`` (with its ``.md`` twin), relative to the report folder.
    headline
        The group's line: events, data, the group's CAAR on the first window with its tests,
        the claims (the page opens with the answers of its events, then this line).
    verdicts
        One line per claim part: ``event ticker: "claim": verdict``.
    markdown, html
        The page.
    n_events
        The group's events in the brief (the index prefers the brief covering the most).
    answers
        The answer sentence of each event row of the brief with a result
        (:func:`flows.reporting.answers.answer_sentences`), the page's first paragraphs.
    """

    group: str
    file: str
    headline: str
    verdicts: tuple[str, ...]
    markdown: str
    html: str
    n_events: int = 0
    answers: tuple[str, ...] = ()

    @property
    def markdown_file(self) -> str:
        return self.file.removesuffix(".html") + ".md"

    def manifest_entry(self) -> dict[str, object]:
        return {"group": self.group, "file": self.file, "headline": self.headline, "verdicts": list(self.verdicts),
                "events": self.n_events, "answers": list(self.answers)}


# --- text helpers -------------------------------------------------------------------------------


def _limited(frame: pl.DataFrame, ids: list[str]) -> pl.DataFrame:
    return frame.filter(pl.col(S.EVENT_ID).is_in(ids))


# --- content ---------------------------------------------------------------------------------------


def _groups(result: StudyResult) -> list[str]:
    """The groups of the primary event rows, in their order; beyond :data:`MAX_BRIEFS`, the
    :data:`MAX_BRIEFS` groups with the most event rows."""
    sizes = (result.events.filter((pl.col(S.ROLE) == "primary") & ~pl.col(S.GROUP).str.ends_with(RELATED_SUFFIX))
             .group_by(S.GROUP, maintain_order=True).len().with_row_index("_order"))
    if sizes.height > MAX_BRIEFS:
        sizes = sizes.sort(pl.col("len"), "_order", descending=[True, False]).head(MAX_BRIEFS).sort("_order")
    return sizes[S.GROUP].to_list()


def _caar_table(result: StudyResult, group: str) -> Table:
    labels = {t.name: t.label for t in TESTS}
    tests = result.tests.filter(pl.col(S.GROUP) == group)
    flagged, confounded = _confounded_windows(result, group)
    rows = []
    for w in result.spec.windows:
        part = {r[S.TEST]: r for r in tests.filter((pl.col(S.WINDOW_START) == w.start) & (pl.col(S.WINDOW_END) == w.end)).iter_rows(named=True)}
        cs = part.get(CROSS_SECTIONAL_T, {})
        rows.append({"window": w.label + (" †" if w in flagged else ""), "N": str(cs.get(S.N_EVENTS) or 0), "CAAR": pct(cs.get(S.MEAN)),
                     **{labels[t]: stat_p(part.get(t, {}).get(S.STATISTIC), part.get(t, {}).get(S.P_VALUE)) for t in BRIEF_TESTS}})
    frame = pl.DataFrame(rows, schema={"window": pl.String, "N": pl.String, "CAAR": pl.String,
                                       **{labels[t]: pl.String for t in BRIEF_TESTS}})
    return Table(
        f"brief-caar-{slug(group)}", f"Group {group}: cumulative average abnormal return", frame,
        ("N: events of the group with an abnormal return in the window (primary tickers). Cells: statistic (two-sided p); "
         "CS t cross-sectional t (Brown & Warner 1985), Patell (1976) Z, BMP t Boehmer-Musumeci-Poulsen (1991), "
         "KP adj. BMP t Kolari-Pynnonen (2010), Gen. sign Z Cowan (1992), Rank Z Corrado (1989). All twelve tests are "
         "in the report's tests table.", *confounded),
        numeric=tuple(frame.columns[1:]), data="tests",
    )


MAX_CONFOUNDED = 5  # footnotes on confounded windows in a group's CAAR table


def _confounded_windows(result: StudyResult, group: str) -> tuple[set, list[str]]:
    """The windows of the group's CAAR that hold another event's day 0 for one of its primary
    event rows (flagged †), and a footnote per such day naming it and that row's AR on it."""
    rows = _group_rows(result, group).filter(pl.col(STATUS) != "skipped").select(S.EVENT_ID, S.TICKER)
    inside = (result.confounders.filter((pl.col(S.ROLE) == "primary") & (pl.col(S.LOCATION) == EVENT_WINDOW))
              .join(rows, on=[S.EVENT_ID, S.TICKER], how="semi", maintain_order="left"))
    flagged, notes = set(), []
    for r in inside.iter_rows(named=True):
        windows = [w for w in result.spec.windows if w.start <= r[S.OFFSET] <= w.end]
        flagged.update(windows)
        notes.append(f"† {', '.join(w.label for w in windows)} include{'s' * (len(windows) == 1)} day {r[S.OFFSET]:+d} of "
                     f"{r[S.EVENT_ID]} ({r[S.TICKER]}), the day 0 of {r[S.CONFOUNDER_ID]}"
                     + (f": its AR that day, {pct(r[AR_AT_OFFSET])}, is in the CAAR" if r[AR_AT_OFFSET] is not None else "")
                     + ".")
    if len(notes) > MAX_CONFOUNDED:
        notes = [*notes[:MAX_CONFOUNDED], f"† ... and {len(notes) - MAX_CONFOUNDED} more: the confounders table."]
    return flagged, notes


def _deals_table(result: StudyResult, group: str, shown: Shown) -> Table:
    """Each event row of the group (primary tickers; those ``shown``), with or without data."""
    keys = [S.EVENT_ID, S.TICKER]
    notes: list[str] = []
    rows = _limit(result.events.filter((pl.col(S.ROLE) == "primary") & (pl.col(S.GROUP) == group)), shown, notes,
                  "car.parquet")
    day0 = (result.abnormal_returns.filter(pl.col(S.EVENT_DAY) == 0).join(rows.select(keys), on=keys, how="semi")
            .select(*keys, S.ABNORMAL_RET, S.AR_T, S.AR_P))
    wide = rows.select(*keys, S.DAY0, STATUS, S.MARKET_CAP, S.REASON).join(day0, on=keys, how="left", maintain_order="left")
    formats = {S.AR_T: num, S.AR_P: pvalue}
    money = [S.MARKET_CAP]
    spanners = [("Day 0", ("AR day 0", "t", "p"))]
    for w in result.spec.windows:
        c, p, d = (f"{name} {w.label}" for name in ("CAR", "p", "$ abnormal"))
        part = result.car.filter((pl.col(S.WINDOW_START) == w.start) & (pl.col(S.WINDOW_END) == w.end)).join(
            rows.select(keys), on=keys, how="semi").select(
            *keys, starred_expr(S.CAR, S.P_VALUE).alias(c),
            pl.col(S.P_VALUE).alias(p), pl.col(S.DOLLAR_ABNORMAL).alias(d),
        )
        wide = wide.join(part, on=keys, how="left", maintain_order="left")
        formats[p] = pvalue
        money.append(d)
        spanners.append((f"CAR {w.label}", (c, p, d)))
    wide = wide.join(flags(result, rows), on=keys, how="left", maintain_order="left").with_columns(
        pl.when(pl.col(STATUS) == "skipped").then(pl.concat_str(pl.lit("no data: "), pl.col(S.REASON)))
        .otherwise(pl.col("flags")).alias("note")
    ).drop(S.REASON, "flags")
    formats |= _money(wide, money, changes=money[1:])
    frame = _fmt(wide.with_columns(pl.col(S.ABNORMAL_RET).map_elements(pct, return_dtype=pl.String)), formats).rename(
        {S.EVENT_ID: "event", S.DAY0: "day 0", S.MARKET_CAP: "market cap (day -1)", S.ABNORMAL_RET: "AR day 0",
         S.AR_T: "t", S.AR_P: "p"}
    )
    return Table(
        f"brief-deals-{slug(group)}", f"Group {group}: each event's reaction and dollar value", frame,
        ("AR day 0: abnormal return on day 0 with t and p from its prediction-error variance (MacKinlay 1997); CAR per "
         "window with p; $ abnormal = CAR x market cap at the close of day -1. " + STARS_NOTE,
         "Events without data stay in the table with the reason (no data: ...); note: confounders and outliers "
         "(see below and the events table).", *notes),
        spanners=tuple(spanners), numeric=tuple(c for c in frame.columns if c not in ("event", "ticker", "day 0", STATUS, "note")),
        data="car",
    )


def _answers(result: StudyResult, group: str, shown: Shown) -> list[tuple[str, list[str]]]:
    """Per primary event row of the group (of those ``shown``) with a day-0 AR: a title and
    bullet sentences."""
    keys = [S.EVENT_ID, S.TICKER]
    rows = (
        _limit(result.events.filter((pl.col(S.ROLE) == "primary") & (pl.col(S.GROUP) == group)), shown, [], "car.parquet")
        .select(*keys, S.DAY0, S.BENCHMARK, S.CLOSE, S.SHARES, S.MARKET_CAP)
        .join(result.abnormal_returns.filter(pl.col(S.EVENT_DAY) == 0).select(
            *keys, S.RET, S.BENCHMARK_RET, S.NORMAL_RET, S.ABNORMAL_RET, S.AR_T, S.AR_P), on=keys, how="inner",
            maintain_order="left")
        .join(result.models.select(*keys, S.ALPHA, S.BETA), on=keys, how="left", maintain_order="left")
        .filter(pl.col(S.ABNORMAL_RET).is_not_null())
    )
    mine = result.car.join(rows.select(keys), on=keys, how="semi")
    car = {(r[S.EVENT_ID], r[S.TICKER], r[S.WINDOW_START], r[S.WINDOW_END]): r for r in mine.iter_rows(named=True)}
    conf = confounder_effects(result.confounders.join(rows.select(keys), on=keys, how="semi", maintain_order="left"),
                              result.abnormal_returns, result.events)
    claims = result.claims
    out = []
    for r in rows.iter_rows(named=True):  # one paragraph per event row of one group (a page's worth)
        event, ticker = r[S.EVENT_ID], r[S.TICKER]
        first = result.spec.windows[0]
        if car.get((event, ticker, first.start, first.end), {}).get(S.CAR) is None:
            continue
        bullets = []
        cap, ar, raw = r[S.MARKET_CAP], r[S.ABNORMAL_RET], r[S.RET]
        if cap is not None and raw is not None:
            shares = f" = {price(r[S.CLOSE])} x {r[S.SHARES]:,} shares" if r[S.SHARES] is not None else ""
            bullets.append(f"Move: {pct(raw)} on day 0 = {dollars(raw * cap, signed=True)} on a market cap of {dollars(cap)} at the "
                           f"close of day -1{shares}.")
        model = (f"the market model (alpha {pct(r[S.ALPHA])} a day, beta {num(r[S.BETA])} on {r[S.BENCHMARK]}, which moved "
                 f"{pct(r[S.BENCHMARK_RET])}) expected {pct(r[S.NORMAL_RET])}" if r[S.BETA] is not None
                 else f"the {result.spec.model} model expected {pct(r[S.NORMAL_RET])}")
        if cap is not None:
            model += f" ({dollars(r[S.NORMAL_RET] * cap, signed=True)})"
        worth = f", worth {dollars(ar * cap, signed=True)} (AR x market cap)" if cap is not None else ""
        part = ""
        if cap is not None and raw:
            # a share only when the abnormal part moved with the day (not "-72% of the day's move")
            part = f" — {share(ar / raw)} of the day's move" if 0 < ar / raw <= 1 else ""
            value_claims = claims.filter((pl.col(S.EVENT_ID) == event) & (pl.col(S.TICKER) == ticker)
                                         & (pl.col(S.CLAIM_KIND) == "value_change") & pl.col(CLAIMED).is_not_null())
            for c in value_claims.iter_rows(named=True):
                if 0 < ar * cap / c[CLAIMED] <= 1:
                    part += f"{',' if part else ' —'} {share(ar * cap / c[CLAIMED])} of the claimed {dollars(c[CLAIMED])}"
        bullets.append(f"Abnormal: {model}; the abnormal return is {pct(ar)} (t = {num(r[S.AR_T])}, {p_text(r[S.AR_P])}){worth}{part}.")
        windows = [
            f"{w.label} {starred(c[S.CAR], c[S.P_VALUE])} (t = {num(c[S.T_STAT])}, {p_text(c[S.P_VALUE])}"
            + (f", {dollars(c[S.DOLLAR_ABNORMAL], signed=True)})" if c[S.DOLLAR_ABNORMAL] is not None else ")")
            for w in result.spec.windows if (c := car.get((event, ticker, w.start, w.end))) and c[S.CAR] is not None
        ]
        if windows:
            bullets.append("CAR: " + "; ".join(windows) + ".")
        mine = conf.filter((pl.col(S.EVENT_ID) == event) & (pl.col(S.TICKER) == ticker))
        for c in mine.iter_rows(named=True):
            day = f"day 0 {c[S.CONFOUNDER_DAY0]} = day {offset(c[S.OFFSET])}"
            text = f"Confounder {c[S.CONFOUNDER_ID]} ({day}"
            if c[S.LOCATION] == EVENT_WINDOW:
                text += f", inside {c[S.WINDOWS]})"
                if c[AR_AT_OFFSET] is not None:
                    without = [
                        f"{w.label} {pct(cw[S.CAR] - c[AR_AT_OFFSET])}" for w in result.spec.windows
                        if w.start <= c[S.OFFSET] <= w.end and (cw := car.get((event, ticker, w.start, w.end)))
                        and cw[S.CAR] is not None
                    ]
                    text += (f": this event's AR on that day is {pct(c[AR_AT_OFFSET])}, counted in those windows; without "
                             f"that day the CAR is " + ", ".join(without) if without else "")
            else:
                days = c[S.CONTAMINATED_DAYS]
                text += f", {c[S.LOCATION]}"
                text += (f"; {days} of its event-window days in the estimation window, "
                         + ("dropped" if result.spec.drop_confounded else "kept (--drop-confounded drops them)")
                         if days else "") + ")"
            if c[CONFOUNDER_AR0] is not None:
                text += (f". Its own AR on its day 0: {starred(c[CONFOUNDER_AR0], c[CONFOUNDER_AR0_P])} "
                         f"({p_text(c[CONFOUNDER_AR0_P])})"
                         + (f", worth {dollars(c[CONFOUNDER_DOLLARS], signed=True)}" if c[CONFOUNDER_DOLLARS] is not None else ""))
            elif c.get(S.DISCOVERED):
                text += ". An SEC filing found by `events discover`, not studied (add it to the catalog for its own reaction)"
            elif not c[S.IN_STUDY]:
                text += ". Not studied in this run (run it too for its own reaction)"
            bullets.append(text + ".")
        for c in claims.filter((pl.col(S.EVENT_ID) == event) & (pl.col(S.TICKER) == ticker)).iter_rows(named=True):
            bullets.append(f"Claim \"{c[S.CLAIM]}\" ({c[S.CLAIM_KIND]}): {c[S.VERDICT]} — {c[S.WHY]}."
                           + (f" At the close: {c[S.AT_CLOSE]}." if c[S.AT_CLOSE] else "")
                           + (f" Intraday: {c[S.AT_INTRADAY]}." if c[S.AT_INTRADAY] else ""))
        out.append((f"{ticker}, {event} (day 0 {r[S.DAY0]})", bullets))
    return out


def _headline(result: StudyResult, group: str) -> str:
    prim = result.events.filter((pl.col(S.ROLE) == "primary") & (pl.col(S.GROUP) == group))
    n_events = prim[S.EVENT_ID].n_unique()
    without = prim.filter(pl.col(STATUS) == "skipped")
    first = result.spec.windows[0]
    tests = {r[S.TEST]: r for r in result.tests.filter(
        (pl.col(S.GROUP) == group) & (pl.col(S.WINDOW_START) == first.start) & (pl.col(S.WINDOW_END) == first.end)
    ).iter_rows(named=True)}
    text = f"{group}: {n_events} event(s), {prim.height - without.height} with a result"
    if without.height:
        names = without[S.TICKER].unique(maintain_order=True)
        text += (" (no data: " + ", ".join(names.head(MAX_NAMED).to_list())
                 + (f" and {names.len() - MAX_NAMED:,} more" if names.len() > MAX_NAMED else "") + ")")
    cs = tests.get(CROSS_SECTIONAL_T)
    if cs and cs[S.MEAN] is not None:
        text += f". Average abnormal return {first.label} {pct(cs[S.MEAN])} across {cs[S.N_EVENTS]}"
        parts = [f"{label} {num(t[S.STATISTIC])}, {p_text(t[S.P_VALUE])}" for name, label in
                 ((CROSS_SECTIONAL_T, "cross-sectional t"), (BMP_T, "BMP t")) if (t := tests.get(name)) and t[S.STATISTIC] is not None]
        if parts:
            text += " (" + "; ".join(parts) + ")"
    elif not result.tests.height:
        text += ". Group tests: see the catalog report"
    verdicts = result.claims.filter(pl.col(S.EVENT_ID).is_in(prim[S.EVENT_ID].to_list()))[S.VERDICT].to_list()
    if verdicts:
        text += ". Claims: " + ", ".join(f"{verdicts.count(v)} {v}" for v in (CONSISTENT, INCONSISTENT, CANNOT_TELL) if v in verdicts)
    return text + "."


def _verdict_lines(result: StudyResult, ids: list[str]) -> tuple[str, ...]:
    claims = _limited(result.claims, ids).sort(S.EVENT_ID, S.TICKER, S.CLAIM, PART, maintain_order=True)
    return tuple(
        f"{c[S.EVENT_ID]} {c[S.TICKER] or ''}: \"{c[S.CLAIM]}\": {c[S.VERDICT]} ({c[S.WHY]})" for c in claims.iter_rows(named=True)
    )


def _plots(result: StudyResult, group: str, ids: list[str]) -> list[tuple[str, str]]:
    """``(stem, caption)`` of the plots the report folder holds for the group (see flows.reporting.plots)."""
    out = []
    if group in plotted_groups(caar_paths(result.paths)):
        out.append((f"caar-{slug(group)}", f"CAAR of {group} with its 95% cross-sectional band"))
    plotted, moved = plotted_events(result.paths), moved_events(result)
    for e in (e for e in ids if e in plotted):  # each event's move beside its CAR
        out.append((f"car-{e}", f"CAR of {e} with its 95% band, confounders' days and the windows; related tickers dashed"))
        if e in moved:
            out.append((f"move-{e}", f"Day-0 move of {e} in dollars: the model's part, the abnormal part, the claim"))
    return out


def _view(result: StudyResult, ids: list[str]) -> StudyResult:
    """``result`` restricted to the events ``ids`` and the other events confounding them (whose
    own reaction the brief shows): a brief's tables read a few rows, not the whole study."""
    confounders = result.confounders.filter(pl.col(S.EVENT_ID).is_in(ids))
    wanted = pl.col(S.EVENT_ID).is_in(list(dict.fromkeys([*ids, *confounders[S.CONFOUNDER_ID].to_list()])))
    return dataclasses.replace(
        result, events=result.events.filter(wanted), abnormal_returns=result.abnormal_returns.filter(wanted),
        car=result.car.filter(wanted), models=result.models.filter(wanted), confounders=confounders,
        claims=result.claims.filter(pl.col(S.EVENT_ID).is_in(ids)),
    )


def _group_rows(result: StudyResult, group: str) -> pl.DataFrame:
    """The primary event rows of ``group``."""
    return result.events.filter((pl.col(S.ROLE) == "primary") & (pl.col(S.GROUP) == group))


_LAST: list[tuple[weakref.ref, weakref.ref, dict[str | None, Shown]]] = []


def _selections(result: StudyResult) -> dict[str | None, Shown]:
    """The event rows the pages list (:func:`~flows.reporting.tables.shown_rows`): of the whole
    study (key ``None``) and of each brief's group (its primary rows). Made once per study (its
    ``events`` and ``car`` frames): the read-back of streamed rows (:func:`displayed_events`),
    the manifest and the briefs all ask (some 0.2 s each at 10^5 events)."""
    if not (_LAST and _LAST[0][0]() is result.events and _LAST[0][1]() is result.car):
        chosen: dict[str | None, Shown] = {None: shown_rows(result)}
        for group in _groups(result):
            chosen[group] = shown_rows(result, _group_rows(result, group), BRIEF_ROWS, BRIEF_SELECTED)
        _LAST[:] = [(weakref.ref(result.events), weakref.ref(result.car), chosen)]
    return _LAST[0][2]


def displayed_events(result: StudyResult) -> list[str]:
    """The ids of every event a page lists, the report's tables or a brief: the events whose
    daily abnormal returns the pages need (a study that streamed them to disk reads back
    only these)."""
    return pl.concat([s.keys for s in _selections(result).values()])[S.EVENT_ID].unique(maintain_order=True).to_list()


def group_briefs(result: StudyResult, descriptions: dict[str, str] | None = None, title: str = "") -> list[Brief]:
    """The brief of every event group of ``result`` (see the module docstring).

    Parameters
    ----------
    result
        The study's results, with its ``claims``.
    descriptions
        Event id -> catalog description (user text; escaped).
    title
        The report's title, the tooltip of the link to the full report.
    """
    descriptions = descriptions or {}
    briefs = []
    selections = _selections(result)
    for group in _groups(result):  # at most MAX_BRIEFS
        rows, shown = _group_rows(result, group), selections[group]
        ids = shown.keys[S.EVENT_ID].unique(maintain_order=True).to_list()
        headline = _headline(result, group)
        view = _view(result, ids)
        caar, deals = _caar_table(result, group), _deals_table(view, group, shown)
        more = [t for t in (claims_table(view, ids, shown), confounders_table(view, ids, shown), spillovers_table(view, ids, shown))
                if t.frame.height]  # empty sections are left out
        sentences = [a.sentence for a in answer_sentences(view, descriptions, rows=shown.keys)]
        answers = _answers(view, group, shown)
        plots = _plots(result, group, ids)
        described = [(e, descriptions[e]) for e in ids if descriptions.get(e)]
        name = f"Group brief: {group}"
        file = f"{BRIEF_PREFIX}{slug(group)}.html"
        contents = [("#group", "The group: average abnormal return and tests"), ("#events", "The events and their reactions")]
        contents += [("#answers", "What the numbers say")] if answers else []
        contents += [(f"#{t.key}", t.title) for t in more]

        md = [f"# {md_text(name)}", ""] + [md_block(x) + "\n" for x in sentences]
        md += [f"[Full report](report.html) · {md_text(headline)}", ""]
        md += ["## The group: average abnormal return and tests", ""]
        md += [f"![{p}](plots/{p}.png)" for p, _ in plots[:1]] + [""]
        md += [to_markdown(caar, heading="###"), "## The events and their reactions", ""]
        md += [f"- **{md_text(e)}**: {md_text(d)}" for e, d in described] + [""]
        md += [to_markdown(deals, heading="###")]
        if answers:
            md += ["## What the numbers say", ""]
        for head, bullets in answers:
            md += [f"### {md_text(head)}", ""] + [f"- {md_text(b)}" for b in bullets] + [""]
        md += [f"![{p}](plots/{p}.png)" for p, _ in plots[1:]] + [""]
        md += [to_markdown(t) for t in more]
        markdown = "\n".join(md).replace("\n\n\n", "\n\n")

        esc = html.escape
        figures = lambda chosen: "".join(  # noqa: E731
            f'<figure class="{p.split("-")[0]}"><img src="plots/{esc(p)}.svg" alt="{esc(p)}"><figcaption>{esc(c)}</figcaption></figure>'
            for p, c in chosen
        )
        events_html = "".join(f"<li><b class=\"nowrap\">{esc(e)}</b>: {esc(d)}</li>" for e, d in described)
        answers_html = "".join(
            f"<h3>{esc(head)}</h3><ul>" + "".join(f"<li>{esc(b)}</li>" for b in bullets) + "</ul>" for head, bullets in answers
        )
        report_link = f'<a href="report.html"{f" title={chr(34)}{esc(title)}{chr(34)}" if title else ""}>Full report</a>'
        page = html_page(name, PAGE_CSS,
            f"<h1>{esc(name)}</h1>"
            + (f'<section class="answers" id="answer">{"".join(f"<p>{esc(x)}</p>" for x in sentences)}</section>' if sentences else "")
            + f'<p class="meta">{report_link} · {esc(headline)}</p>{toc(contents)}'
            f'<section id="group"><h2>The group: average abnormal return and tests</h2>{figures(plots[:1])}{to_html(caar)}</section>'
            f'<section id="events"><h2>The events and their reactions</h2><ul>{events_html}</ul>{to_html(deals)}</section>'
            + (f'<section id="answers"><h2>What the numbers say</h2>{answers_html}{figures(plots[1:])}</section>' if answers else "")
            + "".join(table_section(t) for t in more)
        )
        briefs.append(Brief(group, file, headline, _verdict_lines(result, ids), markdown, page, rows[S.EVENT_ID].n_unique(),
                            tuple(sentences)))
    return briefs


def brief_files(briefs: list[Brief]) -> dict[str, str]:
    """File name -> text of every brief (HTML and Markdown), for the report folder."""
    return {name: text for b in briefs for name, text in ((b.file, b.html), (b.markdown_file, b.markdown))}


def publish_brief_artifacts(
    briefs: list[dict[str, object]], report: Path, root: Path, partial: frozenset[str] = frozenset(),
) -> list[str]:
    """A markdown artifact ``<group>-brief`` per brief of the report in ``report`` (entries of
    its manifest's ``briefs``): the answers, the group's line, the claim verdicts and where the
    page is (:func:`flows.orchestration.artifacts.where`: a link under the reports URL, else its
    path in the reports folder ``root``). The brief of a group in ``partial`` (the run studied
    only some of its catalog events) gets no key: it stays in this flow run and never replaces
    the brief of the whole group."""
    from prefect.artifacts import create_markdown_artifact

    keys = []
    for b in briefs:
        group = str(b["group"])
        lines = [*(f"{md_block(str(a))}\n" for a in b.get("answers", [])), md_block(str(b["headline"]))]  # type: ignore[union-attr]
        verdicts = [str(v) for v in b.get("verdicts", [])]  # type: ignore[union-attr]
        if verdicts:
            lines += ["", "**Claims**", ""] + [f"- {md_text(v)}" for v in verdicts]
        key = None if group in partial else artifact_key(group, "brief")
        scope = f" ({b.get('events')} of its catalog events)" if key is None else ""
        create_markdown_artifact(markdown="\n".join(lines) + "\n\n" + where(Path(report) / str(b["file"]), root, "brief"),
                                 key=key, description=f"group brief: {md_text(group)}{scope}")
        keys += [key] if key else []
    return keys
