"""The `oncolink` command line: the one place that starts the server and, later, the adapters."""

from __future__ import annotations

import errno
import logging
import socket
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from adapters.dpi import cli as dpi_cli
from adapters.dpi.settings import DpiSettings
from adapters.fhir_client import FhirClient
from adapters.mssante import cli as mssante_cli
from adapters.mssante.settings import MssanteSettings
from adapters.settings import AdapterSettings

from .demo import cli as demo_cli
from .pathway import cli as pathway_cli
from .settings import Settings
from .subscriptions import cli as subscriptions_cli
from .telemonitoring import cli as telemonitoring_cli
from .validation.cli import register as register_validation
from .validation.ig import IgError
from .validation.packages import R4_CORE, PackageError, install

app = typer.Typer(help="Onco'Link FHIR server and tools.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
packages_app = typer.Typer(help="Manage the local FHIR package cache.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(packages_app, name="packages")
app.add_typer(db_app, name="db")
register_validation(app)
# `oncolink mllp` and `oncolink hl7 …`; replay goes through an in-process server on the configured database.
dpi_cli.register(app, client_factory=lambda settings: _in_process_client(settings, "dpi-interface"))
# `oncolink mssante send-pending|outbox|retry`, against the same in-process server.
mssante_cli.register(app, client_factory=lambda settings: _in_process_client(settings, "mssante-worker"))


def _in_process_client(adapter_settings: AdapterSettings, role: str) -> FhirClient:
    """A client on a server app in this process, on the configured database (`hl7 check|replay`,
    `mssante send-pending`). With the adapter's credentials configured it uses them; otherwise the app
    trusts a key made for this process alone and the client holds a token of the adapter's `role` signed
    with it: the checks of the API still run, and nothing outside the process can use the key."""
    from .app import create_app

    settings = load_settings()
    auth = adapter_settings.fhir_auth()
    if auth is None:
        from adapters.oauth import BearerToken

        from .security.dev_issuer import DEFAULT_AUDIENCE, DevIssuer

        issuer = DevIssuer(audience=settings.auth_audience or DEFAULT_AUDIENCE).start()
        fields = {k.removeprefix("ONCOLINK_").lower(): v for k, v in issuer.settings_env().items()}
        settings = settings.model_copy(update=fields)
        auth = BearerToken(issuer.mint(role))
    return FhirClient.for_app(create_app(settings), run_lifespan=True, auth=auth)


def fail(message: str) -> None:
    """One clear sentence on stderr and a non-zero exit: users need the fix, not a traceback.

    Driver messages span several lines; they are folded so the sentence stays on one line."""
    typer.echo(f"oncolink: {' '.join(message.split())}", err=True)
    raise typer.Exit(1)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"ONCOLINK_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        fail(f"invalid settings ({problems}); fix the environment or .env")
        raise AssertionError from exc  # unreachable: fail() exits


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _dev_issuer(settings: Settings, dpi_settings: DpiSettings, mssante_settings: MssanteSettings,
                tokens_file: Path) -> tuple[Settings, DpiSettings, MssanteSettings]:
    """Start the local issuer, point the server and its adapters at it, and hand out one token per role
    (printed, and written to `tokens_file` for scripts such as `oncolink demo`)."""
    import json

    from .security.dev_issuer import DEFAULT_AUDIENCE, DevIssuer

    issuer = DevIssuer(audience=settings.auth_audience or DEFAULT_AUDIENCE).start()
    env = {**issuer.settings_env(), **issuer.client_env()}
    fields = {name.removeprefix("ONCOLINK_").lower(): value for name, value in env.items()}

    def update(model: Any) -> Any:
        return model.model_copy(update={k: v for k, v in fields.items() if k in type(model).model_fields})

    tokens = issuer.tokens()
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    tokens_file.write_text(json.dumps({"issuer": issuer.issuer, "tokens": tokens}, indent=2), encoding="utf-8")
    tokens_file.chmod(0o600)
    typer.echo(f"Development issuer {issuer.issuer} (never use it in production); tokens valid 12 h, also in "
               f"{tokens_file}:")
    for role, token in tokens.items():
        typer.echo(f"  {role}: {token}")
    return update(settings), update(dpi_settings), update(mssante_settings)


@app.command()
def serve(
    dev: Annotated[bool, typer.Option("--dev", help="run a local token issuer and print one token per role")] = False,
) -> None:
    """Start the FHIR server, the DPI adapter's MLLP listener and the MSSanté worker (ONCOLINK_* settings)."""
    import uvicorn

    from adapters.dpi.http import router as dpi_router
    from adapters.dpi.service import attached as dpi_attached
    from adapters.mssante.service import attached as mssante_attached

    from .app import create_app
    from .heap import freeze_long_lived
    from .periodic import scheduled
    from .services import build_services

    settings = load_settings()
    try:
        dpi_settings = DpiSettings()
        mssante_settings = MssanteSettings()
    except ValidationError as exc:
        fail(f"invalid adapter settings (ONCOLINK_{str(exc.errors()[0]['loc'][0]).upper()}: "
             f"{exc.errors()[0]['msg']})")
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if dev:
        settings, dpi_settings, mssante_settings = _dev_issuer(settings, dpi_settings, mssante_settings,
                                                               settings.dev_tokens_file)
    elif not (settings.auth_issuer and settings.auth_audience):
        fail("no token issuer is configured: set ONCOLINK_AUTH_ISSUER and ONCOLINK_AUTH_AUDIENCE (Pro Santé Connect "
             "in production), or run `oncolink serve --dev` for a local development issuer")
    if not _port_free(settings.host, settings.port):
        fail(f"port {settings.port} on {settings.host} is already in use; stop the other process or set ONCOLINK_PORT")
    if dpi_settings.mllp_port and not _port_free(dpi_settings.listen_host, dpi_settings.mllp_port):
        fail(f"MLLP port {dpi_settings.mllp_port} on {dpi_settings.listen_host} is already in use; stop the other "
             "process, set ONCOLINK_MLLP_PORT, or 0 to disable the listener")
    try:
        services = build_services(settings)
    except (PackageError, IgError) as exc:
        fail(str(exc))
    except OperationalError as exc:
        fail(f"cannot open the database {settings.database_url} ({exc.orig}); check ONCOLINK_DATABASE_URL and that "
             "the server is running")
    freeze_long_lived()
    typer.echo(f"Onco'Link FHIR serving {settings.fhir_base} (database: {services.db.url.render_as_string()})")
    if dpi_settings.mllp_port:
        typer.echo(f"HL7 v2 MLLP listener on {dpi_settings.listen_host}:{dpi_settings.mllp_port}; "
                   f"POST {settings.fhir_base.removesuffix('/fhir')}/hl7v2")
    app_ = create_app(settings, services, routers=[dpi_router],
                      attachments=[lambda application: dpi_attached(application, dpi_settings),
                                   lambda application: mssante_attached(application, mssante_settings),
                                   *scheduled()])
    uvicorn.run(app_, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False)


@app.command()
def conformance(
    base_url: Annotated[str, typer.Argument(help="FHIR base of the server under test, e.g. http://127.0.0.1:8080/fhir")],
    token: Annotated[str | None, typer.Option(envvar="ONCOLINK_TOKEN", help="Bearer token sent with every request")
                     ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable report for CI")] = False,
    only: Annotated[list[str] | None, typer.Option(
        help="families (create, read, vread, update, patch, delete, history, search, conditional, batch, "
             "transaction, format) or resource types to check; repeatable")] = None,
) -> None:
    """Check every interaction and search feature the server's CapabilityStatement claims; exit 1 on a failure."""
    from .conformance.run import execute

    report = execute(base_url, token=token, only=only or ())
    typer.echo(report.to_json() if json_output else report.to_text())
    raise typer.Exit(report.exit_code)


@packages_app.command("install")
def packages_install(
    package_ids: Annotated[list[str] | None, typer.Argument(help="name#version, default the R4 core")] = None,
    source: Annotated[Path | None, typer.Option(help="folder of name-version.tgz files to use first")] = None,
) -> None:
    """Fill the package cache (ONCOLINK_PACKAGE_CACHE) from a local folder or the package registry."""
    settings = load_settings()
    for package_id in package_ids or [R4_CORE]:
        try:
            folder = install(settings.package_cache, package_id,
                             source_dir=source if source and source.is_dir() else None,
                             registry_url=settings.package_registry_url)
        except PackageError as exc:
            fail(str(exc))
        typer.echo(f"{package_id}: {folder}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to ONCOLINK_DATABASE_URL."""
    from .search.registry import SearchParameters
    from .services import load_packages
    from .store.database import Database
    from .store.migrate import upgrade

    settings = load_settings()
    try:
        upgrade(Database(settings.database_url), search_params=SearchParameters(load_packages(settings)))
    except OperationalError as exc:
        fail(f"cannot open the database {settings.database_url} ({exc.orig})")
    typer.echo("database schema is up to date")




telemonitoring_cli.register(app, load_settings)
pathway_cli.register(app, load_settings)
subscriptions_cli.register(app, load_settings)
demo_cli.register(app, load_settings, fail)
