"""The answer in one sentence per event row, built from the numbers (the one place it is built).

For each primary event row with a CAR on the study's first window, e.g.::

    AMZN rose 4.00% (+$104.6bn) on 2025-11-03; +3.78% (+$98.6bn) beyond what the market
    explains, significant at 1% (t = 2.76, p = 0.006); the wider windows also hold Amazon Q3 2025
    results the session before (+9.23% abnormal that day).

* the raw move over the first window (``raw_return``) and its money value (``dollar_raw`` =
  the move x the market cap at the close of day -1);
* the abnormal part (``car``) and its money value (``dollar_abnormal``), with the level the
  p-value passes (:func:`analysis.formats.significance`) and its t and p;
* every other catalog event of the ticker inside the event windows (``confounders.parquet``,
  location ``event window``), named by the first clause of its catalog description (else its
  id), with its day in this event's time and this row's abnormal return that day: one inside
  the first window is part of the number ("... is in this number too"); one outside it is
  in the wider windows ("the wider windows also hold ..."), with what the stock did that day.

The company is named by ``names`` (ticker -> name, when the caller has one), else by its
ticker. The report and the briefs open with these sentences, the command line prints
:func:`headline`, and the Prefect artifacts take :func:`answer_sentences`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from analysis import schema as S
from analysis.confounders import EVENT_WINDOW
from analysis.engine import AR_AT_OFFSET, StudyResult
from analysis.formats import dollars, num, p_text, pct, significance
from flows.reporting.tables import _limit, shown_rows

MAX_NAME = 60  # characters of a confounder's description named in a sentence


@dataclass(frozen=True)
class Answer:
    """One event row's answer: ``sentence`` about ``ticker`` in ``event_id`` (day 0 ``day0``)."""

    event_id: str
    ticker: str
    day0: str
    sentence: str


def short_name(description: str | None, fallback: str) -> str:
    """The first clause of a catalog ``description`` (up to ``:``, ``;``, `` - `` or a full
    stop; at most :data:`MAX_NAME` characters, cut at a word), else ``fallback``."""
    first = re.split(r":|;| - | – |\.(?:\s|$)", (description or "").strip(), maxsplit=1)[0].strip()
    if len(first) > MAX_NAME:
        first = first[:MAX_NAME].rsplit(" ", 1)[0] + "…"
    return first or fallback


def _when(offset: int) -> str:
    """A confounder's day in words: ``the same session``, ``the session before``, ``2 sessions after``."""
    if offset == 0:
        return "the same session"
    n, side = abs(offset), "before" if offset < 0 else "after"
    return f"the session {side}" if n == 1 else f"{n} sessions {side}"


def _rows(result: StudyResult, rows: pl.DataFrame | None) -> pl.DataFrame:
    """The primary event rows answered (of ``rows``, default those of :func:`shown_rows`) with
    the numbers of their first window."""
    w = result.spec.windows[0]
    keys = [S.EVENT_ID, S.TICKER]
    first = result.car.filter(
        (pl.col(S.ROLE) == "primary") & (pl.col(S.WINDOW_START) == w.start) & (pl.col(S.WINDOW_END) == w.end)
        & pl.col(S.CAR).is_not_null()
    )
    if rows is None:
        first = _limit(first, shown_rows(result, first), [], "car.parquet")
    else:
        first = rows.select(keys).join(first, on=keys, how="inner", maintain_order="left")
    return first.join(result.events.select(*keys, S.DAY0), on=keys, how="left", maintain_order="left")


def answer_sentences(
    result: StudyResult, descriptions: Mapping[str, str] | None = None, names: Mapping[str, str] | None = None,
    rows: pl.DataFrame | None = None,
) -> list[Answer]:
    """The answer of every primary event row with a CAR on the study's first window (see the
    module docstring), in the order of ``rows``.

    Parameters
    ----------
    result
        The study's results.
    descriptions
        Event id -> catalog description (names the confounders; user text, escaped by the page).
    names
        Ticker -> company name; a ticker not in it is named by itself.
    rows
        ``event_id, ticker`` to answer (default: :func:`~flows.reporting.tables.shown_rows`, every
        row up to :data:`~flows.reporting.tables.MAX_EVENT_ROWS`, else the selection).
    """
    descriptions, names = descriptions or {}, names or {}
    w = result.spec.windows[0]
    first = _rows(result, rows)
    keys = [S.EVENT_ID, S.TICKER]
    inside = (result.confounders.filter(pl.col(S.LOCATION) == EVENT_WINDOW)
              .join(first.select(keys), on=keys, how="semi").sort(*keys, S.OFFSET, S.CONFOUNDER_ID))
    by_row: dict[tuple[str, str], list[dict]] = {}
    for c in inside.iter_rows(named=True):
        by_row.setdefault((c[S.EVENT_ID], c[S.TICKER]), []).append(c)
    span = "on" if w.length == 1 else f"over {w.label} around"
    out = []
    for r in first.iter_rows(named=True):  # one sentence per event row a page lists
        raw, money_raw, car = r[S.RAW_RETURN], r[S.DOLLAR_RAW], r[S.CAR]
        name = names.get(r[S.TICKER]) or r[S.TICKER]
        if raw is None:
            move = f"{name}'s reaction {span} {r[S.DAY0]}:"
        else:
            verb = "rose" if raw > 0 else "fell" if raw < 0 else "was unchanged"
            size = "" if raw == 0 else f" {pct(abs(raw)).lstrip('+')}" + (f" ({dollars(money_raw, signed=True)})" if money_raw is not None else "")
            move = f"{name} {verb}{size} {span} {r[S.DAY0]};"
        level = significance(r[S.P_VALUE])
        stat = f"t = {num(r[S.T_STAT])}, {p_text(r[S.P_VALUE])}"
        text = (f"{move} {pct(car)}" + (f" ({dollars(r[S.DOLLAR_ABNORMAL], signed=True)})" if r[S.DOLLAR_ABNORMAL] is not None else "")
                + " beyond what the market explains, " + (f"significant {level} ({stat})" if level else f"not significant ({stat})"))
        parts_in, parts_out = [], []
        for c in by_row.get((r[S.EVENT_ID], r[S.TICKER]), []):
            label = f"{short_name(descriptions.get(c[S.CONFOUNDER_ID]), c[S.CONFOUNDER_ID])} {_when(c[S.OFFSET])}"
            if c[AR_AT_OFFSET] is not None:
                label += f" ({pct(c[AR_AT_OFFSET])} abnormal that day)"
            (parts_in if w.start <= c[S.OFFSET] <= w.end else parts_out).append(label)
        if parts_in:
            text += "; " + " and ".join(parts_in) + (" is" if len(parts_in) == 1 else " are") + " in this number too"
        if parts_out:
            text += "; the wider windows also hold " + " and ".join(parts_out)
        out.append(Answer(r[S.EVENT_ID], r[S.TICKER], str(r[S.DAY0]), text + "."))
    return out


def headline(result: StudyResult, limit: int = 5, descriptions: Mapping[str, str] | None = None) -> str:
    """The sentences of :func:`answer_sentences` for the first ``limit`` event rows, joined: the
    command line's summary and the manifest's ``headline``."""
    return " ".join(a.sentence for a in answer_sentences(result, descriptions)[:limit])
