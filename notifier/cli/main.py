"""Entry point: the command groups, and the one place where errors become exit codes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from notifier.cli import (
    customers,
    db,
    demo,
    incidents,
    maintenance,
    outbox,
    rules,
    services,
    templates,
    timeline,
    worker,
)
from notifier.cli.apikeys import app as apikeys_app
from notifier.cli.orders import order_app, orders_app
from notifier.cli.runtime import CliState
from notifier.cli.serve import serve
from notifier.cli.sources import app as sources_app
from notifier.errors import InvalidTransition, NotFound, NotifierError, Unavailable

app = typer.Typer(
    name="notifier",
    help="Tell customers about outages and order delays before they call.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(customers.app, name="customers")
app.add_typer(incidents.app, name="incident")
app.add_typer(services.app, name="services")
app.add_typer(maintenance.app, name="maintenance")
app.add_typer(templates.app, name="templates")
app.add_typer(rules.app, name="rules")
app.add_typer(order_app, name="order")
app.add_typer(orders_app, name="orders")
app.add_typer(sources_app, name="sources")
app.add_typer(outbox.app, name="outbox")
app.command("worker")(worker.worker)
app.command("timeline")(timeline.timeline)
app.command("demo")(demo.demo)
app.add_typer(apikeys_app, name="apikeys")
app.command("serve")(serve)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="NOTIFIER_CONFIG",
            help="TOML settings file (see config.example.toml).",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = CliState(config=config)


def _fail(message: str, code: int = 2) -> int:
    first, *rest = message.strip().splitlines() or ["unknown error"]
    more = f" (and {len(rest)} more: see `notifier rules check`)" if rest else ""
    sys.stderr.write(f"error: {first}{more}\n")
    return code


def main(argv: list[str] | None = None) -> None:
    try:
        # Without standalone mode, an Exit raised by a command comes back as its code.
        result = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(_fail("aborted", 130))
    except Unavailable as exc:
        sys.exit(_fail(str(exc), 1))  # not the input's fault: the same command may work later
    except (NotifierError, InvalidTransition, NotFound) as exc:
        sys.exit(_fail(str(exc)))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        # Usage errors come from the click that typer vendors; they are recognised by shape
        # rather than by importing a private module.
        message = getattr(exc, "format_message", None)
        code = getattr(exc, "exit_code", None)
        if callable(message) and isinstance(code, int):
            sys.exit(_fail(str(message()), code))
        raise
    sys.exit(result if isinstance(result, int) else 0)
