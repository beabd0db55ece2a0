"""`oncolink hl7 check` and `POST /hl7v2/$check`: the dry run reports exactly, and stores nothing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from adapters.dpi.service import DpiService
from adapters.fhir_client import FhirClient
from tests.adapters.dpi.dpi_helpers import MESSAGES, message, search
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = SHARED / "samples" / "hl7v2" / "ms-fhir-converter"
ER7 = "x-application/hl7-v2+er7"
PATIENT_URL = "Patient?identifier=urn%3Aoid%3A1.2.250.1.999.1.1|0067890"
ORDER_URL = "MedicationRequest?identifier=https%3A//oncolink.example.org/fhir/sid/hl7v2/DPI-ONCO|"


def run_check(tmp_path: Path, package_cache: Path, *args: str, stdin: bytes | None = None
              ) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "ONCOLINK_DATABASE_URL": f"sqlite:///{tmp_path / 'check.db'}",
           "ONCOLINK_PACKAGE_CACHE": str(package_cache)}
    return subprocess.run([sys.executable, "-m", "fhir_server", "hl7", "check", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, timeout=300)


def stored_rows(tmp_path: Path) -> dict[str, int]:
    """Rows the check left, apart from the audit records of its reads (a dry run still reads patient data,
    and every access is audited)."""
    with sqlite3.connect(tmp_path / "check.db") as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {name: conn.execute(f'SELECT count(*) FROM "{name}"' + (
                    " WHERE res_type <> 'AuditEvent'" if name != "dpi_message" else "")).fetchone()[0]
                for name in ("resource", "resource_version", "dpi_message") if name in tables}


def errors(result: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(e["source"], e["position"], e["code"]) for e in result["errors"]]


def test_cli_valid_message_reports_plan_and_segments(tmp_path: Path, package_cache: Path) -> None:
    done = run_check(tmp_path, package_cache, "--json", str(MESSAGES / "adt_a04_latin1.hl7"))
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert (report["valid"], report["messages"], report["errors"]) == (True, 1, 0)
    [result] = report["results"]
    assert (result["type"], result["control_id"], result["ack"]) == ("ADT^A04", "A04-0001", "AA")
    assert result["summary"] == "Patient 0067890, Encounter VIS-2025-0002"
    actions = [(a["action"], a["method"], a["url"].split("/hl7v2-")[0], a["matches"], a["position"])
               for a in result["actions"]]
    assert actions == [
        ("create", "PUT", PATIENT_URL, 0, "PID[1]-3"),
        ("create", "PUT", "Encounter?identifier=urn%3Aoid%3A1.2.250.1.999.1.1|VIS-2025-0002", 0, "PV1[1]-19"),
        ("create", "PUT", "Provenance", 0, "MSH[1]-10"),
    ]
    patient = result["actions"][0]["resource"]
    assert patient["name"][0]["family"] == "LEFÈVRE"
    segments = [(s["segment"], s["status"], s["fields_used"], s["fields_ignored"]) for s in result["segments"]]
    assert segments == [
        ("MSH[1]", "used", [1, 2, 3, 4, 9, 10, 12, 18], [5, 6, 7, 11, 17, 19]),
        ("EVN[1]", "ignored", [], [2]),
        ("PID[1]", "used", [3, 5, 7, 8, 11, 32], [1]),
        ("PV1[1]", "used", [2, 19, 44], [1]),
        ("ZBE[1]", "used", [1, 2, 4, 7], [5, 9]),
    ]
    assert result["segments"][1]["reason"].startswith("event type and time duplicate MSH-9/MSH-7")
    assert {(w["source"], w["position"]) for w in result["warnings"]} == {
        ("server", "PID[1]-11"), ("server", "PID[1]-3"), ("server", "PV1[1]-19")}
    # Nothing stored: no FHIR resource, no journal table at all.
    assert stored_rows(tmp_path) == {"resource": 0, "resource_version": 0}


def test_cli_errors_carry_positions_and_exit_1(tmp_path: Path, package_cache: Path) -> None:
    names = ["adt_a01_bad_birthdate.hl7", "adt_a02_unsupported_event.hl7", "rde_o11_missing_orc2.hl7",
             "rde_o11_ca_unknown_order.hl7", "wrong_encoding_characters.hl7", "rds_o13.hl7"]
    done = run_check(tmp_path, package_cache, "--json", *(str(MESSAGES / n) for n in names))
    assert done.returncode == 1
    report = json.loads(done.stdout)
    results = {Path(r["source"]).name: r for r in report["results"]}
    assert [(n, results[n]["ack"]) for n in names] == [
        ("adt_a01_bad_birthdate.hl7", "AE"), ("adt_a02_unsupported_event.hl7", "AR"),
        ("rde_o11_missing_orc2.hl7", "AE"), ("rde_o11_ca_unknown_order.hl7", "AE"),
        ("wrong_encoding_characters.hl7", "AR"), ("rds_o13.hl7", "AA")]
    assert errors(results["adt_a01_bad_birthdate.hl7"]) == [("message", "PID[1]-7", "102")]
    assert results["adt_a01_bad_birthdate.hl7"]["errors"][0]["field"] == 7
    assert errors(results["adt_a02_unsupported_event.hl7"]) == [("message", "MSH[1]-9.2", "201")]
    assert errors(results["rde_o11_missing_orc2.hl7"]) == [("message", "ORC[1]-2", "101")]
    assert errors(results["wrong_encoding_characters.hl7"]) == [("message", "MSH[1]-2", "102")]
    unknown = results["rde_o11_ca_unknown_order.hl7"]
    assert errors(unknown) == [("server", "ORC[1]-2", "204")]
    assert unknown["errors"][0]["text"].startswith("unknown order")
    assert [(a["action"], a["method"]) for a in unknown["actions"]] == [
        ("create", "POST"), ("refused", "PATCH"), ("create", "PUT")]
    # The dispense is accepted by the server but its pharmacist (RXD-10) breaks our Practitioner profile.
    dispense = results["rds_o13.hl7"]
    assert [(e["source"], e["position"], e["expression"]) for e in dispense["errors"]
            if "oncolink-prescriber" in e["text"]] == [("profile", "RXD[1]-10", "Practitioner.identifier[0]")]
    assert stored_rows(tmp_path) == {"resource": 0, "resource_version": 0}


def test_cli_text_report_from_stdin_without_profiles(tmp_path: Path, package_cache: Path) -> None:
    raw = message("adt_a04_latin1.hl7") + message("rde_o11_three_orders.hl7")
    done = run_check(tmp_path, package_cache, "--no-profiles", "-", stdin=raw)
    assert done.returncode == 0, done.stdout.decode()
    text = done.stdout.decode()
    assert "-: ADT^A04 A04-0001 — ACK prévu AA — OK" in text
    assert "- #2: RDE^O11 RDE-0001 — ACK prévu AA — OK" in text
    assert f"  create           PUT   {ORDER_URL}CMD-1003 (0 existant(s))" in text
    assert "  segment NTE[1]   used        champs lus: 3  ignorés: 1" in text
    assert text.rstrip().endswith("2 message(s), 0 erreur(s), 8 avertissement(s); rien n'a été enregistré")


def test_cli_profiles_find_what_the_server_would_accept(tmp_path: Path, package_cache: Path) -> None:
    done = run_check(tmp_path, package_cache, "--json", str(MESSAGES / "omp_o09.hl7"))
    assert done.returncode == 1
    [result] = json.loads(done.stdout)["results"]
    assert result["ack"] == "AA"  # the server takes it (no profile claimed); our profile does not
    assert sorted({(e["source"], e["expression"]) for e in result["errors"]}) == [
        ("profile", "MedicationRequest.extension"), ("profile", "MedicationRequest.medicationReference"),
        ("profile", "MedicationRequest.medication[x]")]


def test_cli_unreadable_file_and_empty_input(tmp_path: Path, package_cache: Path) -> None:
    missing = run_check(tmp_path, package_cache, str(tmp_path / "absent.hl7"))
    assert missing.returncode == 1
    assert missing.stderr.decode().startswith("oncolink: cannot read ")
    empty = run_check(tmp_path, package_cache, "--json", "-", stdin=b"\n\n")
    assert empty.returncode == 1
    [result] = json.loads(empty.stdout)["results"]
    assert (result["ack"], errors(result)) == ("AR", [("message", "MSH[1]", "100")])


def test_cli_every_public_sample_is_answered(tmp_path: Path, package_cache: Path) -> None:
    samples = sorted(SAMPLES.glob("*.hl7"))
    done = run_check(tmp_path, package_cache, "--json", *map(str, samples))
    assert done.returncode == 1  # most samples are message types we do not take
    report = json.loads(done.stdout)
    assert report["messages"] == len(samples)
    acks = {Path(r["source"]).name: r["ack"] for r in report["results"]}
    assert set(acks.values()) <= {"AA", "AE", "AR"}
    assert acks["ADT-A01-01.hl7"] == acks["RDE-O11-01.hl7"] == "AA"
    assert acks["ORU-R01-01.hl7"] == "AR" and acks["ADT-A40-01.hl7"] == "AE"
    # No finding is an internal failure of the check itself.
    assert not [e for r in report["results"] for e in r["errors"] if e["code"] == "207"]
    assert stored_rows(tmp_path) == {"resource": 0, "resource_version": 0}


@pytest.fixture
async def http(app: FastAPI, dpi: DpiService, tokens: dict[str, str]) -> httpx.AsyncClient:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"Authorization": f"Bearer {tokens['dpi-interface']}"}) as client:
        yield client


async def test_http_check_sees_existing_data_and_writes_nothing(http: httpx.AsyncClient, fhir: FhirClient,
                                                                dpi: DpiService) -> None:
    sent = await http.post("/hl7v2", content=message("adt_a04_latin1.hl7"), headers={"Content-Type": ER7})
    assert sent.status_code == 200
    [before] = await search(fhir, "Patient", identifier="urn:oid:1.2.250.1.999.1.1|0067890")
    journaled = dpi.journal.count()

    response = await http.post("/hl7v2/$check", content=message("adt_a04_latin1.hl7"),
                               headers={"Content-Type": "text/plain"})
    assert response.status_code == 200
    report = response.json()
    assert (report["valid"], report["messages"]) == (True, 1)
    [result] = report["results"]
    assert (result["source"], result["ack"]) == ("http", "AA")
    assert [(a["action"], a["matches"]) for a in result["actions"]] == [("update", 1), ("update", 1), ("update", 1)]
    assert dpi.journal.count() == journaled
    [after] = await search(fhir, "Patient", identifier="urn:oid:1.2.250.1.999.1.1|0067890")
    assert after["meta"]["versionId"] == before["meta"]["versionId"]

    orders = await http.post("/hl7v2/$check", content=message("rde_o11_xo.hl7"), headers={"Content-Type": ER7})
    [xo] = orders.json()["results"]
    assert xo["ack"] == "AA" and not xo["valid"]
    assert {e["source"] for e in xo["errors"]} == {"profile"}
    relaxed = await http.post("/hl7v2/$check?profiles=false", content=message("rde_o11_xo.hl7"),
                              headers={"Content-Type": ER7})
    assert relaxed.json()["valid"] is True
    assert await search(fhir, "MedicationRequest") == []


async def test_http_check_refusals(http: httpx.AsyncClient, app: FastAPI, dpi: DpiService) -> None:
    assert (await http.post("/hl7v2/$check", content=b"x", headers={"Content-Type": "application/json"})
            ).status_code == 415
    assert (await http.post("/hl7v2/$check", content=b" \r\n", headers={"Content-Type": ER7})).status_code == 400
    app.state.dpi = None
    try:
        stopped = await http.post("/hl7v2/$check", content=message("adt_a04_latin1.hl7"),
                                  headers={"Content-Type": ER7})
        assert stopped.status_code == 503
    finally:
        app.state.dpi = dpi
