"""Prefect artifacts of a report, under stable keys per event.

For every event with a result (the first :data:`MAX_EVENTS` of the headline sentences of a
run, :func:`flows.reporting.tables.headline_sentences`: of a large run, the most significant)::

    <event>-summary    table: CAR, s.e., t, p, BHAR and dollar value per ticker and window
    <event>-tests      table: the tests of the event's group in this report
    <event>-headline   markdown: the headline sentence(s) of the event
    <event>-report     link: file URL of the report's HTML page

``<event>`` is the event id with ``_`` turned into ``-`` (artifact keys allow lowercase
letters, digits and dashes only). A key's latest version is the latest result of the event;
Prefect keeps the earlier versions. Dates are sent as ISO text, NaN as null. The UI renders
descriptions and Markdown: user text in them goes through :func:`flows.reporting.tables.md_text`.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from analysis import schema as S
from analysis.engine import StudyResult
from flows.reporting.markup import md_block, md_text

MAX_EVENTS = 25
SUMMARY_COLUMNS = (
    S.EVENT_ID, S.TICKER, S.ROLE, S.WINDOW_START, S.WINDOW_END, S.CAR, S.CAR_SE, S.T_STAT, S.P_VALUE, S.BHAR,
    S.DOLLAR_ABNORMAL, S.DOLLAR_RAW, S.REASON,
)


def artifact_key(*parts: str) -> str:
    """Join ``parts`` into a valid artifact key (lowercase letters, digits, dashes)."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", "-".join(parts).lower())).strip("-")


def json_rows(frame: pl.DataFrame) -> list[dict]:
    """``frame`` as JSON-able rows: dates and datetimes as ISO text, NaN as None."""
    return frame.with_columns(
        pl.col(pl.Date, pl.Datetime).cast(pl.String),
        pl.col(pl.Float32, pl.Float64).fill_nan(None),
    ).to_dicts()


def publish_artifacts(result: StudyResult, reports: dict[str, Path], sentences: list[tuple[str, str, str]]) -> list[str]:
    """Create the artifacts of the events in ``reports`` in the current flow run.

    Parameters
    ----------
    result
        The study's results (tests: those of the events' groups in this result).
    reports
        Event id -> the report folder holding the event (its ``report.html`` is linked).
    sentences
        ``(event_id, ticker, sentence)`` headlines (:func:`flows.reporting.tables.headline_sentences`).

    Returns
    -------
    list of str
        The keys created.
    """
    from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

    said: dict[str, list[str]] = {}
    for event, _, sentence in sentences:
        if event in reports:
            said.setdefault(event, []).append(sentence)
    events = list(said)[:MAX_EVENTS]
    car = result.car.filter(pl.col(S.EVENT_ID).is_in(events))
    groups = dict(result.events.filter(pl.col(S.EVENT_ID).is_in(events)).select(S.EVENT_ID, S.GROUP)
                  .unique(S.EVENT_ID, keep="first").iter_rows())
    keys = []
    for (event,), rows in car.partition_by(S.EVENT_ID, as_dict=True, maintain_order=True).items():
        base = artifact_key(event)
        url = (Path(reports[event]).resolve() / "report.html").as_uri()
        tests = result.tests.filter(pl.col(S.GROUP) == groups.get(event))
        create_table_artifact(table=json_rows(rows.select(SUMMARY_COLUMNS)), key=f"{base}-summary",
                              description=f"CAR per ticker and window: {md_text(event)}")
        create_table_artifact(table=json_rows(tests), key=f"{base}-tests",
                              description=f"tests of group {md_text(str(groups.get(event)))} in the report of {md_text(event)}")
        create_markdown_artifact(
            markdown="\n\n".join(md_block(s) for s in said[event]) + f"\n\n[report]({url})",
            key=f"{base}-headline", description=f"headline: {md_text(event)}",
        )
        create_link_artifact(link=url, link_text=f"report: {md_text(event)}", key=f"{base}-report")
        keys += [f"{base}-summary", f"{base}-tests", f"{base}-headline", f"{base}-report"]
    return keys
