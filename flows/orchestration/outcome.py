"""What a run computed, flagged and skipped, in words: the final state message of a tracked
run, its WARNING lines and its warnings artifact (docs/prefect.md, "Completed or Failed").

An *event* is

- ``skipped`` when none of its primary tickers got a result (the reasons of its rows say why);
- ``ok`` when every row (primary and related tickers) is ``ok``;
- ``flagged`` otherwise (a result with a caveat, or a related ticker without one).

The counts and reasons come from one ``group_by`` over the event rows; only the lines shown
(at most :data:`MAX_LINES`) are built in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from analysis import schema as S
from analysis.engine import STATUS, StudyResult
from flows.reporting.markup import md_text

MAX_LINES = 50
"""Skipped or flagged events named one by one (WARNING lines, artifact rows); the rest are
counted in one line (every event's status and reason are in ``events.parquet``)."""
MAX_NAMED = 5  # events or tickers named per reason in the state message
MAX_REASONS = 3  # reasons of skipped events in the state message
_NO_PRICES = re.compile(r"^no prices for (?:benchmark )?([^;\s]+)")


@dataclass(frozen=True)
class Outcome:
    """The status of every event of a run and the notes on its data.

    Attributes
    ----------
    events
        One row per event, in the run's order: ``event_id``, ``status`` (``ok``, ``flagged``,
        ``skipped``) and ``reason`` (``TICKER: reason`` of each row that is not ok, ``; ``-joined).
    notes
        What could not be fetched or read (``TICKER: reason``), as in the manifest's warnings.
    """

    events: pl.DataFrame
    notes: tuple[str, ...] = ()

    def count(self, status: str) -> int:
        return self.events.filter(pl.col(STATUS) == status).height

    def message(self) -> str:
        """``8 events: 5 ok, 1 flagged, 2 skipped (no prices: ORCL, AMD)``: the counts, and why
        the skipped events were skipped (tickers without prices, else the events per reason);
        empty when no event was studied."""
        n = self.events.height
        if not n:
            return ""
        text = (f"{n:,} event{'s' if n != 1 else ''}: {self.count('ok'):,} ok, {self.count('flagged'):,} flagged, "
                f"{self.count('skipped'):,} skipped")
        skipped = self.events.filter(pl.col(STATUS) == "skipped")
        if skipped.is_empty():
            return text
        first = pl.col(S.REASON).str.split("; ").list.first().str.replace(r"^[^:]+: ", "")
        why = skipped.select(
            pl.when(first.str.contains(_NO_PRICES.pattern)).then(pl.lit("no prices")).otherwise(first).alias("why"),
            pl.coalesce(first.str.extract(_NO_PRICES.pattern, 1), pl.col(S.EVENT_ID)).alias("name"),
        ).group_by("why", maintain_order=True).agg(pl.col("name").unique(maintain_order=True))
        parts = []
        for reason, names in why.head(MAX_REASONS).iter_rows():
            more = f" and {len(names) - MAX_NAMED:,} more" if len(names) > MAX_NAMED else ""
            parts.append(f"{reason}: {', '.join(names[:MAX_NAMED])}{more}")
        if why.height > MAX_REASONS:
            parts.append(f"{why.height - MAX_REASONS:,} other reasons")
        return f"{text} ({'; '.join(parts)})"

    def warnings(self) -> list[str]:
        """One line per skipped or flagged event naming it and why (the first :data:`MAX_LINES`,
        then one line counting the rest), then one line per note."""
        bad = self.events.filter(pl.col(STATUS) != "ok")
        lines = [f"event {e} {status}: {reason}" for e, status, reason in bad.head(MAX_LINES).iter_rows()]
        if bad.height > MAX_LINES:
            lines.append(f"... and {bad.height - MAX_LINES:,} more skipped or flagged events: events.parquet (status, reason)")
        return lines + [f"data: {note}" for note in self.notes]

    def markdown(self) -> str:
        """The warnings artifact: the state message, a table of the skipped and flagged events
        and the notes on the data (user text escaped)."""
        bad = self.events.filter(pl.col(STATUS) != "ok")
        lines = [f"**{md_text(self.message())}**", ""] if self.events.height else []
        if not bad.is_empty():
            lines += ["| event | status | reason |", "|---|---|---|"]
            lines += [f"| {md_text(e)} | {s} | {md_text(r)} |" for e, s, r in bad.head(MAX_LINES).iter_rows()]
            if bad.height > MAX_LINES:
                lines.append(f"| ... | | {bad.height - MAX_LINES:,} more: events.parquet (status, reason) |")
        if self.notes:
            lines += ["", "**Data**", ""] + [f"- {md_text(n)}" for n in self.notes]
        return "\n".join(lines).strip()


def run_outcome(result: StudyResult | None, notes: list[str] | tuple[str, ...] = ()) -> Outcome:
    """The :class:`Outcome` of ``result`` (its ``events`` frame: one row per event row; None:
    no event was studied)."""
    rows = result.events if result is not None else pl.DataFrame(schema={
        S.EVENT_ID: pl.String, S.TICKER: pl.String, S.ROLE: pl.String, STATUS: pl.String, S.REASON: pl.String})
    skipped, ok = pl.col(STATUS) == "skipped", pl.col(STATUS) == "ok"
    events = rows.group_by(S.EVENT_ID, maintain_order=True).agg(
        pl.when(skipped.filter(pl.col(S.ROLE) == "primary").all()).then(pl.lit("skipped"))
        .when(ok.all()).then(pl.lit("ok")).otherwise(pl.lit("flagged")).alias(STATUS),
        pl.format("{}: {}", pl.col(S.TICKER), pl.col(S.REASON)).filter(~ok).str.join("; ").alias(S.REASON),
    )
    return Outcome(events, tuple(notes))
