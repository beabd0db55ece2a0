"""The member-scoped string index: a community pharmacist's string searches on Patient read it, and must
return exactly what the unfiltered search returns among the patients of its care teams, whatever was
changed since (care team, name, deletion), with nothing leaking if the index were ever wrong.

The Lilas pharmacy (and its pharmacist as a person) is on the care team of Paul Durand, Léa Dupont and
Jeanne Martin; Marie Duran is followed by another pharmacy; Jean Durieux by nobody.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from fhir_server.search.tables import idx_string_member
from fhir_server.security import member_index
from fhir_server.security.dev_issuer import FINESS
from fhir_server.services import Services
from fhir_server.store.tables import resource
from tests.conftest import bearer

LILAS, PORT = "Organization/org-pharmacie-lilas", "Organization/org-pharmacie-port"
PHARMACIST = "Practitioner/community-pharmacist-dev"
QUERIES = [
    {"name": "dur"}, {"name": "du"}, {"family": "dur"}, {"given": "pa"}, {"name": "DUR"}, {"name": "lea"},
    {"name:exact": "Durand"}, {"name:exact": "durand"}, {"name:contains": "ran"}, {"name": "dur,mart"},
    {"name": "dur", "birthdate": "ge1950-01-01"}, {"name": "du", "_sort": "-family"}, {"name": "zzz"},
    {"name": "du", "given": "p"}, {"name": "du", "_id": "p-durand,p-duran"}, {"address-city": "lyon"},
]


def _patient(res_id: str, family: str, given: str, born: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": res_id, "name": [{"family": family, "given": [given]}],
            "birthDate": born, "address": [{"city": "Lyon"}]}


def _episode(patient: str, members: list[str]) -> dict[str, Any]:
    return {"resourceType": "CarePlan", "id": f"episode-{patient}", "status": "active", "intent": "plan",
            "subject": {"reference": f"Patient/{patient}"}, "careTeam": [{"reference": "#team"}],
            "contained": [{"resourceType": "CareTeam", "id": "team", "status": "active",
                           "participant": [{"member": {"reference": m}} for m in members]}]}


DATA: list[dict[str, Any]] = [
    {"resourceType": "Organization", "id": "org-pharmacie-lilas", "name": "Pharmacie des Lilas",
     "identifier": [{"system": FINESS, "value": "1690000002"}]},
    {"resourceType": "Organization", "id": "org-pharmacie-port", "name": "Pharmacie du Port",
     "identifier": [{"system": FINESS, "value": "1690000099"}]},
    _patient("p-durand", "Durand", "Paul", "1948-03-02"),
    _patient("p-dupont", "Dupont", "Léa", "1961-07-14"),
    _patient("p-martin", "Martin", "Jeanne", "1955-01-30"),
    _patient("p-duran", "Duran", "Marie", "1972-11-05"),
    _patient("p-durieux", "Durieux", "Jean", "1950-06-01"),
    _episode("p-durand", [LILAS]),
    _episode("p-dupont", [PHARMACIST]),
    _episode("p-martin", [LILAS, PHARMACIST]),
    _episode("p-duran", [PORT]),
]


@pytest.fixture
def world(client: TestClient) -> TestClient:
    for body in DATA:
        _put(client, body)
    return client


def _put(client: TestClient, body: dict[str, Any]) -> None:
    response = client.put(f"/fhir/{body['resourceType']}/{body['id']}", json=body)
    assert response.status_code in (200, 201), response.text


def _ids(client: TestClient, params: dict[str, str], headers: dict[str, str] | None = None) -> list[str]:
    """Match ids in result order, over every page."""
    response = client.get("/fhir/Patient", params={**params, "_count": "2"}, headers=headers)
    found: list[str] = []
    while True:
        assert response.status_code == 200, response.text
        bundle = response.json()
        found += [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            return found
        response = client.get(following[0], headers=headers)


def _assert_filtered(client: TestClient, tokens: dict[str, str], visible: set[str]) -> None:
    """Every query: the pharmacist's results are the hospital's, in the same order, minus the invisible."""
    pharmacist = bearer(tokens["community-pharmacist"])
    for params in QUERIES:
        everything = _ids(client, params)
        assert _ids(client, params, pharmacist) == [i for i in everything if i in visible], params


def _rows(services: Services) -> list[tuple[Any, ...]]:
    with services.db.read() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(idx_string_member)))


def _assert_index_complete(services: Services) -> None:
    """What the listener maintained row by row equals a rebuild from scratch."""
    maintained = _rows(services)
    with services.db.write() as conn:
        member_index.rebuild(conn)
    assert _rows(services) == maintained and maintained


def test_pharmacist_string_searches_are_the_unfiltered_ones_within_its_care_teams(
        world: TestClient, tokens: dict[str, str], services: Services) -> None:
    pharmacist = bearer(tokens["community-pharmacist"])
    assert _ids(world, {"name": "dur"}, pharmacist) == ["p-durand"]
    assert _ids(world, {"name": "du"}, pharmacist) == ["p-durand", "p-dupont"]
    assert _ids(world, {"name": "dur"}) == ["p-durand", "p-duran", "p-durieux"]
    _assert_filtered(world, tokens, {"p-durand", "p-dupont", "p-martin"})
    _assert_index_complete(services)


def test_care_team_changes_and_renames_are_seen_at_once(
        world: TestClient, tokens: dict[str, str], services: Services) -> None:
    pharmacist = bearer(tokens["community-pharmacist"])
    _put(world, _episode("p-durand", [PORT]))  # Paul moves to another pharmacy
    _put(world, _episode("p-duran", [PORT, LILAS]))  # Marie joins Lilas
    assert _ids(world, {"name": "dur"}, pharmacist) == ["p-duran"]
    _put(world, _patient("p-martin", "Durand", "Jeanne", "1955-01-30"))  # Jeanne marries
    _put(world, _patient("p-dupont", "Petit", "Léa", "1961-07-14"))
    assert _ids(world, {"name": "dur"}, pharmacist) == ["p-martin", "p-duran"]
    assert _ids(world, {"name": "pet"}, pharmacist) == ["p-dupont"]
    _assert_filtered(world, tokens, {"p-dupont", "p-martin", "p-duran"})
    _assert_index_complete(services)

    assert world.delete("/fhir/CarePlan/episode-p-duran").status_code in (200, 204)
    assert world.delete("/fhir/Patient/p-dupont").status_code in (200, 204)
    assert _ids(world, {"name": "du"}, pharmacist) == ["p-martin"]
    _assert_filtered(world, tokens, {"p-martin"})
    assert {row.res_pk for row in _rows_of(services, "Practitioner/community-pharmacist-dev")} == {
        _pk(services, "p-martin")}


def test_a_wrong_index_hides_but_never_shows(world: TestClient, tokens: dict[str, str], services: Services) -> None:
    """The visibility predicate still applies to what the index yields: rows claiming Lilas follows Marie
    Duran show nothing, and an emptied index hides Lilas's patients instead of showing others."""
    pharmacist = bearer(tokens["community-pharmacist"])
    with services.db.write() as conn:
        forged = [{**row._asdict(), "member": LILAS} for row in conn.execute(
            sa.select(idx_string_member).where(idx_string_member.c.res_pk == _pk(services, "p-duran")))]
        conn.execute(sa.insert(idx_string_member), forged)
    assert _ids(world, {"name": "dur"}, pharmacist) == ["p-durand"]
    with services.db.write() as conn:
        conn.execute(sa.delete(idx_string_member))
    assert _ids(world, {"name": "dur"}, pharmacist) == []
    # Searches without a string clause on Patient do not read the index.
    assert _ids(world, {"birthdate": "ge1950-01-01"}, pharmacist) == ["p-dupont", "p-martin"]


def _pk(services: Services, patient: str) -> int:
    with services.db.read() as conn:
        return int(conn.execute(sa.select(resource.c.pk).where(resource.c.res_type == "Patient",
                                                               resource.c.res_id == patient)).scalar_one())


def _rows_of(services: Services, member: str) -> list[Any]:
    with services.db.read() as conn:
        return list(conn.execute(sa.select(idx_string_member).where(idx_string_member.c.member == member)))
