"""`oncolink demo [--patients N] [--seed S]`: fill the running server with the demo hospital."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import httpx
import typer
from pydantic import ValidationError

from ..settings import Settings

# The dev issuer's role the demo uses (fhir_server.security.dev_issuer.ROLES): system/*.cruds, the hospital.
DEMO_ROLE = "administrator"

if TYPE_CHECKING:
    from adapters.mssante.settings import MssanteSettings

    from .data import DemoData
    from .driver import Report
    from .hospital import DemoPatient
    from .questionnaire import Scale


def _loopback(host: str) -> str:
    """A listener bound to every interface is reached on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


@dataclass(frozen=True)
class Prepared:
    data: DemoData
    scale: Scale
    outcomes: list[str]
    patients: list[DemoPatient]


def prepare(settings: Settings, *, seed: int, count: int, today: date, data_file: Path | None = None) -> Prepared:
    """The demo hospital as the server's own data would have it: its drug table, triage tree and
    questionnaire (ValueError or IgError, naming the file, when one of them cannot be read)."""
    from ..pathway.rules import load as load_rules
    from ..telemonitoring.tree import load_tree
    from .data import load
    from .hospital import generate
    from .questionnaire import load_scale

    data = load(data_file or settings.demo_file)
    scale = load_scale(settings.ig_dir, settings.triage_dir, data.hospital.idnst)
    outcomes = list(load_tree(settings.triage_dir, data.hospital.idnst).outcomes)
    rules = load_rules(settings.pathway_dir)
    patients = generate(data, scale, seed=seed, count=count, today=today, zone=ZoneInfo(settings.pathway_timezone),
                        hospital_reserve=lambda atc: rules.drug(atc).hospital_reserve)
    return Prepared(data, scale, outcomes, patients)


