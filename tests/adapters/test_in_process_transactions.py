"""An adapter in the server's process commits transactions through `app.state.fhir_transactions`, not
HTTP (ADR 0019): answers, stored data, errors and audit must be what `POST /fhir` gives. Each test sends
the same thing through both doors of one app, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Generator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from adapters.fhir_client import FhirClient, FhirResponseError
from fhir_server.api.in_process import InProcessTransactions
from fhir_server.services import Services
from tests.conftest import bearer


@pytest.fixture
def app(services: Services) -> FastAPI:
    from fhir_server.app import create_app

    return create_app(services=services)


@pytest.fixture
async def doors(app: FastAPI, tokens: dict[str, str]) -> AsyncIterator[tuple[FhirClient, FhirClient]]:
    """(in-process, HTTP) clients of the DPI interface's service account on one running app."""
    headers = bearer(tokens["dpi-interface"])
    async with FhirClient.for_app(app, run_lifespan=True, headers=headers) as direct, \
            FhirClient.for_app(app, headers=headers, direct=False) as http:
        yield direct, http


def _admission(ipp: str, family: str) -> dict[str, Any]:
    """What the DPI adapter sends for an admission: a conditional create of the Patient and an Encounter
    referencing it by its urn:uuid."""
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": ipp}],
               "name": [{"family": family, "given": ["Hélène"]}], "birthDate": "1950-04-02", "gender": "female"}
    encounter = {"resourceType": "Encounter", "status": "in-progress",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                 "subject": {"reference": "urn:uuid:6f1c0f1e-1d7a-4c1e-9a55-000000000001"}}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:6f1c0f1e-1d7a-4c1e-9a55-000000000001", "resource": patient,
         "request": {"method": "POST", "url": "Patient",
                     "ifNoneExist": f"identifier=urn:oid:1.2.250.1.71.4.2.2|{ipp}"}},
        {"resource": encounter, "request": {"method": "POST", "url": "Encounter"}}]}


def _shape(response: dict[str, Any]) -> list[tuple[str, str, str]]:
    """An entry's status, the type and version of its location, and its ETag (ids differ per write)."""
    out = []
    for entry in response["entry"]:
        answer = entry["response"]
        res_type, _, _, version = answer["location"].split("/")
        out.append((answer["status"], f"{res_type}/_history/{version}", answer["etag"]))
    return out


async def test_same_answer_and_data_through_both_doors(doors: tuple[FhirClient, FhirClient]) -> None:
    direct, http = doors
    sent = _admission("IPP-1", "Dürand")
    kept = copy.deepcopy(sent)
    over_http = await http.transaction(_admission("IPP-2", "Dürand"))
    in_process = await direct.transaction(sent)
    assert in_process["type"] == over_http["type"] == "transaction-response"
    assert _shape(in_process) == _shape(over_http) == [
        ("201 Created", "Patient/_history/1", 'W/"1"'), ("201 Created", "Encounter/_history/1", 'W/"1"')]
    assert sent == kept, "the adapter's Bundle is its own: it resends it when a group is refused"
    patient_ref = "/".join(in_process["entry"][0]["response"]["location"].split("/")[:2])
    encounter = await http.read(*in_process["entry"][1]["response"]["location"].split("/")[:2])
    assert encounter["subject"] == {"reference": patient_ref}
    assert (await http.read(*patient_ref.split("/")))["name"][0]["family"] == "Dürand"

    # The conditional create matches what the other door wrote: same Patient, no second one.
    again = await direct.transaction(_admission("IPP-2", "Dürand"))
    assert again["entry"][0]["response"]["status"] == "200 OK"
    assert again["entry"][0]["response"]["location"] == over_http["entry"][0]["response"]["location"]
    found = await http.search("Patient", {"identifier": "urn:oid:1.2.250.1.71.4.2.2|IPP-2"})
    assert found["total"] == 1


async def _refusal(client: FhirClient, bundle: dict[str, Any]) -> FhirResponseError:
    with pytest.raises(FhirResponseError) as caught:
        await client.transaction(bundle)
    return caught.value


def _deep(levels: int) -> dict[str, Any]:
    extension: dict[str, Any] = {"url": "http://example.org/leaf", "valueString": "x"}
    for _ in range(levels):
        extension = {"url": "http://example.org/nested", "extension": [extension]}
    bundle = _admission("IPP-9", "Martin")
    bundle["entry"][0]["resource"]["extension"] = [extension]
    return bundle


