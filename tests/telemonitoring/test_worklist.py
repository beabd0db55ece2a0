"""The worklist pages over HTTP: sorting by colour then risk, filters, patient view, handling an alert."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.telemonitoring.data import episode, organization, post, response


def _names(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/worklist/patient/[^"]+">([^<]+)</a>', html)


def _team(client: TestClient) -> tuple[str, dict[str, str]]:
    team = organization(client)
    ids = {}
    for family, grades, birth in [("Vert", {}, "1980-01-01"), ("Orange", {"diarrhee": 2}, "1980-01-01"),
                                  ("Rouge", {"dyspnee": 3}, "1980-01-01"), ("Ancien", {"diarrhee": 2}, "1940-01-01")]:
        patient_id, _ = episode(client, team, family=family, given="Test", ins=f"28006751{len(ids):05d}",
                                birthDate=birth)
        post(client, "QuestionnaireResponse", response(patient_id, grades, authored="2099-01-01T09:00:00+01:00"))
        ids[family] = patient_id
    return team, ids


def test_list_is_sorted_by_colour_then_risk_and_filters(client: TestClient) -> None:
    team, _ = _team(client)
    other = organization(client, "690000009")
    episode(client, other, family="Ailleurs", ins="2800675199999")
    page = client.get("/worklist", params={"team": team})
    assert page.status_code == 200 and '<html lang="fr">' in page.text
    assert _names(page.text) == ["Test ROUGE", "Test ANCIEN", "Test ORANGE", "Test VERT"]
    assert "<caption>" in page.text and 'scope="col"' in page.text
    assert _names(client.get("/worklist", params={"team": team, "colour": "orange"}).text) == [
        "Test ANCIEN", "Test ORANGE"]
    assert _names(client.get("/worklist", params={"team": team, "ouvertes": "1"}).text) == [
        "Test ROUGE", "Test ANCIEN", "Test ORANGE"]
    assert _names(client.get("/worklist", params={"team": team, "q": "vert"}).text) == ["Test VERT"]


def test_patient_view_and_handling_an_alert_through_the_form(client: TestClient) -> None:
    team, ids = _team(client)
    view = client.get(f"/worklist/patient/{ids['Rouge']}", params={"team": team})
    assert view.status_code == 200 and "Essoufflement" in view.text and "Message au patient" in view.text
    task_id, version = re.search(r'action="/worklist/task/([^/]+)/handle".*?name="version" value="(\d+)"',
                                 view.text, re.S).groups()
    done = client.post(f"/worklist/task/{task_id}/handle", data={
        "patient": ids["Rouge"], "team": team, "version": version, "outcome": "urgences", "note": "Appel du 15."},
        follow_redirects=False)
    assert done.status_code == 303
    task: dict[str, Any] = client.get(f"/fhir/Task/{task_id}").json()
    assert task["status"] == "completed" and task["statusReason"]["text"] == "Patient orienté vers les urgences"
    assert client.get(f"/fhir/{task['focus']['reference']}").json()["status"] == "inactive"
    # The same form again (stale version) is refused with a French message, nothing written.
    again = client.post(f"/worklist/task/{task_id}/handle", data={
        "patient": ids["Rouge"], "team": team, "version": version, "outcome": "urgences"})
    assert again.status_code == 409 and "already completed" in again.text
    assert client.get("/worklist/patient/inconnu").status_code == 404
