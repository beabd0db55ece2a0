"""Structural validation against the R4 core definitions: valid content passes untouched, and each
kind of invalid content yields exactly the issue (severity, code, expression) a client must see."""

from __future__ import annotations

import copy
import json
import tarfile
import zipfile
from typing import Any

import pytest

from fhir_server.validation.packages import PackageRegistry
from fhir_server.validation.schema import ATTRIBUTE, PRIMITIVE, PROHIBITED
from fhir_server.validation.structure import StructureValidator
from tests.conftest import SHARED

EPRESCRIPTION_EXAMPLES = SHARED / "fhir" / "packages" / "ans.fhir.fr.eprescription-1.1.0-ballot.examples.json.zip"

Found = list[tuple[str, str, tuple[str, ...]]]


@pytest.fixture(scope="module")
def validator(registry: PackageRegistry) -> StructureValidator:
    return StructureValidator(registry)


def found(validator: StructureValidator, resource: object, expected_type: str | None = None) -> Found:
    return [(i.severity, i.code, i.expression) for i in validator.validate(resource, expected_type)]


def err(code: str, expression: str) -> tuple[str, str, tuple[str, ...]]:
    return ("error", code, (expression,))


# -- valid resources ----------------------------------------------------------------------------


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p-1",
        "meta": {"versionId": "3", "lastUpdated": "2024-05-01T10:00:00.000+02:00", "profile": ["http://x.org/p"]},
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Jeanne Dupont</div>'},
        "identifier": [
            {
                "use": "official",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI"}]},
                "system": "urn:oid:1.2.250.1.213.1.4.8",
                "value": "248037512345678",
                "assigner": {"display": "INSi", "identifier": {"value": "x"}},
            }
        ],
        "active": True,
        "name": [{"use": "official", "family": "Dupont", "given": ["Jeanne", "Marie"], "prefix": ["Mme"]}],
        "telecom": [{"system": "phone", "value": "+33\u00a06\u00a012\u00a034\u00a056\u00a078", "use": "mobile"}],
        "gender": "female",
        "birthDate": "1948-02-29",
        "deceasedBoolean": False,
        "address": [{"use": "home", "line": ["12 rue des Lilas"], "city": "Lyon", "postalCode": "69003"}],
        "maritalStatus": {"text": "Mariée"},
        "multipleBirthInteger": 2,
        "contact": [{"relationship": [{"text": "fille"}], "name": {"family": "Dupont"}}],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr-FR"}]}}],
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                "valueAddress": {"city": "Annecy", "country": "FR"},
            },
            {
                "url": "http://example.org/complex",
                "extension": [{"url": "a", "valueDecimal": 1.50}, {"url": "b", "valuePeriod": {"start": "2020"}}],
            },
        ],
    }


