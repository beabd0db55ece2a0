"""Following references: _include / _revinclude (:iterate, *), chains and _has."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from search_helpers import create, error, ids, mismatches, search, typed_ids

from tests.fhir_data import INS_OID


@pytest.fixture
def pathway(client: TestClient) -> None:
    create(client, {"resourceType": "Organization", "id": "pharma", "name": "Pharmacie du Centre"})
    create(client, {"resourceType": "Organization", "id": "chu", "name": "CHU de Lyon"})
    create(client, {"resourceType": "Practitioner", "id": "onco", "name": [{"family": "Curie"}],
                    "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "10001"}]})
    for res_id, ins, family, org in (("pat1", "1", "Durand", "chu"), ("pat2", "2", "Martin", "pharma")):
        create(client, {"resourceType": "Patient", "id": res_id, "name": [{"family": family}],
                        "identifier": [{"system": INS_OID, "value": ins}],
                        "managingOrganization": {"reference": f"Organization/{org}"},
                        "generalPractitioner": [{"reference": "Practitioner/onco"}]})
    create(client, {"resourceType": "Medication", "id": "imatinib",
                    "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "L01EA01"}]}})
    for res_id, patient, status in (("mr1", "pat1", "active"), ("mr2", "pat1", "stopped"),
                                    ("mr3", "pat2", "active")):
        create(client, {"resourceType": "MedicationRequest", "id": res_id, "status": status, "intent": "order",
                        "medicationReference": {"reference": "Medication/imatinib"},
                        "subject": {"reference": f"Patient/{patient}"},
                        "requester": {"reference": "Practitioner/onco"}})
    create(client, {"resourceType": "CareTeam", "id": "team1", "subject": {"reference": "Patient/pat1"},
                    "participant": [{"member": {"reference": "Organization/pharma"}},
                                    {"member": {"reference": "Practitioner/onco"}}]})
    create(client, {"resourceType": "CarePlan", "id": "cp1", "status": "active", "intent": "plan",
                    "subject": {"reference": "Patient/pat1"}, "careTeam": [{"reference": "CareTeam/team1"}],
                    "activity": [{"reference": {"reference": "MedicationRequest/mr1"}},
                                 {"reference": {"reference": "MedicationRequest/mr2"}}]})
    create(client, {"resourceType": "CarePlan", "id": "cp2", "status": "draft", "intent": "plan",
                    "subject": {"reference": "Patient/pat2"}})


@pytest.mark.usefixtures("pathway")
def test_include(client: TestClient) -> None:
    bundle = search(client, "/fhir/MedicationRequest?status=active&_include=MedicationRequest:subject")
    assert ids(bundle) == ["mr1", "mr3"]
    assert typed_ids(bundle) == ["Patient/pat1", "Patient/pat2"]
    assert bundle["total"] == 2  # matches only

    bundle = search(client, "/fhir/MedicationRequest?_id=mr1&_include=MedicationRequest:subject"
                            "&_include=MedicationRequest:medication&_include=MedicationRequest:requester")
    assert typed_ids(bundle) == ["Practitioner/onco", "Patient/pat1", "Medication/imatinib"]  # creation order

    bundle = search(client, "/fhir/MedicationRequest?_id=mr1&_include=*")
    assert typed_ids(bundle) == ["Practitioner/onco", "Patient/pat1", "Medication/imatinib"]

    bundle = search(client, "/fhir/MedicationRequest?_id=mr1&_include=MedicationRequest:requester:Organization")
    assert typed_ids(bundle) == []

    # iterate: CarePlan → MedicationRequest → Medication; without :iterate only the first hop
    bundle = search(client, "/fhir/CarePlan?_id=cp1&_include=CarePlan:activity-reference"
                            "&_include=MedicationRequest:medication")
    assert typed_ids(bundle) == ["MedicationRequest/mr1", "MedicationRequest/mr2"]
    bundle = search(client, "/fhir/CarePlan?_id=cp1&_include=CarePlan:activity-reference"
                            "&_include:iterate=MedicationRequest:medication")
    assert typed_ids(bundle) == ["MedicationRequest/mr1", "MedicationRequest/mr2", "Medication/imatinib"]


@pytest.mark.usefixtures("pathway")
def test_revinclude(client: TestClient) -> None:
    bundle = search(client, "/fhir/Patient?_id=pat1&_revinclude=MedicationRequest:subject")
    assert ids(bundle) == ["pat1"]
    assert typed_ids(bundle) == ["MedicationRequest/mr1", "MedicationRequest/mr2"]

    bundle = search(client, "/fhir/Patient?_id=pat2&_revinclude=*")
    assert typed_ids(bundle) == ["MedicationRequest/mr3", "CarePlan/cp2"]

    bundle = search(client, "/fhir/Patient?_id=pat1&_revinclude=CarePlan:subject"
                            "&_include:iterate=CarePlan:care-team")
    assert typed_ids(bundle) == ["CarePlan/cp1", "CareTeam/team1"]

    bundle = search(client, "/fhir/Organization?_id=pharma&_revinclude=CareTeam:participant"
                            "&_revinclude:iterate=CarePlan:care-team")
    assert typed_ids(bundle) == ["CareTeam/team1", "CarePlan/cp1"]


CHAIN_CASES: list[tuple[str, list[str]]] = [
    (f"subject.identifier={INS_OID}|1", ["mr1", "mr2"]),
    (f"subject:Patient.identifier={INS_OID}|2", ["mr3"]),
    (f"subject.identifier={INS_OID}|1&status=active", ["mr1"]),
    ("subject.name=martin", ["mr3"]),
    ("subject.organization.name=pharmacie", ["mr3"]),
    ("subject:Patient.organization:Organization.name=chu", ["mr1", "mr2"]),
    ("subject._id=pat2", ["mr3"]),
    ("requester:Practitioner.identifier=10001", ["mr1", "mr2", "mr3"]),
    ("medication.code=L01EA01&subject.name=durand", ["mr1", "mr2"]),
    ("subject.name=nobody", []),
]


@pytest.mark.usefixtures("pathway")
def test_chains(client: TestClient) -> None:
    assert mismatches(client, "MedicationRequest", CHAIN_CASES) == []


HAS_CASES: list[tuple[str, list[str]]] = [
    ("_has:MedicationRequest:subject:status=active", ["pat1", "pat2"]),
    ("_has:MedicationRequest:subject:status=stopped", ["pat1"]),
    ("_has:CarePlan:subject:status=draft", ["pat2"]),
    ("_has:CarePlan:subject:care-team.participant=Organization/pharma", ["pat1"]),
    ("_has:CareTeam:subject:_has:CarePlan:care-team:status=active", ["pat1"]),
    ("_has:CareTeam:subject:_has:CarePlan:care-team:status=draft", []),
    ("_has:MedicationRequest:subject:_id=mr3", ["pat2"]),
    ("_has:MedicationRequest:subject:status=active&name=martin", ["pat2"]),
    ("_has:MedicationRequest:subject:medication.code=L01EA01", ["pat1", "pat2"]),
]


@pytest.mark.usefixtures("pathway")
def test_has(client: TestClient) -> None:
    assert mismatches(client, "Patient", HAS_CASES) == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/fhir/MedicationRequest?status.name=x",
         "'status' in 'status.name' is not a reference parameter: it cannot be chained"),
        ("/fhir/MedicationRequest?subject:Organization.name=x",
         "'subject' of MedicationRequest cannot reference 'Organization' in 'subject:Organization.name'"),
        ("/fhir/Patient?_has:Observation:code:status=final",
         "'code' in '_has:Observation:code:status' is not a reference search parameter of Observation"),
        ("/fhir/Patient?_has:Nothing:subject:status=final",
         "Unknown resource type 'Nothing' in '_has:Nothing:subject:status'"),
        ("/fhir/Patient?_has:Observation:subject=x",
         "Invalid _has parameter '_has:Observation:subject': expected _has:Type:reference-parameter:parameter"),
        ("/fhir/Patient?_include=Patient:name", "'name' is not a reference search parameter of Patient in "
                                                "_include=Patient:name"),
        ("/fhir/Patient?_include=Patient", "Invalid _include value 'Patient': expected "
                                           "ResourceType:search-parameter[:targetType]"),
        ("/fhir/Patient?_revinclude:deep=Observation:subject", "Unknown modifier 'deep' on _revinclude"),
    ],
)
def test_errors(client: TestClient, url: str, message: str) -> None:
    assert error(client, url) == message


@pytest.mark.usefixtures("pathway")
def test_unknown_chained_parameter_is_lenient_or_strict(client: TestClient) -> None:
    bundle = search(client, "/fhir/MedicationRequest?subject.nickname=x&status=stopped")
    assert ids(bundle) == ["mr2"]
    assert bundle["entry"][-1]["resource"]["issue"][0]["diagnostics"] == (
        "Unknown search parameter 'nickname' for the targets of 'subject' in 'subject.nickname': ignored")
    assert error(client, "/fhir/MedicationRequest?subject.nickname=x", prefer="handling=strict") == (
        "Unknown search parameter 'nickname' for the targets of 'subject' in 'subject.nickname'")


def test_iterate_stops_on_cycles(client: TestClient) -> None:
    create(client, {"resourceType": "Patient", "id": "a", "link": [{"other": {"reference": "Patient/b"},
                                                                    "type": "seealso"}]})
    create(client, {"resourceType": "Patient", "id": "b", "link": [{"other": {"reference": "Patient/c"},
                                                                    "type": "seealso"}]})
    create(client, {"resourceType": "Patient", "id": "c", "link": [{"other": {"reference": "Patient/a"},
                                                                    "type": "seealso"}]})
    bundle = search(client, "/fhir/Patient?_id=a&_include:iterate=Patient:link")
    assert ids(bundle) == ["a"]
    assert typed_ids(bundle) == ["Patient/b", "Patient/c"]
    bundle = search(client, "/fhir/Patient?_id=a&_include=Patient:link")
    assert typed_ids(bundle) == ["Patient/b"]