def dev_token(tokens_file: Path) -> str | None:
    """The establishment's service account of a server started with `--dev` on this machine: the demo writes as
    the DPI, the nurses and the patients' app at once, which only that account may do."""
    try:
        return str(json.loads(tokens_file.read_text(encoding="utf-8"))["tokens"][DEMO_ROLE])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def register(app: typer.Typer, load_settings: Callable[[], Settings], fail: Callable[[str], None]) -> None:
    """`fail(sentence)` is the `oncolink` command's own: one line on stderr and exit code 1."""

    @app.command()
    def demo(
        patients: Annotated[int, typer.Option(min=1, max=10_000, help="how many patients in the file active")] = 30,
        seed: Annotated[int, typer.Option(min=0, help="same seed, same hospital (identities, treatments, answers)")
                        ] = 1,
        base_url: Annotated[str | None, typer.Option(help="FHIR base of the server (default ONCOLINK_FHIR_BASE_URL, "
                                                     "else http://HOST:PORT/fhir)")] = None,
        mllp_host: Annotated[str | None, typer.Option(help="MLLP listener host (default ONCOLINK_MLLP_HOST or the "
                                                      "server's host)")] = None,
        mllp_port: Annotated[int | None, typer.Option(min=1, max=65535, help="MLLP listener port (default "
                                                      "ONCOLINK_MLLP_PORT)")] = None,
        token: Annotated[str | None, typer.Option(envvar="ONCOLINK_TOKEN", help="Bearer token sent with every HTTP "
                                                  "request (default: the administrator token `oncolink serve "
                                                  "--dev` wrote to ONCOLINK_DEV_TOKENS_FILE)")] = None,
        today: Annotated[str | None, typer.Option(help="the demo's day, YYYY-MM-DD (default: today); the file "
                                                  "active's dates are counted back from it")] = None,
        wait: Annotated[float, typer.Option(min=0, help="seconds to wait for the server's MSSanté worker to send "
                                            "the messages")] = 120.0,
        data_file: Annotated[Path | None, typer.Option(help="demo data tables (default ONCOLINK_DEMO_FILE)")] = None,
    ) -> None:
        """Fill the running server with a synthetic hospital through MLLP, FHIR and the worklist, then summarise."""
        from adapters.dpi.settings import DpiSettings
        from adapters.fhir_client import FhirClient, FhirUnavailable
        from adapters.mssante.settings import MssanteSettings

        from ..validation.ig import IgError
        from .driver import DemoError, Driver, Hl7Link, Report, run

        settings = load_settings()
        try:
            dpi, mss = DpiSettings(), MssanteSettings()
        except ValidationError as exc:
            fail(f"invalid adapter settings ({exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']})")
            return
        zone = ZoneInfo(settings.pathway_timezone)
        try:
            day = date.fromisoformat(today) if today else datetime.now(zone).date()
        except ValueError as exc:
            raise typer.BadParameter(f"{today!r} is not a date YYYY-MM-DD", param_hint="--today") from exc
        try:
            ready = prepare(settings, seed=seed, count=patients, today=day, data_file=data_file)
        except (ValueError, IgError) as exc:  # each loader's error names its file
            fail(str(exc))
            return
        data, scale, outcomes, plan = ready.data, ready.scale, ready.outcomes, ready.patients
        base = (base_url or dpi.fhir_base_url or f"http://{_loopback(settings.host)}:{settings.port}/fhir").rstrip("/")
        port = mllp_port or dpi.mllp_port
        if not port:
            fail("ONCOLINK_MLLP_PORT is 0 (no MLLP listener): give the listener's port with --mllp-port")
        token = token or dev_token(settings.dev_tokens_file)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        timeout = dpi.fhir_timeout

        async def go() -> Report:
            report = Report()
            async with FhirClient.for_url(base, headers=headers, timeout=timeout) as fhir, \
                    httpx.AsyncClient(base_url=base.removesuffix("/fhir"), headers=headers,
                                      timeout=timeout) as web:
                hl7 = Hl7Link(_loopback(mllp_host or dpi.listen_host), port, report, timeout)
                driver = Driver(data, scale, outcomes, fhir, web, hl7, report, today=day, zone=zone)
                return await run(driver, plan, wait)

        try:
            report = asyncio.run(go())
        except DemoError as exc:
            fail(str(exc))
            return
        except (FhirUnavailable, httpx.TransportError) as exc:
            fail(f"the FHIR server at {base} stopped answering ({exc}); check its log")
            return
        typer.echo(summary(report, data.hospital.name, seed, base, mss))
        for problem in report.problems:
            typer.echo(f"  ! {problem}", err=True)
        if report.pending_messages:
            typer.echo(f"oncolink: {report.pending_messages} message(s) MSSanté encore en attente après {wait:.0f} s : "
                       "le worker MSSanté du serveur tourne-t-il (ONCOLINK_MSSANTE_POLL_SECONDS) ?", err=True)
        if report.problems:
            fail(f"{len(report.problems)} problem(s) while filling the server; see the lines above")


def summary(report: Report, hospital: str, seed: int, base: str, mss: MssanteSettings) -> str:
    acks = ", ".join(f"{code} {n}" for code, n in sorted(report.acks.items())) or "aucun"
    alerts = sum(report.alerts.values())
    sent = report.messages.get("completed", 0)
    where = f"fichiers .eml dans {mss.mssante_outbox_dir}" if not mss.mssante_smtp_host else \
        f"relais {mss.mssante_smtp_host}"
    return "\n".join([
        f"Hôpital de démonstration « {hospital} » (graine {seed}) :",
        f"  patients : {report.patients} (ADT^A04{f', dont {report.already} déjà envoyés' if report.already else ''})"
        f", prescriptions : {report.medication_requests} (MedicationRequest), "
        f"épisodes : {report.episodes} dont {report.parcours_b} en parcours B (réserve hospitalière)",
        f"  changements de séquence : {report.transitions}, traitements arrêtés : {report.stopped}, "
        f"interactions signalées par MSSanté : {report.interactions}",
        f"  questionnaires hebdomadaires : {report.questionnaires}, alertes : {alerts} "
        f"(rouges {report.alerts.get('red', 0)}, orange {report.alerts.get('orange', 0)}), "
        f"traitées dans la worklist : {report.handled}",
        f"  HL7 v2 par MLLP : {report.hl7_messages} message(s), ACK {acks}",
        f"  MSSanté : {report.triggers} déclencheur(s), {sum(report.messages.values())} message(s) dont {sent} "
        f"envoyé(s) ({where})",
        f"  File active : {base.removesuffix('/fhir')}/worklist?team={report.team}",
    ])
