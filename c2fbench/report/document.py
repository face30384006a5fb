"""A report as plain data (sections of paragraphs, tables and figures) and its two renderings:
Markdown with the figures as PNG files beside it, and one self-contained HTML page with the
same figures embedded as data URIs, so it opens from disk without a server or network."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field


@dataclass
class Data:
    """A table's numbers for ``report --format csv,latex`` (:mod:`c2fbench.report.tables`).

    ``rows`` hold str, int, float (unrounded) or None (no value); an interval is two columns,
    never one "a [b, c]" cell. ``source`` gives each row's origin ("paper" or "yours") where
    rows are methods; where rows are classes or mask types it is None and ``user_columns``
    says which columns hold the user's numbers.
    """
    name: str  # file stem: tables/<name>.csv and tables/<name>.tex, unique within a report
    header: list[str]
    rows: list[list]
    source: list[str] | None = None
    user_columns: set[int] = field(default_factory=set)
    caption: str = ""


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    user_rows: set[int] = field(default_factory=set)  # indices of the user's own rows, highlighted
    caption: str = ""
    data: Data | None = None  # the same table as numbers, for CSV and LaTeX; None: not exported


@dataclass
class Figure:
    name: str  # file stem under figures/, unique within a report
    png: bytes
    caption: str


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)  # str (a paragraph), Table or Figure


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]

    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]

    def data_tables(self) -> list[Data]:
        return [b.data for s in self.sections for b in s.blocks if isinstance(b, Table) and b.data]


def slug(text: str) -> str:
    """A file-name stem of ``text``: lowercase letters, digits and dashes, at most 60 of them
    (a 5,000-character label made a name the filesystem refuses)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower())[:60].strip("-") or "figure"


# --- Markdown ------------------------------------------------------------------------------

def to_markdown(doc: Document, figure_dir: str = "figures") -> str:
    """Every string is text, not markup: characters Markdown or HTML would act on are escaped,
    so a label like ``<script>`` or ``a|b`` shows as written. Paragraphs keep their `code` spans."""
    parts = [f"# {_md(doc.title)}", "", _md(doc.subtitle), ""]
    for section in doc.sections:
        parts += [f"## {_md(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                parts += _markdown_table(block)
            elif isinstance(block, Figure):
                parts += [f"![{_md(block.caption)}]({figure_dir}/{block.name}.png)", "", f"*{_md(block.caption)}*"]
            else:
                parts.append(_md_paragraph(block))
            parts.append("")
    return "\n".join(parts).rstrip() + "\n"


# ASCII punctuation that Markdown (CommonMark, GFM tables and strikethrough, GitHub's $math$)
# or inline HTML acts on anywhere in a line; a backslash before ASCII punctuation shows it as is.
# Links need "[", so "(" and ")" may stay; "#" is escaped for headings' closing sequences.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$&])")
# What starts a list, quote or heading only at the start of a line.
_MD_LINE_START = re.compile(r"^(\s*)([-+=>]|\d+[.)])")


def _md(text: str) -> str:
    """Plain text as Markdown that renders as the same text, on one line."""
    one_line = " ".join(str(text).split("\n"))
    return _MD_SPECIAL.sub(r"\\\1", one_line)


def _md_paragraph(text: str) -> str:
    """A paragraph: its `code` spans kept (their content is literal in Markdown), the rest escaped."""
    parts = re.split(r"(`[^`\n]+`)", " ".join(str(text).split("\n")))
    escaped = "".join(part if i % 2 else _md(part) for i, part in enumerate(parts))
    return _MD_LINE_START.sub(lambda m: m.group(1) + (m.group(2)[:-1] + "\\" + m.group(2)[-1]), escaped)


def _markdown_table(table: Table) -> list[str]:
    numeric = [_is_numeric_column(table, j) for j in range(len(table.header))]
    lines = [f"*{_md(table.caption)}*", ""] if table.caption else []
    lines.append("| " + " | ".join(_md(h) for h in table.header) + " |")
    lines.append("|" + "|".join("---:" if n else ":---" for n in numeric) + "|")
    for i, row in enumerate(table.rows):
        cells = [_md(c) for c in row]
        if i in table.user_rows:
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _is_numeric_column(table: Table, j: int) -> bool:
    values = [row[j] for row in table.rows if row[j] not in ("", "—")]
    return bool(values) and all(re.match(r"^[+\-−]?\d", v) for v in values)


# --- HTML ----------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #1b1b1b; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } .subtitle { color: #555; margin-top: 0; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: 0.8rem 0 1.2rem; font-size: 0.9rem; }
caption { caption-side: top; text-align: left; font-style: italic; color: #444; padding-bottom: 0.3rem; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.6rem; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.user td { background: #fdecea; font-weight: 600; } tr.user td:first-child { border-left: 4px solid #d62728; }
figure { margin: 1rem 0 1.6rem; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9rem; }
.table { overflow-x: auto; } .table table.wide { font-size: 0.8rem; } .wide th, .wide td { padding: 0.2rem 0.35rem; }
code { background: #f3f3f3; padding: 0 0.2rem; border-radius: 3px; font-size: 0.9em; }
"""


def to_html(doc: Document) -> str:
    e = html.escape
    body = [f"<h1>{e(doc.title)}</h1>", f'<p class="subtitle">{e(doc.subtitle)}</p>']
    for section in doc.sections:
        body.append(f'<section id="{slug(section.title)}">')
        body.append(f"<h2>{e(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                body.append(_html_table(block))
            elif isinstance(block, Figure):
                data = base64.b64encode(block.png).decode("ascii")
                body.append(f'<figure id="fig-{e(block.name)}"><img alt="{e(block.caption)}" '
                            f'src="data:image/png;base64,{data}"><figcaption>{e(block.caption)}</figcaption></figure>')
            else:
                body.append(f"<p>{_code_spans(e(block))}</p>")
        body.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{e(doc.title)}</title>\n"
            f"<style>{_CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


def _code_spans(text: str) -> str:
    """Markdown's `code` in a paragraph (already HTML-escaped) as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def _html_table(table: Table) -> str:
    e = html.escape
    numeric = [_is_numeric_column(table, j) for j in range(len(table.header))]
    rows = []
    for i, row in enumerate(table.rows):
        cells = "".join(f'<td class="num">{e(c)}</td>' if numeric[j] else f"<td>{e(c)}</td>" for j, c in enumerate(row))
        rows.append(f'<tr class="user">{cells}</tr>' if i in table.user_rows else f"<tr>{cells}</tr>")
    caption = f"<caption>{e(table.caption)}</caption>" if table.caption else ""
    head = "".join(f"<th>{e(h)}</th>" for h in table.header)
    # a table of many columns (latency: 14) is set smaller, and scrolls in its own box rather than widening the page
    wide = ' class="wide"' if len(table.header) >= WIDE_COLUMNS else ""
    return (f'<div class="table"><table{wide}>{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


WIDE_COLUMNS = 10
