"""FHIRPath Patch: the official FHIR R4 suite (XML, converted to JSON), then our own cases."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from fhir_server.errors import BadRequest, FhirError, Unprocessable
from fhir_server.formats.xml_json import element_to_json
from fhir_server.patch import apply_fhirpath_patch
from fhir_server.validation.packages import PackageRegistry
from tests.conftest import SHARED

SUITE_FILE = SHARED / "fhir" / "test-cases" / "r4" / "patch" / "fhir-patch-tests.xml"
CASES = ET.parse(SUITE_FILE).getroot().findall("case")


def _resource(case: ET.Element, tag: str, registry: PackageRegistry) -> dict[str, Any]:
    wrapper = case.find(tag)
    assert wrapper is not None
    (element,) = list(wrapper)
    return element_to_json(element, registry)


def test_suite_has_all_cases() -> None:
    assert len(CASES) == 33


@pytest.mark.parametrize("case", CASES, ids=[c.get("name", "?") for c in CASES])
def test_official_suite(case: ET.Element, registry: PackageRegistry) -> None:
    resource = _resource(case, "input", registry)
    before = copy.deepcopy(resource)
    diff = _resource(case, "diff", registry)
    error = case.find("error")
    if error is not None:
        with pytest.raises(Unprocessable) as info:
            apply_fhirpath_patch(resource, diff, registry)
        assert info.value.issues[0].diagnostics.endswith(error.get("msg", "<no message>"))
    else:
        assert apply_fhirpath_patch(resource, diff, registry) == _resource(case, "output", registry)
    assert resource == before


# -- our own cases ---------------------------------------------------------------------------------


def op(kind: str, path: str, **parts: Any) -> dict[str, Any]:
    """One `operation` parameter; `value` is given as the part's value properties."""
    out: list[dict[str, Any]] = [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path}]
    for name, given in parts.items():
        if name == "name":
            out.append({"name": "name", "valueString": given})
        elif name in ("index", "source", "destination"):
            out.append({"name": name, "valueInteger": given})
        else:
            out.append({"name": name, **given})
    return {"name": "operation", "part": out}


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(operations)}


PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p",
    "birthDate": "1970-01-01",
    "_birthDate": {"extension": [{"url": "http://example.org/t", "valueString": "08:00"}]},
    "name": [{"family": "A", "given": ["a", "b"], "_given": [None, {"id": "g"}]}],
    "contact": [{"name": {"text": "t"}}],
}
OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"text": "weight"},
    "valueQuantity": {"value": 70, "unit": "kg"},
    "issued": "2020-01-01T00:00:00Z",
}


def _apply(resource: dict[str, Any], body: dict[str, Any], registry: PackageRegistry) -> dict[str, Any]:
    original = copy.deepcopy(resource)
    result = apply_fhirpath_patch(resource, body, registry)
    assert resource == original
    return result


def _fails(exc_type: type[FhirError], resource: dict[str, Any], body: Any, registry: PackageRegistry) -> FhirError:
    original = copy.deepcopy(resource)
    with pytest.raises(exc_type) as info:
        apply_fhirpath_patch(resource, body, registry)
    assert resource == original
    return info.value


