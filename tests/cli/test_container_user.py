"""The container image runs as uid 10001 in /data, with /app owned by root: `serve` on a
folder it cannot write says so in one line naming the uid, and `notifier demo` finds a
folder it can write.

No Docker daemon here: a forked child of this (root) test process drops to uid 10001, as
the image's USER does, and runs the command in-process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from notifier.cli.demo import default_workdir
from notifier.cli.main import main as cli_main
from notifier.cli.writable import IMAGE_UID, check_writable
from notifier.runtime.demo import prepare_workdir

ROOT = Path(__file__).parents[2]

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or os.getuid() != 0, reason="needs root to become uid 10001"
)


def _as_image_user(run: Callable[[], None], cwd: Path, home: Path) -> tuple[int, str]:
    """Run `run` in a child as uid 10001, in `cwd`; its exit code and stderr."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            os.dup2(write, 2)
            sys.stderr = os.fdopen(2, "w")  # pytest's capture object is not fd 2
            os.setgid(IMAGE_UID)
            os.setuid(IMAGE_UID)
            os.chdir(cwd)
            os.environ["HOME"] = str(home)
            try:
                run()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # whatever it is, the parent reads it
            sys.stderr.write(f"child failed: {exc!r}\n")
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        err = pipe.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err


def _folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(a root-owned folder like /app or a root-owned /data, the image user's home, config)"""
    shared = tmp_path / "shared"
    shared.mkdir()
    tmp_path.chmod(0o755)
    owned_by_root = shared / "data"
    owned_by_root.mkdir(mode=0o755)
    home = shared / "home"
    home.mkdir()
    os.chown(home, IMAGE_UID, IMAGE_UID)
    for folder in (shared, owned_by_root):
        folder.chmod(0o755)
    config = shared / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{owned_by_root / "notifier.db"}"\n'
        f'[paths]\nrules = "{ROOT / "rules"}"\ntemplates = "{ROOT / "templates"}"\n',
        encoding="utf-8",
    )
    config.chmod(0o644)
    return owned_by_root, home, config


def _readable_tree(tmp_path: Path) -> None:
    # pytest makes its temporary folders private to root.
    for parent in [tmp_path, *tmp_path.parents]:
        if parent == Path("/"):
            break
        if parent.stat().st_mode & 0o005 != 0o005:
            parent.chmod(parent.stat().st_mode | 0o005)


def test_serve_on_a_folder_it_cannot_write_names_the_uid(tmp_path: Path) -> None:
    data, home, config = _folders(tmp_path)
    _readable_tree(tmp_path)
    code, err = _as_image_user(
        lambda: cli_main(["--config", str(config), "serve", "--port", "1"]), data, home
    )
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert f"cannot write {data}" in lines[0]
    assert "uid 10001 (the container image's user, not root)" in lines[0]
    assert f"chown 10001 {data}" in lines[0]


def test_the_demo_finds_a_folder_the_image_user_can_write(tmp_path: Path) -> None:
    # The whole demo cannot run in the child: this machine's Python lives in a folder only
    # root may read, and the demo imports more as it goes. Its folder is what failed.
    app_folder, home, _ = _folders(tmp_path)
    _readable_tree(tmp_path)

    def prepare() -> None:
        folder = default_workdir()
        check_writable(folder, "--workdir")
        prepare_workdir(folder)

    code, err = _as_image_user(prepare, app_folder, home)
    assert code == 0, err
    assert not (app_folder / "var").exists()
    assert (home / ".local" / "share" / "notifier" / "demo" / "demo.toml").exists()


def test_the_demo_in_a_folder_it_cannot_write_says_so_in_one_line(tmp_path: Path) -> None:
    app_folder, home, config = _folders(tmp_path)
    _readable_tree(tmp_path)
    args = ["--config", str(config), "demo", "--workdir", str(app_folder / "d")]
    code, err = _as_image_user(lambda: cli_main(args), app_folder, home)
    assert code == 2, err
    assert err.startswith("error: --workdir: cannot write") and err.count("\n") == 1, err
    assert "uid 10001" in err
