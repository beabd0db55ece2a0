"""Telemonitoring and worklist benchmark (issue 7): one weekly response triaged end to end (POST over
loopback HTTP to `oncolink serve`, triage included) and the worklist page of one team.

Full scale is a team of 500 patients with a year of weekly responses (`--scale 1`); `--scale 0.1` is a
tenth of both (50 patients, 5 weeks)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from .common import auth, machine, percentile, record, server, targets

SECTION = "Telemonitoring and worklist (issue 7)"
BASE = "https://oncolink.example.org/fhir"
GRADED = ("diarrhee", "nausees-vomissements", "mucite", "main-pied", "eruption", "fatigue", "fievre", "douleur",
          "dyspnee", "saignement")
JSON = {"Content-Type": "application/fhir+json"}


def _response(patient: str, week: int, start: datetime) -> dict[str, Any]:
    grade = week % 5 if week % 7 == 0 else week % 2  # mostly green, a few orange/red
    items = [{"linkId": link, "answer": [{"valueCoding": {"system": f"{BASE}/CodeSystem/oncolink-grade",
                                                          "code": str(grade if i == week % 10 else 0)}}]}
             for i, link in enumerate(GRADED)]
    items.append({"linkId": "oublis", "answer": [{"valueCoding": {
        "system": f"{BASE}/CodeSystem/oncolink-missed-doses", "code": "0"}}]})
    return {"resourceType": "QuestionnaireResponse", "questionnaire": f"{BASE}/Questionnaire/oncolink-pro-hebdo",
            "status": "completed", "subject": {"reference": patient},
            "authored": (start + timedelta(weeks=week)).isoformat(), "item": items}


def _post(http: httpx.Client, res_type: str, body: dict[str, Any]) -> tuple[str, float]:
    began = time.perf_counter()
    created = http.post(f"/{res_type}", json=body, headers=JSON)
    elapsed = (time.perf_counter() - began) * 1000
    created.raise_for_status()
    return f"{res_type}/{created.json()['id']}", elapsed


def run(base: str, proc: psutil.Process, patients: int, weeks: int) -> dict[str, float]:
    """`proc` is the server: its CPU time over the triage POSTs alone gives the CPU per triage, a figure
    the machine's other load does not inflate as much as the wall clock."""
    start = datetime.now(UTC) - timedelta(weeks=weeks)
    triage: list[float] = []
    server_cpu = 0.0
    with httpx.Client(base_url=base, timeout=60, headers=auth()) as http:
        team, _ = _post(http, "Organization", {"resourceType": "Organization", "name": "Bench",
                                               "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2",
                                                               "value": "690000099"}]})
        role = f"{BASE}/CodeSystem/oncolink-care-team-role"
        for index in range(patients):
            patient, _ = _post(http, "Patient", {"resourceType": "Patient", "birthDate": f"19{40 + index % 50}-01-01",
                                                 "name": [{"family": f"Patient{index}", "given": ["Bench"]}]})
            _post(http, "MedicationRequest", {
                "resourceType": "MedicationRequest", "status": "active", "intent": "order",
                "subject": {"reference": patient},
                "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "L01EB02"}]}})
            _post(http, "CarePlan", {
                "resourceType": "CarePlan", "status": "active", "intent": "plan", "subject": {"reference": patient},
                "category": [{"coding": [{"system": f"{BASE}/CodeSystem/oncolink-careplan-category",
                                          "code": "episode"}]}],
                "contained": [{"resourceType": "CareTeam", "id": "t", "participant": [
                    {"role": [{"coding": [{"system": role, "code": "hospital-team"}]}],
                     "member": {"reference": team}}]}], "careTeam": [{"reference": "#t"}]})
            for week in range(weeks):
                before = proc.cpu_times()
                triage.append(_post(http, "QuestionnaireResponse", _response(patient, week, start))[1])
                after = proc.cpu_times()
                server_cpu += after.user + after.system - before.user - before.system
        page: list[float] = []
        root = base.removesuffix("/fhir")
        for _ in range(20):
            began = time.perf_counter()
            answer = httpx.get(f"{root}/worklist", params={"team": team}, timeout=60, headers=auth("idec"))
            assert answer.status_code == 200
            page.append((time.perf_counter() - began) * 1000)
    return {"triage_p50": percentile(triage, 50), "triage_p95": percentile(triage, 95), "responses": len(triage),
            "triage_cpu": server_cpu * 1000 / len(triage),
            "page_p50": percentile(page, 50), "page_p95": percentile(page, 95)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", choices=("SQLite", "PostgreSQL"), help="one database (before/after runs)")
    parser.add_argument("--no-record", action="store_true", help="print the figures, leave RESULTS.md alone")
    args = parser.parse_args(argv)
    patients, weeks = max(1, round(500 * args.scale)), max(1, round(52 * args.scale))
    lines = []
    with targets(Path(tempfile.gettempdir()) / "oncolink-bench") as dbs:
        for target in dbs:
            if args.only and target.name != args.only:
                continue
            with server(target.url) as (base, proc):
                r = run(base, proc, patients, weeks)
            lines.append(f"| {target.name} | {r['responses']:.0f} | {r['triage_p50']:.1f} | {r['triage_p95']:.1f} "
                         f"| {r['page_p50']:.0f} | {r['page_p95']:.0f} |")
            print(lines[-1], f"server CPU per triage {r['triage_cpu']:.2f} ms, load {os.getloadavg()[0]:.2f}")
    if args.no_record:
        return
    reduced = (f"**Reduced scale** ({args.scale} of the target: machine shared by several agents); the 500-patient "
               "target is not measured by this run. " if args.scale < 1 else "")
    record(SECTION, f"""
`python -m bench.telemonitoring --scale {args.scale}` — {machine()}. {reduced}Team of {patients} patients in active
episodes, {weeks} weekly responses each, every response POSTed over loopback HTTP to `oncolink serve` (the
triage listener writes the colour, Flags, Tasks, messages and Provenance in the same transaction). Targets:
triage ≤ 20 ms, worklist page of 500 patients ≤ 300 ms.

| database | responses triaged | triage p50 (ms) | triage p95 (ms) | worklist p50 (ms) | worklist p95 (ms) |
|---|---|---|---|---|---|
{chr(10).join(lines)}
""")


if __name__ == "__main__":
    main()
