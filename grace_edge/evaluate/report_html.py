"""One self-contained HTML page: every figure embedded as a PNG data URI, no script, no stylesheet or font from the
network, so the file can be mailed, archived or opened on a line PC without a connection."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from pathlib import Path

STYLE = """
body { font-family: sans-serif; max-width: 1250px; margin: 1.5em auto; padding: 0 1em; color: #111; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #999; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: right; }
th { background: #eee; } td:first-child, th:first-child { text-align: left; }
table.facts td { text-align: left; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.4em 0; }
pre { background: #f5f5f5; padding: 0.6em; overflow-x: auto; font-size: 0.88em; }
.note { color: #444; font-size: 0.92em; } .bad { color: #b00; font-weight: bold; }
@media print { body { max-width: none; } img { page-break-inside: avoid; } }
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def image(path: Path, alt: str) -> str:
    """The PNG at ``path`` embedded as a data URI, with a link to the file beside the page."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
            f'<figcaption class="note">{esc(alt)} (<a href="{esc(path.name)}">{esc(path.name)}</a>)</figcaption></figure>')


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def definitions(items: Iterable[tuple[str, object]]) -> str:
    """A two-column key / value table, left-aligned."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items)
    return f'<table class="facts"><tbody>{body}</tbody></table>'



def section(title: str, *parts: str, anchor: str | None = None) -> str:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{''.join(parts)}</section>"


def paragraph(text: str, cls: str = "") -> str:
    return f'<p class="{cls}">{esc(text)}</p>' if cls else f"<p>{esc(text)}</p>"


def link(href: str, text: str) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def preformatted(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def page(title: str, sections: Sequence[str]) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f'<link rel="icon" href="data:,"><style>{STYLE}</style></head><body><h1>{esc(title)}</h1>'
            + "".join(sections) + "</body></html>\n")
