"""Rendering a report's sections: rich tables on the terminal, Markdown and CSV in files."""
from __future__ import annotations

import csv
import io
import sys
from typing import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from search.sections import Section


# Columns that wrap in a narrow terminal; every other one (numbers, ids) stays whole.
WRAPPED = ("point", "verdict", "reference", "by")


# Below this width printed tables leave out the id column and the section's ``narrow_hidden`` ones
# (they stay in Markdown and CSV): labels say what a point is, ids only find it.
ID_WIDTH = 120


def rich_table(title: str, rows: list[dict[str, str]], columns: Sequence[str]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in columns:
        wrapped = column in WRAPPED
        table.add_column(column, no_wrap=not wrapped, ratio=1 if wrapped else None,
                         min_width=10 if column == "point" else None)
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    return table


def markdown_table(rows: list[dict[str, str]], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_text(rows: list[dict[str, str]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def report_console() -> Console:
    """The terminal's width on a terminal; in a log or a pipe, wide enough that no column is cut."""
    return Console() if sys.stdout.isatty() else Console(width=200, highlight=False)



def print_section(section: Section, console: Console) -> None:
    """A section on the terminal: its table (fewer columns below ``ID_WIDTH``), then its notes."""
    if section.rows:
        hidden = {"id", *section.narrow_hidden} if console.width < ID_WIDTH else set()
        columns = [c for c in section.columns if c not in hidden]
        console.print(rich_table(section.title, section.rows, columns))
        if hidden & set(section.columns) - {"id"}:
            console.print(f"(at this width {', '.join(c for c in section.columns if c in hidden and c != 'id')} "
                          "are left out: the Markdown and CSV have them)", markup=False, highlight=False)
    else:
        console.print(f"[bold]{section.title}[/bold]: none")
    for note in section.notes:
        console.print(note, markup=False, highlight=False)


def section_markdown(section: Section) -> str:
    """A section as Markdown: a heading, its table, its notes."""
    table = markdown_table(section.rows, section.columns) if section.rows else "none\n"
    return f"## {section.title}\n\n" + table + "".join(f"\n{note}\n" for note in section.notes)
