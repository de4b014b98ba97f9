"""`notifier rules ...`: check the rules, and simulate what they would send."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from notifier.cli.runtime import console, print_json, state
from notifier.errors import RuleError
from notifier.runtime.simulate import read_scenario, simulate
from notifier.services.rules import check_rules, load_rule_set, rule_json

app = typer.Typer(help="Notification rules.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Argument(help="Rules folder (default: paths.rules).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Load every rule file; each rule's template must exist for each of its channels."""
    settings = state(ctx).load()
    folder = directory or settings.paths.rules
    count, problems = check_rules(folder, settings.paths.templates, settings.default_locale)
    if problems:
        raise RuleError("\n".join(problems))
    ruleset = load_rule_set(folder)
    if as_json:
        print_json({"rules": rule_json(ruleset)})
        return
    table = Table("rule", "on", "audience", "channels", "template")
    for r in ruleset.rules:
        table.add_row(
            r.name, ", ".join(r.on), r.audience, ", ".join(c.value for c in r.channels), r.template
        )
    console.print(table)
    console.print(f"{count} rules, all templates present")


@app.command("simulate")
def simulate_command(
    ctx: typer.Context,
    scenario_file: Annotated[Path, typer.Argument(help="A scenario TOML file.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """What the rules in force would send over a scenario, in virtual time.

    Runs the real engine on a throwaway database with in-memory channels: neither the
    configured database nor any real channel is touched.
    """
    settings = state(ctx).load()
    scenario = read_scenario(scenario_file)
    messages = asyncio.run(simulate(settings, scenario))
    if as_json:
        for message in messages:
            print_json(message.as_json())
        return
    # One line per message, so the output greps and diffs well.
    for m in messages:
        sys.stdout.write(
            f"{m.time:%Y-%m-%d %H:%M}  {m.customer:<10} {m.channel:<5} {m.rule:<26} "
            f"{m.template:<24} {m.summary}\n"
        )
    console.print(f"{len(messages)} messages")
