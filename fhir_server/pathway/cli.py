"""`oncolink pathway tick [--now]` and `oncolink billing export --month YYYY-MM [--format csv|json]`, run
in-process on the configured database (the site's scheduler may call them instead of the periodic task)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer

from ..settings import Settings


def _moment(now: str | None) -> datetime:
    try:
        moment = datetime.fromisoformat(now) if now else datetime.now(UTC)
    except ValueError as exc:
        raise typer.BadParameter(f"--now {now!r} is not an ISO date-time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def register(app: typer.Typer, load_settings: Callable[[], Settings]) -> None:
    pathway = typer.Typer(help="Onco'Link pathway: sequences over time.", no_args_is_help=True)
    billing = typer.Typer(help="Forfaits of the pathway and of telemonitoring.", no_args_is_help=True)
    app.add_typer(pathway, name="pathway")
    app.add_typer(billing, name="billing")

    @pathway.command("tick")
    def tick_command(
        now: Annotated[str | None, typer.Option(help="ISO date-time to run at (default: now)")] = None,
    ) -> None:
        """Close the sequences whose period ended, open the next ones or end the episodes, bill the months."""
        from ..heap import freeze_long_lived
        from ..services import build_services
        from .tick import tick

        moment = _moment(now)
        services = build_services(load_settings())
        freeze_long_lived()
        try:
            report = tick(services, moment)
        finally:
            services.close()
        typer.echo(f"{report.episodes} épisode(s) actif(s) : {report.transitions} changement(s) de séquence, "
                   f"{report.completed} épisode(s) terminé(s), {report.telemonitoring_months} mois de "
                   f"télésurveillance facturé(s)")
        for failed in report.failed:
            typer.echo(f"  échec : {failed}", err=True)
        raise typer.Exit(1 if report.failed else 0)

    @billing.command("export")
    def export_command(
        month: Annotated[str, typer.Option(help="the month billed, YYYY-MM")],
        output_format: Annotated[Literal["csv", "json"], typer.Option("--format", help="csv (per actor) or json "
                                                                      "(per actor and per forfait)")] = "csv",
        output: Annotated[Path | None, typer.Option(help="file to write (default: standard output)")] = None,
    ) -> None:
        """What each establishment, pharmacy, GP and telemonitoring operator bills for the month."""
        from ..services import build_services
        from .billing import export, month_range

        try:
            month_range(month)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--month") from exc
        services = build_services(load_settings())
        try:
            result = export(services, month)
        finally:
            services.close()
        text = result.to_csv() if output_format == "csv" else json.dumps(result.to_json(), ensure_ascii=False,
                                                                          indent=2) + "\n"
        if output:
            output.write_text(text, encoding="utf-8")
        else:
            typer.echo(text, nl=False)
