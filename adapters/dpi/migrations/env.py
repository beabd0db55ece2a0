"""Alembic environment of the DPI journal: its own version table, so it never meets the server's."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from adapters.dpi.journal import VERSION_TABLE, metadata

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, version_table=VERSION_TABLE,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
