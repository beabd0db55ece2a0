"""`oncolink mllp`, `oncolink hl7 replay`, `oncolink hl7 log`.

`register(app)` adds the commands to the `oncolink` typer app. Commands that need the FHIR server get
their client from `client_factory`: by default a client on the remote base URL
(ONCOLINK_FHIR_BASE_URL, else http://HOST:PORT/fhir); `oncolink` passes one on the in-process app so
replay works without a running server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import orjson
import typer
from pydantic import ValidationError

from adapters.fhir_client import FhirClient

from .check import Checker, Finding, MessageReport, render_text, report_dict
from .errors import SEGMENT_SEQUENCE, Location
from .journal import DEAD, Journal
from .maps import MappingError, Mappings
from .service import start
from .settings import DpiSettings

ClientFactory = Callable[[DpiSettings], FhirClient]


def remote_client(settings: DpiSettings) -> FhirClient:
    return FhirClient.for_url(settings.remote_fhir_base, timeout=settings.fhir_timeout,
                               auth=settings.fhir_auth())


def _fail(message: str) -> None:
    typer.echo(f"oncolink: {message}", err=True)
    raise typer.Exit(1)


def _settings() -> DpiSettings:
    try:
        return DpiSettings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        _fail(f"invalid settings ({problems}); fix the environment or .env")
        raise AssertionError from exc


def register(app: typer.Typer, client_factory: ClientFactory = remote_client) -> None:
    hl7 = typer.Typer(help="HL7 v2 messages: check, list and replay.", no_args_is_help=True)

    @app.command()
    def mllp(
        fhir_base: Annotated[str | None, typer.Option(help="FHIR base URL (default ONCOLINK_FHIR_BASE_URL)")] = None,
        port: Annotated[int | None, typer.Option(help="MLLP port (default ONCOLINK_MLLP_PORT)")] = None,
    ) -> None:
        """Run the HL7 v2 MLLP listener alone, sending FHIR transactions to a remote server."""
        settings = _settings()
        updates: dict[str, object] = {}
        if fhir_base:
            updates["fhir_base_url"] = fhir_base
        if port is not None:
            updates["mllp_port"] = port
        settings = settings.model_copy(update=updates)
        if not settings.mllp_port:
            _fail("ONCOLINK_MLLP_PORT is 0: nothing to listen on")
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        try:
            asyncio.run(_run_listener(settings, remote_client(settings)))
        except OSError as exc:
            _fail(f"cannot listen on {settings.listen_host}:{settings.mllp_port} ({exc})")

    @hl7.command("replay")
    def replay(
        message_id: Annotated[int | None, typer.Argument(help="journal id (see `oncolink hl7 log`)")] = None,
        failed: Annotated[bool, typer.Option("--failed", help="replay every dead-lettered message")] = False,
    ) -> None:
        """Process journaled messages again (one id, or all dead-lettered ones with --failed)."""
        if (message_id is None) == (not failed):
            _fail("give a message id or --failed (not both)")
        settings = _settings()
        codes = asyncio.run(_replay(settings, client_factory(settings), message_id, failed))
        if any(code != "AA" for code in codes):
            raise typer.Exit(2)

    @hl7.command("log")
    def log_(
        limit: Annotated[int, typer.Option(help="how many messages, newest first")] = 20,
        status: Annotated[str | None, typer.Option(help="accepted, error, rejected, failed, received or dead")] = None,
    ) -> None:
        """List recently received HL7 v2 messages and what became of them."""
        settings = _settings()
        journal = Journal(settings.journal_url)
        try:
            journal.upgrade()
            entries = journal.recent(limit, status)
        finally:
            journal.dispose()
        if not entries:
            typer.echo("no message")
            return
        for e in entries:
            when = e.received_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            detail = e.summary if e.ack_code == "AA" else e.error
            unmapped = f" [unmapped: {', '.join(e.unmapped)}]" if e.unmapped else ""
            typer.echo(f"{e.id:>7}  {when}  {e.transport:<6} {e.message_type:<8} {e.control_id:<20} "
                       f"{e.ack_code or '--'} {e.status:<9} {detail or ''}{unmapped}")

    @hl7.command("check")
    def check(
        files: Annotated[list[str], typer.Argument(help="ER7 files (several messages each); - reads stdin")],
        json_: Annotated[bool, typer.Option("--json", help="print the report as JSON (for CI)")] = False,
        fhir_base: Annotated[str | None, typer.Option(help="check against this FHIR server instead of the "
                                                      "in-process one")] = None,
        profiles: Annotated[bool, typer.Option("--profiles/--no-profiles", help="also validate against the "
                                               "profiles the server lists per type")] = True,
    ) -> None:
        """Dry run: parse, map and validate messages, report what they would write; nothing is stored."""
        sources: list[tuple[str, bytes]] = []
        for name in files:
            if name == "-":
                sources.append(("-", sys.stdin.buffer.read()))
                continue
            try:
                sources.append((name, Path(name).read_bytes()))
            except OSError as exc:
                _fail(f"cannot read {name} ({exc.strerror or exc})")
        settings = _settings()
        try:
            mappings = Mappings.load(settings.dpi_mappings)
        except MappingError as exc:
            _fail(str(exc))
        client = (FhirClient.for_url(fhir_base, timeout=settings.fhir_timeout, auth=settings.fhir_auth())
                  if fhir_base else client_factory(settings))
        reports = asyncio.run(_check(client, mappings, settings.hl7_default_charset, profiles, sources))
        if json_:
            typer.echo(orjson.dumps(report_dict(reports), option=orjson.OPT_INDENT_2).decode())
        else:
            typer.echo(render_text(reports))
        if any(r.errors for r in reports):
            raise typer.Exit(1)

    app.add_typer(hl7, name="hl7")


async def _check(client: FhirClient, mappings: Mappings, charset: str, profiles: bool,
                 sources: list[tuple[str, bytes]]) -> list[MessageReport]:
    reports: list[MessageReport] = []
    async with client:
        checker = Checker(client, mappings, default_charset=charset, profiles=profiles)
        for name, raw in sources:
            found = await checker.check_bytes(raw, name)
            if not found:
                found = [MessageReport(name, 1)]
                found[0].predicted_ack = "AR"
                found[0].findings.append(_empty_finding())
            reports.extend(found)
    return reports


def _empty_finding() -> Finding:
    return Finding("error", "message", "no HL7 v2 message in this input (it must start with MSH)",
                   Location("MSH", 1), SEGMENT_SEQUENCE)


async def _run_listener(settings: DpiSettings, client: FhirClient) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with client:
        service = await start(settings, client)
        typer.echo(f"MLLP listening on {settings.listen_host}:{service.mllp_port}, FHIR server {client.base_url}")
        try:
            await stop.wait()
        finally:
            await service.stop()


async def _replay(settings: DpiSettings, client: FhirClient, message_id: int | None, failed: bool) -> list[str]:
    codes = []
    async with client:
        service = await start(settings, client, listen=False)
        try:
            journal = service.journal
            ids = await asyncio.to_thread(journal.dead_ids) if failed else [message_id]
            if not ids:
                typer.echo("no dead-lettered message")
            for entry_id in ids:
                assert entry_id is not None
                entry = await asyncio.to_thread(journal.get, entry_id)
                if entry is None:
                    typer.echo(f"oncolink: no message {entry_id} in the journal", err=True)
                    codes.append("--")
                    continue
                outcome = await service.processor.replay(entry)
                detail = outcome.summary if outcome.code == "AA" else "; ".join(p.text for p in outcome.problems)
                typer.echo(f"{entry_id}: {outcome.code} {outcome.status} {detail}")
                codes.append(outcome.code)
        finally:
            await service.stop()
    return codes


__all__ = ["DEAD", "ClientFactory", "register", "remote_client"]
