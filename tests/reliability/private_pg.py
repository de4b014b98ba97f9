"""A PostgreSQL server of the test's own, to stop and start for real.

The machine's shared server (127.0.0.1:5432) serves the rest of the suite and must never be
stopped; this one lives in a temporary directory: `initdb` with trust authentication, a
free port on 127.0.0.1, its Unix socket in the same directory, fsync off. `stop()` is a
real `pg_ctl stop` (the postmaster exits, every connection is cut) and `start()` brings
it back on the same port and data.

initdb refuses to run as root: as root, the server's commands run as the `postgres` user
(`runuser`) in a directory that user owns.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from notifier.sinks.smtp_sink import free_port
from tests.ci import under_ci

_SERVER_ROOT = Path("/usr/lib/postgresql")
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    # Safe without an OS crash: a stopped or killed server loses nothing it had committed
    # (synchronous_commit stays on, so `pg_ctl stop -m immediate` loses no commit either).
    "fsync": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "100",
    "log_min_messages": "warning",
}


def server_binaries() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl, or None."""
    if not _SERVER_ROOT.is_dir():
        return None
    found = [
        d / "bin"
        for d in _SERVER_ROOT.iterdir()
        if re.fullmatch(r"\d+", d.name)
        and (d / "bin" / "initdb").exists()
        and (d / "bin" / "pg_ctl").exists()
    ]
    return max(found, key=lambda b: int(b.parent.name)) if found else None


class PrivatePostgres:
    """One cluster: `start()`, `stop()`, `url(database)`; `close()` removes it all."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.version = bindir.parent.name
        # Not under pytest's tmp_path: as root that is private to root, and the server
        # runs as `postgres`.
        self.directory = Path(tempfile.mkdtemp(prefix="notifier-pg-"))
        self.data = self.directory / "data"
        self.logfile = self.directory / "server.log"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str, timeout: float = 60.0) -> None:
        command = [*self._as, str(self.bindir / argv[0]), *argv[1:]]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                f"\n{self.server_log()}"
            )

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        settings = {
            **_SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": f"'{self.directory}'",
        }
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# notifier reliability tests\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start(self) -> float:
        """Start and wait until it accepts connections; the seconds it took."""
        began = time.monotonic()
        data, logfile = str(self.data), str(self.logfile)
        self._run("pg_ctl", "start", "-w", "-t", "30", "-D", data, "-l", logfile)
        return time.monotonic() - began

    def stop(self, mode: str = "fast") -> float:
        """`pg_ctl stop -m MODE` (fast: abort transactions, cut connections; immediate:
        no shutdown checkpoint, recovery at the next start)."""
        began = time.monotonic()
        self._run("pg_ctl", "stop", "-w", "-t", "30", "-m", mode, "-D", str(self.data))
        return time.monotonic() - began

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def server_log(self) -> str:
        try:
            return self.logfile.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def close(self) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private server; skipped where the server binaries are missing, except
    under CI (CI=1, true or yes), where that is a failure: the test must run there."""
    bindir = server_binaries()
    if bindir is None or (os.geteuid() == 0 and not _has_postgres_user()):
        message = f"no PostgreSQL server binaries (initdb, pg_ctl) under {_SERVER_ROOT}"
        if under_ci():
            pytest.fail(message + " (under CI the database outage tests must run)")
        pytest.skip(message)
    server = PrivatePostgres(bindir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.close()


def _has_postgres_user() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return True
