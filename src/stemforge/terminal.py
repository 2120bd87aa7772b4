"""Rendering of summary sections as Rich tables for the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from stemforge.analysis.summary import SummarySection


def print_sections(console: Console, sections: list[SummarySection], *, title: str) -> None:
    console.print(f"[bold]{title}[/]")
    for section in sections:
        table = Table(title=section.title, title_justify="left", show_header=False, box=None)
        table.add_column("measure", style="cyan", no_wrap=True)
        table.add_column("value", justify="right", no_wrap=True)
        table.add_column("note", style="dim")
        for row in section.rows:
            table.add_row(row.label, row.value, row.note)
        console.print(table)
        console.print()
