"""`oncolink telemonitoring check-missing [--now]`: the missing-questionnaire check, run once in-process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import typer

from ..settings import Settings


def register(app: typer.Typer, load_settings: Callable[[], Settings]) -> None:
    group = typer.Typer(help="Weekly PRO telemonitoring.", no_args_is_help=True)
    app.add_typer(group, name="telemonitoring")

    @group.command("check-missing")
    def check_missing_command(
        now: Annotated[str | None, typer.Option(help="ISO date-time to check at (default: now)")] = None,
    ) -> None:
        """Raise an alert for each telemonitored episode without a recent weekly questionnaire."""
        from ..services import build_services
        from .missing import check_missing

        try:
            moment = datetime.fromisoformat(now) if now else datetime.now(UTC)
        except ValueError as exc:
            raise typer.BadParameter(f"--now {now!r} is not an ISO date-time") from exc
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        services = build_services(load_settings())
        try:
            report = check_missing(services, moment)
        finally:
            services.close()
        typer.echo(f"{report.checked} épisode(s) télésurveillé(s) vérifié(s), {len(report.alerted)} alerte(s) créée(s)")
        for patient in report.alerted:
            typer.echo(f"  {patient}")
