"""`notifier templates ...`: check, import and export the message templates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notifier.cli.runtime import console, print_json, run_with_app, state
from notifier.errors import InputError
from notifier.runtime.app import App
from notifier.services import template_versions as versions
from notifier.templating.layout import read_sources
from notifier.templating.lint import LintIssue, lint_directory

app = typer.Typer(help="Message templates.", no_args_is_help=True)


@app.command("lint")
def lint(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Argument(help="Templates folder (default: paths.templates).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    from_db: Annotated[
        bool, typer.Option("--db", help="Lint the live set in the database instead.")
    ] = False,
) -> None:
    """Syntax errors, unknown variables, SMS over 2 segments, WhatsApp over 4096 characters.
    Exit 2 on any error."""
    if from_db:

        async def go(notifier: App) -> list[LintIssue]:
            sources = await versions.live_set(notifier)
            return await versions.lint_set(sources, notifier.settings.default_locale)

        issues = run_with_app(ctx, go)
    else:
        issues = lint_directory(directory or state(ctx).load().paths.templates)
    if _print_issues(issues, as_json):
        raise typer.Exit(2)


def _print_issues(issues: list[LintIssue], as_json: bool) -> list[LintIssue]:
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
    return errors


@app.command("import")
def import_(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="A folder in the templates/ layout.")],
) -> None:
    """Make the folder's templates live in the database (new versions where they differ).
    Nothing is imported if the resulting set fails lint (exit 2)."""
    sources = read_sources(directory)

    async def go(notifier: App) -> versions.ImportResult:
        return await versions.import_sources(
            notifier, sources, author="notifier templates import", now=notifier.clock.now()
        )

    result = run_with_app(ctx, go)
    if result.errors:
        _print_issues(result.issues, False)
        console.print("nothing imported", style="red")
        raise typer.Exit(2)
    for path in result.changed:
        console.print(f"live: {path}")
    console.print(f"{len(result.changed)} new versions, {result.unchanged} unchanged")


@app.command("export")
def export(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder to write (created if missing).")],
) -> None:
    """Write the live templates (the database's, or the folder's until there are any)."""

    async def go(notifier: App) -> dict[str, str]:
        return await versions.live_set(notifier)

    sources = run_with_app(ctx, go)
    for path, source in sorted(sources.items()):
        target = directory / path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{target}: cannot write it ({exc.strerror or exc})") from None
    console.print(f"{len(sources)} templates written to {directory}")
