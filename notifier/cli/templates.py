"""`notifier templates ...`: check the message templates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notifier.cli.runtime import console, print_json, state
from notifier.templating.lint import lint_directory

app = typer.Typer(help="Message templates.", no_args_is_help=True)


@app.command("lint")
def lint(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Argument(help="Templates folder (default: paths.templates).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Syntax errors, unknown variables, SMS over 2 segments. Exit 2 on any error."""
    folder = directory or state(ctx).load().paths.templates
    issues = lint_directory(folder)
    errors = [i for i in issues if i.severity == "error"]
    if as_json:
        print_json(
            {
                "errors": len(errors),
                "warnings": len(issues) - len(errors),
                "issues": [
                    {"file": i.file, "line": i.line, "severity": i.severity, "message": i.message}
                    for i in issues
                ],
            }
        )
    else:
        for issue in issues:
            where = f"{issue.file}:{issue.line}" if issue.line else issue.file
            style = "red" if issue.severity == "error" else "yellow"
            console.print(f"{where}: {issue.severity}: {issue.message}", style=style)
        console.print(f"{len(errors)} errors, {len(issues) - len(errors)} warnings")
    if errors:
        raise typer.Exit(2)
