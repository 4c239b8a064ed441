"""Reports as standalone html pages: tables, captions rendered from Markdown, embedded plots."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from markdown_it import MarkdownIt  # rich's own Markdown parser: no extra dependency

from bench.report.layouts import TableResult
from bench.report.render import MISSING, caption_lines, display_frame, synthetic_banner

_MARKDOWN = MarkdownIt("commonmark", {"html": False})  # raw html in a caption is shown as text


def inline_markdown(text: str) -> str:
    """One caption line's inline Markdown (`code`, **bold**, *emphasis*) as escaped html."""
    return _MARKDOWN.renderInline(text)


def table_html(result: TableResult, macs: str = "") -> str:
    """One table as an HTML fragment (escaped), caption above."""
    frame = display_frame(result)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = "".join(
            f'<td class="{_css(col, v)}">{html.escape(str(v))}</td>' for col, v in row.items()
        )
        body.append(f"<tr>{cells}</tr>")
    banner = (
        f'<p class="synthetic">{inline_markdown(synthetic_banner(result))}</p>'
        if result.synthetic
        else ""
    )
    caption = "".join(f"<p>{inline_markdown(line)}</p>" for line in caption_lines(result, macs))
    return (
        f'<section id="{html.escape(result.table.id)}"><h2>{html.escape(result.table.title)}</h2>'
        f'{banner}<div class="caption">{caption}</div><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></section>"
    )


def _css(column: str, value: str) -> str:
    if value == MISSING:
        return "missing"
    if column.endswith("paper") or column.startswith("original"):
        return "paper"
    return "sig" if str(value).endswith("*") else ""


CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f0f0f0} td:first-child{text-align:left}
td.paper{color:#555;background:#fafafa} td.missing{color:#aaa} td.sig{font-weight:bold}
.synthetic{background:#fff3cd;border:1px solid #e0c060;padding:.6em;font-weight:bold}
.caption p{margin:.2em 0;font-size:13px;color:#444} img{max-width:100%;margin:.5em 0}
"""


def html_figure(path: Path, alt: str) -> str:
    """A PNG embedded in the page (a report html file stands alone) with its caption."""
    data = base64.b64encode(path.read_bytes()).decode()
    image = f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
    return f"<figure>{image}<figcaption>{inline_markdown(alt)}</figcaption></figure>"


def html_page(title: str, body: list[str]) -> str:
    """A standalone html document: ``title`` and the already-rendered ``body`` parts."""
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )
