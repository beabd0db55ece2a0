"""Batch (entries independent) and transaction (urn:uuid references resolved, all or nothing)."""

from __future__ import annotations

import uuid

from ..client import body, ensure
from ..run import Run, entries, location_id
from ..samples import observation, patient


def run(run: Run) -> None:
    system = run.capability.system_interactions
    if "batch" in system:
        run.check("batch", "batch", lambda: batch(run))
    if "transaction" in system:
        run.check("transaction", "transaction", lambda: transaction(run))
        run.check("transaction rollback", "transaction", lambda: rollback(run))


def _statuses(bundle: dict, kind: str, count: int) -> list[str]:
    ensure(bundle.get("resourceType") == "Bundle" and bundle.get("type") == f"{kind}-response",
           f"POST of a {kind} answered a {bundle.get('resourceType')} of type {bundle.get('type')}, expected "
           f"{kind}-response")
    got = [str((e.get("response") or {}).get("status") or "") for e in bundle.get("entry") or []]
    ensure(len(got) == count, f"the {kind}-response has {len(got)} entries, expected {count}")
    return got


def _remember(run: Run, bundle: dict, types: list[str]) -> list[str]:
    made = []
    for entry, res_type in zip(bundle.get("entry") or [], types, strict=False):
        res_id = location_id(str((entry.get("response") or {}).get("location") or ""), res_type)
        if res_id:
            run.remember(res_type, res_id)
        made.append(res_id)
    return made


def batch(run: Run) -> None:
    missing = f"cf-missing-{uuid.uuid4().hex[:12]}"
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient(run.marks, "batch"), "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": f"Patient/{missing}"}},
    ]}
    answer = body(run.client.expect("POST", "", (200,), json=bundle))
    statuses = _statuses(answer, "batch", 2)
    _remember(run, answer, ["Patient"])
    ensure(statuses[0].startswith("201"), f"batch entry 1 (POST Patient) answered {statuses[0]!r}, expected 201")
    ensure(statuses[1].startswith("404"), f"batch entry 2 (GET Patient/{missing}) answered {statuses[1]!r}, "
                                          "expected 404 without failing the batch")


def transaction(run: Run) -> None:
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": patient_url, "resource": patient(run.marks, "tx"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": observation(run.marks, patient_url), "request": {"method": "POST", "url": "Observation"}},
    ]}
    answer = body(run.client.expect("POST", "", (200,), json=bundle))
    statuses = _statuses(answer, "transaction", 2)
    patient_id, observation_id = _remember(run, answer, ["Patient", "Observation"])
    ensure(all(s.startswith("201") for s in statuses), f"transaction entries answered {statuses}, expected 201 each")
    ensure(bool(patient_id and observation_id), "transaction-response entries carry no Location for what was created")
    stored = body(run.client.expect("GET", f"Observation/{observation_id}", (200,)))
    subject = (stored.get("subject") or {}).get("reference")
    ensure(subject == f"Patient/{patient_id}", f"Observation.subject is {subject!r} after the transaction, expected "
                                               f"Patient/{patient_id} (the urn:uuid resolved)")


def rollback(run: Run) -> None:
    """A transaction whose second entry must fail (body id differs from the URL id): nothing may be written."""
    target = f"cf-{uuid.uuid4().hex[:12]}"
    bad = {**patient(run.marks, "tx-bad"), "id": "another-id"}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": patient(run.marks, "tx-rollback"),
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": bad, "request": {"method": "PUT", "url": f"Patient/{target}"}},
    ]}
    answer = run.client.request("POST", "", json=bundle)
    ensure(400 <= answer.status_code < 500, f"a transaction with an invalid entry answered {answer.status_code}, "
                                            "expected a 4xx error")
    query = [("identifier", f"{run.marks.identifier_system}|tx-rollback")]
    left = [str(r.get("id")) for r in entries(run.search("Patient", query, ours=False))]
    for res_id in left:
        run.remember("Patient", res_id)
    ensure(not left, f"the failed transaction still created Patient/{', Patient/'.join(left)}")
