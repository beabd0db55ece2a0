"""What each actor bills for a month: `oncolink billing export` (CSV and JSON, run as a command) and the
same answer from `GET /fhir/ChargeItem?due=…`; nothing billed twice after replays and repeated ticks."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from fhir_server.pathway.billing import export
from fhir_server.pathway.tick import tick
from fhir_server.services import Services
from tests.pathway.data import FHIR_JSON, consent, enroll, enrolled_patient, parameters, prescription, search, site

ROOT = Path(__file__).resolve().parents[2]


def _two_episodes(client: TestClient) -> tuple[str, str, str]:
    """Two patients of one hospital and pharmacy, enrolled in January (capecitabine, A, telemonitored) and
    February (venetoclax, B, not telemonitored); answers (hospital, pharmacy, GP)."""
    where = site(client)
    for atc, start, telemonitoring in (("L01BC06", "2026-01-05", True), ("L01XX52", "2026-02-10", False)):
        patient_id, condition = enrolled_patient(client, ins=f"28006751{start[5:7]}456")
        request = prescription(client, patient_id, atc, authored=start)
        enroll(client, patient_id, parameters(where, request["id"], condition, consent(patient_id),
                                              telemonitoring=telemonitoring, start=start))
    return where.hospital, where.pharmacy, where.gp


def _run(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ONCOLINK_DATABASE_URL": db_url}
    return subprocess.run([sys.executable, "-m", "fhir_server", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_export_per_actor_for_a_month_as_csv_and_json(client: TestClient, services: Services, db_url: str) -> None:
    hospital, pharmacy, gp = _two_episodes(client)
    tick(services, datetime(2026, 2, 20, 8, tzinfo=UTC))  # sequence 2 of the first episode, February's month

    result = _run(db_url, "billing", "export", "--month", "2026-02")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout), delimiter=";"))
    assert rows[0] == ["mois", "acteur", "nom", "identifiant", "part", "forfaits", "montant", "devise"]
    by_actor = {(r[1], r[4]): (r[5], r[6]) for r in rows[1:]}
    # February: sequence 2 of parcours A (192/120/60) and sequence 1 of parcours B (238/70/50); 28 € of
    # telemonitoring for the first patient. January's sequence 1 belongs to January.
    assert by_actor == {
        (pharmacy, "Pharmacien d'officine"): ("2", "190"),
        (gp, "Médecin traitant"): ("2", "110"),
        (hospital, "Établissement de santé"): ("2", "430"),
        (hospital, "Opérateur de télésurveillance"): ("1", "28"),
    }
    assert [r[2:4] for r in rows[1:] if r[1] == hospital][0] == ["Oncologie Lyon", "FINESS/IDNST 1690000001"]

    january = json.loads(_run(db_url, "billing", "export", "--month", "2026-01", "--format", "json").stdout)
    assert january["total"] == "385" and len(january["items"]) == 4  # 357 + 28
    assert {i["forfait"] for i in january["items"]} == {"sequence", "telemonitoring"}

    # The FHIR search gives the same forfaits for an actor and a month.
    found = search(client, f"ChargeItem?due=2026-02&performer-actor={hospital}")
    assert sorted(c["priceOverride"]["value"] for c in found) == [28, 192, 238]


def test_nothing_is_billed_twice_after_replays(client: TestClient, services: Services) -> None:
    _two_episodes(client)
    for _ in range(2):
        tick(services, datetime(2026, 3, 1, 8, tzinfo=UTC))
    first = export(services, "2026-02").to_json()
    # The same enrolment again, the tick again, the same month exported again.
    patient = search(client, "Patient?_count=1&_sort=_lastUpdated")[0]
    request = search(client, f"MedicationRequest?subject=Patient/{patient['id']}")[0]
    plan = search(client, f"CarePlan?subject=Patient/{patient['id']}&category=https://oncolink.example.org/fhir/"
                          "CodeSystem/oncolink-careplan-category|episode")[0]
    team = {p["role"][0]["coding"][0]["code"]: p["member"]["reference"] for p in plan["contained"][0]["participant"]}
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "medicationRequest", "valueReference": {"reference": f"MedicationRequest/{request['id']}"}},
        {"name": "hospitalTeam", "valueReference": {"reference": team["hospital-team"]}},
        {"name": "pharmacy", "valueReference": {"reference": team["community-pharmacy"]}},
        {"name": "consent", "resource": consent(patient["id"])},
        {"name": "condition", "valueReference": plan["addresses"][0]},
        {"name": "start", "valueDate": plan["period"]["start"]}]}
    assert client.post(f"/fhir/Patient/{patient['id']}/$enroll", json=body, headers=FHIR_JSON).status_code == 200
    tick(services, datetime(2026, 3, 1, 8, tzinfo=UTC))
    assert export(services, "2026-02").to_json() == first
    identifiers = [c["identifier"][0]["value"] for c in search(client, "ChargeItem?_count=200")]
    assert len(identifiers) == len(set(identifiers))


def test_a_month_that_is_not_yyyy_mm_is_a_usage_error(db_url: str) -> None:
    result = _run(db_url, "billing", "export", "--month", "2026-2")
    assert result.returncode == 2 and "YYYY-MM" in result.stderr


def test_the_tick_command_reports_what_it_did(client: TestClient, db_url: str) -> None:
    _two_episodes(client)
    result = _run(db_url, "pathway", "tick", "--now", "2026-03-20T08:00:00+01:00")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("2 épisode(s) actif(s) : 2 changement(s) de séquence, 0 épisode(s) terminé(s), "
                                     "2 mois de télésurveillance facturé(s)")
