"""Text that reaches a page: the one Markdown escaper (:func:`md_text`, :func:`md_block`) and
the one HTML page shell (:func:`html_page`) of the report, the briefs and the reports index."""

from __future__ import annotations

import html
import re

from flows.reporting.ownership import GENERATOR_MARK

_MD_INLINE = re.compile(r"[\\`*_|~$]|\](?=[(\[])")
_MD_LINK_TEXT = re.compile(r"[\\`*_|~$\[\]]")


def md_text(text: str, link: bool = False) -> str:
    """``text`` (user or table text) as inert Markdown inline text, shown as written: ``& < >``
    as HTML entities (no tag, autolink or entity of the text is rendered), ``\\ ` * _ | ~ $``
    backslash-escaped (no code, emphasis, strike-through, math or table cell break), and a
    ``]`` that would close a link or image (``](``, ``][``) too; line breaks become spaces,
    so the text never starts a line (no heading, list or link definition). ``link=True``
    escapes every bracket, for the text inside ``[...]`` of a link or image."""
    escaped = (_MD_LINK_TEXT if link else _MD_INLINE).sub(lambda m: "\\" + m.group(), html.escape(str(text), quote=False))
    return re.sub(r"\s*[\r\n]+\s*", " ", escaped)


def md_block(text: str) -> str:
    """:func:`md_text` for a paragraph of its own: a leading ``# + - =`` or list number is
    escaped too, so the text cannot become a heading or a list item."""
    s = md_text(text).lstrip()
    return "\\" + s if s[:1] in ("#", "+", "-", "=") else re.sub(r"^(\d+)([.)])", r"\1\\\2", s)


def html_page(title: str, css: str, body: str) -> str:
    """A standalone HTML page: ``title`` escaped, the ``css`` inline (no external resources),
    and ``body`` as given (its text escaped by the caller); marked :data:`GENERATOR_MARK`; laid
    out at the device's width (a phone does not shrink a 980 px layout)."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{GENERATOR_MARK}'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{css}</style></head><body>{body}</body></html>\n")


HIGHLIGHT_FILL = "#fff3bf"
"""The fill of a significant cell."""

TABLE_CSS = (
    "table.t{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;border-collapse:collapse;"
    "font-size:13px;margin:.3em 0;border-top:2px solid #d0d7de;border-bottom:2px solid #d0d7de}"
    "table.t caption{text-align:left;font-weight:600;font-size:1.15em;padding:.4em 0}"
    "table.t th,table.t td{padding:3px 8px;text-align:left;vertical-align:top}"
    "table.t thead th{font-weight:bold;border-bottom:1px solid #d0d7de}table.t th[colspan]{text-align:center}"
    "table.t tbody tr:nth-child(even){background:#f6f8fa}"
    "table.t .n{text-align:right;font-variant-numeric:tabular-nums}table.t .nowrap{white-space:nowrap}"
    f"table.t td.sig{{background:{HIGHLIGHT_FILL};font-weight:bold}}"
    "table.t tfoot td{font-size:11px;color:#57606a;border-top:1px solid #d0d7de}"
)
"""The CSS of the report's tables (:func:`flows.reporting.tables.to_html`): in every page's
CSS, and in each ``tables/<key>.html`` so that it shows styled on its own."""

PAGE_CSS = TABLE_CSS + (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;max-width:96em;"
    "padding:0 1.5em;color:#1f2328}h1{font-size:1.5em;margin-bottom:.4em}"
    "section.answers p{font-size:1.1em;background:#f6f8fa;border-left:4px solid #0969da;padding:.6em 1em;margin:.5em 0}"
    "p.meta{color:#57606a}section{margin:1.5em 0;overflow-x:auto}"
    "nav.toc ol{columns:2 22em;padding-left:1.4em;margin:.4em 0}nav.toc li{margin:.15em 0}"
    "details{margin:1em 0}details>summary{cursor:pointer;font-weight:600;padding:.3em 0}"
    "summary .meta{font-weight:normal;color:#57606a}"
    "figure{display:inline-block;vertical-align:top;margin:0 1.5em 1.5em 0;width:36em;max-width:100%}"
    "figure.move{width:28em}figure img{width:100%;height:auto}"  # a move plot beside its CAR plot
    "figcaption{font-size:.85em;color:#57606a}li{margin:.3em 0}.nowrap,abbr{white-space:nowrap}"
    "abbr[title]{text-decoration:underline dotted}"
    "@media print{body{margin:0;max-width:none;padding:0;font-size:10pt}nav.toc,summary .meta a{display:none}"
    "details::details-content{content-visibility:visible;display:block}"
    "section{overflow:visible}section.answers p{border-left-color:#000;background:none}"
    "h2,h3,summary{break-after:avoid}tr,figure{break-inside:avoid}a{color:inherit;text-decoration:none}"
    "figure{width:30em}figure.move{width:22em}}"
)
"""The CSS of every page (the report, the briefs): offline, no web fonts; ids and dates never
wrap (``.nowrap``, and the id columns of the tables, :data:`flows.reporting.tables.NOWRAP`);
printed, the collapsed sections open and the navigation is left out."""


def toc(entries: list[tuple[str, str]]) -> str:
    """A table of contents of ``(anchor or relative href, text)`` (escaped)."""
    items = "".join(f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>' for href, text in entries)
    return f'<nav class="toc" aria-label="contents"><b>Contents</b><ol>{items}</ol></nav>' if entries else ""


def collapsible(key: str, title: str, inner: str, rows: int | None = None, csv: str = "", opened: bool = False) -> str:
    """``inner`` in a ``<section id=key>`` whose ``<details>`` summary is ``title`` with its
    ``rows`` count and a link to ``csv`` (the full data, every row); open when ``opened``."""
    facts = ([f"{rows:,} row{'' if rows == 1 else 's'}"] if rows is not None else []) + (
        [f'<a href="{html.escape(csv)}">all rows as CSV</a>'] if csv else [])
    meta = f' <span class="meta">({" · ".join(facts)})</span>' if facts else ""
    return (f'<section id="{html.escape(key)}"><details{" open" if opened else ""}><summary>{html.escape(title)}{meta}'
            f"</summary>{inner}</details></section>")
