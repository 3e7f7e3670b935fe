"""Whether any raw row reached a text: any 3 consecutive feature values of any row of any drop, in order.

Texts and rows are cut into tokens (numbers, normalised through ``float``, and words); a text leaks a row
when three consecutive tokens of the text equal three consecutive feature values of the row. Separators do
not matter, so a row re-formatted as a table, JSON or a Mermaid series is found as well as its CSV line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping

_TOKEN = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|[A-Za-z_][A-Za-z0-9_]*")


def _norm(token: str) -> str:
    try:
        return repr(float(token))
    except ValueError:
        return token


def _trigrams(tokens: list[str]) -> Iterable[tuple[str, ...]]:
    return (tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2))


def leaks(texts: Mapping[str, str], drops: Mapping[str, bytes], features: list[str]) -> list[str]:
    """One line per row that a text carries (empty: no leak)."""
    seen: dict[tuple[str, ...], str] = {}
    for name, text in texts.items():
        for gram in _trigrams([_norm(t) for t in _TOKEN.findall(text)]):
            seen.setdefault(gram, name)
    found = []
    for drop, payload in drops.items():
        for number, row in enumerate(csv.DictReader(io.StringIO(payload.decode("utf-8")))):
            values = [_norm(row[f].strip()) for f in features if (row.get(f) or "").strip()]
            hit = next((g for g in _trigrams(values) if g in seen), None)
            if hit is not None:
                found.append(f"{drop} row {number + 1}: {', '.join(hit)} in {seen[hit]}")
    return found
