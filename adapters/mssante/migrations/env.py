"""Alembic environment of the MSSanté adapter: its own version table, so it never meets the server's."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from adapters.mssante.store import VERSION_TABLE, metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)


run_migrations()
