"""Alembic environment: migrations always run on a connection handed over by notifier.

`notifier db upgrade` (and the demo and worker at start) open the async engine and pass its
connection in `config.attributes["connection"]`, so there is one way in, for both dialects.
"""

from __future__ import annotations

from alembic import context

from notifier.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `notifier db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