VALID: dict[str, dict[str, Any]] = {
    "patient": patient(),
    "primitive extensions, aligned with null": {
        "resourceType": "Patient",
        "birthDate": "1970",
        "_birthDate": {"extension": [{"url": "http://x.org/time", "valueTime": "10:30:00"}]},
        "_gender": {"extension": [{"url": "http://x.org/absent", "valueCode": "unknown"}]},
        "name": [
            {"given": ["Jean", None], "_given": [None, {"id": "g2", "extension": [{"url": "u", "valueBoolean": True}]}]}
        ],
    },
    "observation": {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": "Patient/p-1"},
        "effectiveDateTime": "2024-05-01T08:30:00Z",
        "issued": "2024-05-01T08:31:00.123+02:00",
        "component": [
            {"code": {"text": "systolic"}, "valueQuantity": {"value": 120, "unit": "mm[Hg]", "comparator": "<"}},
            {"code": {"text": "diastolic"}, "valueQuantity": {"value": 80.5, "system": "http://unitsofmeasure.org"}},
            {"code": {"text": "ok"}, "valueBoolean": True},
        ],
        "referenceRange": [{"low": {"value": 3.5}, "high": {"value": 5}, "text": "normal"}],
    },
    "questionnaire with nested items": {
        "resourceType": "Questionnaire",
        "status": "active",
        "item": [
            {
                "linkId": "1",
                "type": "group",
                "item": [
                    {"linkId": "1.1", "type": "choice", "answerOption": [{"valueCoding": {"code": "a"}}]},
                    {
                        "linkId": "1.2",
                        "type": "group",
                        "enableWhen": [{"question": "1.1", "operator": "=", "answerCoding": {"code": "a"}}],
                        "item": [{"linkId": "1.2.1", "type": "integer", "required": True}],
                    },
                ],
            }
        ],
    },
    "transaction bundle with contained and entry links": {
        "resourceType": "Bundle",
        "type": "transaction",
        "link": [{"relation": "self", "url": "http://x.org/fhir"}],
        "entry": [
            {
                "fullUrl": "urn:uuid:6b3c4c3e-0d2e-4c0e-9a59-1c8f3c2d5e10",
                "link": [{"relation": "alternate", "url": "http://x.org/alt"}],
                "resource": {
                    "resourceType": "MedicationRequest",
                    "contained": [{"resourceType": "Medication", "id": "m", "code": {"text": "capécitabine"}}],
                    "status": "active",
                    "intent": "order",
                    "medicationReference": {"reference": "#m"},
                    "subject": {"reference": "urn:uuid:0c3e2b1a-1111-4a2b-8c3d-000000000001"},
                    "dosageInstruction": [
                        {
                            "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d",
                                                  "timeOfDay": ["08:00:00", "20:00:00"]}},
                            "doseAndRate": [{"doseQuantity": {"value": 500, "unit": "mg"}}],
                        }
                    ],
                },
                "request": {"method": "POST", "url": "MedicationRequest"},
            },
            {"request": {"method": "DELETE", "url": "Patient/old"}},
        ],
    },
    "parameters with a resource": {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": {"resourceType": "Patient", "active": False}},
            {"name": "count", "valueUnsignedInt": 0},
            {"name": "part", "part": [{"name": "x", "valuePositiveInt": 2147483647}]},
        ],
    },
    "binary and attachments (MIME types are not checked)": {
        "resourceType": "DocumentReference",
        "status": "current",
        "content": [{"attachment": {"contentType": "application/x-anything", "data": "SGVs bG8h\nAAAA",
                                    "size": 9, "hash": "AAAA"}}],
    },
}


@pytest.mark.parametrize("name", list(VALID))
def test_valid_resources_have_no_issues(validator: StructureValidator, name: str) -> None:
    assert found(validator, copy.deepcopy(VALID[name])) == []


def test_every_eprescription_example_bundle_is_valid(validator: StructureValidator) -> None:
    with zipfile.ZipFile(EPRESCRIPTION_EXAMPLES) as archive:
        names = [n for n in archive.namelist() if n.endswith(".json")]
        problems = {}
        for name in names:
            issues = validator.validate(json.loads(archive.read(name)), "Bundle")
            if issues:
                problems[name] = [i.to_fhir() for i in issues]
    assert len(names) == 85
    assert problems == {}


def test_resource_types_are_the_concrete_r4_resources(validator: StructureValidator) -> None:
    types = validator.resource_types
    assert len(types) == 146
    assert {"Patient", "Bundle", "MedicationRequest", "Parameters", "Questionnaire"} <= types
    assert not {"Resource", "DomainResource", "HumanName", "vitalsigns"} & types


# -- invalid resources: one rule each -----------------------------------------------------------


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


P = {"resourceType": "Patient"}
OBS = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}

