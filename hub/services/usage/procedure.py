"""Operating procedures are written in Markdown and shown as HTML: rendered by markdown-it-py
in its CommonMark mode with raw HTML off, so a procedure can hold headings, lists, emphasis,
tables and links, but never a script, a style or an element of its own; links and images whose
address is ``javascript:``, ``vbscript:``, ``file:`` or ``data:`` (other than images) are not
made links (markdown-it's own link validation)."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def render(source: str | None) -> str:
    """Return the safe HTML of a Markdown procedure ('' for none)."""
    if not source:
        return ""
    return _renderer().render(source)
