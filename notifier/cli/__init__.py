"""The `notifier` command."""

from __future__ import annotations

from notifier.cli.main import main

__all__ = ["main"]
