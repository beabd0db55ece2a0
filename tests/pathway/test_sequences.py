"""Sequences 1 → 2 → 3 and renewals: by operation, by renewal prescription, by the tick; the end of the
episode at ten months or when the drug is stopped. Each checks the CarePlans, forfaits and triggers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from fhir_server.pathway.tick import tick
from fhir_server.services import Services
from tests.pathway.data import (
    BASE,
    FHIR_JSON,
    FORFAIT,
    ORAL,
    episode_sequences,
    ext,
    forfait_keys,
    medication,
    new_episode,
    out,
    post,
    prescription,
    search,
)


def _operation(client: TestClient, episode_id: str, name: str, day: str | None = None,
               expected: int = 200) -> dict[str, Any]:
    body = {"resourceType": "Parameters", "parameter": [{"name": "date", "valueDate": day}] if day else []}
    response = client.post(f"/fhir/CarePlan/{episode_id}/${name}", json=body, headers=FHIR_JSON)
    assert response.status_code == expected, response.text
    return dict(response.json())


def _triggers(client: TestClient) -> list[str]:
    return sorted(c["identifier"][0]["value"].split("/", 1)[1] for c in search(client, "Communication?status="
                                                                                         "preparation&_count=100"))


def test_next_sequence_closes_sequence_1_and_opens_2_with_its_forfaits(client: TestClient) -> None:
    _, _, episode, first = new_episode(client)
    answer = _operation(client, episode["id"], "next-sequence", "2026-02-01")
    second = out(answer, "sequence")
    assert out(answer, "episode")["meta"]["versionId"] == "2"
    assert ext(out(answer, "episode"), "oncolink-sequence-number")["code"] == "2"
    assert [s[:5] for s in episode_sequences(client, episode["id"])] == [
        ("1", "completed", 0, "2026-01-05", "2026-01-31"), ("2", "active", 0, "2026-02-01", "2026-04-30")]
    assert second["partOf"] == [{"reference": f"CarePlan/{episode['id']}"}]
    amounts = {c["identifier"][0]["value"].split("/", 1)[1]: c["priceOverride"]["value"]
               for c in search(client, f"ChargeItem?code={FORFAIT}|sequence")}
    assert {k: v for k, v in amounts.items() if k.startswith("2/")} == {
        "2/0/hospital": 192, "2/0/community-pharmacist": 120, "2/0/gp": 60}
    assert _triggers(client) == ["sequence-start/1/0", "sequence-start/2/0"]
    provenance = [p for p in search(client, "Provenance") if "$next-sequence" in p["activity"]["text"]]
    assert len(provenance) == 1
    assert {t["reference"] for t in provenance[0]["target"]} >= {f"CarePlan/{first['id']}/_history/2",
                                                                 f"CarePlan/{second['id']}/_history/1",
                                                                 f"CarePlan/{episode['id']}/_history/2"}


def test_renewals_and_the_limits_of_each_sequence(client: TestClient) -> None:
    _, _, episode, _ = new_episode(client, "L01EF01")  # palbociclib: sequence 3 not allowed
    conflict = _operation(client, episode["id"], "renew", "2026-01-20", expected=409)
    assert "séquence 1 n'est pas renouvelable" in conflict["issue"][0]["diagnostics"].lower()
    _operation(client, episode["id"], "next-sequence", "2026-02-05")
    refused = _operation(client, episode["id"], "next-sequence", "2026-05-05", expected=409)
    assert "ne permet pas la séquence 3" in refused["issue"][0]["diagnostics"]
    renewed = out(_operation(client, episode["id"], "renew", "2026-05-05"), "sequence")
    assert (ext(renewed, "oncolink-sequence-number")["code"], ext(renewed, "oncolink-sequence-renewal")) == ("2", 1)
    assert renewed["period"] == {"start": "2026-05-05", "end": "2026-08-04"}
    assert forfait_keys(client) == sorted(f"{n}/{r}/{a}" for n, r in ((1, 0), (2, 0), (2, 1))
                                   for a in ("community-pharmacist", "gp", "hospital"))
    assert _triggers(client) == ["sequence-renewal/2/1", "sequence-start/1/0", "sequence-start/2/0"]


def test_sequence_3_when_the_treatment_allows_it_and_nothing_beyond(client: TestClient) -> None:
    _, _, episode, _ = new_episode(client)  # capecitabine: sequence 3 allowed
    _operation(client, episode["id"], "next-sequence", "2026-02-05")
    third = out(_operation(client, episode["id"], "next-sequence", "2026-05-05"), "sequence")
    assert third["period"] == {"start": "2026-05-05", "end": "2026-11-04"}  # six months, the episode's end
    assert {c["priceOverride"]["value"] for c in search(client, f"ChargeItem?code={FORFAIT}|sequence&sequence="
                                                                "https://oncolink.example.org/fhir/CodeSystem/"
                                                                "oncolink-sequence|3")} == {49, 80, 40}
    assert _operation(client, episode["id"], "next-sequence", expected=409)["issue"][0]["code"] == "conflict"


def test_operations_on_something_else_than_an_active_episode(client: TestClient) -> None:
    _, _, episode, sequence = new_episode(client)
    assert _operation(client, sequence["id"], "next-sequence", expected=404)["issue"][0]["code"] == "not-found"
    assert _operation(client, "missing", "renew", expected=404)["issue"][0]["code"] == "not-found"
    bad = client.post(f"/fhir/CarePlan/{episode['id']}/$next-sequence", headers=FHIR_JSON, json={
        "resourceType": "Parameters", "parameter": [{"name": "date", "valueDate": "tomorrow"}]})
    assert bad.status_code == 400
    assert bad.json()["issue"][0]["expression"] == ["Parameters.parameter.where(name='date')"]


def _at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T08:00:00+01:00").astimezone(UTC)


def test_the_tick_moves_episodes_on_through_time_and_ends_them_at_ten_months(client: TestClient,
                                                                             services: Services) -> None:
    _, _, episode, _ = new_episode(client)  # 2026-01-05, capecitabine, telemonitoring

    report = tick(services, _at("2026-01-20"))  # nothing ended yet; January already billed
    assert (report.transitions, report.telemonitoring_months) == (0, 0)
    assert tick(services, _at("2026-02-10")).transitions == 1
    assert [s[:5] for s in episode_sequences(client, episode["id"])] == [
        ("1", "completed", 0, "2026-01-05", "2026-02-04"), ("2", "active", 0, "2026-02-05", "2026-05-04")]
    assert forfait_keys(client, "telemonitoring") == ["telesurveillance/2026-01", "telesurveillance/2026-02"]

    # A tick that did not run for months catches up: sequence 2 ended, sequence 3 began (allowed).
    report = tick(services, _at("2026-06-15"))
    assert report.transitions == 1 and report.telemonitoring_months == 4
    assert [s[:3] for s in episode_sequences(client, episode["id"])][-1] == ("3", "active", 0)
    # Telemonitoring: six consecutive months at most (January to June), whatever later ticks do.
    tick(services, _at("2026-09-01"))
    assert forfait_keys(client, "telemonitoring") == [f"telesurveillance/2026-0{m}" for m in range(1, 7)]

    report = tick(services, _at("2026-11-10"))
    assert report.completed == 1
    ended = client.get(f"/fhir/CarePlan/{episode['id']}").json()
    assert ended["status"] == "completed" and ended["period"]["end"] == "2026-11-04"
    assert [s[1] for s in episode_sequences(client, episode["id"])] == ["completed"] * 3
    assert "episode-end" in _triggers(client)

    before = (len(search(client, "ChargeItem?_count=100")), len(search(client, "CarePlan?_count=100")),
              len(search(client, "Communication?_count=100")))
    again = tick(services, _at("2026-11-10"))
    assert (again.episodes, again.transitions, again.telemonitoring_months) == (0, 0, 0)
    assert before == (9 + 6, 4, 4)
    assert (len(search(client, "ChargeItem?_count=100")), len(search(client, "CarePlan?_count=100")),
            len(search(client, "Communication?_count=100"))) == before


def test_a_renewal_prescription_near_the_end_of_a_sequence_opens_the_next_one(client: TestClient) -> None:
    _, patient_id, episode, _ = new_episode(client)
    early = prescription(client, patient_id, authored="2026-01-10")  # three weeks before the end: no transition
    assert [s[:2] for s in episode_sequences(client, episode["id"])] == [("1", "active")]
    plan = client.get(f"/fhir/CarePlan/{episode['id']}").json()
    assert f"MedicationRequest/{early['id']}" in [a["reference"]["reference"] for a in plan["activity"]]

    renewal = prescription(client, patient_id, authored="2026-01-30")
    assert [s[:4] for s in episode_sequences(client, episode["id"])] == [
        ("1", "completed", 0, "2026-01-05"), ("2", "active", 0, "2026-01-30")]
    provenance = [p for p in search(client, "Provenance") if p["activity"]["text"] == "Prescription de renouvellement"]
    assert [p["entity"][0]["what"]["reference"] for p in provenance] == [
        f"MedicationRequest/{early['id']}/_history/1", f"MedicationRequest/{renewal['id']}/_history/1"]
    assert not [t for t in search(client, "Task") if t["status"] == "requested"]  # enrolled: no inclusion task


def test_stopping_the_drug_ends_the_episode_only_when_no_other_prescription_is_active(client: TestClient) -> None:
    _, patient_id, episode, sequence = new_episode(client)
    first = next(a["reference"]["reference"] for a in episode["activity"])
    other = prescription(client, patient_id, "L01EA01", authored="2026-01-10")

    def stop(reference: str) -> None:
        current = client.get(f"/fhir/{reference}").json()
        assert client.put(f"/fhir/{reference}", json={**current, "status": "stopped"},
                          headers=FHIR_JSON).status_code == 200

    stop(first)
    assert client.get(f"/fhir/CarePlan/{episode['id']}").json()["status"] == "active"
    stop(f"MedicationRequest/{other['id']}")
    ended = client.get(f"/fhir/CarePlan/{episode['id']}").json()
    assert ended["status"] == "revoked"
    assert client.get(f"/fhir/CarePlan/{sequence['id']}").json()["status"] == "revoked"
    assert "episode-end" in _triggers(client)
    [trigger] = [c for c in search(client, "Communication") if c["topic"]["coding"][0]["code"] == "episode-end"]
    assert "arrêté" in trigger["payload"][0]["contentString"]


def test_an_episode_the_tick_cannot_move_holds_back_no_other_of_its_batch(client: TestClient,
                                                                          services: Services) -> None:
    services.settings = services.settings.model_copy(update={"pathway_tick_batch": 3})
    episodes = [new_episode(client)[1:3] for _ in range(3)]
    # Two ChargeItems loaded from elsewhere claim the forfait identifier of the second episode's next
    # sequence: its conditional create matches both (412), so that episode cannot move on.
    stuck_patient, stuck = episodes[1]
    for _ in range(2):
        post(client, "ChargeItem", {
            "resourceType": "ChargeItem", "status": "billable", "code": {"text": "Doublon"},
            "identifier": [{"system": f"{BASE}/sid/forfait", "value": f"{stuck['id']}/2/0/hospital"}],
            "subject": {"reference": f"Patient/{stuck_patient}"}})

    report = tick(services, _at("2026-02-10"))

    assert (report.transitions, report.failed) == (2, [f"CarePlan/{stuck['id']}"])
    assert [[s[:3] for s in episode_sequences(client, episode["id"])] for _, episode in episodes] == [
        [("1", "completed", 0), ("2", "active", 0)], [("1", "active", 0)], [("1", "completed", 0), ("2", "active", 0)]]


def test_one_provenance_per_tick_batch_pins_every_version_it_wrote(client: TestClient, services: Services) -> None:
    """The tick records a batch of moves in one Provenance (docs/adr/0016): every CarePlan version,
    forfait and trigger the batch wrote is among its targets, at the version the batch left."""
    episodes = [new_episode(client)[2] for _ in range(2)]
    tick(services, _at("2026-02-10"))  # both move to sequence 2, in one batch (default size)

    [provenance] = [p for p in search(client, "Provenance?_count=100") if "oncolink pathway tick" in
                    p["activity"]["text"]]
    targets = {t["reference"] for t in provenance["target"]}
    for episode in episodes:
        current = client.get(f"/fhir/CarePlan/{episode['id']}").json()
        assert f"CarePlan/{episode['id']}/_history/{current['meta']['versionId']}" in targets
        for *_, sequence_id in episode_sequences(client, episode["id"]):
            sequence = client.get(f"/fhir/CarePlan/{sequence_id}").json()
            assert f"CarePlan/{sequence_id}/_history/{sequence['meta']['versionId']}" in targets
    forfaits = [c for c in search(client, f"ChargeItem?code={FORFAIT}|sequence&_count=100")
                if c["identifier"][0]["value"].split("/")[1] == "2"]
    messages = [c for c in search(client, "Communication?status=preparation&_count=100")
                if c["identifier"][0]["value"].endswith("sequence-start/2/0")]
    assert len(forfaits) == 6 and len(messages) == 2
    assert {f"{r['resourceType']}/{r['id']}/_history/1" for r in forfaits + messages} <= targets


def test_one_transaction_with_the_prescriptions_of_several_patients_treats_each_by_its_episode(
        client: TestClient) -> None:
    """The listener looks the episodes of all the transaction's patients up at once (a DPI group of
    messages): the enrolled patient's prescription joins its episode, the others' give one inclusion Task
    each, with its Provenance, and a replay of the same prescriptions gives none more."""
    _, enrolled_id, episode, _ = new_episode(client)
    others = [post(client, "Patient", {"resourceType": "Patient", "name": [{"family": f"Autre{n}"}]})["id"]
              for n in range(2)]
    drug = medication(client)

    def request(patient_id: str, n: int) -> dict[str, Any]:
        return {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{n}", "resource": {
            "resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "identifier": [{"system": "urn:example:order", "value": f"order-{n}"}],
            "medicationReference": {"reference": drug}, "subject": {"reference": f"Patient/{patient_id}"},
            "authoredOn": "2026-01-10", "dosageInstruction": [{"text": "1000 mg matin et soir", "route": ORAL}]},
            "request": {"method": "PUT", "url": f"MedicationRequest?identifier=urn:example:order|order-{n}"}}

    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [request(others[0], 1), request(enrolled_id, 2), request(others[1], 3)]}
    for _ in range(2):
        response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
        assert response.status_code == 200, response.text
    ids = {r["subject"]["reference"]: r["id"] for r in search(client, "MedicationRequest?identifier="
                                                                       "urn:example:order|order-1,urn:example:order|"
                                                                       "order-2,urn:example:order|order-3")}
    plan = client.get(f"/fhir/CarePlan/{episode['id']}").json()
    assert f"MedicationRequest/{ids[f'Patient/{enrolled_id}']}" in [a["reference"]["reference"]
                                                                     for a in plan["activity"]]
    tasks = search(client, "Task?status=requested")
    assert sorted(t["for"]["reference"] for t in tasks) == sorted(f"Patient/{p}" for p in others)
    assert sorted(t["focus"]["reference"] for t in tasks) == sorted(
        f"MedicationRequest/{ids[f'Patient/{p}']}" for p in others)
    sources = {f"MedicationRequest/{ids[f'Patient/{p}']}/_history/1" for p in others}
    proposals = [p for p in search(client, "Provenance?_count=100") if p["activity"]["text"] == "Inclusion à proposer"
                 and p["entity"][0]["what"]["reference"] in sources]
    assert sorted(p["target"][0]["reference"] for p in proposals) == sorted(
        f"Task/{t['id']}/_history/1" for t in tasks)


def _history(client: TestClient, reference: str) -> list[tuple[str, str]]:
    """(versionId, status) of every version of `reference`, oldest first."""
    bundle = client.get(f"/fhir/{reference}/_history?_count=100").json()
    return sorted(((e["resource"]["meta"]["versionId"], e["resource"]["status"]) for e in bundle["entry"]),
                  key=lambda v: int(v[0]))


def test_a_catch_up_moving_an_episode_twice_in_one_transaction_keeps_every_version(client: TestClient,
                                                                                   services: Services) -> None:
    """Two moves of one episode in one batch: the sequence it opens and closes, and the episode it
    writes twice, each keep all their versions (a batch copies versions in bulk, docs/adr/0018)."""
    _, _, episode, _ = new_episode(client)  # 2026-01-05: sequence 1 ends 2026-02-04, sequence 2 2026-05-04

    assert tick(services, _at("2026-05-10")).transitions == 2

    sequences = episode_sequences(client, episode["id"])
    assert [s[:3] for s in sequences] == [("1", "completed", 0), ("2", "completed", 0), ("3", "active", 0)]
    assert _history(client, f"CarePlan/{sequences[1][5]}") == [("1", "active"), ("2", "completed")]
    versions = _history(client, f"CarePlan/{episode['id']}")
    assert [int(v) for v, _ in versions] == list(range(1, len(versions) + 1)) and len(versions) >= 3
    current = client.get(f"/fhir/CarePlan/{episode['id']}").json()
    assert ext(current, "oncolink-sequence-number")["code"] == "3"
    assert current["meta"]["versionId"] == versions[-1][0]


def test_batches_of_the_tick_commit_side_by_side_each_with_its_provenance(client: TestClient,
                                                                          services: Services) -> None:
    """One episode per batch and two workers (on PostgreSQL; SQLite writes them one after the other):
    every episode moves on once, and every batch is recorded by its own Provenance."""
    services.settings = services.settings.model_copy(update={"pathway_tick_batch": 1, "pathway_tick_workers": 2})
    episodes = [new_episode(client)[2] for _ in range(5)]

    report = tick(services, _at("2026-02-10"))

    assert (report.transitions, report.failed) == (5, [])
    for episode in episodes:
        assert [s[:3] for s in episode_sequences(client, episode["id"])] == [("1", "completed", 0), ("2", "active", 0)]
    provenances = [p for p in search(client, "Provenance?_count=100") if "oncolink pathway tick" in
                   p["activity"]["text"]]
    assert len(provenances) == 5
    pinned = [{t["reference"].split("/_history/")[0] for t in p["target"]} for p in provenances]
    assert sorted(next(f"CarePlan/{e['id']}" for e in episodes if f"CarePlan/{e['id']}" in refs)
                  for refs in pinned) == sorted(f"CarePlan/{e['id']}" for e in episodes)
    assert len(forfait_keys(client)) == 5 * 6  # three shares for sequences 1 and 2 of each: none twice
