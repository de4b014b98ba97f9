"""The database as the faces see it: its schema revision, and what an error from it means.

The error tests are the store's own (`notifier.store.db`), named here so that a face
(the CLI's error handling, the API's 503) asks a service rather than the store.
"""

from __future__ import annotations

from notifier.store.db import brief as brief
from notifier.store.db import create_engine
from notifier.store.db import refused_login as refused_login
from notifier.store.db import unavailable as unavailable
from notifier.store.db import wait_for_database as wait_for_database
from notifier.store.migrate import current_revision, head_revision, upgrade


async def upgrade_schema(url: str) -> str | None:
    """Create or migrate the schema at `url` to the latest version; the revision it is at."""
    engine = create_engine(url)
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def schema_revision(url: str) -> str | None:
    """The schema revision of the database at `url`; None when it has no schema yet."""
    engine = create_engine(url)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


def code_revision() -> str | None:
    """The schema revision this version of notifier expects."""
    return head_revision()
