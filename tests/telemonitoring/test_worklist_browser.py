"""The worklist in a real headless Chromium against a real uvicorn: list, filter, open a patient, handle an
alert by keyboard-reachable form, and the result checked through the FHIR API.

`ONCOLINK_WORKLIST_SCREENSHOT=docs/worklist.png pytest tests/telemonitoring/test_worklist_browser.py`
regenerates the README screenshot."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.ig_pages.test_ig_pages_browser import CHROMIUM, FLAGS, _browser_or_skip
from tests.live_server import serve
from tests.telemonitoring.data import BASE, FHIR_JSON, response

if TYPE_CHECKING:
    from fhir_server.services import Services

PEOPLE = [  # family, given, birth, grades, missed, temperature, extra drugs (ATC)
    ("Martin", "Jeanne", "1948-02-20", {"diarrhee": 3}, 1, 37.2, ["A02BC01"]),
    ("Bernard", "Louis", "1956-07-02", {"dyspnee": 3}, 0, 38.6, []),
    ("Petit", "Claire", "1971-03-14", {"main-pied": 3}, 0, None, []),
    ("Robert", "Henri", "1944-11-30", {"fatigue": 2}, 2, None, ["C09AA05", "C10AA01", "A10BA02", "B01AC06"]),
    ("Durand", "Sophie", "1983-05-09", {"fatigue": 1}, 0, 36.9, []),
    ("Moreau", "Paul", "1962-09-21", {}, 0, None, []),
    ("Lefebvre", "Anne", "1939-01-12", {"mucite": 1}, 0, None, []),
]


def _post(http: httpx.Client, res_type: str, body: dict[str, Any]) -> dict[str, Any]:
    created = http.post(f"/fhir/{res_type}", json=body, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    return dict(created.json())


def populate(http: httpx.Client) -> str:
    """A realistic small team: episodes in the IG's shape, a sequence each, drugs and this week's answers."""
    team = "Organization/" + _post(http, "Organization", {
        "resourceType": "Organization", "name": "Oncologie médicale — Centre Lyon Sud",
        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "690000001"}]})["id"]
    role = f"{BASE}/CodeSystem/oncolink-care-team-role"
    category = f"{BASE}/CodeSystem/oncolink-careplan-category"
    for index, (family, given, birth, grades, missed, temperature, others) in enumerate(PEOPLE):
        pid = _post(http, "Patient", {"resourceType": "Patient", "name": [{"family": family, "given": [given]}],
                                      "gender": "female" if index % 2 == 0 else "male", "birthDate": birth})["id"]
        subject = {"reference": f"Patient/{pid}"}
        for atc in ["L01BC06" if index % 2 == 0 else "L01EB02", *others]:
            _post(http, "MedicationRequest", {
                "resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": subject,
                "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": atc}]}})
        parcours = "B" if index % 3 == 0 else "A"
        plan = _post(http, "CarePlan", {
            "resourceType": "CarePlan", "status": "active", "intent": "plan", "subject": subject,
            "category": [{"coding": [{"system": category, "code": "episode"}]}], "period": {"start": "2026-10-05"},
            "extension": [{"url": f"{BASE}/StructureDefinition/oncolink-parcours",
                           "valueCoding": {"system": f"{BASE}/CodeSystem/oncolink-parcours", "code": parcours}}],
            "contained": [{"resourceType": "CareTeam", "id": "team", "participant": [
                {"role": [{"coding": [{"system": role, "code": "hospital-team"}]}], "member": {"reference": team}}]}],
            "careTeam": [{"reference": "#team"}]})
        sequence = "1" if index % 2 == 0 else "2"
        _post(http, "CarePlan", {
            "resourceType": "CarePlan", "status": "active", "intent": "plan", "subject": subject,
            "partOf": [{"reference": f"CarePlan/{plan['id']}"}],
            "category": [{"coding": [{"system": category, "code": "sequence"}]}],
            "period": {"start": "2026-10-05", "end": "2026-12-04" if sequence == "1" else "2027-03-04"},
            "extension": [{"url": f"{BASE}/StructureDefinition/oncolink-sequence-number",
                           "valueCoding": {"system": f"{BASE}/CodeSystem/oncolink-sequence", "code": sequence}}]})
        if index == 6:
            _post(http, "Condition", {"resourceType": "Condition", "subject": subject, "clinicalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "248279007"}], "text": "Fragilité"}})
        _post(http, "QuestionnaireResponse", response(pid, grades, missed=missed, temperature=temperature,
                                                      authored="2026-12-01T09:30:00+01:00"))
    return team


@pytest.fixture
def base_url(services: Services) -> Iterator[str]:
    from fhir_server.app import create_app

    with serve(create_app(services=services)) as base:
        yield base


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_worklist_list_filter_patient_and_handle_alert(base_url: str, admin_headers: dict[str, str],
                                                      tokens: dict[str, str]) -> None:
    sync_playwright = _browser_or_skip()
    with httpx.Client(base_url=base_url, timeout=30, headers=admin_headers) as http:
        team = populate(http)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            page = browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 900}).new_page()
            page.goto(f"{base_url}/worklist")
            assert page.locator("h1").inner_text() == "Connexion"  # no token yet: the login form
            page.get_by_label("Jeton d'accès").fill(tokens["gp"])
            page.get_by_role("button", name="Se connecter").click()
            assert "réservé aux systèmes et équipes de l'établissement" in page.get_by_role("alert").inner_text()
            page.get_by_label("Jeton d'accès").fill(tokens["idec"])
            page.get_by_role("button", name="Se connecter").click()
            assert page.locator("h1").inner_text() == "File active"
            assert page.locator("html").get_attribute("lang") == "fr"
            page.get_by_label("Équipe (référence de l'établissement)").fill(team)
            page.get_by_role("button", name="Afficher").click()
            rows = page.locator("table.worklist tbody tr")
            assert rows.count() == len(PEOPLE)
            first = [rows.nth(i).locator("th").inner_text() for i in range(2)]
            assert all("BERNARD" in n or "MARTIN" in n for n in first)  # the two red ones come first
            assert "Inhibiteur de la pompe à protons" in rows.nth(0).inner_text() + rows.nth(1).inner_text()
            if target := os.environ.get("ONCOLINK_WORKLIST_SCREENSHOT"):
                page.screenshot(path=target, full_page=True)

            page.get_by_label("Couleur").select_option("orange")
            page.get_by_role("button", name="Afficher").click()
            assert rows.count() == 2  # Petit (hand-foot) and Robert (missed doses)

            page.get_by_label("Couleur").select_option("")
            page.get_by_label("Nom du patient").fill("martin")
            page.get_by_role("button", name="Afficher").click()
            assert rows.count() == 1
            page.get_by_role("link", name="Jeanne MARTIN").click()
            assert page.locator("h1").inner_text() == "Jeanne MARTIN"
            page.get_by_label("Conduite tenue").select_option("adaptation")
            page.get_by_label("Commentaire").fill("Capécitabine suspendue 48 h, lopéramide.")
            page.get_by_label("Commentaire").press("Tab")
            page.keyboard.press("Enter")  # the focused submit button, by keyboard
            assert page.get_by_role("status").inner_text() == "Alerte traitée et enregistrée."
            assert page.locator("form.handle").count() == 0
        finally:
            browser.close()
    with httpx.Client(base_url=base_url, timeout=30, headers=admin_headers) as http:
        tasks = [e["resource"] for e in http.get("/fhir/Task", params={"status": "completed"}).json()["entry"]]
        assert len(tasks) == 1 and tasks[0]["statusReason"]["text"] == "Traitement suspendu ou adapté sur avis médical"
        assert tasks[0]["note"][0]["text"] == "Capécitabine suspendue 48 h, lopéramide."
        assert http.get(f"/fhir/{tasks[0]['focus']['reference']}").json()["status"] == "inactive"