@pytest.mark.parametrize(
    ("body", "expression", "fragment"),
    [
        ({"resourceType": "Patient"}, "Parameters", "must be a Parameters resource"),
        ([], "Parameters", "must be a Parameters resource"),
        ({"resourceType": "Parameters", "parameter": {}}, "Parameters.parameter", "must be a list"),
        (patch({"name": "op", "part": []}), "Parameters.parameter[0].name", "must be named 'operation'"),
        (patch({"name": "operation"}), "Parameters.parameter[0]", "needs parts"),
        (
            patch(op("delete", "Patient.id"), {"name": "operation", "part": [{"name": "path", "valueString": "x"}]}),
            "Parameters.parameter[1]",
            "the 'type' part is missing",
        ),
        (patch(op("upsert", "Patient.id")), "Parameters.parameter[0].part[0]", "unknown operation type 'upsert'"),
        (patch(op("replace", "Patient.id")), "Parameters.parameter[0]", "needs a 'value' part"),
        (patch(op("add", "Patient", value={"valueId": "x"})), "Parameters.parameter[0]", "needs a 'name' part"),
        (patch(op("insert", "Patient.name", value={"valueHumanName": {}})), "Parameters.parameter[0]", "'index'"),
        (patch(op("move", "Patient.name", source=0)), "Parameters.parameter[0]", "needs a 'destination' part"),
        (patch(op("delete", "Patient.id", index=0)), "Parameters.parameter[0].part[2]", "takes no 'index' part"),
        (patch(op("delete", "Patient.id", foo={})), "Parameters.parameter[0].part[2].name", "unknown part 'foo'"),
        (
            patch(op("delete", "Patient.name.where(")),
            "Parameters.parameter[0].part[1].valueString",
            "invalid FHIRPath 'Patient.name.where('",
        ),
        (patch(op("delete", "Patient..name")), "Parameters.parameter[0].part[1].valueString", "syntax error"),
        (patch(op("delete", " ")), "Parameters.parameter[0].part[1].valueString", "expression is empty"),
        (
            patch(op("move", "Patient.name", source=-1, destination=0)),
            "Parameters.parameter[0].part[2].valueInteger",
            "must not be negative",
        ),
        (
            patch(op("insert", "Patient.name", index="0", value={"valueHumanName": {}})),
            "Parameters.parameter[0].part[2]",
            "expected valueInteger",
        ),
        (
            patch(op("replace", "Patient.active", value={})),
            "Parameters.parameter[0].part[2]",
            "a value (value[x], resource or part) is required",
        ),
        (
            patch(op("replace", "Patient.active", value={"valueBoolean": True, "part": []})),
            "Parameters.parameter[0].part[2]",
            "exactly one of value[x], resource or part",
        ),
        (
            patch(op("replace", "Patient.active", value={"valueBoolean": "true"})),
            "Parameters.parameter[0].part[2].valueBoolean",
            "not a valid JSON boolean",
        ),
        (
            patch(op("replace", "Patient.active", value={"valueFlag": True})),
            "Parameters.parameter[0].part[2].valueFlag",
            "not a FHIR value[x] type",
        ),
        (
            patch(op("add", "Patient", name="contact", value={"part": [{"valueString": "x"}]})),
            "Parameters.parameter[0].part[3].part[0].name",
            "each part needs a name",
        ),
        (
            patch(op("add", "Patient", name="a.b", value={"valueString": "x"})),
            "Parameters.parameter[0].part[2].valueString",
            "not an element name",
        ),
    ],
)
def test_malformed_parameters_are_400(body: Any, expression: str, fragment: str, registry: PackageRegistry) -> None:
    error = _fails(BadRequest, PATIENT, body, registry)
    assert error.status == 400
    assert error.issues[0].expression == (expression,)
    assert fragment in error.issues[0].diagnostics


def test_malformed_operation_wins_over_an_earlier_inapplicable_one(registry: PackageRegistry) -> None:
    body = patch(op("replace", "Patient.gender", value={"valueCode": "male"}), op("explode", "Patient"))
    error = _fails(BadRequest, PATIENT, body, registry)
    assert error.issues[0].expression == ("Parameters.parameter[1].part[0]",)


@pytest.mark.parametrize(
    ("resource", "operation", "fragment"),
    [
        (PATIENT, op("replace", "Patient.gender", value={"valueCode": "male"}), "No content found at Patient.gender"),
        (PATIENT, op("add", "Patient.telecom", name="use", value={"valueCode": "home"}), "No content found"),
        (PATIENT, op("replace", "Patient.name.given", value={"valueString": "c"}), "selects 2 elements"),
        (PATIENT, op("delete", "Patient.name.given"), "selects 2 elements; delete removes exactly one"),
        (PATIENT, op("delete", "Patient"), "cannot delete the resource itself"),
        (PATIENT, op("replace", "Patient", value={"valueString": "x"}), "cannot replace the resource itself"),
        (PATIENT, op("add", "Patient", name="birthDate", value={"valueDate": "2000"}), "already has a value"),
        (PATIENT, op("add", "Patient", name="colour", value={"valueCode": "red"}), "Patient has no element 'colour'"),
        (PATIENT, op("add", "Patient.birthDate", name="x", value={"valueCode": "red"}), "date has no element 'x'"),
        (
            PATIENT,
            op("replace", "Patient.birthDate", value={"valueBoolean": True}),
            "a boolean value does not fit Patient.birthDate (expects date)",
        ),
        (
            PATIENT,
            op("add", "Patient", name="maritalStatus", value={"valueCoding": {"code": "M"}}),
            "a Coding value does not fit Patient.maritalStatus (expects CodeableConcept)",
        ),
        (
            PATIENT,
            op("add", "Patient", name="contact", value={"part": [{"name": "colour", "valueCode": "red"}]}),
            "Patient.contact has no element 'colour'",
        ),
        (
            PATIENT,
            op("add", "Patient", name="gender", value={"part": [{"name": "text", "valueString": "x"}]}),
            "a nested parts value does not fit Patient.gender",
        ),
        (PATIENT, op("replace", "Patient.name.count()", value={"valueInteger": 1}), "computes a value"),
        (PATIENT, op("delete", "Patient.name.frobnicate()"), "cannot evaluate the path: Not implemented: frobnicate"),
        (PATIENT, op("insert", "Patient.name", index=2, value={"valueHumanName": {}}), "index 2 is out of range"),
        (PATIENT, op("insert", "Patient.identifier", index=1, value={"valueIdentifier": {}}), "has 0 items"),
        (PATIENT, op("insert", "Patient.birthDate", index=0, value={"valueDate": "2000"}), "is not a list"),
        (PATIENT, op("insert", "Patient.name.where(family='Z')", index=0, value={"valueHumanName": {}}), "No content"),
        (PATIENT, op("move", "Patient.name", source=1, destination=0), "source 1 is out of range"),
        (PATIENT, op("move", "Patient.name[0].given", source=0, destination=2), "destination 2 is out of range"),
        (PATIENT, op("move", "Patient.name.given.first()", source=0, destination=0), "a whole list"),
        (PATIENT, op("move", "Patient.contact.name", source=0, destination=0), "Patient.contact.name is not a list"),
        (
            {"resourceType": "Patient", "id": "p", "name": [{"given": ["a"]}, {"given": ["b"]}]},
            op("move", "Patient.name.given", source=0, destination=1),
            "the items of one list",
        ),
    ],
)
def test_inapplicable_operations_are_422(
    resource: dict[str, Any], operation: dict[str, Any], fragment: str, registry: PackageRegistry
) -> None:
    body = patch(op("replace", "Patient.id", value={"valueId": "p2"}), operation)
    error = _fails(Unprocessable, resource, body, registry)
    assert error.status == 422
    assert error.issues[0].expression == ("Parameters.parameter[1]",)
    assert error.issues[0].diagnostics.startswith("Parameters.parameter[1] (")
    assert fragment in error.issues[0].diagnostics


