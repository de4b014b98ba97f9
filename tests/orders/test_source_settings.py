"""`[[sources]]` in the config file: a mistake is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.config import load_settings
from notifier.errors import ConfigError

GOOD = (
    '[[sources]]\nname = "shop"\nurl = "postgresql+asyncpg://r@db/shop"\ntable = "public.orders"\n'
)


def test_a_source_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD + '[sources.statuses]\nin_transit = "shipped"\n')
    (source,) = load_settings(path).sources
    assert (source.mark, source.start, source.interval, source.columns.customer) == (
        "updated_at",
        "now",
        30.0,
        "customer_id",
    )
    assert source.statuses == {"in_transit": "shipped"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("postgresql+asyncpg", "postgresql"),
            "sources.0.url: Value error, must "
            "start with sqlite+aiosqlite:// or postgresql+asyncpg://",
        ),
        (GOOD + 'query = "SELECT 1"\n', "sources.0: Value error, give either table or query"),
        (GOOD.replace("public.orders", "orders; DROP TABLE x"), "sources.0.table: Value error"),
        (
            GOOD + '[sources.columns]\nid = ""\n',
            "sources.0.columns.id: Value error, every source needs this column",
        ),
        (
            GOOD + '[sources.columns]\nupdated_at = ""\n',
            'mark = "updated_at" needs columns.updated_at',
        ),
        (GOOD + '[sources.statuses]\nlost = "gone"\n', "sources.0.statuses.lost: Input should be"),
        (GOOD + "intervall = 5\n", "sources.0.intervall: Extra inputs are not permitted"),
        (GOOD + GOOD, "sources: Value error, two sources are named 'shop'"),
    ],
)
def test_mistakes_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert message in str(info.value) and "\n" not in str(info.value)
