"""The live status line every long-running subcommand shows: description, bar, a status text, elapsed time."""

from __future__ import annotations

from rich.console import Console
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