def test_delete_of_nothing_is_a_no_op(registry: PackageRegistry) -> None:
    assert _apply(PATIENT, patch(op("delete", "Patient.gender")), registry) == PATIENT
    assert _apply(PATIENT, patch(op("delete", "Patient.name.where(family='Z')")), registry) == PATIENT


def test_no_parameter_changes_nothing(registry: PackageRegistry) -> None:
    assert _apply(PATIENT, {"resourceType": "Parameters"}, registry) == PATIENT


def test_delete_keeps_primitive_extras_aligned(registry: PackageRegistry) -> None:
    result = _apply(PATIENT, patch(op("delete", "Patient.name.given[0]")), registry)
    assert result["name"] == [{"family": "A", "given": ["b"], "_given": [{"id": "g"}]}]
    result = _apply(PATIENT, patch(op("delete", "Patient.name.given[1]")), registry)
    assert result["name"] == [{"family": "A", "given": ["a"]}]


def test_delete_primitive_extension_and_then_empty_companion(registry: PackageRegistry) -> None:
    result = _apply(PATIENT, patch(op("delete", "Patient.birthDate.extension[0]")), registry)
    assert result["birthDate"] == "1970-01-01"
    assert "_birthDate" not in result


def test_delete_removes_elements_left_empty(registry: PackageRegistry) -> None:
    result = _apply(PATIENT, patch(op("delete", "Patient.contact[0].name.text")), registry)
    assert "contact" not in result


def test_delete_primitive_removes_its_extensions_too(registry: PackageRegistry) -> None:
    result = _apply(PATIENT, patch(op("delete", "Patient.birthDate")), registry)
    assert "birthDate" not in result and "_birthDate" not in result


def test_add_extension_to_a_primitive(registry: PackageRegistry) -> None:
    value = {"part": [{"name": "url", "valueUri": "http://example.org/x"}, {"name": "value", "valueCode": "c"}]}
    result = _apply(PATIENT, patch(op("add", "Patient.birthDate", name="extension", value=value)), registry)
    assert result["_birthDate"]["extension"][1] == {"url": "http://example.org/x", "valueCode": "c"}
    assert result["birthDate"] == "1970-01-01"


def test_add_to_a_repeating_primitive_keeps_extras_aligned(registry: PackageRegistry) -> None:
    result = _apply(PATIENT, patch(op("add", "Patient.name[0]", name="given", value={"valueString": "c"})), registry)
    assert result["name"][0]["given"] == ["a", "b", "c"]
    assert result["name"][0]["_given"] == [None, {"id": "g"}, None]


def test_insert_and_move_in_a_primitive_list(registry: PackageRegistry) -> None:
    body = patch(
        op("insert", "Patient.name[0].given", index=0, value={"valueString": "z", "_valueString": {"id": "z1"}}),
        op("move", "Patient.name[0].given", source=2, destination=1),
    )
    result = _apply(PATIENT, body, registry)
    assert result["name"][0]["given"] == ["z", "b", "a"]
    assert result["name"][0]["_given"] == [{"id": "z1"}, {"id": "g"}, None]


def test_insert_into_an_absent_list(registry: PackageRegistry) -> None:
    body = patch(op("insert", "Patient.identifier", index=0, value={"valueIdentifier": {"value": "1"}}))
    assert _apply(PATIENT, body, registry)["identifier"] == [{"value": "1"}]


def test_replace_choice_element_changes_its_type_in_place(registry: PackageRegistry) -> None:
    result = _apply(OBSERVATION, patch(op("replace", "Observation.value", value={"valueString": "heavy"})), registry)
    assert list(result) == ["resourceType", "status", "code", "valueString", "issued"]
    assert result["valueString"] == "heavy"
    result = _apply(
        OBSERVATION, patch(op("replace", "Observation.valueQuantity.value", value={"valueDecimal": 71.5})), registry
    )
    assert result["valueQuantity"] == {"value": 71.5, "unit": "kg"}


def test_add_choice_element_by_base_name(registry: PackageRegistry) -> None:
    body = patch(op("add", "Observation", name="effective", value={"valueDateTime": "2020-02-02"}))
    assert _apply(OBSERVATION, body, registry)["effectiveDateTime"] == "2020-02-02"
    error = _fails(
        Unprocessable, OBSERVATION, patch(op("add", "Observation", name="value", value={"valueString": "x"})), registry
    )
    assert "'value' already has a value; use replace" in error.issues[0].diagnostics
    body = patch(op("add", "Observation", name="valueString", value={"valueString": "x"}))
    error = _fails(Unprocessable, OBSERVATION, body, registry)
    assert "'valueString' already has a value; use replace" in error.issues[0].diagnostics


def test_add_anonymous_type_with_repeating_and_choice_children(registry: PackageRegistry) -> None:
    value = {
        "part": [
            {"name": "code", "valueCodeableConcept": {"text": "systolic"}},
            {"name": "value", "valueQuantity": {"value": 120}},
            {"name": "interpretation", "valueCodeableConcept": {"text": "normal"}},
        ]
    }
    result = _apply(OBSERVATION, patch(op("add", "Observation", name="component", value=value)), registry)
    assert result["component"] == [
        {"code": {"text": "systolic"}, "valueQuantity": {"value": 120}, "interpretation": [{"text": "normal"}]}
    ]


def test_quantity_family_types_fit_each_other(registry: PackageRegistry) -> None:
    body = patch(op("replace", "Observation.value", value={"valueAge": {"value": 3, "code": "a"}}))
    assert _apply(OBSERVATION, body, registry)["valueQuantity"] == {"value": 3, "code": "a"}


def test_add_contained_resource(registry: PackageRegistry) -> None:
    org = {"resourceType": "Organization", "id": "o1", "name": "Clinic"}
    result = _apply(PATIENT, patch(op("add", "Patient", name="contained", value={"resource": org})), registry)
    assert result["contained"] == [org]
    renamed = _apply(result, patch(op("replace", "Patient.contained[0].name", value={"valueString": "X"})), registry)
    assert renamed["contained"][0]["name"] == "X"


def test_paths_through_where_and_unions(registry: PackageRegistry) -> None:
    body = patch(op("replace", "Patient.name.given.where($this = 'b')", value={"valueString": "B"}))
    assert _apply(PATIENT, body, registry)["name"][0]["given"] == ["a", "B"]
    body = patch(
        op("replace", "(Patient.name | Patient.contact.name).first()", value={"valueHumanName": {"text": "N"}})
    )
    assert _apply(PATIENT, body, registry)["name"] == [{"text": "N"}]


def test_replace_primitive_with_extras(registry: PackageRegistry) -> None:
    body = patch(op("replace", "Patient.birthDate", value={"valueDate": "1971", "_valueDate": {"id": "b"}}))
    result = _apply(PATIENT, body, registry)
    assert (result["birthDate"], result["_birthDate"]) == ("1971", {"id": "b"})


def test_narrative_div_path(registry: PackageRegistry) -> None:
    resource = {"resourceType": "Basic", "text": {"status": "generated", "div": "<div>a</div>"}, "code": {"text": "x"}}
    body = patch(
        op("replace", "Basic.text.div", value={"valueString": '<div xmlns="http://www.w3.org/1999/xhtml">b</div>'})
    )
    assert _apply(resource, body, registry)["text"]["div"] == '<div xmlns="http://www.w3.org/1999/xhtml">b</div>'
    # 'div' inside a string literal is left alone
    body = patch(op("delete", "Basic.text.where(status = '.div')"))
    assert _apply(resource, body, registry) == resource


def test_operations_see_earlier_results(registry: PackageRegistry) -> None:
    body = patch(
        op("add", "Patient", name="gender", value={"valueCode": "female"}),
        op("replace", "Patient.gender", value={"valueCode": "male"}),
        op("delete", "Patient.contact"),
    )
    result = _apply(PATIENT, body, registry)
    assert result["gender"] == "male"
    assert "contact" not in result
