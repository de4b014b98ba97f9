"""Folders a command must write to, checked before it starts: a folder it cannot write is
one line naming the folder and the user the command runs as, not a traceback.

In the container image notifier runs as uid 10001; a host folder bind-mounted at /data is
usually owned by root, and SQLite's own "unable to open database file" did not say why.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sqlalchemy import make_url

from notifier.errors import ConfigError

IMAGE_UID = 10001  # the Dockerfile's `useradd --uid`


def _who() -> str:
    uid = os.getuid()
    if uid == IMAGE_UID:
        return f"uid {uid} (the container image's user, not root)"
    return f"uid {uid}"


def check_writable(folder: Path, what: str) -> None:
    """ConfigError unless a file can be made in `folder` (made if missing)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"{what}: cannot write {folder} ({reason}); notifier runs as {_who()}: make the "
            f"folder writable by that user (for example `chown {os.getuid()} {folder}`)"
        ) from None


def check_database_folder(url: str) -> None:
    """For a SQLite file, its folder (SQLite writes its journal beside the file)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    check_writable(Path(parsed.database).absolute().parent, "database.url")
