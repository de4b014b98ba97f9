"""CI=1, CI=true, CI=TRUE, CI=yes: every spelling a CI service uses means the same."""

from __future__ import annotations

import pytest

from tests.ci import under_ci


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True", "yes", "YES", " true "])
def test_every_spelling_of_yes_is_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert under_ci()


@pytest.mark.parametrize("value", ["", "0", "false", "no", "FALSE"])
def test_other_values_are_not_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert not under_ci()


def test_unset_is_not_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert not under_ci()
