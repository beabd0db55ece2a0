"""Conditional create (If-None-Exist), conditional update and conditional delete, keyed on an identifier."""

from __future__ import annotations

from ..client import body, ensure
from ..run import Run, entries, location_id
from ..samples import patient


def run(run: Run) -> None:
    claims = run.capability.types.get("Patient")
    if claims is None or run.capability.param("Patient", "identifier") != "token":
        return
    if claims.conditional_create and run.capability.claims("Patient", "create"):
        run.check("conditional-create Patient", "conditional", lambda: conditional_create(run), "Patient")
    if claims.conditional_update and run.capability.claims("Patient", "update"):
        run.check("conditional-update Patient", "conditional", lambda: conditional_update(run), "Patient")
    if claims.conditional_delete in ("single", "multiple") and run.capability.claims("Patient", "delete"):
        run.check("conditional-delete Patient", "conditional", lambda: conditional_delete(run), "Patient")


def matching(run: Run, label: str) -> list[str]:
    query = [("identifier", f"{run.marks.identifier_system}|{label}")]
    return [str(r.get("id")) for r in entries(run.search("Patient", query, ours=False))]


def conditional_create(run: Run) -> None:
    resource = patient(run.marks, "cond-create")
    criteria = f"identifier={run.marks.identifier_system}|cond-create"
    first = run.client.expect("POST", "Patient", (201,), json=resource, headers={"If-None-Exist": criteria})
    first_id = location_id(first.headers.get("location", ""), "Patient")
    if first_id:
        run.remember("Patient", first_id)
    again = run.client.expect("POST", "Patient", (200,), json=resource, headers={"If-None-Exist": criteria})
    again_id = location_id(again.headers.get("location", ""), "Patient") or body(again).get("id")
    found = matching(run, "cond-create")
    for res_id in found:
        run.remember("Patient", res_id)
    ensure(len(found) == 1, f"two POSTs with If-None-Exist: {criteria} left {len(found)} patients, expected 1")
    ensure(again_id in (None, "", found[0]), f"the second POST named Patient/{again_id}, not the existing "
                                             f"Patient/{found[0]}")


def conditional_update(run: Run) -> None:
    resource = patient(run.marks, "cond-update")
    url = f"Patient?identifier={run.marks.identifier_system}|cond-update"
    run.client.expect("PUT", url, (201,), json=resource)
    found = matching(run, "cond-update")
    for res_id in found:
        run.remember("Patient", res_id)
    ensure(len(found) == 1, f"PUT {url} with no match left {len(found)} patients, expected 1 created")
    run.client.expect("PUT", url, (200,), json={**resource, "gender": "other"})
    after = matching(run, "cond-update")
    ensure(after == found, f"a second PUT {url} changed the matching set from {found} to {after}")
    stored = body(run.client.expect("GET", f"Patient/{found[0]}", (200,)))
    ensure(stored.get("gender") == "other" and (stored.get("meta") or {}).get("versionId") not in (None, "1"),
           f"after the second PUT {url}, Patient/{found[0]} is not the updated second version")


def conditional_delete(run: Run) -> None:
    created = run.create(patient(run.marks, "cond-delete"))
    url = f"Patient?identifier={run.marks.identifier_system}|cond-delete"
    run.client.expect("DELETE", url, (200, 202, 204))
    left = matching(run, "cond-delete")
    ensure(not left, f"DELETE {url} left {left}")
    gone = run.client.request("GET", f"Patient/{created['id']}")
    ensure(gone.status_code in (404, 410), f"GET Patient/{created['id']} after the conditional delete answered "
                                           f"{gone.status_code}, expected 410")
