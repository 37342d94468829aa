"""How the CLI prints: JSON for scripts, aligned tables for people."""

import json

import click

from paas.terminal import terminal_safe


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def echo_table(rows: list[list[str]]) -> None:
    """Prints rows as aligned columns; what users wrote (commands, descriptions) cannot move the cursor."""
    if not rows:
        return
    rows = [[terminal_safe(str(cell)).replace("\n", " ") for cell in row] for row in rows]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def echo_listing(items: list, as_json: bool, *, empty: str, row) -> None:
    """Prints a list the API returned: as JSON, as a table with one `row(item)` each, or `empty`."""
    if as_json:
        echo_json(items)
    elif not items:
        click.echo(empty)
    else:
        echo_table([row(item) for item in items])


def when(timestamp: str | None) -> str:
    """An API timestamp as `2026-11-25 22:26:26`."""
    return (timestamp or "-")[:19].replace("T", " ")
