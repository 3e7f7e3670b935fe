"""Text a pull request or raw data wrote, made inert for the bot's Markdown and Mermaid.

Params keys and values, feature names, drop names and category values reach the comment. Each goes through
one of these functions: every character outside a small safe set (letters, digits, space, ``.``, ``-``,
``,``) becomes a numeric character reference, so GitHub shows it as the character and never reads it as
Markdown, HTML, a link, a mention, a table pipe or a code fence; line breaks become one space, so nothing
starts a new line (a heading, a Mermaid directive, the end of a fence). Mermaid labels use Mermaid's own
entity codes (``#60;``) inside double quotes.
"""

from __future__ import annotations

import string

_SAFE = frozenset(string.ascii_letters + string.digits + " .-,")
_REPLACEMENT = 0xFFFD
MAX_CHARS = 200


def _one_line(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def _code(char: str) -> int:
    point = ord(char)
    return _REPLACEMENT if point < 0x20 or 0x7F <= point < 0xA0 else point


def md(value: object) -> str:
    """``value`` as Markdown text (also safe in a table cell)."""
    return "".join(c if c in _SAFE else f"&#{_code(c)};" for c in _one_line(value))


def mermaid(value: object) -> str:
    """``value`` as a quoted Mermaid label."""
    return '"' + "".join(c if c in _SAFE else f"#{_code(c)};" for c in _one_line(value)) + '"'
