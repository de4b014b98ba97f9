"""What `notifier serve` warns about before the first request: features off for want of
a setting (each case of ApiSettings that turns one off)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from notifier.config import ApiSettings
from notifier.runtime.serve import startup_warnings

SECRET = SecretStr("s" * 32)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (ApiSettings(), ["api.public_base_url is not set"]),
        # Without a public address nothing can be linked, secret or not: one warning.
        (ApiSettings(unsubscribe_secret=SECRET), ["api.public_base_url is not set"]),
        (
            ApiSettings(public_base_url="https://notify.example.com"),
            ["api.unsubscribe_secret is not set"],
        ),
        (ApiSettings(public_base_url="https://notify.example.com", unsubscribe_secret=SECRET), []),
    ],
)
def test_each_missing_setting_is_named(settings: ApiSettings, expected: list[str]) -> None:
    warnings = startup_warnings(settings)
    assert [w.partition(":")[0] for w in warnings] == expected, warnings
    assert all("no unsubscribe links" in w for w in warnings)
