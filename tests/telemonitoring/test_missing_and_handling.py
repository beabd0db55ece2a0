"""Missing weekly questionnaires become alerts (once); a handled alert completes its Task and closes its Flag."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from fhir_server.services import Services
from fhir_server.telemonitoring.handling import handle_alert
from fhir_server.telemonitoring.missing import TELEMONITORING_EXT, check_missing
from fhir_server.telemonitoring.tree import load_tree
from tests.telemonitoring.data import FHIR_JSON, episode, organization, post, response

ROOT = Path(__file__).resolve().parents[2]


def _telemonitor(client: TestClient, episode_id: str) -> None:
    plan = client.get(f"/fhir/CarePlan/{episode_id}").json()
    plan["extension"] = [{"url": TELEMONITORING_EXT, "valueBoolean": True}]
    assert client.put(f"/fhir/CarePlan/{episode_id}", json=plan, headers=FHIR_JSON).status_code == 200


def _matches(client: TestClient, query: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in client.get(f"/fhir/{query}").json().get("entry", [])]


def test_missing_questionnaire_alerts_once_and_not_when_recent(client: TestClient, services: Services) -> None:
    team = organization(client)
    late, late_episode = episode(client, team)
    recent, recent_episode = episode(client, team, ins="2800675123457")
    _, untracked = episode(client, team, ins="2800675123458")
    _telemonitor(client, late_episode)
    _telemonitor(client, recent_episode)
    post(client, "QuestionnaireResponse", response(late, authored="2025-11-10T09:00:00+01:00"))
    post(client, "QuestionnaireResponse", response(recent, authored="2025-11-17T09:00:00+01:00"))

    now = datetime(2025, 11, 20, 8, 0, tzinfo=UTC)
    report = check_missing(services, now)
    assert report.checked == 2 and report.alerted == [f"Patient/{late}"]
    [flag] = _matches(client, f"Flag?subject=Patient/{late}")
    assert flag["code"]["coding"][0]["code"] == "missing-questionnaire"
    [task] = _matches(client, f"Task?patient=Patient/{late}")
    assert task["focus"] == {"reference": f"Flag/{flag['id']}"} and task["owner"] == {"reference": team}
    [message] = _matches(client, f"Communication?subject=Patient/{late}")
    assert message["reasonCode"][0]["coding"][0]["code"] == "missing-questionnaire"
    # Replayed: the open alert is not raised twice.
    assert check_missing(services, now).alerted == []
    assert client.get("/fhir/Flag").json()["total"] == 1


def test_cli_check_missing_runs_on_the_configured_database(client: TestClient, services: Services) -> None:
    _, episode_id = episode(client, organization(client))
    _telemonitor(client, episode_id)
    env = {"ONCOLINK_DATABASE_URL": services.settings.database_url,
           "ONCOLINK_PACKAGE_CACHE": str(services.settings.package_cache), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "fhir_server", "telemonitoring", "check-missing",
                          "--now", "2025-12-01T08:00:00+00:00"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "1 alerte(s) créée(s)" in run.stdout
    assert client.get("/fhir/Flag").json()["total"] == 1


def test_handling_an_alert_completes_the_task_closes_the_flag_and_records_it(
    client: TestClient, services: Services
) -> None:
    patient_id, _ = episode(client, organization(client))
    post(client, "QuestionnaireResponse", response(patient_id, {"diarrhee": 3}))
    [task] = _matches(client, f"Task?patient=Patient/{patient_id}")
    tree = load_tree(services.settings.triage_dir, None)
    with services.db.write() as conn:
        handle_alert(services.repository, conn, tree, task["id"], outcome="avis-oncologue",
                     note="Lopéramide débuté.", who={"reference": "Practitioner/idec"})
    done = client.get(f"/fhir/Task/{task['id']}").json()
    assert done["status"] == "completed" and done["meta"]["versionId"] == "2"
    assert done["output"][0]["valueString"] == "Avis de l'oncologue demandé"
    assert done["note"][0]["text"] == "Lopéramide débuté."
    flag = client.get(f"/fhir/{task['focus']['reference']}").json()
    assert flag["status"] == "inactive" and "end" in flag["period"]
    provenance = _matches(client, "Provenance?agent=Practitioner/idec")
    assert [t["reference"] for t in provenance[0]["target"]] == [
        f"Task/{task['id']}/_history/2", f"{task['focus']['reference']}/_history/2"]
    # Handling twice is a conflict, and nothing changes.
    with services.db.write() as conn:
        try:
            handle_alert(services.repository, conn, tree, task["id"], outcome="conseils")
        except Exception as exc:  # noqa: BLE001 - the type is asserted below
            assert type(exc).__name__ == "Conflict"
        else:
            raise AssertionError("a completed Task was handled again")
    assert client.get(f"/fhir/Task/{task['id']}").json()["meta"]["versionId"] == "2"


def test_serve_runs_the_missing_check_periodically(services: Services, admin_headers: dict[str, str]) -> None:
    """`oncolink serve` attaches the check; a telemonitored episode without answers gets its alert."""
    import time

    from fhir_server.app import create_app
    from fhir_server.periodic import scheduled

    services.settings.missing_check_seconds = 0.2
    with TestClient(create_app(services=services, attachments=scheduled()), headers=admin_headers) as client:
        _, episode_id = episode(client, organization(client))  # started 2025-11-03, never answered
        _telemonitor(client, episode_id)
        deadline = time.monotonic() + 20
        while not (flags := _matches(client, "Flag")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [f["code"]["coding"][0]["code"] for f in flags] == ["missing-questionnaire"]
        time.sleep(0.5)  # later runs find the open alert and raise nothing more
        assert client.get("/fhir/Flag").json()["total"] == 1
