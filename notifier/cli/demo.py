"""`notifier demo`: the XM story, end to end, on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notifier.cli.runtime import console, run_loop, state


def demo(
    ctx: typer.Context,
    workdir: Annotated[
        Path, typer.Option("--workdir", help="Where the demo keeps its database.")
    ] = Path("var/demo"),
) -> None:
    """Play the XM Satellite Radio outage: declare, a slipped ETA, resolution."""
    # Imported here: the demo's SMTP server and Twilio stand-in (aiosmtpd, aiohttp's server)
    # would add a sixth to every other command's start-up.
    from notifier.runtime.demo import run_demo

    run_loop(run_demo(state(ctx).load(), workdir, console))
