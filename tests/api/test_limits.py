"""The server's limits (ADR 0012), each with the answer a client gets: status, OperationOutcome, links.

The limits are set small here so that crossing each one is cheap; the bodies cross them by one byte,
entry or level, and the answers just under them are checked too.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from fhir_server.services import Services
from fhir_server.settings import Settings
from tests.live_server import serve

MAX_BODY = 4096
MAX_ENTRIES = 3
MAX_DEPTH = 10
MAX_PAGE = 5
MAX_INCLUDED = 3
MAX_ROUNDS = 2
FHIR_JSON = {"Content-Type": "application/fhir+json"}
STRICT = {"Prefer": "handling=strict"}


@pytest.fixture
def settings(db_url: str, package_cache: Path, auth_settings: dict[str, str]) -> Settings:
    return Settings(database_url=db_url, package_cache=package_cache, base_url="http://testserver", **auth_settings,
                    max_body_bytes=MAX_BODY, max_bundle_entries=MAX_ENTRIES, max_json_depth=MAX_DEPTH,
                    max_page_size=MAX_PAGE, max_included_resources=MAX_INCLUDED, max_include_rounds=MAX_ROUNDS)


def _issue(severity: str, code: str, diagnostics: str, *expression: str) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = list(expression)
    return issue


def _outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def _put(client: TestClient, resource: dict[str, Any]) -> None:
    response = client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text


def _outcomes(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]


def _ids(bundle: dict[str, Any], mode: str) -> list[str]:
    return [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])
            if e["search"]["mode"] == mode]


def _link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == relation), None)


def _count_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["_count"][0]


# -- request body size ----------------------------------------------------------------------------

def _too_large(size: str) -> dict[str, Any]:
    return _outcome(_issue("error", "too-costly",
                           f"The request body is {size} bytes; the limit is {MAX_BODY} (ONCOLINK_MAX_BODY_BYTES)"))


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/fhir/Patient"), ("PUT", "/fhir/Patient/p1"), ("PATCH", "/fhir/Patient/p1"),
    ("PUT", "/fhir/Patient?identifier=urn:x|1"), ("PATCH", "/fhir/Patient?identifier=urn:x|1"),
    ("POST", "/fhir"), ("POST", "/fhir/Patient/_search"), ("POST", "/fhir/_search"),
    ("POST", "/fhir/Patient/$validate"), ("POST", "/fhir/Patient/p1/$validate"),
    ("POST", "/fhir/Patient/p1/$enroll"), ("POST", "/fhir/CarePlan/c1/$renew"),
])
def test_every_body_over_the_limit_gets_413(client: TestClient, method: str, path: str) -> None:
    body = b'{"resourceType": "Patient", "id": "p1", "gender": "female"}'
    over = body + b" " * (MAX_BODY + 1 - len(body))
    response = client.request(method, path, content=over, headers=FHIR_JSON)
    assert response.status_code == 413
    assert response.json() == _too_large(str(MAX_BODY + 1))


def test_a_body_at_the_limit_is_read(client: TestClient) -> None:
    body = b'{"resourceType": "Patient", "id": "p1", "gender": "female"}'
    response = client.put("/fhir/Patient/p1", content=body + b" " * (MAX_BODY - len(body)), headers=FHIR_JSON)
    assert response.status_code == 201


def _auth(client: TestClient) -> bytes:
    """The Authorization header the `client` fixture sends, if any, for requests written by hand."""
    token = client.headers.get("authorization")
    return f"Authorization: {token}\r\n".encode() if token else b""


def _answer(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of one HTTP/1.1 answer read off the socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before an answer"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(v) for k, _, v in (line.partition(": ") for line in lines[1:]) if k.lower() == "content-length")
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the answer"
        body += chunk
    return int(lines[0].split()[1]), json.loads(body[:length])


def test_bodies_over_the_limit_are_refused_on_the_wire_before_they_end(client: TestClient, services: Services
                                                                        ) -> None:
    """A real server: a declared Content-Length over the limit is answered with no body sent at all; a
    chunked body is answered once it passes the limit although it never ends. Either way the server
    answers without waiting for (or buffering) the rest."""
    from fhir_server.app import create_app

    with serve(create_app(services=services)) as base:
        port = urlsplit(base).port
        assert port is not None
        head = (b"POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
                + _auth(client))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head + b"Content-Length: 1000000000\r\n\r\n")
            assert _answer(sock) == (413, _too_large("1000000000"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"x" * 1024
            for _ in range(MAX_BODY // len(chunk) + 1):  # one chunk past the limit, and no final chunk
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            assert _answer(sock) == (413, _too_large(f"more than {MAX_BODY}"))
        # The server is unharmed.
        assert httpx.get(f"{base}/fhir/metadata", headers=dict(client.headers)).status_code == 200


async def test_a_chunked_body_is_not_read_past_the_limit(services: Services, admin_headers: dict[str, str]
                                                         ) -> None:
    """An endless chunked body: the server stops pulling chunks as soon as the limit is passed."""
    from fhir_server.app import create_app

    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b" " * 1000

    app = create_app(services=services)
    app.state.services = services  # what the lifespan does; httpx's ASGI transport does not run it
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post("/fhir/Patient", content=endless(), headers={**FHIR_JSON, **admin_headers})
    assert response.status_code == 413
    assert response.json() == _too_large(f"more than {MAX_BODY}")
    assert pulled == MAX_BODY // 1000 + 1


# -- Bundle entries and JSON depth ----------------------------------------------------------------

def _bundle(entries: int) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient?gender=female"}} for _ in range(entries)]}


def test_bundle_entry_count(client: TestClient) -> None:
    assert client.post("/fhir", json=_bundle(MAX_ENTRIES), headers=FHIR_JSON).status_code == 200
    response = client.post("/fhir", json=_bundle(MAX_ENTRIES + 1), headers=FHIR_JSON)
    assert response.status_code == 413
    assert response.json() == _outcome(_issue(
        "error", "too-costly",
        f"The Bundle has {MAX_ENTRIES + 1} entries; the limit is {MAX_ENTRIES} (ONCOLINK_MAX_BUNDLE_ENTRIES)",
        "Bundle.entry"))


def _nested_patient(depth: int) -> dict[str, Any]:
    """A valid Patient whose JSON is exactly `depth` levels deep (the Patient object is level 1)."""
    # Each nested extension adds two levels (its array and its object); a CodeableConcept value adds one.
    leaf: dict[str, Any] = ({"url": "urn:leaf", "valueString": "x"} if depth % 2 else
                            {"url": "urn:leaf", "valueCodeableConcept": {"text": "x"}})
    extension = leaf
    for _ in range((depth - 3 if depth % 2 else depth - 4) // 2):
        extension = {"url": "urn:node", "extension": [extension]}
    return {"resourceType": "Patient", "id": "deep", "extension": [extension]}


def test_json_nesting_depth(client: TestClient) -> None:
    at_limit = client.put("/fhir/Patient/deep", json=_nested_patient(MAX_DEPTH), headers=FHIR_JSON)
    assert at_limit.status_code == 201, at_limit.text
    for depth in (MAX_DEPTH + 1, MAX_DEPTH + 2):
        response = client.put("/fhir/Patient/deep", json=_nested_patient(depth), headers=FHIR_JSON)
        assert response.status_code == 400
        assert response.json() == _outcome(_issue(
            "error", "too-costly",
            f"The JSON nesting is deeper than the limit of {MAX_DEPTH} levels (ONCOLINK_MAX_JSON_DEPTH)"))


# -- _count ---------------------------------------------------------------------------------------

@pytest.fixture
def seven(client: TestClient) -> None:
    for n in range(7):
        _put(client, {"resourceType": "Patient", "id": f"p{n}", "gender": "female"})


def _count_warning(requested: int) -> dict[str, Any]:
    return _issue("warning", "too-costly", f"_count={requested} is over the maximum page size of {MAX_PAGE} "
                  f"(ONCOLINK_MAX_PAGE_SIZE); pages of {MAX_PAGE} are returned", "_count")


def _count_error(requested: int) -> dict[str, Any]:
    return _outcome(_issue("error", "too-costly", f"_count={requested} is over the maximum page size of "
                           f"{MAX_PAGE} (ONCOLINK_MAX_PAGE_SIZE)", "_count"))


@pytest.mark.usefixtures("seven")
def test_search_count_over_the_maximum(client: TestClient) -> None:
    bundle = client.get("/fhir/Patient?_count=50").json()
    assert len(_ids(bundle, "match")) == MAX_PAGE
    assert _outcomes(bundle) == [_outcome(_count_warning(50))]
    # The links carry the page size served: the next page is not warned about again.
    assert _count_of(_link(bundle, "self") or "") == str(MAX_PAGE)
    next_url = _link(bundle, "next")
    assert next_url is not None and _count_of(next_url) == str(MAX_PAGE)
    following = client.get(next_url.removeprefix("http://testserver")).json()
    assert len(_ids(following, "match")) == 2 and _outcomes(following) == []
    # At the maximum, no warning; with _summary=count, the warning still comes.
    assert _outcomes(client.get(f"/fhir/Patient?_count={MAX_PAGE}").json()) == []
    summary = client.get("/fhir/Patient?_count=50&_summary=count").json()
    assert summary["total"] == 7 and _outcomes(summary) == [_outcome(_count_warning(50))]
    # POST _search and system-level search behave alike.
    posted = client.post("/fhir/Patient/_search", content=b"_count=9",
                         headers={"Content-Type": "application/x-www-form-urlencoded"}).json()
    assert _outcomes(posted) == [_outcome(_count_warning(9))]
    assert _outcomes(client.get("/fhir?_type=Patient&_count=6").json()) == [_outcome(_count_warning(6))]


@pytest.mark.usefixtures("seven")
def test_search_count_over_the_maximum_is_refused_under_strict_handling(client: TestClient) -> None:
    response = client.get("/fhir/Patient?_count=50", headers=STRICT)
    assert response.status_code == 400
    assert response.json() == _count_error(50)
    assert client.get(f"/fhir/Patient?_count={MAX_PAGE}", headers=STRICT).status_code == 200


@pytest.mark.usefixtures("seven")
def test_history_count_over_the_maximum(client: TestClient) -> None:
    """Cut down to the maximum; a history Bundle has no place for an OperationOutcome (R4 bdl-3/bdl-4),
    so the links' _count shows the cut, and strict handling refuses it."""
    for path in ("/fhir/_history", "/fhir/Patient/_history"):
        bundle = client.get(f"{path}?_count=50").json()
        assert bundle["total"] == 7 and len(bundle["entry"]) == MAX_PAGE
        assert all("search" not in e for e in bundle["entry"])
        assert _count_of(_link(bundle, "self") or "") == _count_of(_link(bundle, "next") or "") == str(MAX_PAGE)
        refused = client.get(f"{path}?_count=50", headers=STRICT)
        assert refused.status_code == 400
        assert refused.json() == _count_error(50)
    assert client.get(f"/fhir/Patient/_history?_count={MAX_PAGE}", headers=STRICT).status_code == 200


