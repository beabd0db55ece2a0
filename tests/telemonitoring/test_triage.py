"""Triage of weekly responses by the decision tree: colour, Flags, Tasks and Communications per rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.telemonitoring.data import FHIR_JSON, episode, organization, post, response

TREE = yaml.safe_load((Path(__file__).resolve().parents[2] / "mappings" / "triage" / "default.yaml").read_text())


def _search(client: TestClient, query: str) -> list[dict[str, Any]]:
    bundle = client.get(f"/fhir/{query}").json()
    return [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]


def _code(resource: dict[str, Any], field: str) -> str:
    value = resource[field]
    value = value[0] if isinstance(value, list) else value
    return str(value["coding"][0]["code"])


def _colour(resource: dict[str, Any]) -> str:
    return next(e["valueCoding"]["code"] for e in resource["extension"] if e["url"].endswith("oncolink-alert-colour"))


@pytest.mark.parametrize(("answers", "expected"), [
    ({"temperature": 38.6}, {"fever": "red"}),
    ({"temperature": 38.1}, {"fever": "orange"}),
    ({"grades": {"fievre": 3}}, {"fever": "red"}),
    ({"grades": {"diarrhee": 3}}, {"diarrhoea": "red"}),
    ({"grades": {"diarrhee": 2}}, {"diarrhoea": "orange"}),
    ({"grades": {"nausees-vomissements": 4}}, {"nausea-vomiting": "red"}),
    ({"grades": {"mucite": 3, "main-pied": 3, "eruption": 3}}, {"mucositis": "orange", "hand-foot": "orange",
                                                                  "rash": "orange"}),
    ({"grades": {"fatigue": 3, "douleur": 3}}, {"fatigue": "orange", "pain": "orange"}),
    ({"grades": {"dyspnee": 3, "saignement": 2}}, {"dyspnoea": "red", "bleeding": "orange"}),
    ({"missed": 2}, {"missed-doses": "orange"}),
    ({"grades": {"diarrhee": 1, "fatigue": 2}, "missed": 1, "temperature": 37.4}, {}),
])
def test_each_rule_gives_its_colour_flags_tasks_and_messages(
    client: TestClient, answers: dict[str, Any], expected: dict[str, str]
) -> None:
    team = organization(client)
    patient_id, episode_id = episode(client, team)
    qr = post(client, "QuestionnaireResponse", response(patient_id, **answers))

    stored = client.get(f"/fhir/QuestionnaireResponse/{qr['id']}").json()
    overall = "red" if "red" in expected.values() else "orange" if expected else "green"
    assert _colour(stored) == overall and stored["meta"]["versionId"] == "2"

    flags = _search(client, f"Flag?subject=Patient/{patient_id}")
    assert {_code(f, "code"): _colour(f) for f in flags} == expected
    assert all(f["status"] == "active" for f in flags)
    tasks = _search(client, f"Task?patient=Patient/{patient_id}")
    assert sorted(t["focus"]["reference"] for t in tasks) == sorted(f"Flag/{f['id']}" for f in flags)
    for task in tasks:
        assert task["status"] == "requested" and task["owner"] == {"reference": team}
        assert task["basedOn"] == [{"reference": f"CarePlan/{episode_id}"}]
        assert task["priority"] == ("urgent" if _colour(task) == "red" else "asap")
    messages = _search(client, f"Communication?subject=Patient/{patient_id}")
    assert {_code(m, "reasonCode"): m["payload"][0]["contentString"] for m in messages} == {
        alert: " ".join(TREE["messages"][alert].split()) for alert in expected}
    provenance = _search(client, "Provenance")
    assert len(provenance) == 1 and provenance[0]["entity"][0]["what"]["reference"].endswith("/_history/1")
    assert len(provenance[0]["target"]) == 1 + 3 * len(expected)


def test_a_response_that_does_not_fit_the_questionnaire_is_refused_and_nothing_is_written(
    client: TestClient
) -> None:
    patient_id, _ = episode(client, organization(client))
    body = response(patient_id)
    body["item"][0]["answer"] = [{"valueString": "beaucoup"}]
    refused = client.post("/fhir/QuestionnaireResponse", json=body, headers=FHIR_JSON)
    assert refused.status_code == 422
    assert any("item" in " ".join(i.get("expression", [])) for i in refused.json()["issue"])
    assert client.get("/fhir/QuestionnaireResponse").json()["total"] == 0
    assert client.get("/fhir/Flag").json()["total"] == 0


def test_an_establishment_tree_overrides_rules_and_messages(
    client: TestClient, services: Any, tmp_path: Path
) -> None:
    own = tmp_path / "triage"
    (own / "establishments").mkdir(parents=True)
    (own / "default.yaml").write_text(yaml.safe_dump(TREE, allow_unicode=True), encoding="utf-8")
    (own / "establishments" / "690000002.yaml").write_text(yaml.safe_dump({
        "rules": [{"alert": "fatigue", "colour": "red", "any": [{"item": "fatigue", "at_least": 2}]}],
        "messages": {"fatigue": "Message du centre : reposez-vous, nous vous appelons."}}, allow_unicode=True),
        encoding="utf-8")
    services.settings.triage_dir = own
    patient_id, _ = episode(client, organization(client, "690000002"))
    post(client, "QuestionnaireResponse", response(patient_id, {"fatigue": 2, "diarrhee": 3}))
    flags = _search(client, f"Flag?subject=Patient/{patient_id}")
    assert [(_code(f, "code"), _colour(f)) for f in flags] == [("fatigue", "red")]
    [message] = _search(client, f"Communication?subject=Patient/{patient_id}")
    assert message["payload"][0]["contentString"] == "Message du centre : reposez-vous, nous vous appelons."
