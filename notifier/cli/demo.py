"""`notifier demo`: the XM story, end to end, on this machine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from notifier.cli.runtime import console, run_loop, state
from notifier.cli.writable import check_writable


def default_workdir() -> Path:
    """var/demo here, or under the home folder where this folder is not ours to write (the
    container image works in /app, owned by root, and runs as uid 10001)."""
    if os.access(Path.cwd(), os.W_OK):
        return Path("var/demo")
    return Path.home() / ".local" / "share" / "notifier" / "demo"


def demo(
    ctx: typer.Context,
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--workdir",
            help="Where the demo keeps its database [default: var/demo, or under $HOME "
            "where the current folder is not writable].",
        ),
    ] = None,
) -> None:
    """Play the XM Satellite Radio outage: declare, a slipped ETA, resolution."""
    # Imported here: the demo's SMTP server and Twilio stand-in (aiosmtpd, aiohttp's server)
    # would add a sixth to every other command's start-up.
    from notifier.runtime.demo import run_demo

    folder = workdir if workdir is not None else default_workdir()
    check_writable(folder, "--workdir")
    run_loop(run_demo(state(ctx).load(), folder, console))
