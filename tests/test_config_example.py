"""config.example.toml documents every setting, and every key the README names.

The README sends readers to the example for "every key"; a section missing there (as
[scheduler] and [grouping] were) leaves them guessing at names like `stale_after`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from notifier.config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("NOTIFIER_"):
            monkeypatch.delenv(key)


def _documented() -> dict[str, set[str]]:
    """Keys per section, set or shown commented out ("# key = ..."); "" is the top level."""
    keys: dict[str, set[str]] = {"": set()}
    section = ""
    for line in EXAMPLE.read_text("utf-8").splitlines():
        header = re.match(r"^(?:# ?)?\[\[?([\w.]+)\]\]?\s*$", line)
        if header:
            section = header.group(1)
            continue
        key = re.match(r"^(?:# ?)?(\w+) = ", line)
        if key:
            keys.setdefault(section, set()).add(key.group(1))
    return keys


def _sections() -> dict[str, type[BaseModel]]:
    found = {}
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found[name] = field.annotation
    return found


@pytest.mark.parametrize("section", sorted(_sections()))
def test_every_setting_of_each_section_is_documented(section: str) -> None:
    missing = set(_sections()[section].model_fields) - _documented().get(section, set())
    assert missing == set(), f"config.example.toml [{section}] does not show {sorted(missing)}"


def test_every_top_level_setting_is_documented() -> None:
    top = set(Settings.model_fields) - set(_sections()) - {"sources"}
    assert top <= _documented()[""]
    assert "sources" in _documented()  # shown as a commented [[sources]] table


def test_every_key_the_readme_names_is_documented() -> None:
    documented = _documented()
    named = set(re.findall(r"`(\w+)\.(\w+)`", (ROOT / "README.md").read_text("utf-8")))
    named = {(s, k) for s, k in named if s in _sections()}
    assert {("scheduler", "stale_after"), ("grouping", "window")} <= named
    missing = sorted(f"{s}.{k}" for s, k in named if k not in documented.get(s, set()))
    assert missing == [], f"the README names {missing}; config.example.toml does not"


def test_the_documented_values_are_the_defaults() -> None:
    example = load_settings(EXAMPLE)
    assert example.scheduler == Settings().scheduler
    assert example.grouping == Settings().grouping
