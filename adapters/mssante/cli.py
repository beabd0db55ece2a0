"""`oncolink mssante send-pending | outbox | retry`.

`register(app)` adds the `mssante` group to the `oncolink` typer app (or `app` below can be mounted as
is). Commands that need the FHIR server get their client from `client_factory`: by default a client on
the remote base URL (ONCOLINK_FHIR_BASE_URL, else http://HOST:PORT/fhir); `oncolink` may pass one on
the in-process app so that `send-pending` works without a running server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Annotated

import typer
from pydantic import ValidationError

from adapters.fhir_client import FhirClient, FhirUnavailable

from .service import start
from .settings import MssanteSettings
from .store import FAILED, UNKNOWN, Store

ClientFactory = Callable[[MssanteSettings], FhirClient]


def remote_client(settings: MssanteSettings) -> FhirClient:
    return FhirClient.for_url(settings.remote_fhir_base, timeout=settings.fhir_timeout,
                               auth=settings.fhir_auth())


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"oncolink: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


def _settings() -> MssanteSettings:
    try:
        return MssanteSettings()
    except ValidationError as exc:
        problems = "; ".join(f"ONCOLINK_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                             for e in exc.errors())
        _fail(f"invalid settings ({problems}); fix the environment or .env")
        raise AssertionError from exc


def build_app(client_factory: ClientFactory = remote_client) -> typer.Typer:
    mss = typer.Typer(help="MSSanté secure messaging: send pending messages, list and retry the outbox.",
                      no_args_is_help=True)

    @mss.command("send-pending")
    def send_pending(
        fhir_base: Annotated[str | None, typer.Option(help="FHIR base URL (default ONCOLINK_FHIR_BASE_URL)")] = None,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log each step")] = False,
    ) -> None:
        """Take pending triggers in, send every due message once, and record the outcomes in FHIR."""
        settings = _settings()
        if fhir_base:
            settings = settings.model_copy(update={"fhir_base_url": fhir_base})
        logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")
        try:
            report = asyncio.run(_send_pending(settings, client_factory(settings)))
        except FhirUnavailable as exc:
            _fail(f"FHIR server unreachable ({exc}); start it or set ONCOLINK_FHIR_BASE_URL")
            return
        typer.echo(f"déclencheurs pris en charge : {report.taken_in}, messages composés : {report.composed}, "
                   f"envoyés : {report.sent}, à réessayer : {report.retried}, en échec : {report.failed}, "
                   f"remise incertaine : {report.unknown}, déclencheurs terminés : {report.finished}")
        for error in report.errors:
            typer.echo(f"  ! {error}", err=True)
        if report.errors:
            raise typer.Exit(2)

    @mss.command("outbox")
    def outbox(
        limit: Annotated[int, typer.Option(help="how many messages, newest first")] = 20,
        status: Annotated[str | None, typer.Option(help="new, ready, sending, sent, failed or unknown")] = None,
    ) -> None:
        """List the outbox: each message, its recipient and what became of it."""
        settings = _settings()
        store = Store(settings.store_url)
        try:
            store.upgrade()
            rows = store.recent(limit, status)
        finally:
            store.dispose()
        if not rows:
            typer.echo("aucun message")
            return
        for row in rows:
            when = (row.sent_at or row.updated_at).astimezone().strftime("%Y-%m-%d %H:%M:%S")
            detail = row.smtp_reply if row.status == "sent" else row.last_error
            typer.echo(f"{row.id:>7}  {when}  {row.status:<8} {row.address or '-':<40} "
                       f"essais={row.attempts} {row.subject or ''}")
            if detail:
                typer.echo(f"         {detail}")

    @mss.command("retry")
    def retry(message_id: Annotated[int, typer.Argument(help="outbox id (see `oncolink mssante outbox`)")]) -> None:
        """Queue a failed or uncertain message again (same Message-ID, so a receiver can spot a duplicate)."""
        settings = _settings()
        store = Store(settings.store_url)
        try:
            store.upgrade()
            row = store.get(message_id)
            if row is None:
                _fail(f"no message {message_id} in the outbox")
            assert row is not None
            if row.status not in (FAILED, UNKNOWN):
                _fail(f"message {message_id} is {row.status}: only failed or unknown messages can be retried")
            store.requeue(message_id)
        finally:
            store.dispose()
        typer.echo(f"message {message_id} remis en file d'envoi (prochain passage de `oncolink mssante send-pending`)")

    return mss


def register(app: typer.Typer, client_factory: ClientFactory = remote_client) -> None:
    app.add_typer(build_app(client_factory), name="mssante")


async def _send_pending(settings: MssanteSettings, client: FhirClient):  # type: ignore[no-untyped-def]
    async with client:
        service = await start(settings, client, loop=False)
        try:
            return await service.run_once()
        finally:
            await service.stop()


app = build_app()
