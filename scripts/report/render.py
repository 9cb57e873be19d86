"""A report as a list of blocks, rendered as Markdown or as a standalone HTML page.

render_markdown(blocks)        -> str
render_html(blocks, title)     -> str     # the same content; `code` spans kept, everything else escaped
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import attrs


@attrs.frozen
class Heading:
    level: int
    text: str


@attrs.frozen
class Para:
    text: str


@attrs.frozen
class Bullets:
    items: tuple[str, ...]


@attrs.frozen
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@attrs.frozen
class Image:
    path: str  # relative to the output folder
    alt: str


Block = Heading | Para | Bullets | Table | Image


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown_lines(b: Block) -> list[str]:
    if isinstance(b, Heading):
        return ["#" * b.level + " " + b.text]
    if isinstance(b, Para):
        return [b.text]
    if isinstance(b, Bullets):
        return [f"- {item}" for item in b.items]
    if isinstance(b, Table):
        head = "| " + " | ".join(_md_cell(h) for h in b.header) + " |"
        rule = "|" + "|".join("---" for _ in b.header) + "|"
        return [head, rule, *("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows)]
    return [f"![{b.alt}]({b.path})"]


def render_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as Markdown, a blank line after each."""
    lines: list[str] = []
    for b in blocks:
        lines += [*_markdown_lines(b), ""]
    return "\n".join(lines)


def _inline_html(text: str) -> str:
    escaped = html.escape(text, quote=False)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
line-height:1.45;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
img{max-width:100%;height:auto;display:block;margin:1em 0}
code{background:#f3f3f3;padding:1px 4px;border-radius:3px}"""


def _html(b: Block) -> str:
    if isinstance(b, Heading):
        return f"<h{b.level}>{_inline_html(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        return f"<p>{_inline_html(b.text)}</p>"
    if isinstance(b, Bullets):
        return "<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Table):
        head = "".join(f"<th>{_inline_html(h)}</th>" for h in b.header)
        body = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in b.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<img src="{html.escape(b.path)}" alt="{html.escape(b.alt)}">'


def render_html(blocks: Sequence[Block], title: str) -> str:
    """The blocks as one HTML page with its own style sheet."""
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
    ]
    return "\n".join([*head, *(_html(b) for b in blocks), "</body></html>"]) + "\n"
