"""Pathway benchmark (issue 7): `oncolink pathway tick` over the whole file active and the billing export
of one month, in-process as the commands run them.

Full scale is 15,000 patients in episodes (the experiment's national scale), enrolled through the same
`$enroll` code path over the ten months before the measured day; half of them telemonitored. Measured:
a daily tick (the day after every episode was brought up to date), a tick after a month without one
(catch-up), and the export of the month. Baselines in the same run: reading every active episode's JSON
(the floor of any tick) and every forfait of the month (the floor of any export).

The tables are analysed after the seeding: a production database has fresh planner statistics (autovacuum
analyses tables as they grow), while tables filled from empty faster than autovacuum runs leave PostgreSQL
planning index searches on the statistics of empty tables."""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from fhir_server.heap import freeze_long_lived
from fhir_server.operations.parameters import Inputs
from fhir_server.pathway.billing import export
from fhir_server.pathway.enrolment import enroll
from fhir_server.pathway.tick import EPISODES, tick
from fhir_server.pathway.transitions import engine
from fhir_server.services import Services, build_services
from fhir_server.settings import Settings

from .common import machine, record, targets

SECTION = "Pathway tick and billing export (issue 7)"
ATC = "http://www.whocc.no/atc"
ORAL = {"coding": [{"system": "http://standardterms.edqm.eu", "code": "20053000"}]}
DRUGS = ("L01BC06", "L01EA01", "L01XK01", "L01EF01", "L01XX52")
DAY = datetime(2026, 11, 2, 6, tzinfo=UTC)


def _seed(services: Services, patients: int, rng: random.Random) -> float:
    """Enrol `patients` (starts spread over the ten months before DAY); answers the seconds it took."""
    repo, pathway = services.repository, engine(services)
    started = time.perf_counter()
    with services.db.write() as conn:
        hospital = repo.create(conn, "Organization", {"resourceType": "Organization", "name": "CH"}).stored.res_id
        pharmacies = [repo.create(conn, "Organization", {"resourceType": "Organization", "name": f"Pharmacie {n}"}
                                  ).stored.res_id for n in range(50)]
        gps = [repo.create(conn, "Practitioner", {"resourceType": "Practitioner", "name": [{"family": f"MG{n}"}]}
                           ).stored.res_id for n in range(200)]
        medications = [repo.create(conn, "Medication", {"resourceType": "Medication", "code": {
            "coding": [{"system": ATC, "code": atc}]}}).stored.res_id for atc in DRUGS]
    for first in range(0, patients, 100):
        with services.db.write() as conn:
            for n in range(first, min(first + 100, patients)):
                start = (DAY - timedelta(days=rng.randrange(0, 300))).date().isoformat()
                patient = repo.create(conn, "Patient", {"resourceType": "Patient", "name": [{"family": f"P{n}"}],
                                                        "birthDate": "1950-01-01"}).stored.res_id
                condition = repo.create(conn, "Condition", {"resourceType": "Condition", "code": {"text": "Cancer"},
                                                            "subject": {"reference": f"Patient/{patient}"}}
                                        ).stored.res_id
                request = repo.create(conn, "MedicationRequest", {
                    "resourceType": "MedicationRequest", "status": "active", "intent": "order",
                    "medicationReference": {"reference": f"Medication/{rng.choice(medications)}"},
                    "subject": {"reference": f"Patient/{patient}"}, "authoredOn": start,
                    "dosageInstruction": [{"route": ORAL}]}).stored.res_id
                body = {"resourceType": "Parameters", "parameter": [
                    {"name": "medicationRequest", "valueReference": {"reference": f"MedicationRequest/{request}"}},
                    {"name": "hospitalTeam", "valueReference": {"reference": f"Organization/{hospital}"}},
                    {"name": "pharmacy", "valueReference": {"reference": f"Organization/{rng.choice(pharmacies)}"}},
                    {"name": "gp", "valueReference": {"reference": f"Practitioner/{rng.choice(gps)}"}},
                    {"name": "condition", "valueReference": {"reference": f"Condition/{condition}"}},
                    {"name": "telemonitoring", "valueBoolean": n % 2 == 0},
                    {"name": "start", "valueDate": start},
                    {"name": "consent", "resource": {
                        "resourceType": "Consent", "status": "active", "patient": {"reference": f"Patient/{patient}"},
                        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                              "code": "treatment"}]},
                        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                        "policyRule": {"text": "Onco'Link"}}}]}
                enroll(pathway, conn, patient, Inputs(body, "$enroll"), DAY)
    return time.perf_counter() - started


def _analyse(services: Services) -> None:
    """Fresh planner statistics, as autovacuum keeps them on a PostgreSQL in service; SQLite is analysed
    too, so both databases are measured on the same footing."""
    with services.db.write() as conn:
        conn.exec_driver_sql("ANALYZE")


def _timed(job: object, *args: object) -> tuple[float, object]:
    started = time.perf_counter()
    result = job(*args)  # type: ignore[operator]
    return time.perf_counter() - started, result


def _read_floor(services: Services, res_type: str, query: str) -> float:
    repo = services.repository
    started = time.perf_counter()
    with services.db.read() as conn:
        repo.contents(conn, repo.find(conn, res_type, query))
    return time.perf_counter() - started


