"""Lint of an email's html block: no script, no event handler, no `javascript:` link.

A template is written by support staff, but it is mail to customers: script in it is either
a mistake or an attack, and mail clients that run it (or flag the mail as hostile) exist.
The check reads the block's literal text joined across Jinja tags, so `<scr{{ '' }}ipt>` is
seen whole; values inserted by expressions are autoescaped and cannot add markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jinja2 import nodes

_ACTIVE = (
    (re.compile(r"<\s*script\b", re.IGNORECASE), "a <script> element"),
    (
        re.compile(r"<[a-zA-Z][^>]*?[\s/\"']on[a-zA-Z]+\s*=", re.IGNORECASE | re.DOTALL),
        "an on...= event handler attribute",
    ),
    (re.compile(r"javascript\s*:", re.IGNORECASE), "a javascript: address"),
    (re.compile(r"<\s*(iframe|object|embed)\b", re.IGNORECASE), "an embedded frame or object"),
)


def active_content(ast: nodes.Template) -> Iterator[tuple[int, str]]:
    """(line, what) for each piece of active content in the html block's literal text."""
    for block in ast.find_all(nodes.Block):
        if block.name != "html":
            continue
        pieces = list(block.find_all(nodes.TemplateData))
        text = "".join(p.data for p in pieces)
        starts: list[tuple[int, int]] = []  # (offset in text, line of the piece)
        offset = 0
        for piece in pieces:
            starts.append((offset, piece.lineno))
            offset += len(piece.data)
        for pattern, what in _ACTIVE:
            for match in pattern.finditer(text):
                line = _line_at(text, starts, match.start())
                yield line, what


def _line_at(text: str, starts: list[tuple[int, int]], position: int) -> int:
    line = starts[0][1] if starts else 1
    begin = 0
    for offset, lineno in starts:
        if offset > position:
            break
        begin, line = offset, lineno
    return line + text.count("\n", begin, position)