@pytest.mark.parametrize("case", ["invalid content", "bad reference", "too deep", "not a transaction"])
async def test_same_refusal_through_both_doors(doors: tuple[FhirClient, FhirClient], case: str) -> None:
    bundle = _admission("IPP-3", "Petit")
    if case == "invalid content":
        bundle["entry"][0]["resource"]["birthDate"] = "1950-13-45"
    elif case == "bad reference":
        bundle["entry"][1]["resource"]["subject"] = {"reference": "urn:uuid:6f1c0f1e-0000-0000-0000-00000000dead"}
    elif case == "too deep":
        bundle = _deep(60)  # past the default ONCOLINK_MAX_JSON_DEPTH (64) once inside the Bundle
    else:
        bundle["type"] = "collection"
    direct, http = doors
    in_process, over_http = await _refusal(direct, bundle), await _refusal(http, bundle)
    assert in_process.status == over_http.status
    assert in_process.status in (400, 404, 422)
    assert in_process.issues == over_http.issues and in_process.issues
    assert (await http.search("Patient", {"identifier": "urn:oid:1.2.250.1.71.4.2.2|IPP-3"}))["total"] == 0


async def test_tokens_and_scopes_as_on_the_route(app: FastAPI, doors: tuple[FhirClient, FhirClient],
                                                 tokens: dict[str, str]) -> None:
    for headers, status in (({"Authorization": "Bearer not-a-token"}, 401), ({}, 401),
                            (bearer(tokens["patient"]), 403)):
        async with FhirClient.for_app(app, headers=headers) as direct, \
                FhirClient.for_app(app, headers=headers, direct=False) as http:
            refused = [await _refusal(client, _admission("IPP-4", "Roux")) for client in (direct, http)]
        assert [r.status for r in refused] == [status, status]
        assert refused[0].issues == refused[1].issues


class _Renewing(httpx.Auth):
    """A credential whose first token the server refuses, as after a key rotation: the client must ask
    its credential again on the 401, once, as httpx does over HTTP."""

    def __init__(self, good: str) -> None:
        self.good = good
        self.sent: list[str] = []

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = "Bearer expired"
        self.sent.append("expired")
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.good}"
            self.sent.append("renewed")
            yield request


async def test_a_refused_token_is_renewed_once(app: FastAPI, doors: tuple[FhirClient, FhirClient],
                                               tokens: dict[str, str]) -> None:
    credential = _Renewing(tokens["dpi-interface"])
    async with FhirClient.for_app(app, auth=credential) as direct:
        answer = await direct.transaction(_admission("IPP-5", "Blanc"))
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created", "201 Created"]
    assert credential.sent == ["expired", "renewed"]


async def test_refusals_are_audited(app: FastAPI, services: Services, doors: tuple[FhirClient, FhirClient],
                                    tokens: dict[str, str]) -> None:
    direct, _ = doors
    bundle = _admission("IPP-6", "Noël")
    bundle["entry"][0]["resource"]["birthDate"] = "not a date"
    await _refusal(direct, bundle)
    await direct.transaction(_admission("IPP-7", "Noël"))
    assert services.audit is not None and services.audit.flush()
    async with FhirClient.for_app(app, headers=bearer(tokens["auditor"])) as auditor:
        events = [e async for e in auditor.search_all("AuditEvent", {"_count": "100"})]
    rest = [e for e in events if e.get("subtype", [{}])[0].get("code") == "batch"]
    described = sorted(e.get("outcomeDesc", "") for e in rest)
    assert any("POST /fhir → HTTP 422" in d for d in described), described
    assert all(e["outcome"] != "0" for e in rest if "HTTP 422" in e.get("outcomeDesc", ""))


async def test_unexpected_failure_is_a_500_outcome(app: FastAPI, doors: tuple[FhirClient, FhirClient]) -> None:
    """A failure the entry does not expect (here a Bundle that is not JSON) answers like the catch-all
    middleware, and does not escape into the adapter."""
    entry = app.state.fhir_transactions
    assert isinstance(entry, InProcessTransactions)
    status, body = entry({"resourceType": "Bundle", "type": "transaction", "entry": [{1, 2}]},
                         authorization=None, prefer=None, base="http://oncolink.internal/fhir")
    assert status == 401  # the credential is checked first, as on the route
    direct, _ = doors
    error = await _refusal(direct, {"resourceType": "Bundle", "type": "transaction", "entry": [{1, 2}]})
    assert error.status == 500
    assert error.issues[0]["code"] == "exception"
    assert "quote request id" in error.issues[0]["diagnostics"]