# -- include fan-out ------------------------------------------------------------------------------

def _observation(res_id: str, **refs: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": res_id, "status": "final", "code": {"text": "poids"}, **refs}


@pytest.fixture
def five_subjects(client: TestClient) -> None:
    for n in range(5):
        _put(client, {"resourceType": "Patient", "id": f"s{n}"})
        _put(client, _observation(f"o{n}", subject={"reference": f"Patient/s{n}"}))


def _too_many(severity: str) -> dict[str, Any]:
    served = f"; the first {MAX_INCLUDED} are included" if severity == "warning" else ""
    return _issue(severity, "too-costly", f"The includes reach more than {MAX_INCLUDED} resources "
                  f"(ONCOLINK_MAX_INCLUDED_RESOURCES){served}", "_include")


@pytest.mark.usefixtures("five_subjects")
def test_included_resources_are_capped(client: TestClient) -> None:
    bundle = client.get("/fhir/Observation?_include=Observation:subject").json()
    assert len(_ids(bundle, "match")) == 5
    assert _ids(bundle, "include") == ["Patient/s0", "Patient/s1", "Patient/s2"]
    assert _outcomes(bundle) == [_outcome(_too_many("warning"))]
    refused = client.get("/fhir/Observation?_include=Observation:subject", headers=STRICT)
    assert refused.status_code == 400
    assert refused.json() == _outcome(_too_many("error"))
    # Within the cap: nothing to report.
    within = client.get("/fhir/Observation?_count=3&_include=Observation:subject", headers=STRICT)
    assert within.status_code == 200
    assert len(_ids(within.json(), "include")) == 3 and _outcomes(within.json()) == []


def _chain(client: TestClient, length: int) -> None:
    """c0 → c1 → … → c{length-1} through Observation.hasMember (created from the end)."""
    for n in reversed(range(length)):
        refs = {"hasMember": [{"reference": f"Observation/c{n + 1}"}]} if n + 1 < length else {}
        _put(client, _observation(f"c{n}", **refs))


def _too_deep(severity: str) -> dict[str, Any]:
    served = f"; resources beyond round {MAX_ROUNDS} are not included" if severity == "warning" else ""
    return _issue(severity, "too-costly", f"The :iterate includes go deeper than {MAX_ROUNDS} rounds "
                  f"(ONCOLINK_MAX_INCLUDE_ROUNDS){served}", "_include")


ITERATE = "/fhir/Observation?_id=c0&_include:iterate=Observation:has-member"


def test_include_rounds_are_capped(client: TestClient) -> None:
    _chain(client, MAX_ROUNDS + 2)
    bundle = client.get(ITERATE).json()
    assert _ids(bundle, "include") == ["Observation/c1", "Observation/c2"]
    assert _outcomes(bundle) == [_outcome(_too_deep("warning"))]
    refused = client.get(ITERATE, headers=STRICT)
    assert refused.status_code == 400
    assert refused.json() == _outcome(_too_deep("error"))


def test_a_chain_ending_within_the_rounds_is_not_reported(client: TestClient) -> None:
    """The last round found everything: one more would add nothing, so nothing was cut."""
    _chain(client, MAX_ROUNDS + 1)
    response = client.get(ITERATE, headers=STRICT)
    assert response.status_code == 200
    assert _ids(response.json(), "include") == ["Observation/c1", "Observation/c2"]
    assert _outcomes(response.json()) == []
