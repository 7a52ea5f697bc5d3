"""What every subcommand shows: the live status line of long runs (description, bar, a status text, elapsed time)
and the one-line error a refused command ends with."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


def status_progress(console: Console, enabled: bool) -> Progress:
    """A rich progress display; tasks carry a ``status`` field shown beside the bar."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )


def print_error(console: Console, message: str) -> None:
    """``error: <message>`` in red; the message is printed as it is (brackets in it are not rich markup)."""
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
