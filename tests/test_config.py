"""Settings: TOML file, environment overrides, clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.config import load_settings
from notifier.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("NOTIFIER_"):
            monkeypatch.delenv(key)


def test_the_example_config_loads() -> None:
    settings = load_settings(ROOT / "config.example.toml")
    assert settings.email.from_address == "status@example.com"
    assert settings.sms.auth_token.get_secret_value() == "change-me"
    assert settings.operations_email == "ops@example.com"


def test_environment_overrides_one_nested_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[email]\nhost = "smtp.example.com"\nport = 587\npassword = "from-file"\n')
    monkeypatch.setenv("NOTIFIER_EMAIL__PASSWORD", "from-env")
    settings = load_settings(config)
    assert settings.email.host == "smtp.example.com"
    assert settings.email.port == 587
    assert settings.email.password is not None
    assert settings.email.password.get_secret_value() == "from-env"
    assert "from-env" not in repr(settings)  # secrets never print


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text('default_locale = "fr"\n')
    monkeypatch.setenv("NOTIFIER_CONFIG", str(config))
    assert load_settings().default_locale == "fr"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[email]\nport = "twenty-five"\n', "email.port: Input should be a valid integer"),
        ("[email]\nport = 70000\n", "email.port: Input should be less than or equal to 65535"),
        ('[emial]\nhost = "x"\n', "emial: Extra inputs are not permitted"),
        ('[database]\nurl = "mysql://x"\n', "database.url: Value error, must start with"),
        ("[email\nhost=1", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert expected in str(info.value)
    assert str(config) in str(info.value)
    assert "\n" not in str(info.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
