"""FHIR XML → JSON: hand-checked conversions of the R4 examples, round trips of real JSON
resources through XML, and the errors a client gets for bad XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
import zipfile
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest

from fhir_server.errors import BadRequest, FhirError, Unprocessable
from fhir_server.formats.xml_json import fhir_xml_to_json
from fhir_server.validation.packages import PackageRegistry
from tests.conftest import SHARED

R4_CASES = SHARED / "fhir" / "test-cases" / "r4"
EXAMPLES_ZIP = SHARED / "fhir" / "packages" / "ans.fhir.fr.eprescription-1.1.0-ballot.examples.json.zip"
XHTML_DIV = '<div xmlns="http://www.w3.org/1999/xhtml">'


def convert(xml: str | bytes, registry: PackageRegistry) -> dict[str, Any]:
    return fhir_xml_to_json(xml, registry)


def test_parameters_example_exactly(registry: PackageRegistry) -> None:
    assert convert((R4_CASES / "parameters-example-types.xml").read_bytes(), registry) == {
        "resourceType": "Parameters",
        "id": "example-types",
        "parameter": [
            {"name": "string", "valueString": "string"},
            {"name": "integer", "valueInteger": 1},
            {"name": "uuid", "valueUuid": "urn:uuid:79a14950-442c-11ed-b878-0242ac120002"},
            {"name": "decimal", "valueDecimal": 1.0},
        ],
    }


def test_patient_example(registry: PackageRegistry) -> None:
    patient = convert((R4_CASES / "patient-example.xml").read_bytes(), registry)
    assert list(patient)[:4] == ["resourceType", "id", "text", "identifier"]
    assert patient["active"] is True
    assert patient["deceasedBoolean"] is False
    assert patient["birthDate"] == "1974-12-25"
    assert patient["_birthDate"] == {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "1974-12-25T14:35:45-05:00",
            }
        ]
    }
    assert [n["use"] for n in patient["name"]] == ["official", "usual", "maiden"]
    assert patient["name"][1] == {"use": "usual", "given": ["Jim"]}  # one <given> is still an array
    assert patient["telecom"][1] == {"system": "phone", "value": "(03) 5555 6473", "use": "work", "rank": 1}
    assert patient["address"][0]["line"] == ["534 Erewhon St"]
    assert patient["contact"][0]["name"]["_family"]["extension"][0]["valueString"] == "VV"
    assert patient["contact"][0]["relationship"][0]["coding"][0]["code"] == "N"
    assert patient["managingOrganization"] == {"reference": "Organization/1"}
    div = patient["text"]["div"]
    assert div.startswith(XHTML_DIV + "\n\t\t\t<table>")
    assert '<b>Chalmers</b> ("Jim")' in div
    assert div.endswith("</table>\n\t\t</div>")


def test_observation_example(registry: PackageRegistry) -> None:
    observation = convert((R4_CASES / "observation-example.xml").read_bytes(), registry)
    assert observation["valueQuantity"] == {
        "value": 185,
        "unit": "lbs",
        "system": "http://unitsofmeasure.org",
        "code": "[lb_av]",
    }
    assert observation["effectiveDateTime"] == "2016-03-28"
    assert observation["extension"][0]["valueAge"]["value"] == 41
    assert len(observation["code"]["coding"]) == 4


def test_questionnaire_recursive_items(registry: PackageRegistry) -> None:
    questionnaire = convert((R4_CASES / "questionnaire-example.xml").read_bytes(), registry)
    nested = questionnaire["item"][0]["item"][0]
    assert nested["linkId"] == "1.1"
    assert isinstance(nested["item"], list)  # Questionnaire.item.item refers back to Questionnaire.item
    assert all(isinstance(item["linkId"], str) for item in nested["item"])


@pytest.mark.parametrize("name", ["valueset-example-expansion.xml", "patient-example-period.xml"])
def test_narratives_convert(name: str, registry: PackageRegistry) -> None:
    resource = convert((R4_CASES / name).read_bytes(), registry)
    assert resource["text"]["div"].startswith(XHTML_DIV)
    assert resource["text"]["div"].endswith("</div>")


def test_codesystem_and_valueset_details(registry: PackageRegistry) -> None:
    code_system = convert((R4_CASES / "codesystem-example.xml").read_bytes(), registry)
    assert code_system["caseSensitive"] is True
    assert code_system["meta"] == {"profile": ["http://hl7.org/fhir/StructureDefinition/shareablecodesystem"]}
    assert code_system["description"] == (
        "This is an example code system that includes all the ACME codes for serum/plasma cholesterol    from v2.36."
    )  # a line break inside an attribute is whitespace (XML attribute normalisation)
    assert [c["code"] for c in code_system["concept"]] == ["chol-mass", "chol-mass", "chol"]
    assert code_system["concept"][0]["designation"][0]["use"]["code"] == "internal-label"
    assert code_system["filter"][0]["operator"] == ["="]
    value_set = convert((R4_CASES / "valueset-example-expansion.xml").read_bytes(), registry)
    assert value_set["expansion"]["total"] == 8
    assert value_set["expansion"]["contains"][0]["code"] == "14647-2"
    assert value_set["expansion"]["contains"][1]["contains"][0]["code"] == "2093-3"


def test_primitive_arrays_keep_extras_aligned(registry: PackageRegistry) -> None:
    xml = """<Patient xmlns="http://hl7.org/fhir"><name>
        <given value="a"/>
        <given id="g2"><extension url="http://e"><valueBoolean value="true"/></extension></given>
        <given value="c" id="g3"/>
    </name></Patient>"""
    assert convert(xml, registry)["name"][0] == {
        "given": ["a", None, "c"],
        "_given": [None, {"id": "g2", "extension": [{"url": "http://e", "valueBoolean": True}]}, {"id": "g3"}],
    }


def test_contained_and_nested_resources(registry: PackageRegistry) -> None:
    xml = """<?xml version="1.0" encoding="UTF-8"?>
    <Bundle xmlns="http://hl7.org/fhir">
      <type value="collection"/>
      <entry><fullUrl value="urn:uuid:1"/><resource>
        <Patient><id value="p"/><contained><Organization><id value="o"/><name value="Org"/></Organization></contained>
          <managingOrganization><reference value="#o"/></managingOrganization></Patient>
      </resource></entry>
    </Bundle>"""
    assert convert(xml, registry) == {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:1",
                "resource": {
                    "resourceType": "Patient",
                    "id": "p",
                    "contained": [{"resourceType": "Organization", "id": "o", "name": "Org"}],
                    "managingOrganization": {"reference": "#o"},
                },
            }
        ],
    }


def test_element_ids_numbers_and_xhtml_escaping(registry: PackageRegistry) -> None:
    xml = """<Observation xmlns="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
      <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml" xml:lang="fr"
        ><p class="a&quot;b">x &amp; y &lt; z</p><br/><td></td></div></text>
      <status value="final"/>
      <code id="c1"><text value="t&#10;u"/></code>
      <valueQuantity><value value="-1.50e3"/></valueQuantity>
      <referenceRange><low><value value="0"/></low></referenceRange>
    </Observation>"""
    observation = convert(xml, registry)
    assert observation["text"]["div"] == (
        '<div xmlns="http://www.w3.org/1999/xhtml" xml:lang="fr"><p class="a&quot;b">x &amp; y &lt; z</p><br/>'
        "<td></td></div>"
    )
    assert observation["code"] == {"id": "c1", "text": "t\nu"}
    assert observation["valueQuantity"] == {"value": -1500.0}
    assert observation["referenceRange"] == [{"low": {"value": 0}}]


@pytest.mark.parametrize(
    ("xml", "error", "expression", "fragment"),
    [
        ("<Patient xmlns='http://hl7.org/fhir'><active value='true'/>", BadRequest, None, "malformed XML"),
        ("", BadRequest, None, "malformed XML"),
        (
            "<!DOCTYPE Patient [<!ENTITY x 'y'>]><Patient xmlns='http://hl7.org/fhir'/>",
            BadRequest,
            None,
            "DOCTYPE",
        ),
        ("<Patient><active value='true'/></Patient>", Unprocessable, "Patient", "not in the FHIR namespace"),
        ("<Patent xmlns='http://hl7.org/fhir'/>", Unprocessable, "Patent", "not a FHIR R4 resource type"),
        ("<HumanName xmlns='http://hl7.org/fhir'/>", Unprocessable, "HumanName", "not a FHIR R4 resource type"),
        (
            "<Patient xmlns='http://hl7.org/fhir'><colour value='red'/></Patient>",
            Unprocessable,
            "Patient.colour",
            "unknown element 'colour'",
        ),
        (
            "<Patient xmlns='http://hl7.org/fhir'><active value='yes'/></Patient>",
            Unprocessable,
            "Patient.active",
            "'yes' is not a boolean",
        ),
        (
            "<Patient xmlns='http://hl7.org/fhir'><name><given/></name></Patient>",
            Unprocessable,
            "Patient.name[0].given[0]",
            "neither a value nor extensions",
        ),
        (
            "<Patient xmlns='http://hl7.org/fhir'><gender value='male'/><gender value='male'/></Patient>",
            Unprocessable,
            "Patient.gender",
            "may occur only once",
        ),
        (
            "<Patient xmlns='http://hl7.org/fhir'><deceasedBoolean value='true'/><deceasedDateTime value='2000'/>"
            "</Patient>",
            Unprocessable,
            "Patient.deceasedDateTime",
            "two types for one choice element",
        ),
        (
            "<Patient xmlns='http://hl7.org/fhir'><name>Jo</name></Patient>",
            Unprocessable,
            "Patient.name[0]",
            "text content is not allowed",
        ),
        (
            "<Patient xmlns='http://hl7.org/fhir'><name/></Patient>",
            Unprocessable,
            "Patient.name[0]",
            "element has no content",
        ),
        ("<Patient xmlns='http://hl7.org/fhir' id='x'/>", Unprocessable, "Patient.id", "unknown attribute 'id'"),
        (
            "<Patient xmlns='http://hl7.org/fhir'><active value='true' foo='1'/></Patient>",
            Unprocessable,
            "Patient.active.foo",
            "unknown attribute 'foo'",
        ),
        (
            "<Patient xmlns='http://hl7.org/fhir'><multipleBirthInteger value='1.5'/></Patient>",
            Unprocessable,
            "Patient.multipleBirthInteger",
            "not an integer",
        ),
        (
            "<Patient xmlns='http://hl7.org/fhir'><contained/></Patient>",
            Unprocessable,
            "Patient.contained[0]",
            "exactly one resource",
        ),
        (
            "<Patient xmlns='http://hl7.org/fhir'><text><status value='generated'/><div xmlns='http://www.w3.org/1999/xhtml'>"
            "<svg xmlns='http://www.w3.org/2000/svg'/></div></text></Patient>",
            Unprocessable,
            "Patient.text.div",
            "only contain XHTML",
        ),
    ],
)
def test_errors(
    xml: str, error: type[FhirError], expression: str | None, fragment: str, registry: PackageRegistry
) -> None:
    with pytest.raises(error) as info:
        convert(xml, registry)
    assert type(info.value) is error
    assert fragment in info.value.issues[0].diagnostics
    if expression is not None:
        assert info.value.issues[0].expression == (expression,)


# -- round trips: JSON → XML (written here, independently) → JSON -----------------------------------


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _write_members(obj: dict[str, Any], out: list[str], *, is_resource: bool, is_extension: bool) -> None:
    attributes = []
    if not is_resource and "id" in obj:
        attributes.append(("id", obj["id"]))
    if is_extension and "url" in obj:
        attributes.append(("url", obj["url"]))
    out.append("".join(f" {k}={quoteattr(str(v))}" for k, v in attributes) + ">")
    names = []
    for key in obj:
        name = key[1:] if key.startswith("_") else key
        if name not in names and name != "resourceType" and not any(name == a for a, _ in attributes):
            names.append(name)
    for name in names:
        value, extra = obj.get(name), obj.get("_" + name)
        if isinstance(value, list) or isinstance(extra, list):
            values = value if isinstance(value, list) else []
            extras = extra if isinstance(extra, list) else []
            for i in range(max(len(values), len(extras))):
                item = values[i] if i < len(values) else None
                item_extra = extras[i] if i < len(extras) else None
                _write_element(name, item, item_extra, out)
        else:
            _write_element(name, value, extra, out)


def _write_element(name: str, value: Any, extra: dict[str, Any] | None, out: list[str]) -> None:
    if name == "div":
        out.append(value)
    elif isinstance(value, dict) and "resourceType" in value:
        out.append(f"<{name}>")
        _write_resource(value, out)
        out.append(f"</{name}>")
    elif isinstance(value, dict):
        out.append(f"<{name}")
        _write_members(value, out, is_resource=False, is_extension=name in ("extension", "modifierExtension"))
        out.append(f"</{name}>")
    else:
        attrs = "" if value is None else f" value={quoteattr(_xml_value(value))}"
        if extra and "id" in extra:
            attrs += f" id={quoteattr(extra['id'])}"
        extensions = (extra or {}).get("extension", [])
        if not extensions:
            out.append(f"<{name}{attrs}/>")
            return
        out.append(f"<{name}{attrs}>")
        for ext in extensions:
            _write_element("extension", ext, None, out)
        out.append(f"</{name}>")


def _write_resource(resource: dict[str, Any], out: list[str], namespace: bool = False) -> None:
    kind = resource["resourceType"]
    out.append(f"<{kind}" + (' xmlns="http://hl7.org/fhir"' if namespace else ""))
    _write_members(resource, out, is_resource=True, is_extension=False)
    out.append(f"</{kind}>")


def to_xml(resource: dict[str, Any]) -> str:
    out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>']
    _write_resource(resource, out, namespace=True)
    return "".join(out)


def _examples() -> list[tuple[str, dict[str, Any]]]:
    with zipfile.ZipFile(EXAMPLES_ZIP) as archive:
        return [(n, json.loads(archive.read(n))) for n in sorted(archive.namelist()) if n.endswith(".json")]


EXAMPLES = _examples()


def test_examples_are_there() -> None:
    assert len(EXAMPLES) == 85


def canonical_divs(value: Any) -> Any:
    """Narratives compared as XML (C14N): `&quot;` vs `"` in text, or `<td/>` vs `<td></td>`, are
    the same XHTML written two ways."""
    if isinstance(value, dict):
        return {k: ET.canonicalize(v) if k == "div" else canonical_divs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical_divs(v) for v in value]
    return value


@pytest.mark.parametrize(("name", "resource"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_round_trip_through_xml(name: str, resource: dict[str, Any], registry: PackageRegistry) -> None:
    assert canonical_divs(convert(to_xml(resource).encode(), registry)) == canonical_divs(resource)


@pytest.mark.parametrize("name", ["patient-container-example.json", "appointment-examplereq.json"])
def test_round_trip_r4_json_examples(name: str, registry: PackageRegistry) -> None:
    resource = json.loads((R4_CASES / name).read_text())
    assert convert(to_xml(resource), registry) == resource