INVALID: list[tuple[str, object, Found]] = [
    ("unknown element", with_(P, foo=1), [err("structure", "Patient.foo")]),
    ("unknown nested element", with_(P, name=[{"family": "x", "surname": "y"}]),
     [err("structure", "Patient.name[0].surname")]),
    ("unknown in Extension", with_(P, extension=[{"url": "u", "valueFoo": 1}]),
     [err("structure", "Patient.extension[0].valueFoo")]),
    ("unknown in Meta", with_(P, meta={"version": "1"}), [err("structure", "Patient.meta.version")]),
    ("unknown in Reference", with_(OBS, subject={"ref": "Patient/1"}), [err("structure", "Observation.subject.ref")]),
    ("resourceType inside a datatype", with_(P, name=[{"resourceType": "HumanName", "text": "x"}]),
     [err("structure", "Patient.name[0].resourceType")]),
    ("complex given as a string", with_(P, name=["Jean Dupont"]), [err("structure", "Patient.name[0]")]),
    ("complex given as a string (single)", with_(P, maritalStatus="M"), [err("structure", "Patient.maritalStatus")]),
    ("boolean as a string", with_(P, active="true"), [err("value", "Patient.active")]),
    ("date as a number", with_(P, birthDate=19800101), [err("value", "Patient.birthDate")]),
    ("bad month", with_(P, birthDate="1980-13-01"), [err("value", "Patient.birthDate")]),
    ("day not in calendar", with_(P, birthDate="1981-02-29"), [err("value", "Patient.birthDate")]),
    ("date with time", with_(P, birthDate="1980-01-01T10:00:00Z"), [err("value", "Patient.birthDate")]),
    ("dateTime with time but no zone", with_(OBS, effectiveDateTime="2024-01-01T10:00:00"),
     [err("value", "Observation.effectiveDateTime")]),
    ("instant without seconds", with_(OBS, issued="2024-01-01T10:00Z"), [err("value", "Observation.issued")]),
    ("bad time", with_(OBS, valueTime="25:00:00"), [err("value", "Observation.valueTime")]),
    ("integer out of range", with_(P, multipleBirthInteger=2**31), [err("value", "Patient.multipleBirthInteger")]),
    ("integer with a fraction", with_(P, multipleBirthInteger=2.5), [err("value", "Patient.multipleBirthInteger")]),
    ("decimal as a string", with_(OBS, valueQuantity={"value": "12.5"}),
     [err("value", "Observation.valueQuantity.value")]),
    ("decimal as a boolean", with_(OBS, valueQuantity={"value": True}),
     [err("value", "Observation.valueQuantity.value")]),
    ("positiveInt zero", {"resourceType": "Parameters", "parameter": [{"name": "n", "valuePositiveInt": 0}]},
     [err("value", "Parameters.parameter[0].valuePositiveInt")]),
    ("unsignedInt negative", {"resourceType": "Parameters", "parameter": [{"name": "n", "valueUnsignedInt": -1}]},
     [err("value", "Parameters.parameter[0].valueUnsignedInt")]),
    ("bad id", with_(P, id="a b"), [err("value", "Patient.id")]),
    ("id too long", with_(P, id="x" * 65), [err("value", "Patient.id")]),
    ("uri with a space", with_(P, implicitRules="http://x.org/a b"), [err("value", "Patient.implicitRules")]),
    ("bad oid", {"resourceType": "Parameters", "parameter": [{"name": "o", "valueOid": "urn:oid:1.02"}]},
     [err("value", "Parameters.parameter[0].valueOid")]),
    ("bad uuid", {"resourceType": "Parameters", "parameter": [{"name": "u", "valueUuid": "urn:uuid:ABC"}]},
     [err("value", "Parameters.parameter[0].valueUuid")]),
    ("code with two spaces", with_(P, language="fr  FR"), [err("value", "Patient.language")]),
    ("bad base64", with_(P, photo=[{"data": "SGVsbG8"}]), [err("value", "Patient.photo[0].data")]),
    ("control character in a string", with_(P, name=[{"family": "Du\x01pont"}]),
     [err("value", "Patient.name[0].family")]),
    ("Extension.url as a number", with_(P, extension=[{"url": 1, "valueString": "x"}]),
     [err("value", "Patient.extension[0].url")]),
    ("narrative not a div", with_(P, text={"status": "generated", "div": "<p>x</p>"}),
     [err("value", "Patient.text.div")]),
    ("narrative status not in value set", with_(P, text={"status": "done", "div": "<div>x</div>"}),
     [err("code-invalid", "Patient.text.status")]),
    ("array for max 1", with_(P, birthDate=["1980-01-01"]), [err("structure", "Patient.birthDate")]),
    ("array for a max 1 complex", with_(P, maritalStatus=[{"text": "x"}]), [err("structure", "Patient.maritalStatus")]),
    ("object for max *", with_(P, name={"family": "x"}), [err("structure", "Patient.name")]),
    ("primitive for max *", with_(P, name=[{"given": "Jean"}]), [err("structure", "Patient.name[0].given")]),
    ("missing Bundle.type", {"resourceType": "Bundle"}, [err("required", "Bundle.type")]),
    ("missing Observation.status and code", {"resourceType": "Observation"},
     [err("required", "Observation.status"), err("required", "Observation.code")]),
    ("missing required in a backbone",
     {"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"url": "x"}}]},
     [err("required", "Bundle.entry[0].request.method")]),
    ("missing required choice", {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                                 "subject": {"reference": "Patient/1"}},
     [err("required", "MedicationRequest.medication[x]")]),
    ("missing Extension.url", with_(P, extension=[{"valueString": "x"}]),
     [err("required", "Patient.extension[0].url")]),
    ("bad choice type", with_(OBS, valueFoo="x"), [err("structure", "Observation.valueFoo")]),
    ("choice without its type", with_(OBS, value="x"), [err("structure", "Observation.value")]),
    ("choice type not allowed here", with_(OBS, valueUri="http://x.org"), [err("structure", "Observation.valueUri")]),
    ("two choices", with_(OBS, valueString="x", valueBoolean=True), [err("structure", "Observation.valueBoolean")]),
    ("gender not in value set", with_(P, gender="M"), [err("code-invalid", "Patient.gender")]),
    ("Observation.status not in value set", with_(OBS, status="done"), [err("code-invalid", "Observation.status")]),
    ("Bundle.type not in value set", {"resourceType": "Bundle", "type": "transactions"},
     [err("code-invalid", "Bundle.type")]),
    ("MedicationRequest.intent not in value set",
     {"resourceType": "MedicationRequest", "status": "active", "intent": "prescription",
      "medicationCodeableConcept": {"text": "x"}, "subject": {"reference": "Patient/1"}},
     [err("code-invalid", "MedicationRequest.intent")]),
    ("code case matters", with_(P, gender="Female"), [err("code-invalid", "Patient.gender")]),
    ("code in a primitive array", {"resourceType": "CapabilityStatement", "status": "active", "date": "2024",
                                   "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
                                   "rest": [{"mode": "server", "resource": [{"type": "Patient",
                                             "referencePolicy": ["literal", "bogus"]}]}]},
     [err("code-invalid", "CapabilityStatement.rest[0].resource[0].referencePolicy[1]")]),
    ("null in an array", with_(P, name=[{"family": "x"}, None]), [err("structure", "Patient.name[1]")]),
    ("null in a primitive array", with_(P, name=[{"given": ["a", None]}]),
     [err("structure", "Patient.name[0].given[1]")]),
    ("null in a primitive array, _given null too",
     with_(P, name=[{"given": ["a", None], "_given": [{"id": "1"}, None]}]),
     [err("structure", "Patient.name[0].given[1]")]),
    ("null value", with_(P, active=None), [err("structure", "Patient.active")]),
    ("empty string", with_(P, name=[{"family": ""}]), [err("value", "Patient.name[0].family")]),
    ("empty code", with_(P, gender=""), [err("value", "Patient.gender")]),
    ("empty uri", with_(P, implicitRules=""), [err("value", "Patient.implicitRules")]),
    ("empty array", with_(P, identifier=[]), [err("structure", "Patient.identifier")]),
    ("empty object", with_(P, maritalStatus={}), [err("structure", "Patient.maritalStatus")]),
    ("empty object in an array", with_(P, name=[{}]), [err("structure", "Patient.name[0]")]),
    ("_x must be an object", with_(P, _birthDate="x"), [err("structure", "Patient._birthDate")]),
    ("_x of an array must be an array", with_(P, name=[{"given": ["a"], "_given": {"id": "1"}}]),
     [err("structure", "Patient.name[0]._given")]),
    ("_x misaligned", with_(P, name=[{"given": ["a", "b"], "_given": [{"id": "1"}]}]),
     [err("structure", "Patient.name[0]._given")]),
    ("_x null with no value", with_(P, name=[{"_given": [None]}]), [err("structure", "Patient.name[0].given[0]")]),
    ("_x content checked", with_(P, _birthDate={"extension": [{"url": "u", "valueDate": "2020-1-1"}]}),
     [err("value", "Patient.birthDate.extension[0].valueDate")]),
    ("_x empty", with_(P, _birthDate={}), [err("structure", "Patient.birthDate")]),
    ("_x of a complex element", with_(P, _name=[{"id": "1"}]), [err("structure", "Patient._name")]),
    ("_x of an attribute", with_(P, text={"status": "generated", "div": "<div>x</div>", "_div": {"id": "1"}}),
     [err("structure", "Patient.text._div")]),
    ("_x of an unknown element", with_(P, _foo={"id": "1"}), [err("structure", "Patient._foo")]),
    ("SimpleQuantity has no comparator", with_(OBS, referenceRange=[{"low": {"value": 1, "comparator": "<"}}]),
     [err("structure", "Observation.referenceRange[0].low.comparator")]),
    ("nested errors in contained",
     with_(P, contained=[{"resourceType": "Practitioner", "name": [{"family": ["x"]}]},
                         {"resourceType": "Observation", "status": "final"}]),
     [err("structure", "Patient.contained[0].name[0].family"), err("required", "Patient.contained[1].code")]),
    ("contained without resourceType", with_(P, contained=[{"id": "x"}]),
     [err("invalid", "Patient.contained[0].resourceType")]),
    ("contained of an unknown type", with_(P, contained=[{"resourceType": "Patients"}]),
     [err("invalid", "Patient.contained[0].resourceType")]),
    ("contained of an abstract type", with_(P, contained=[{"resourceType": "DomainResource"}]),
     [err("invalid", "Patient.contained[0].resourceType")]),
    ("nested errors in Bundle entries",
     {"resourceType": "Bundle", "type": "transaction", "entry": [
         {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
         {"resource": {"resourceType": "Patient", "gender": "f"}, "request": {"method": "POST", "url": "Patient"}},
         {"resource": {"resourceType": "Patient", "identifier": [{"system": "urn:oid:1 2"}]},
          "request": {"method": "PUSH", "url": "Patient"}},
         {"resource": "Patient/1"},
     ]},
     [err("code-invalid", "Bundle.entry[1].resource.gender"),
      err("value", "Bundle.entry[2].resource.identifier[0].system"),
      err("code-invalid", "Bundle.entry[2].request.method"),
      err("structure", "Bundle.entry[3].resource")]),
    ("Bundle.entry.link follows Bundle.link", {"resourceType": "Bundle", "type": "collection",
                                               "entry": [{"link": [{"relation": "self"}]}]},
     [err("required", "Bundle.entry[0].link[0].url")]),
    ("Bundle.entry.response.outcome is a resource",
     {"resourceType": "Bundle", "type": "transaction-response",
      "entry": [{"response": {"status": "400", "outcome": {"resourceType": "OperationOutcome"}}}]},
     [err("required", "Bundle.entry[0].response.outcome.issue")]),
    ("Parameters.parameter.resource is validated",
     {"resourceType": "Parameters", "parameter": [{"name": "r", "resource": {"resourceType": "Bundle"}}]},
     [err("required", "Parameters.parameter[0].resource.type")]),
    ("Parameters.parameter.part recursion",
     {"resourceType": "Parameters", "parameter": [{"name": "a", "part": [{"name": "b", "part": [{"valueX": 1}]}]}]},
     [err("structure", "Parameters.parameter[0].part[0].part[0].valueX"),
      err("required", "Parameters.parameter[0].part[0].part[0].name")]),
    ("Questionnaire.item.item recursion",
     {"resourceType": "Questionnaire", "status": "draft", "item": [
         {"linkId": "1", "type": "group", "item": [
             {"linkId": "1.1", "type": "string"},
             {"linkId": "1.2", "type": "group", "item": [{"type": "boolean", "text": 3}]},
         ]}]},
     [err("value", "Questionnaire.item[0].item[1].item[0].text"),
      err("required", "Questionnaire.item[0].item[1].item[0].linkId")]),
    ("Questionnaire.item.item type code", {"resourceType": "Questionnaire", "status": "draft", "item": [
        {"linkId": "1", "type": "group", "item": [{"linkId": "1.1", "type": "strin"}]}]},
     [err("code-invalid", "Questionnaire.item[0].item[0].type")]),
    ("Timing.repeat is an inline element", with_(OBS, effectiveTiming={"repeat": {"frequency": 0, "when": ["XX"]}}),
     [err("value", "Observation.effectiveTiming.repeat.frequency"),
      err("code-invalid", "Observation.effectiveTiming.repeat.when[0]")]),
    ("several problems at once",
     with_(P, foo=1, birthDate="1980-13-01", gender="x", name=[{"given": ["a", None]}]),
     [err("structure", "Patient.foo"), err("value", "Patient.birthDate"), err("code-invalid", "Patient.gender"),
      err("structure", "Patient.name[0].given[1]")]),
]


@pytest.mark.parametrize(("name", "resource", "expected"), INVALID, ids=[case[0] for case in INVALID])
def test_invalid_resources_report_exact_issues(
    validator: StructureValidator, name: str, resource: object, expected: Found
) -> None:
    assert found(validator, resource) == expected


# -- resourceType --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expected_type", "expected"),
    [
        ({"id": "x"}, None, [("error", "invalid", ("resourceType",))]),
        ({"resourceType": 3}, None, [("error", "invalid", ("resourceType",))]),
        ({"resourceType": "Patients"}, None, [("error", "invalid", ("resourceType",))]),
        ({"resourceType": "Resource"}, None, [("error", "invalid", ("resourceType",))]),
        ({"resourceType": "Observation"}, "Patient", [("error", "invalid", ("resourceType",))]),
        ({"resourceType": "Patient"}, "Patient", []),
        (["Patient"], None, [("error", "invalid", ())]),
        ("Patient", "Patient", [("error", "invalid", ())]),
    ],
)
def test_resource_type_checks(
    validator: StructureValidator, resource: object, expected_type: str | None, expected: Found
) -> None:
    assert found(validator, resource, expected_type) == expected


# -- diagnostics -------------------------------------------------------------------------------------


def diagnostics(validator: StructureValidator, resource: object, expected_type: str | None = None) -> list[str]:
    return [i.diagnostics for i in validator.validate(resource, expected_type)]


def test_diagnostics_name_the_element_and_the_rule(validator: StructureValidator) -> None:
    assert diagnostics(validator, with_(P, foo=1)) == ["Unknown element 'foo' in Patient"]
    assert diagnostics(validator, with_(P, birthDate="1980-13-01")) == [
        "Patient.birthDate: '1980-13-01' is not a valid date"
    ]
    assert diagnostics(validator, with_(P, gender="M")) == [
        "Patient.gender: 'M' is not in the required value set "
        "http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1: expected one of female, male, other, unknown"
    ]
    assert diagnostics(validator, {"resourceType": "Bundle"}) == [
        "Missing required element 'type' in Bundle (min cardinality 1)"
    ]
    assert diagnostics(validator, with_(P, birthDate=["1980"])) == [
        "Patient.birthDate must be a single value, not an array (max cardinality 1)"
    ]
    assert diagnostics(validator, with_(P, name={"family": "x"})) == [
        "Patient.name must be a JSON array (max cardinality *), not an object"
    ]
    assert diagnostics(validator, with_(OBS, valueFoo=1)) == [
        "Unknown element 'valueFoo' in Observation (value[x] allows: valueQuantity, valueCodeableConcept, "
        "valueString, valueBoolean, valueInteger, valueRange, valueRatio, valueSampledData, valueTime, "
        "valueDateTime, valuePeriod)"
    ]
    assert diagnostics(validator, with_(OBS, valueString="x", valueBoolean=True)) == [
        "Observation: only one of value[x] may be present, found 'valueString' and 'valueBoolean'"
    ]
    assert diagnostics(validator, with_(P, active="true")) == [
        "Patient.active: a boolean must be a JSON boolean (true or false), not a string"
    ]
    assert diagnostics(validator, with_(P, name=[{"family": ""}])) == [
        "Patient.name[0].family: an empty string is not a valid string"
    ]
    assert diagnostics(validator, {"resourceType": "Observation"}, "Patient") == [
        "The resource: resourceType 'Observation' does not match the expected type 'Patient'"
    ]


def test_all_issues_are_errors(validator: StructureValidator) -> None:
    for _name, resource, _expected in INVALID:
        assert {i.severity for i in validator.validate(resource)} == {"error"}


def test_input_is_not_modified(validator: StructureValidator) -> None:
    resource = with_(P, foo=1, name=[{"given": ["a", None]}])
    before = copy.deepcopy(resource)
    validator.validate(resource)
    assert resource == before


def test_too_deep_nesting_is_an_issue_not_a_crash(validator: StructureValidator) -> None:
    extension: dict[str, Any] = {"url": "leaf", "valueString": "x"}
    for _ in range(3000):
        extension = {"url": "n", "extension": [extension]}
    issues = validator.validate(with_(P, extension=[extension]))
    assert [(i.severity, i.code) for i in issues] == [("error", "too-costly")]


# -- the compiled schema keeps what later checks need ---------------------------------------------


def test_compiled_schema_keeps_rules_and_constraints(validator: StructureValidator) -> None:
    schema = validator.schema("Patient")
    assert schema.is_resource
    assert {"dom-2", "dom-3", "dom-4", "dom-5", "dom-6"} <= {c.key for c in schema.constraints}
    contact = schema.elements["contact"]
    assert contact.is_array and contact.schema is not None
    assert [c.key for c in contact.constraints if c.key.startswith("pat")] == ["pat-1"]
    assert contact.schema.constraints[-1].expression is not None
    assert schema.elements["gender"].kind == PRIMITIVE
    assert schema.elements["gender"].codes == frozenset({"male", "female", "other", "unknown"})
    assert schema.elements["id"].kind == ATTRIBUTE and schema.elements["id"].type_name == "id"
    assert {"deceasedBoolean", "deceasedDateTime"} <= set(schema.elements)
    assert schema.elements["deceasedBoolean"].choice == "deceased"
    # The same schema object serves each use: compiled once.
    assert validator.schema("Patient") is schema
    questionnaire_item = validator.schema("Questionnaire").elements["item"].schema
    assert questionnaire_item is not None and questionnaire_item.elements["item"].schema is questionnaire_item
    low = validator.schema("Observation").elements["referenceRange"].schema.elements["low"]  # type: ignore[union-attr]
    assert low.schema is not None and low.schema.elements["comparator"].kind == PROHIBITED


def test_required_bindings_that_cannot_be_expanded_are_skipped(validator: StructureValidator) -> None:
    codes = validator.compiler.value_sets
    assert codes.codes("http://hl7.org/fhir/ValueSet/mimetypes|4.0.1") is None
    assert codes.codes("http://hl7.org/fhir/ValueSet/currencies") is None
    assert codes.codes("http://hl7.org/fhir/ValueSet/no-such-value-set") is None
    assert codes.codes("http://hl7.org/fhir/ValueSet/bundle-type") == frozenset(
        {"document", "message", "transaction", "transaction-response", "batch", "batch-response", "history",
         "searchset", "collection"}
    )
    assert found(validator, {"resourceType": "Binary", "contentType": "text/plain  x"}) == [
        err("value", "Binary.contentType")
    ]
    assert found(validator, {"resourceType": "Binary", "contentType": "text/x-whatever"}) == []


# -- third-party conformance resources: no false errors, and the genuine ones are known -----------------

R4 = "hl7.fhir.r4.core-4.0.1.tgz"
FR_CORE = "hl7.fhir.fr.core-2.0.0.tgz"
EPRESCRIPTION = "ans.fhir.fr.eprescription-1.1.0-ballot.tgz"
# Genuine R4 structure errors shipped in these packages (checked by hand against the JSON):
# five SearchParameters of R4 core extensions have no `base`; one R4 core id is longer than 64 characters;
# FR Core has binding extensions without `url` and differential bindings without `strength`; the ANS
# package has ElementDefinition.example items without value[x] and OperationOutcomes without `issue`.
KNOWN_PACKAGE_ERRORS: dict[str, list[tuple[str, str]]] = {
    **{
        f"{R4}:package/SearchParameter-{vs}-extensions-{vs_type}-{param}.json": [("required", "SearchParameter.base")]
        for vs, vs_type in (("codesystem", "CodeSystem"), ("valueset", "ValueSet"))
        for param in ("author", "effective", "end", "keyword", "workflow")
    },
    f"{R4}:package/SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json": [
        ("value", "SearchParameter.id")
    ],
    f"{FR_CORE}:package/StructureDefinition-fr-core-organization.json": [
        ("required", "StructureDefinition.snapshot.element[35].binding.extension[0].url"),
        ("required", "StructureDefinition.differential.element[11].binding.extension[0].url"),
    ],
    f"{FR_CORE}:package/StructureDefinition-fr-core-schedule-availability-time.json": [
        ("required", "StructureDefinition.differential.element[57].binding.strength")
    ],
    f"{FR_CORE}:package/StructureDefinition-fr-core-service-type-duration.json": [
        ("required", "StructureDefinition.differential.element[2].binding.strength")
    ],
    f"{EPRESCRIPTION}:package/StructureDefinition-fr-posologie.json": [
        ("required", f"StructureDefinition.{part}.element[{index}].example[0].value[x]")
        for part in ("snapshot", "differential")
        for index in (8, 9, 27)
    ],
    f"{EPRESCRIPTION}:package/other/validation-oo.json": [
        ("required", f"Bundle.entry[{index}].resource.issue")
        for index in (105, 106, 110, 112, 113, 115, 118, 119, 124, 126, 127, 128, 129, 132, 133, 134, 136, 137)
    ],
}


def test_package_resources_validate_except_their_genuine_errors(validator: StructureValidator) -> None:
    problems: dict[str, list[tuple[str, str]]] = {}
    checked = 0
    for package in (R4, FR_CORE, EPRESCRIPTION):
        with tarfile.open(SHARED / "fhir" / "packages" / package) as archive:
            for member in archive.getmembers():
                if not member.name.endswith(".json") or member.name.endswith(("package.json", ".index.json")):
                    continue
                document = json.load(archive.extractfile(member))  # type: ignore[arg-type]
                if not isinstance(document, dict) or "resourceType" not in document:
                    continue
                checked += 1
                issues = validator.validate(document)
                assert {i.severity for i in issues} <= {"error"}
                if issues:
                    problems[f"{package}:{member.name}"] = [(i.code, i.expression[0]) for i in issues]
    assert checked > 4800
    assert problems == KNOWN_PACKAGE_ERRORS


def test_expressions_can_be_rooted_where_the_resource_sits(validator: StructureValidator) -> None:
    at = "Bundle.entry[1].resource"
    assert [i.expression for i in validator.validate(with_(P, birthDate="15/06/1980"), "Patient", at=at)] == [
        ("Bundle.entry[1].resource.birthDate",)
    ]
    assert [i.expression for i in validator.validate({"resourceType": "Observation"}, "Patient", at=at)] == [
        ("Bundle.entry[1].resource.resourceType",)
    ]
    assert [i.expression for i in validator.validate("x", "Patient", at=at)] == [(at,)]