def run(url: str, patients: int) -> dict[str, float]:
    services = build_services(Settings(database_url=url, pathway_tick_seconds=0, missing_check_seconds=0))
    freeze_long_lived()  # as `oncolink pathway tick` does
    try:
        seed = _seed(services, patients, random.Random(7))
        tick(services, DAY)  # brings every episode up to date: the state a daily tick finds
        _analyse(services)
        floor = _read_floor(services, "CarePlan", EPISODES)
        daily, daily_report = _timed(tick, services, DAY + timedelta(days=1))
        catch_up, report = _timed(tick, services, DAY + timedelta(days=31))
        month = f"{DAY + timedelta(days=31):%Y-%m}"
        export_floor = _read_floor(services, "ChargeItem", f"due={month}")
        exported, result = _timed(export, services, month)
    finally:
        services.close()
    return {"seed": seed, "floor": floor, "daily": daily, "daily_moves": daily_report.transitions,  # type: ignore
            "catch_up": catch_up, "moves": report.transitions + report.completed,  # type: ignore[attr-defined]
            "months": report.telemonitoring_months, "export": exported,  # type: ignore[attr-defined]
            "export_floor": export_floor, "items": len(result.items)}  # type: ignore[attr-defined]


def seed_only(url: str, patients: int) -> None:
    """A seeded database brought up to the state a daily tick finds, kept for before/after comparisons:
    copies of it (a file copy; `CREATE DATABASE … TEMPLATE`) give every run the same starting point."""
    services = build_services(Settings(database_url=url, pathway_tick_seconds=0, missing_check_seconds=0))
    freeze_long_lived()
    try:
        print(f"seeded {patients} episodes in {_seed(services, patients, random.Random(7)):.0f} s")
        tick(services, DAY)
        _analyse(services)
    finally:
        services.close()


def _server_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL backends serving `database` (0 for SQLite: it runs in-process)."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if proc.info["name"] == "postgres" and f" {database} " in " ".join(proc.info["cmdline"] or ()):
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _own_cpu() -> float:
    """CPU seconds of this process and of its ended children (the tick's worker processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def tick_only(url: str) -> None:
    """The daily tick and the tick after a month on a seeded copy: wall clock, the CPU of this process and
    its workers, and the database server's CPU, with the load average (the machine is shared)."""
    services = build_services(Settings(database_url=url, pathway_tick_seconds=0, missing_check_seconds=0))
    freeze_long_lived()
    database = url.rsplit("/", 1)[-1].split("?")[0]
    try:
        for label, day in (("daily", 1), ("month", 31)):
            wall, cpu, server = time.perf_counter(), _own_cpu(), _server_cpu(database)
            report = tick(services, DAY + timedelta(days=day))
            wall, cpu = time.perf_counter() - wall, _own_cpu() - cpu
            server = _server_cpu(database) - server
            moves = report.transitions + report.completed
            print(f"{label}: {wall:.2f} s wall, {cpu:.2f} s CPU, {server:.2f} s server CPU, {moves} moves, "
                  f"{report.telemonitoring_months} months, load {os.getloadavg()[0]:.2f}")
    finally:
        services.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed-to", metavar="URL", help="only seed this database (for copies), then stop")
    parser.add_argument("--tick-on", metavar="URL", help="only time the two ticks on this seeded copy")
    args = parser.parse_args(argv)
    patients = max(10, round(15_000 * args.scale))
    if args.seed_to:
        seed_only(args.seed_to, patients)
        return
    if args.tick_on:
        tick_only(args.tick_on)
        return
    lines = []
    with targets(Path(tempfile.gettempdir()) / "oncolink-bench") as dbs:
        for target in dbs:
            r = run(target.url, patients)
            lines.append(
                f"| {target.name} | {patients} | {r['seed']:.0f} | {r['floor']:.2f} | {r['daily']:.2f} "
                f"({r['daily'] / r['floor']:.1f}×, {r['daily_moves']:.0f} moves) | {r['catch_up']:.1f} "
                f"({r['catch_up'] / r['floor']:.1f}×, {r['moves']:.0f} moves, {r['months']:.0f} months) "
                f"| {r['export']:.2f} ({r['items']:.0f} forfaits, {r['export'] / r['export_floor']:.1f}×) |")
            print(lines[-1])
    reduced = (f"**Reduced scale** ({args.scale} of the target): the 15,000-episode targets are not measured by "
               "this run. " if args.scale < 1 else "")
    record(SECTION, f"""
`python -m bench.pathway --scale {args.scale}` — {machine()}. {reduced}Episodes enrolled through the `$enroll`
code path in-process, starts spread over ten months, half telemonitored. Targets: tick over all episodes ≤ 30 s,
billing export of a month ≤ 10 s. Ratios are against reading the same JSON (every active episode; every
forfait of the month) in the same run.

| database | episodes | seeding (s) | read episodes (s) | daily tick (s) | tick after a month (s) | export (s) |
|---|---|---|---|---|---|---|
{chr(10).join(lines)}
""")


if __name__ == "__main__":
    main()
