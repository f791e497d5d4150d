"""Prefect artifacts of a report, under stable keys per event, written for a person to read.

For every event with a result (the first :data:`MAX_EVENTS` of the headline sentences of a
run, :func:`flows.reporting.answers.answer_sentences`: of a large run, the most significant)::

    <event>-summary    table: per ticker and window CAR, t, p, BHAR and dollar value, and the note
    <event>-tests      table: per window and test the statistic, p and N of the event's group
    <event>-headline   markdown: the answer sentence(s) of the event, and where its report is
    <event>-report     link: the report's page under $MARKET_REACTION_REPORTS_URL (only when set)

The tables hold text formatted as the report's tables are (:mod:`analysis.formats`: percent,
t, p, $bn), at most :data:`MAX_COLUMNS` columns. Links point where the UI's reader can follow
them: ``$MARKET_REACTION_REPORTS_URL`` (:func:`flows.settings.reports_url`) joined with the
page's path inside the reports folder; without it, the artifacts name that path as text (a
``file://`` link would point into the worker's disk).

``<event>`` is the event id with ``_`` turned into ``-`` (artifact keys allow lowercase
letters, digits and dashes only). A key's latest version is the latest result of the event;
Prefect keeps the earlier versions. A run that studies only some of the catalog events of a
group (``partial``) does not write the group's tests under the event's key: they would replace
the tests of the whole group with those of a part. The UI renders descriptions and Markdown:
user text in them goes through :func:`flows.reporting.markup.md_text`.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import polars as pl

from analysis import schema as S
from analysis.engine import StudyResult
from analysis.formats import dollars, num, pct, pvalue
from flows.reporting.markup import md_block, md_text
from flows.reporting.tables import _fmt, _window_label
from flows.settings import reports_url

MAX_EVENTS = 25
MAX_COLUMNS = 8


def summary_rows(car: pl.DataFrame) -> pl.DataFrame:
    """An event's CAR rows as display text: ``ticker`` (``(related)`` marked), ``window``,
    ``CAR``, ``t``, ``p``, ``BHAR``, ``$ abnormal``, ``note``."""
    return _fmt(
        car.select(
            pl.when(pl.col(S.ROLE) == "related").then(pl.format("{} (related)", pl.col(S.TICKER)))
            .otherwise(pl.col(S.TICKER)).alias("ticker"),
            _window_label(), S.CAR, S.T_STAT, S.P_VALUE, S.BHAR, S.DOLLAR_ABNORMAL, S.REASON,
        ),
        {S.CAR: pct, S.T_STAT: num, S.P_VALUE: pvalue, S.BHAR: pct, S.DOLLAR_ABNORMAL: dollars},
    ).rename({S.CAR: "CAR", S.T_STAT: "t", S.P_VALUE: "p", S.BHAR: "BHAR", S.DOLLAR_ABNORMAL: "$ abnormal", S.REASON: "note"})


def group_test_rows(tests: pl.DataFrame) -> pl.DataFrame:
    """A group's tests as display text: ``window``, ``test``, ``statistic``, ``p``, ``N``."""
    return _fmt(
        tests.select(_window_label(), S.TEST, S.STATISTIC, S.P_VALUE, S.N_EVENTS),
        {S.STATISTIC: num, S.P_VALUE: pvalue},
    ).rename({S.STATISTIC: "statistic", S.P_VALUE: "p", S.N_EVENTS: "N"})


def page_location(page: Path, root: Path) -> tuple[str, str | None]:
    """Where a person finds ``page`` of the reports folder ``root``: its path inside ``root``
    (the absolute path when it lies elsewhere) and its URL under
    :func:`flows.settings.reports_url` (None when that is not set, or the page is outside ``root``)."""
    page, base = page.resolve(), reports_url()
    try:
        inside = page.relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(page), None
    return inside, (f"{base.rstrip('/')}/{quote(inside)}" if base else None)


def where(page: Path, root: Path, text: str) -> str:
    """Markdown naming ``page``: a link ``[text](URL)``, else its path as text."""
    inside, url = page_location(page, root)
    return f"[{md_text(text, link=True)}]({url})" if url else f"{md_text(text)}: {md_text(inside)} in the reports folder"


def artifact_key(*parts: str) -> str:
    """Join ``parts`` into a valid artifact key (lowercase letters, digits, dashes)."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", "-".join(parts).lower())).strip("-")


def publish_artifacts(
    result: StudyResult, reports: dict[str, Path], sentences: list[tuple[str, str, str]], root: Path,
    partial: frozenset[str] = frozenset(),
) -> list[str]:
    """Create the artifacts of the events in ``reports`` in the current flow run.

    Parameters
    ----------
    result
        The study's results (tests: those of the events' groups in this result).
    reports
        Event id -> the report folder holding the event (its ``report.html`` is linked).
    sentences
        ``(event_id, ticker, sentence)`` headlines (:func:`flows.reporting.answers.answer_sentences`).
    root
        The reports folder (links are relative to it: :func:`page_location`).
    partial
        Groups of which the run studied only some catalog events: no ``<event>-tests`` for them.

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
        base, group, page = artifact_key(event), groups.get(event), Path(reports[event]) / "report.html"
        create_table_artifact(table=summary_rows(rows).to_dicts(), key=f"{base}-summary",
                              description=f"CAR per ticker and window: {md_text(event)}")
        keys.append(f"{base}-summary")
        if group not in partial:
            tests = result.tests.filter(pl.col(S.GROUP) == group)
            create_table_artifact(table=group_test_rows(tests).to_dicts(), key=f"{base}-tests",
                                  description=f"tests of group {md_text(str(group))} in the report of {md_text(event)}")
            keys.append(f"{base}-tests")
        create_markdown_artifact(
            markdown="\n\n".join(md_block(s) for s in said[event]) + "\n\n" + where(page, root, "report"),
            key=f"{base}-headline", description=f"headline: {md_text(event)}",
        )
        keys.append(f"{base}-headline")
        url = page_location(page, root)[1]
        if url:
            create_link_artifact(link=url, link_text=f"report: {md_text(event)}", key=f"{base}-report")
            keys.append(f"{base}-report")
    return keys


def publish_warnings(markdown: str) -> None:
    """The run's warnings artifact (:meth:`flows.orchestration.outcome.Outcome.markdown`), in
    this flow run only (no key: each run has its own)."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(markdown=markdown, description="skipped and flagged events of this run")
