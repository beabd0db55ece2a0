"""Run Alembic migrations programmatically, so `oncolink serve` and tests share one schema path."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from .database import Database

_HERE = Path(__file__).parent


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE / "migrations"))
    # ConfigParser interpolates '%': URL-encoded options (e.g. search_path) must be escaped.
    config.set_main_option("sqlalchemy.url", db.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def upgrade(db: Database, revision: str = "head", search_params: object | None = None) -> None:
    """`search_params` (a `SearchParameters`): for revisions that rewrite index rows, which only the
    parameter definitions explain; they refuse to run on a database holding rows without them."""
    config = alembic_config(db)
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        config.attributes["search_params"] = search_params
        command.upgrade(config, revision)
