"""Whatever a pull request or raw data writes shows as text in the bot's comment (Markdown and Mermaid).

Each payload goes through every field that reaches a comment: params keys and values, feature names (table
and Mermaid), metric names, drop names, category values and labels. The rendered text must keep every table
row to its columns, start no line the renderer did not write, open no link, image, HTML tag, mention or
code span, and decode (as GitHub decodes character references) back to the payload.
"""

from __future__ import annotations

import html
import re

import pytest

from edgetrain.contract.escape import md, mermaid
from edgetrain.report import comment, data_report

PAYLOADS = [
    "## Security review: passed",
    "[click](https://evil.example/x)",
    "![img](https://evil.example/p.png)",
    "<img src=x onerror=alert(1)>",
    "<details><summary>hidden</summary>",
    "`code` and ``` fence",
    "a | b | c",
    "line one\nline two\n# heading",
    '%%{init: {"theme": "dark"}}%%',
    'x"] \n  line [1, 2]',
    "@octocat please merge",
    "**bold** _em_ ~~strike~~",
    "https://evil.example/autolink",
    "\\| escaped pipe &amp; entity",
]
#: Raw text that must never appear in a rendered comment (each payload carries at least one).
FORBIDDEN = re.compile(r"<[a-z]|\]\(|`|@oct|https:|%%|\*\*|~~|&amp;|^#+ [^MPFLD]|\\\|", re.M)


def _shown(text: str) -> str:
    return html.unescape(text)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_escaped_text_decodes_to_the_payload_on_one_line(payload: str) -> None:
    flat = " ".join(payload.split())
    assert _shown(md(payload)) == flat
    assert "\n" not in md(payload)
    assert not FORBIDDEN.search(md(payload))
    label = mermaid(payload)
    assert re.fullmatch(r'"[A-Za-z0-9 .,#;-]*"', label), label
    assert re.sub(r"#(\d+);", lambda m: chr(int(m[1])), label[1:-1]) == flat


def _pull_request_comment(payload: str) -> str:
    base = {"data": {"features": ["a"]}, "train": {"eta": 0.3}}
    head = {"data": {"features": ["a", payload]}, "train": {"eta": payload}, payload: {payload: payload}}
    return comment.render(
        base_ref="main",
        base_metrics={"auc": 0.5},
        head_metrics={"auc": 0.6, payload: 0.1},
        base_params=base,
        head_params=head,
        model_md5="0" * 32,
        plots={"importance": [{"feature": payload, "gain": 2.0}, {"feature": "a", "gain": 1.0}]},
        lock_changed=True,
    )


def _refresh_report(payload: str) -> str:
    """Through the reader the privileged job uses, then its renderer (drop names, features, categories)."""
    counts = {payload: 5, "ok": 3}
    categorical = {"kind": "categorical", "counts": counts, "missing_rate": 0.0}
    report = data_report.read_data_report({
        "rows": {"before": 1, "after": 9},
        "drops_added": {payload: 8},
        "drops_removed": [payload],
        "features": {payload: {"before": categorical, "after": categorical, "psi": 0.0}},
        "labels": {"before": {"counts": counts}, "after": {"counts": counts}, "psi": 0.0},
    }, [payload])  # fmt: skip
    return data_report.render(report)


@pytest.mark.parametrize("render", [_pull_request_comment, _refresh_report], ids=["pr-comment", "refresh"])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_field_shows_the_payload_as_text(render, payload: str) -> None:  # type: ignore[no-untyped-def]
    honest = render("harmless")
    text = render(payload)
    flat = " ".join(payload.split())

    # the same lines as with a harmless value: nothing started a heading, a row, a directive or a fence
    def shapes(rendered: str) -> list[tuple[str, int]]:  # how each line starts, how many cells it has
        return sorted((line[:1], line.count("|")) for line in rendered.splitlines())

    assert shapes(text) == shapes(honest)
    assert FORBIDDEN.findall(text) == FORBIDDEN.findall(honest)  # only the renderer's own markup
    assert flat in _shown(text)  # GitHub shows the payload itself
    if render is _pull_request_comment:
        [chart] = [b for b in text.split("```mermaid")[1:] if "importance" in b]
        assert mermaid(payload) in chart
