"""One self-contained HTML page per run: PNGs embedded as data URIs, inline CSS, no script.

A Content-Security-Policy forbids every load except ``data:`` images, so the page cannot reach
the network even by accident, and it looks the same copied anywhere or opened offline.
"""

from __future__ import annotations

import base64
import html
import json
import struct
from dataclasses import dataclass

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1.5rem; color: #1d232a; background: #fff; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #dde; padding-bottom: .2rem; }
.sub { color: #667; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
td, th { padding: .25rem .8rem; border-bottom: 1px solid #eef; text-align: left;
         vertical-align: top; }
th { color: #445; font-weight: 600; } td.num { font-variant-numeric: tabular-nums; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr));
         gap: .5rem; margin: .5rem 0 1rem; }
.card { border: 1px solid #e3e6ee; border-radius: 6px; padding: .4rem .7rem; }
.card .label { display: block; color: #667; font-size: 12px; }
.card .value { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
         gap: 1.2rem; }
figure { margin: 0; border: 1px solid #e3e6ee; border-radius: 6px; padding: .6rem; }
figure.wide { grid-column: 1 / -1; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { color: #556; font-size: 13px; margin-top: .4rem; }
.missing { color: #8a5a00; background: #fff7e6; border-radius: 4px; padding: 1rem; }
code { background: #f3f4f8; padding: 0 .25rem; border-radius: 3px; }
"""


@dataclass
class Section:
    """One plot of the report, or the reason it is missing.

    Attributes:
        key: id stem (``plot-KEY``) and PNG file stem.
        title: heading shown above the plot.
        caption: what to read in the plot.
        png: the image bytes, or None when skipped.
        skipped: why the plot is not shown (when png is None).
        wide: span the whole page width.
    """

    key: str
    title: str
    caption: str
    png: bytes | None = None
    skipped: str | None = None
    wide: bool = False


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">II", png[16:24])


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:.5g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return "—" if value is None else str(value)


def _table(rows) -> str:
    cells = []
    for key, value in rows:
        cls = ' class="num"' if isinstance(value, int | float) else ""
        cells.append(
            f"<tr><th>{html.escape(str(key))}</th><td{cls}>{html.escape(_fmt(value))}</td></tr>"
        )
    return "<table>\n" + "\n".join(cells) + "\n</table>"


def _cards(rows) -> str:
    items = [
        f'<div class="card"><span class="label">{html.escape(str(k))}</span>'
        f'<span class="value">{html.escape(_fmt(v))}</span></div>'
        for k, v in rows
    ]
    return '<div class="cards">\n' + "\n".join(items) + "\n</div>"


def _figure(s: Section) -> str:
    cls = "plot wide" if s.wide else "plot"
    head = f'<figure id="plot-{s.key}" class="{cls}">\n'
    if s.png is None:
        head += f"<h3>{html.escape(s.title)}</h3>\n"  # the PNGs carry their own titles
        body = (
            f'<div class="missing" data-skipped="{s.key}">Not shown: '
            f"{html.escape(s.skipped or 'no data')}</div>"
        )
    else:
        w, h = png_size(s.png)
        data = base64.b64encode(s.png).decode("ascii")
        body = (
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(s.title)}" '
            f'width="{w}" height="{h}">'
        )
    return head + body + f"\n<figcaption>{html.escape(s.caption)}</figcaption>\n</figure>"


def render_html(title, subtitle, summary_rows, config, sections, notes=()) -> str:
    """The report page.

    Args:
        title: page heading (the run's name).
        subtitle: one line under it (path, date).
        summary_rows: (label, value) pairs of key figures.
        config: the run's configuration dict.
        sections: Sections, in display order.
        notes: lines about what the run directory lacked.

    Returns:
        the HTML text.
    """
    shown = [s for s in sections if s.png is not None]
    skipped = [s for s in sections if s.png is None]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(title)} — visionblocks report</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">{html.escape(subtitle)}</p>',
        '<section id="summary">\n<h2>Summary</h2>',
        _cards(summary_rows),
        "</section>",
        f'<section id="plots">\n<h2>Plots ({len(shown)} of {len(sections)})</h2>',
        '<div class="plots">',
        *(_figure(s) for s in sections),
        "</div>\n</section>",
    ]
    if skipped or notes:
        parts.append('<section id="missing">\n<h2>Not in this report</h2>\n<ul>')
        parts += [
            f"<li>{html.escape(s.title)}: {html.escape(s.skipped or '')}</li>" for s in skipped
        ]
        parts += [f"<li>{html.escape(n)}</li>" for n in notes]
        parts.append("</ul>\n</section>")
    parts += [
        '<section id="config">\n<h2>Configuration</h2>',
        _table(sorted(config.items())) if config else "<p>config.json is missing.</p>",
        "</section>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"
