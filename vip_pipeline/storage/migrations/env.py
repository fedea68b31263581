"""Alembic's environment for the warehouse: run by `vip_pipeline.storage.migrate`, never on its own.

The caller passes an open connection, already inside the one transaction that also holds the
migration lock and recreates the views (`config.attributes["connection"]`). No URL is configured
here, so none can be logged.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("run migrations through `vip-pipeline db upgrade` (vip_pipeline.storage.migrate)")

context.configure(
    connection=connection,
    # autogenerate (`vip-pipeline db revision`) compares the database at head with the live contracts
    target_metadata=config.attributes.get("target_metadata"),
    render_as_batch=True,  # ALTERs that SQLite cannot do are rendered as batch operations (copy + rename)
    transactional_ddl=True,  # the caller's transaction, also on SQLite (BEGIN IMMEDIATE)
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
