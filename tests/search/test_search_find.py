"""`SearchEngine.find`: the matches of a conditional URL, as the repository uses them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from search_helpers import create

from fhir_server.errors import BadRequest
from fhir_server.services import Services
from tests.fhir_data import INS_OID, IPP_SYSTEM


@pytest.fixture
def people(client: TestClient) -> dict[str, str]:
    return {
        "durand": create(client, {
            "resourceType": "Patient", "id": "durand", "active": True, "birthDate": "1950-01-31",
            "identifier": [{"system": INS_OID, "value": "1500131"}, {"system": IPP_SYSTEM, "value": "IPP-1"}],
            "name": [{"family": "Durand", "given": ["Élodie"]}],
        }),
        "dupont": create(client, {
            "resourceType": "Patient", "id": "dupont", "active": False, "birthDate": "1962-07",
            "identifier": [{"system": IPP_SYSTEM, "value": "IPP-2"}],
            "name": [{"family": "Dupont", "given": ["Jean"]}],
            "generalPractitioner": [{"reference": "Practitioner/gp1"}],
        }),
        "gone": create(client, {
            "resourceType": "Patient", "id": "gone", "identifier": [{"system": IPP_SYSTEM, "value": "IPP-3"}],
        }),
    }


def find(services: Services, res_type: str, query: str) -> list[str]:
    with services.db.read() as conn:
        return [res_id for _, res_id in services.search.find(conn, res_type, query)]


def test_find_by_token_string_date_reference_and_id(client: TestClient, services: Services,
                                                     people: dict[str, str]) -> None:
    client.delete("/fhir/Patient/gone")
    assert find(services, "Patient", f"identifier={INS_OID}|1500131") == ["durand"]
    assert find(services, "Patient", f"identifier={IPP_SYSTEM}|") == ["durand", "dupont"]
    assert find(services, "Patient", "identifier=IPP-3") == []  # deleted resources never match
    assert find(services, "Patient", "identifier=IPP-1,IPP-2&active=false") == ["dupont"]
    assert find(services, "Patient", "name=dur") == ["durand"]
    assert find(services, "Patient", "name=elodie") == ["durand"]
    assert find(services, "Patient", "name:exact=Élodie") == ["durand"]
    assert find(services, "Patient", "name:exact=elodie") == []
    assert find(services, "Patient", "birthdate=1962") == ["dupont"]
    assert find(services, "Patient", "birthdate=lt1960") == ["durand"]
    assert find(services, "Patient", "general-practitioner=Practitioner/gp1") == ["dupont"]
    assert find(services, "Patient", "_id=durand,dupont&_id=dupont") == ["dupont"]
    assert find(services, "Patient", "_lastUpdated=gt2000-01-01&identifier=IPP-1") == ["durand"]
    assert find(services, "Patient", "_lastUpdated=lt2000-01-01") == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("nickname=x", "Unknown search parameter 'nickname' for resource type 'Patient'"),
        ("birthdate=1950-02-30", "Invalid value '1950-02-30' for search parameter 'birthdate': "
                                 "'1950-02-30': day 30 does not exist in 1950-02"),
        ("birthdate=xx1950", "Invalid value 'xx1950' for search parameter 'birthdate': unknown prefix 'xx' "
                             "(expected one of eq, ne, gt, lt, ge, le, sa, eb, ap)"),
        ("identifier=a|b|c", "Invalid value 'a|b|c' for search parameter 'identifier': "
                             "expected code, system|code, |code or system|"),
        ("name:sounds=x", "Modifier ':sounds' is not supported on string parameter 'name'"),
        ("_count=10&name=x", "Parameter '_count' is not allowed in a conditional request"),
        ("", "A conditional request needs at least one search parameter"),
    ],
)
def test_find_rejects_what_it_cannot_answer_exactly(services: Services, query: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        find(services, "Patient", query)
    assert str(caught.value) == message


def test_conditional_create_uses_the_index(client: TestClient, people: dict[str, str]) -> None:
    body = {"resourceType": "Patient", "identifier": [{"system": INS_OID, "value": "1500131"}]}
    response = client.post("/fhir/Patient", json=body,
                           headers={"Content-Type": "application/fhir+json",
                                    "If-None-Exist": f"identifier={INS_OID}|1500131"})
    assert response.status_code == 200
    assert response.json()["id"] == "durand"


def test_system_value_lookups_match_the_general_path(client: TestClient, services: Services,
                                                     people: dict[str, str]) -> None:
    """`param=system|value` is answered by a prepared lookup: same rows as the general query builder
    (which a second, equivalent criterion forces), for escapes, deleted resources, other types, other
    parameters sharing the value, and several matches."""
    create(client, {"resourceType": "Patient", "id": "escaped",
                    "identifier": [{"system": IPP_SYSTEM, "value": "A|B,C"}]})
    create(client, {"resourceType": "Patient", "id": "twin", "identifier": [{"system": INS_OID, "value": "1500131"}]})
    create(client, {"resourceType": "Practitioner", "id": "samevalue",
                    "identifier": [{"system": IPP_SYSTEM, "value": "IPP-2"}]})
    create(client, {"resourceType": "Patient", "id": "telecom",
                    "telecom": [{"system": "phone", "value": "IPP-2"}]})
    client.delete("/fhir/Patient/gone")
    cases = {
        f"identifier={INS_OID}|1500131": ["durand", "twin"],
        f"identifier={IPP_SYSTEM}|IPP-2": ["dupont"],
        f"identifier={IPP_SYSTEM}|A\\|B\\,C": ["escaped"],
        f"identifier={IPP_SYSTEM}|IPP-3": [],
        "identifier=other|IPP-2": [],
        "telecom=phone|IPP-2": ["telecom"],
    }
    for query, expected in cases.items():
        assert find(services, "Patient", query) == expected, query
        assert find(services, "Patient", f"{query}&_lastUpdated=gt2000-01-01") == expected, query
    assert find(services, "Practitioner", f"identifier={IPP_SYSTEM}|IPP-2") == ["samevalue"]


def test_a_many_valued_reference_with_more_criteria_finds_exactly_the_matches(client: TestClient,
                                                                              services: Services) -> None:
    """The worklist's shape (`subject=` hundreds of patients plus more criteria): criteria on other index
    tables are probed inside the reference lookup, criteria on the same table and chains outside it; the
    matches are the same whichever way, in either order of the parameters, for local and absolute
    references."""
    base = services.settings.fhir_base
    for n in range(15):
        create(client, {"resourceType": "Patient", "id": f"p{n}", "identifier": [{"system": IPP_SYSTEM,
                                                                                   "value": f"IPP-{n}"}]})
    observations: list[dict[str, Any]] = []
    for n in range(30):
        subject = f"{base}/Patient/p{n % 15}" if n % 5 == 0 else f"Patient/p{n % 15}"
        observations.append({
            "resourceType": "Observation", "id": f"o{n}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5" if n % 2 else "8867-4"}]},
            "subject": {"reference": subject}, "effectiveDateTime": f"2026-01-{n + 1:02d}",
            "performer": [{"reference": "Practitioner/gp1" if n % 3 == 0 else "Practitioner/gp2"}]})
        create(client, observations[-1])
    wanted = [n for n in range(15) if n != 7]
    subjects = ",".join(f"Patient/p{n}" for n in wanted)

    def expected(keep: Callable[[dict[str, Any]], bool]) -> list[str]:
        return [o["id"] for o in observations if int(o["subject"]["reference"].rsplit("p", 1)[1]) in wanted
                and keep(o)]

    late_temperatures = expected(lambda o: o["effectiveDateTime"] >= "2026-01-10"
                                 and o["code"]["coding"][0]["code"] == "8310-5")
    assert late_temperatures == ["o9", "o11", "o13", "o15", "o17", "o19", "o21", "o23", "o25", "o27", "o29"]
    assert find(services, "Observation", f"subject={subjects}&date=ge2026-01-10&code=http://loinc.org|8310-5"
                ) == late_temperatures
    assert find(services, "Observation", f"code=http://loinc.org|8310-5&date=ge2026-01-10&subject={subjects}"
                ) == late_temperatures
    by_gp1 = expected(lambda o: o["performer"][0]["reference"] == "Practitioner/gp1")
    assert by_gp1 == ["o0", "o3", "o6", "o9", "o12", "o15", "o18", "o21", "o24", "o27"]
    assert find(services, "Observation", f"subject={subjects}&performer=Practitioner/gp1") == by_gp1
    assert find(services, "Observation", f"subject={subjects}&subject:Patient.identifier=IPP-3,IPP-7&date=lt2026-01-15"
                ) == ["o3"]
    assert find(services, "Observation", f"subject={subjects}&date=ge2027-01-01") == []
