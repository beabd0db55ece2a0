"""ADT^A40: merge two patient records into the one named in PID.

The merged-away Patient (MRG-1) stays, `active=false` with `link.type=replaced-by` the survivor, and
everything that referenced it (the types and search parameters listed in messages.toml
`merge_references`) is rewritten to the survivor in the same transaction. Reads happen first through
the FHIR API; every rewritten resource is written with `If-Match` on the version read, so a concurrent
change makes the transaction fail (412) and the processor runs the merge again on fresh data.
"""

from __future__ import annotations

from typing import Any

from adapters.fhir_client import FhirClient

from .bundle import identifier_query, token_value
from .datatypes import cx
from .errors import DUPLICATE_KEY, REQUIRED_FIELD_MISSING, UNKNOWN_KEY, ContentError, Problem
from .transform import PID3_RULE, Builder, Plan


def _rewrite(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        return {k: (new if k == "reference" and v == old else _rewrite(v, old, new)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, old, new) for v in node]
    return node


def _version(resource: dict[str, Any]) -> str | None:
    version = resource.get("meta", {}).get("versionId")
    return f'W/"{version}"' if version else None


async def _find_patient(client: FhirClient, identifier: dict[str, Any]) -> list[dict[str, Any]]:
    params = {"identifier": token_value(identifier.get("system"), identifier["value"])}
    return [r async for r in client.search_all("Patient", params, limit=10)]


async def build_merge(b: Builder, client: FhirClient) -> Plan:
    pid = b.require("PID")
    mrg = b.require("MRG")
    b.consume(mrg)
    survivor_key = b.patient_key(pid)
    prior = [r for r in mrg.repetitions(1) if r.component(1).strip()]
    if not prior:
        raise ContentError(Problem(REQUIRED_FIELD_MISSING, "MRG-1 must name the patient identifier to merge away",
                                   mrg.location(1)))
    preferred = b.config.get("patient_key_types", ["PI"])
    chosen = next((r for kind in preferred for r in prior if r.component(5).strip() == kind), prior[0])
    old_key = cx(chosen, PID3_RULE, b, mrg.location(1))
    old_key.setdefault("system", b.default_authority)
    if (old_key.get("system"), old_key["value"]) == (survivor_key.get("system"), survivor_key["value"]):
        raise ContentError(Problem(DUPLICATE_KEY, "MRG-1 names the surviving patient itself", mrg.location(1)))

    found = await _find_patient(client, old_key)
    if not found:
        raise ContentError(Problem(UNKNOWN_KEY, f"no patient with identifier {old_key['value']} to merge",
                                   mrg.location(1)))
    if len(found) > 1:
        raise ContentError(Problem(DUPLICATE_KEY, f"{len(found)} patients carry identifier {old_key['value']}",
                                   mrg.location(1)))
    old = found[0]
    old_ref = f"Patient/{old['id']}"

    survivor = b.patient(pid)
    existing = await _find_patient(client, survivor_key)
    links = [link for s in existing[:1] for link in s.get("link", [])
             if link.get("other", {}).get("reference") != old_ref]
    survivor["link"] = [*links, {"other": {"reference": old_ref}, "type": "replaces"}]
    survivor_ref = b.upsert(survivor, identifier_query(survivor_key), pid.location(3))

    retired = {k: v for k, v in old.items() if k != "meta"}
    retired["active"] = False
    kept = [link for link in old.get("link", []) if link.get("type") != "replaced-by"]
    retired["link"] = [*kept, {"other": {"reference": survivor_ref}, "type": "replaced-by"}]
    b.tx.put(retired, if_match=_version(old))
    b.entry_origins.append(mrg.location(1))

    moved = 0
    seen: set[str] = set()
    for res_type, param in b.config.get("merge_references", []):
        async for resource in client.search_all(res_type, {param: old_ref}):
            key = f"{res_type}/{resource['id']}"
            if key in seen:
                continue
            seen.add(key)
            body = _rewrite({k: v for k, v in resource.items() if k != "meta"}, old_ref, survivor_ref)
            b.tx.put(body, if_match=_version(resource))
            b.entry_origins.append(mrg.location(1))
            moved += 1
    return b.plan(f"Patient {old_key['value']} merged into {survivor_key['value']} ({moved} references moved)")
