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
    and ``body`` as given (its text escaped by the caller); marked :data:`GENERATOR_MARK`."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{GENERATOR_MARK}'
            f"<title>{html.escape(title)}</title><style>{css}</style></head><body>{body}</body></html>\n")
