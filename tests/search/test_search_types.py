"""Every parameter type, with its modifiers and prefixes, on both databases (through the REST API)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from search_helpers import create, error, mismatches, search_ids

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
INS = "urn:oid:1.2.250.1.213.1.4.8"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


@pytest.fixture
def patients(client: TestClient) -> None:
    create(client, {
        "resourceType": "Patient", "id": "helene", "active": True, "gender": "female", "birthDate": "1948-02-29",
        "meta": {"tag": [{"system": "http://onco/tags", "code": "parcours-A"}],
                 "profile": ["https://oncolink.example.org/fhir/StructureDefinition/patient"],
                 "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]},
        "identifier": [{"system": INS, "value": "248022912345678",
                        "type": {"coding": [{"system": V2_0203, "code": "NH"}], "text": "INS NIR"}},
                       {"system": "urn:ipp", "value": "a|b,c"}],
        "name": [{"family": "Lefèvre-Durand", "given": ["Hélène", "Marie"]}],
        "telecom": [{"system": "email", "value": "helene@example.fr"}, {"system": "phone", "value": "0601020304"}],
        "address": [{"line": ["3 rue de la Paix"], "city": "Saint-Étienne", "postalCode": "42000"}],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr-FR",
                                                    "display": "French (France)"}], "text": "Français"}}],
    })
    create(client, {
        "resourceType": "Patient", "id": "jean", "active": False, "gender": "male", "birthDate": "1950",
        "identifier": [{"system": "urn:ipp", "value": "248022912345678"}],
        "name": [{"family": "Durand", "given": ["Jean"]}],
        "telecom": [{"system": "phone", "value": "0601020304"}],
        "managingOrganization": {"reference": "Organization/chu", "display": "CHU"},
        "generalPractitioner": [{"reference": "http://testserver/fhir/Practitioner/gp"},
                                {"reference": "https://annuaire.example/fhir/Practitioner/99"}],
    })
    create(client, {"resourceType": "Patient", "id": "anon", "birthDate": "1950-06-15"})


TOKEN_CASES: list[tuple[str, list[str]]] = [
    ("identifier=248022912345678", ["helene", "jean"]),
    (f"identifier={INS}|248022912345678", ["helene"]),
    ("identifier=urn:ipp|", ["helene", "jean"]),
    ("identifier=|248022912345678", []),
    ("identifier=urn:ipp|a\\|b\\,c", ["helene"]),
    ("identifier=a\\|b\\,c,nothing", ["helene"]),
    (f"identifier:of-type={V2_0203}|NH|248022912345678", ["helene"]),
    (f"identifier:of-type={V2_0203}|MR|248022912345678", []),
    ("identifier:text=ins", ["helene"]),
    ("identifier:text=nir", ["helene"]),
    ("identifier:text=nhs", []),
    ("language:text=fran", ["helene"]),
    ("language:text=FRANCE", ["helene"]),
    ("language:text=ance", []),
    ("language=fr-FR", ["helene"]),
    ("language=urn:ietf:bcp:47|fr-FR", ["helene"]),
    ("gender=female", ["helene"]),
    # a required binding implies the code system of a `code`
    ("gender=http://hl7.org/fhir/administrative-gender|female", ["helene"]),
    ("gender=http://hl7.org/fhir/administrative-gender|", ["helene", "jean"]),
    ("gender=http://other|female", []),
    ("gender=|female", []),
    ("gender:not=female", ["jean", "anon"]),
    ("gender=female,male", ["helene", "jean"]),
    ("active=true", ["helene"]),
    ("active=false", ["jean"]),
    ("active:missing=true", ["anon"]),
    ("active:missing=false", ["helene", "jean"]),
    ("email=helene@example.fr", ["helene"]),
    ("phone=0601020304", ["helene", "jean"]),
    ("telecom=phone|0601020304", ["helene", "jean"]),
    ("telecom=email|0601020304", []),
    ("_tag=http://onco/tags|parcours-A", ["helene"]),
    ("_tag:missing=true", ["jean", "anon"]),
    ("_security=R", ["helene"]),
    ("_profile=https://oncolink.example.org/fhir/StructureDefinition/patient", ["helene"]),
]


@pytest.mark.usefixtures("patients")
def test_token(client: TestClient) -> None:
    assert mismatches(client, "Patient", TOKEN_CASES) == []


STRING_CASES: list[tuple[str, list[str]]] = [
    ("name=dur", ["jean"]),  # a prefix of the whole family name, not of its parts
    ("name=DUR", ["jean"]),
    ("name=lefevre", ["helene"]),
    ("name=LEFÈVRE-D", ["helene"]),
    ("name=helene", ["helene"]),
    ("name=ma", ["helene"]),
    ("name=arie", []),
    ("name:contains=arie", ["helene"]),
    ("name:contains=RAND", ["helene", "jean"]),
    ("name:exact=Durand", ["jean"]),
    ("name:exact=durand", []),
    ("name:exact=Lefèvre-Durand", ["helene"]),
    ("name=jean,helene", ["helene", "jean"]),
    ("name=durand&name=jean", ["jean"]),
    ("family=durand", ["jean"]),
    ("given=hel", ["helene"]),
    ("address-city=saint-etienne", ["helene"]),
    ("address=paix", []),
    ("address=3 rue", ["helene"]),
    ("address:contains=paix", ["helene"]),
    ("address-postalcode=42", ["helene"]),
    ("name:missing=true", ["anon"]),
    ("name=%25", []),
    ("name:contains=_", []),
]


@pytest.mark.usefixtures("patients")
def test_string(client: TestClient) -> None:
    assert mismatches(client, "Patient", STRING_CASES) == []


DATE_ON_DATES_CASES: list[tuple[str, list[str]]] = [
    # helene 1948-02-29 (a day), jean 1950 (a year), anon 1950-06-15 (a day)
    ("birthdate=1950", ["jean", "anon"]),
    ("birthdate=eq1950", ["jean", "anon"]),
    ("birthdate=1950-06", ["anon"]),
    ("birthdate=1950-06-15", ["anon"]),
    ("birthdate=1948-02-29", ["helene"]),
    ("birthdate=ne1950", ["helene"]),
    ("birthdate=ne1950-06-15", ["helene", "jean"]),
    ("birthdate=gt1950-06-15", ["jean"]),
    ("birthdate=ge1950-06-15", ["jean", "anon"]),
    ("birthdate=lt1950-06-15", ["helene", "jean"]),
    ("birthdate=le1950-06-15", ["helene", "jean", "anon"]),
    ("birthdate=lt1950", ["helene"]),
    ("birthdate=gt1949", ["jean", "anon"]),
    ("birthdate=sa1948-02-29", ["jean", "anon"]),
    ("birthdate=sa1950-01-01", ["anon"]),
    ("birthdate=eb1950-06-15", ["helene"]),
    ("birthdate=eb1951", ["helene", "jean", "anon"]),
    ("birthdate=ge1948-03&birthdate=le1950-12-31", ["jean", "anon"]),
    ("birthdate=1948,1950-06", ["helene", "anon"]),
    ("birthdate=ap1948-03-01", ["helene", "jean", "anon"]),  # ± 10 % of the 78 years to now
    ("birthdate=ap1900", []),
    ("birthdate=1950-06-15T00:00:00Z", []),
    ("birthdate=le1950-06-15T12:00:00%2B02:00", ["helene", "jean", "anon"]),
]


@pytest.mark.usefixtures("patients")
def test_date_on_dates(client: TestClient) -> None:
    assert mismatches(client, "Patient", DATE_ON_DATES_CASES) == []


@pytest.fixture
def observations(client: TestClient) -> None:
    def obs(res_id: str, **extra: object) -> None:
        create(client, {"resourceType": "Observation", "id": res_id, "status": "final",
                        "code": {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}]},
                        "subject": {"reference": "Patient/helene"}, **extra})

    obs("instant", effectiveDateTime="2024-03-10T08:30:00+01:00",
        valueQuantity={"value": 72.5, "unit": "kg", "system": UCUM, "code": "kg"})
    obs("open-period", effectivePeriod={"start": "2024-03-01"},
        valueQuantity={"value": 72500, "unit": "g", "system": UCUM, "code": "g"})
    obs("closed-period", effectivePeriod={"start": "2024-02-01", "end": "2024-02-29"},
        valueQuantity={"value": 70, "unit": "kilos"})
    create(client, {
        "resourceType": "Observation", "id": "bp", "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]}, "effectiveDateTime": "2024-03",
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
             "valueQuantity": {"value": 150, "system": UCUM, "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
             "valueQuantity": {"value": 95, "system": UCUM, "code": "mm[Hg]"}},
        ],
    })
    create(client, {"resourceType": "Observation", "id": "grade", "status": "final",
                    "code": {"coding": [{"system": LOINC, "code": "grade"}]},
                    "valueCodeableConcept": {"coding": [{"system": "http://onco/grade", "code": "3"}]}})


DATE_ON_INSTANTS_AND_PERIODS_CASES: list[tuple[str, list[str]]] = [
    ("date=2024-03-10", ["instant"]),
    ("date=2024-03-10T07:30:00Z", ["instant"]),
    ("date=2024-03-10T08:30:00Z", []),
    ("date=2024-03", ["instant", "bp"]),
    ("date=2024", ["instant", "closed-period", "bp"]),
    ("date=gt2024-03-05", ["instant", "open-period", "bp"]),
    ("date=ge2024-03-01", ["instant", "open-period", "bp"]),
    ("date=lt2024-03-01", ["closed-period"]),
    ("date=le2024-02-29", ["closed-period"]),
    ("date=le2024-03-01", ["closed-period"]),  # [03-01, ∞) and March are neither below nor inside
    ("date=le2024-03-10", ["instant", "open-period", "closed-period", "bp"]),
    ("date=sa2024-02-29", ["instant", "open-period", "bp"]),
    ("date=eb2024-03-01", ["closed-period"]),
    ("date=eb2030", ["instant", "closed-period", "bp"]),
    ("date=ne2024-03", ["open-period", "closed-period"]),
    ("date:missing=true", ["grade"]),
]


@pytest.mark.usefixtures("observations")
def test_date_on_instants_and_periods(client: TestClient) -> None:
    assert mismatches(client, "Observation", DATE_ON_INSTANTS_AND_PERIODS_CASES) == []


QUANTITY_AND_COMPOSITE_CASES: list[tuple[str, list[str]]] = [
    ("value-quantity=72.5", ["instant"]),
    ("value-quantity=72", []),
    ("value-quantity=72.5|http://unitsofmeasure.org|kg", ["instant"]),
    ("value-quantity=72.5|http://unitsofmeasure.org|g", []),
    ("value-quantity=70||kilos", ["closed-period"]),
    ("value-quantity=70||kg", []),
    ("value-quantity=7e1", ["closed-period"]),
    ("value-quantity=gt70", ["instant", "open-period"]),
    ("value-quantity=ge70", ["instant", "open-period", "closed-period"]),
    ("value-quantity=lt72.5||kg", []),
    ("value-quantity=le72.5||kg", ["instant"]),
    ("value-quantity=ap72", ["instant", "closed-period"]),
    ("value-quantity=ne72.5", ["open-period", "closed-period"]),
    ("value-quantity=gt1000|http://unitsofmeasure.org|g", ["open-period"]),
    ("component-value-quantity=95", ["bp"]),
    ("code-value-quantity=http://loinc.org|29463-7$gt71", ["instant", "open-period"]),
    ("code-value-quantity=29463-7$lt71", ["closed-period"]),
    ("code-value-quantity=85354-9$gt0", []),
    ("component-code-value-quantity=http://loinc.org|8480-6$ge150", ["bp"]),
    ("component-code-value-quantity=8462-4$ge150", []),
    ("combo-code-value-quantity=8462-4$95|http://unitsofmeasure.org|mm[Hg]", ["bp"]),
    ("code-value-concept=grade$http://onco/grade|3", ["grade"]),
    ("code-value-concept=grade$2", []),
    ("value-concept=3", ["grade"]),
    ("code=http://loinc.org|29463-7&value-quantity=gt71&date=ge2024-03-02", ["instant", "open-period"]),
    ("code=http://loinc.org|29463-7&value-quantity=gt71||kg&date=ge2024-03-02", ["instant"]),
]


@pytest.mark.usefixtures("observations")
def test_quantity_and_composite(client: TestClient) -> None:
    assert mismatches(client, "Observation", QUANTITY_AND_COMPOSITE_CASES) == []


def test_number(client: TestClient) -> None:
    for res_id, probability in (("low", 0.05), ("mid", 0.5), ("high", 0.95), ("range", None)):
        prediction = ({"probabilityDecimal": probability} if probability is not None
                      else {"probabilityRange": {"low": {"value": 0.2}, "high": {"value": 0.3}}})
        create(client, {"resourceType": "RiskAssessment", "id": res_id, "status": "final",
                        "subject": {"reference": "Patient/p"}, "prediction": [prediction]})
    assert search_ids(client, "/fhir/RiskAssessment?probability=0.5") == ["mid"]
    assert search_ids(client, "/fhir/RiskAssessment?probability=0.05") == ["low"]
    assert search_ids(client, "/fhir/RiskAssessment?probability=0.1") == ["low"]  # 0.1 is [0.05, 0.15)
    assert search_ids(client, "/fhir/RiskAssessment?probability=0.2") == []
    assert search_ids(client, "/fhir/RiskAssessment?probability=gt0.5") == ["high"]
    assert search_ids(client, "/fhir/RiskAssessment?probability=ge0.5") == ["mid", "high"]
    assert search_ids(client, "/fhir/RiskAssessment?probability=lt0.25") == ["low", "range"]
    assert search_ids(client, "/fhir/RiskAssessment?probability=le5e-2") == ["low"]
    assert search_ids(client, "/fhir/RiskAssessment?probability=ne0.5") == ["low", "high", "range"]
    assert search_ids(client, "/fhir/RiskAssessment?probability=ap0.9") == ["high"]
    assert search_ids(client, "/fhir/RiskAssessment?probability=sa0.3") == ["mid", "high"]
    assert search_ids(client, "/fhir/RiskAssessment?probability=eb0.2") == ["low"]


def test_uri(client: TestClient) -> None:
    for res_id, url in (("root", "http://onco.example/fhir"), ("vs", "http://onco.example/fhir/ValueSet/atc"),
                        ("vs2", "http://onco.example/fhir/ValueSet/atc-l01"), ("other", "urn:oid:1.2.3")):
        create(client, {"resourceType": "ValueSet", "id": res_id, "url": url, "status": "active"})
    assert search_ids(client, "/fhir/ValueSet?url=http://onco.example/fhir/ValueSet/atc") == ["vs"]
    assert search_ids(client, "/fhir/ValueSet?url=http://onco.example/fhir/ValueSet") == []
    assert search_ids(client, "/fhir/ValueSet?url:below=http://onco.example/fhir/ValueSet") == ["vs", "vs2"]
    assert search_ids(client, "/fhir/ValueSet?url:below=http://onco.example/fhir") == ["root", "vs", "vs2"]
    assert search_ids(client, "/fhir/ValueSet?url:above=http://onco.example/fhir/ValueSet/atc/_history/2") == [
        "root", "vs"]
    assert search_ids(client, "/fhir/ValueSet?url=urn:oid:1.2.3") == ["other"]


REFERENCE_CASES: list[tuple[str, list[str]]] = [
    ("organization=Organization/chu", ["jean"]),
    ("organization=chu", ["jean"]),
    ("organization:Organization=chu", ["jean"]),
    ("organization=http://testserver/fhir/Organization/chu", ["jean"]),
    ("organization=Organization/other", []),
    ("general-practitioner=Practitioner/gp", ["jean"]),
    ("general-practitioner:Practitioner=gp", ["jean"]),
    ("general-practitioner=gp", ["jean"]),
    ("general-practitioner:Organization=gp", []),
    ("general-practitioner=https://annuaire.example/fhir/Practitioner/99", ["jean"]),
    ("general-practitioner=Practitioner/99", []),
    # OR lists (one IN per target type): local ids, ids stored as absolute URLs on our base, foreign URLs.
    ("organization=Organization/other,chu", ["jean"]),
    ("general-practitioner=Practitioner/nobody,Practitioner/gp", ["jean"]),
    ("general-practitioner=Organization/gp,https://annuaire.example/fhir/Practitioner/99", ["jean"]),
    ("general-practitioner=Practitioner/nobody,Practitioner/99", []),
    ("general-practitioner:Practitioner=nobody,gp", ["jean"]),
    ("general-practitioner:missing=true", ["helene", "anon"]),
]


@pytest.mark.usefixtures("patients")
def test_reference(client: TestClient) -> None:
    assert mismatches(client, "Patient", REFERENCE_CASES) == []


def test_reference_identifier_and_canonical(client: TestClient) -> None:
    create(client, {"resourceType": "QuestionnaireResponse", "id": "qr", "status": "completed",
                    "questionnaire": "https://oncolink.example.org/fhir/Questionnaire/pro-weekly|1.0",
                    "subject": {"identifier": {"system": INS, "value": "248022912345678"}}})
    assert search_ids(client, f"/fhir/QuestionnaireResponse?subject:identifier={INS}|248022912345678") == ["qr"]
    assert search_ids(client, "/fhir/QuestionnaireResponse?subject:identifier=248022912345678") == ["qr"]
    assert search_ids(client, "/fhir/QuestionnaireResponse?subject:identifier=other|248022912345678") == []
    url = "https://oncolink.example.org/fhir/Questionnaire/pro-weekly"
    assert search_ids(client, f"/fhir/QuestionnaireResponse?questionnaire={url}") == ["qr"]
    assert search_ids(client, f"/fhir/QuestionnaireResponse?questionnaire={url}|2.0") == ["qr"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
    ("/fhir/Patient?birthdate=1950-13", "Invalid value '1950-13' for search parameter 'birthdate': "
                                            "'1950-13': month 13 is out of range"),
    ("/fhir/Patient?birthdate=gt", "Invalid value 'gt' for search parameter 'birthdate': "
                                       "no value after prefix"),
    ("/fhir/Patient?birthdate=ge1950-01-01T10", "Invalid value 'ge1950-01-01T10' for search parameter "
                                                    "'birthdate': '1950-01-01T10' is not a valid date/dateTime "
                                                    "(expected YYYY, YYYY-MM, YYYY-MM-DD or "
                                                    "YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm))"),
    ("/fhir/Observation?value-quantity=abc", "Invalid value 'abc' for search parameter 'value-quantity': "
                                                 "unknown prefix 'abc' (expected one of eq, ne, gt, lt, ge, le, sa, "
                                                 "eb, ap)"),
    ("/fhir/Observation?value-quantity=gt1|a", "Invalid value 'gt1|a' for search parameter "
                                                   "'value-quantity': expected number, number|system|code or "
                                                   "number||code"),
    ("/fhir/Observation?value-quantity=1.2.3", "Invalid value '1.2.3' for search parameter 'value-quantity': "
                                                   "not a number"),
    ("/fhir/RiskAssessment?probability=gt0x1", "Invalid value 'gt0x1' for search parameter 'probability': "
                                                   "not a number"),
    ("/fhir/Patient?gender:exact=x", "Modifier ':exact' is not supported on token parameter 'gender'"),
    ("/fhir/Patient?gender:in=http://vs", "Modifier ':in' is not supported on token parameter 'gender'"),
    ("/fhir/Patient?birthdate:exact=1950", "Modifier ':exact' is not supported on date parameter 'birthdate'"),
    ("/fhir/Patient?name:not=x", "Modifier ':not' is not supported on string parameter 'name'"),
    ("/fhir/Patient?organization:Patient=x", "Modifier ':Patient' is not valid on reference parameter "
                                                 "'organization' (targets: Organization)"),
    ("/fhir/Patient?active:missing=maybe", "Invalid value 'maybe' for search parameter 'active': "
                                               "':missing' takes true or false"),
    ("/fhir/Patient?identifier:of-type=a|b", "Invalid value 'a|b' for search parameter 'identifier': "
                                                 "':of-type' expects type-system|type-code|value"),
    ("/fhir/Observation?code-value-quantity=1", "Invalid value '1' for search parameter "
                                                    "'code-value-quantity': expected 2 components separated by '$'"),
    ("/fhir/Patient?identifier=|", "Invalid value '|' for search parameter 'identifier': "
                                       "neither system nor code given"),
    ],
)
def test_malformed_values_are_precise_400s(client: TestClient, url: str, message: str) -> None:
    assert error(client, url) == message


def test_reference_through_has_extension(client: TestClient) -> None:
    """R4's `item-subject` selects items with `hasExtension(...)`, a FHIR function the server adds."""
    is_subject = "http://hl7.org/fhir/StructureDefinition/questionnaireresponse-isSubject"
    create(client, {"resourceType": "QuestionnaireResponse", "id": "qr-items", "status": "completed", "item": [
        {"linkId": "a", "extension": [{"url": is_subject, "valueBoolean": True}],
         "answer": [{"valueReference": {"reference": "Patient/p1"}}]},
        {"linkId": "b", "answer": [{"valueReference": {"reference": "Patient/p2"}}]}]})
    assert search_ids(client, "/fhir/QuestionnaireResponse?item-subject=Patient/p1") == ["qr-items"]
    assert search_ids(client, "/fhir/QuestionnaireResponse?item-subject=Patient/p2") == []
