"""`oncolink subscriptions deliver`: one delivery pass, for sites that run it from their scheduler."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import typer

from ..settings import Settings


def register(app: typer.Typer, load_settings: Callable[[], Settings]) -> None:
    subscriptions_app = typer.Typer(help="R4 Subscriptions (rest-hook).", no_args_is_help=True)
    app.add_typer(subscriptions_app, name="subscriptions")

    @subscriptions_app.command("deliver")
    def deliver_command() -> None:
        """Send the due notifications once (retries included) and print what happened."""
        from ..services import build_services
        from .delivery import deliver

        services = build_services(load_settings())
        try:
            typer.echo(str(deliver(services, datetime.now(UTC))))
        finally:
            services.close()
