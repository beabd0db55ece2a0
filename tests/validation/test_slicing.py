"""Slicing as profiles write it: value, pattern, type, profile and exists discriminators; closed,
ordered and open-at-end rules; type slices of choice elements. The profiles here are differentials
written for the test, so they also exercise snapshot generation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fhir_server.validation.ig import ensure_loaded
from fhir_server.validation.packages import R4_CORE, Package, PackageRegistry
from fhir_server.validation.validator import FhirValidator
from tests.validation.support import Found, found

BASE = "https://test.example.org/fhir/StructureDefinition/"
LOINC = "http://loinc.org"


def profile(name: str, type_: str, elements: list[dict[str, Any]], base: str | None = None) -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition", "id": name, "url": BASE + name, "name": name, "status": "draft",
        "kind": "resource", "abstract": False, "type": type_, "derivation": "constraint",
        "baseDefinition": base or f"http://hl7.org/fhir/StructureDefinition/{type_}",
        "differential": {"element": [{"id": type_, "path": type_}, *elements]},
    }


def el(element_id: str, **properties: Any) -> dict[str, Any]:
    path = ".".join(part.split(":")[0] for part in element_id.split("."))
    out = {"id": element_id, "path": path, **properties}
    last = element_id.rsplit(".", 1)[-1]
    if ":" in last:
        out["sliceName"] = last.split(":", 1)[1]
    return out


def code(value: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": value}]}


PROFILES = [
    profile("bp-closed", "Observation", [
        el("Observation.value[x]", type=[{"code": "Quantity"}]),
        el("Observation.value[x]:valueQuantity", min=0, max="1"),
        el("Observation.value[x]:valueQuantity.value", min=1),
        el("Observation.component", slicing={"discriminator": [{"type": "pattern", "path": "code"}],
                                             "ordered": True, "rules": "closed"}),
        el("Observation.component:systolic", min=1, max="1"),
        el("Observation.component:systolic.code", patternCodeableConcept=code("8480-6")),
        el("Observation.component:diastolic", min=1, max="1"),
        el("Observation.component:diastolic.code", patternCodeableConcept=code("8462-4")),
    ]),
    profile("ids-open-at-end", "Patient", [
        el("Patient.identifier", slicing={"discriminator": [{"type": "value", "path": "system"}],
                                          "rules": "openAtEnd"}),
        el("Patient.identifier:a", min=0, max="*"),
        el("Patient.identifier:a.system", min=1, fixedUri="urn:a"),
    ]),
    profile("address-exists", "Patient", [
        el("Patient.address", slicing={"discriminator": [{"type": "exists", "path": "period"}], "rules": "closed"}),
        el("Patient.address:dated", min=0, max="1"),
        el("Patient.address:dated.period", min=1),
        el("Patient.address:undated", min=0, max="*"),
        el("Patient.address:undated.period", max="0"),
    ]),
    profile("bundle-by-profile", "Bundle", [
        el("Bundle.entry", slicing={"discriminator": [{"type": "profile", "path": "resource"}], "rules": "open"}),
        el("Bundle.entry:patient", min=1, max="1"),
        el("Bundle.entry:patient.resource", type=[{
            "code": "Patient", "profile": ["https://oncolink.example.org/fhir/StructureDefinition/oncolink-patient"]}]),
    ]),
    profile("bundle-by-type", "Bundle", [
        el("Bundle.entry", slicing={"discriminator": [{"type": "type", "path": "resource"}], "rules": "closed"}),
        el("Bundle.entry:patients", min=1, max="*"),
        el("Bundle.entry:patients.resource", type=[{"code": "Patient"}]),
    ]),
]


@pytest.fixture(scope="module")
def validator(package_cache: Path) -> FhirValidator:
    registry = PackageRegistry.from_cache(package_cache, [R4_CORE])
    ensure_loaded(registry)
    registry.add(Package.from_resources("test.slicing", "0.0.1", {f"{p['id']}.json": p for p in PROFILES}))
    return FhirValidator(registry)


def component(value: str, number: float = 120) -> dict[str, Any]:
    return {"code": code(value), "valueQuantity": {"value": number, "unit": "mmHg"}}


def observation(*components: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "meta": {"profile": [BASE + "bp-closed"]}, "status": "final",
            "code": code("85354-9"), "component": list(components), **more}


def patient(name: str, **more: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "meta": {"profile": [BASE + name]}, **more}


def bundle(name: str, *resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "meta": {"profile": [BASE + name]}, "type": "collection",
            "entry": [{"resource": r} for r in resources]}


def good_patient() -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.10",
                                                       "value": "248027512345678"}],
            "name": [{"family": "Martin"}], "gender": "female", "birthDate": "1948-02-20"}


def err(code_: str, expression: str) -> tuple[str, str, tuple[str, ...]]:
    return ("error", code_, (expression,))


SYS, DIA = component("8480-6"), component("8462-4", 80)

CASES: list[tuple[str, dict[str, Any], Found]] = [
    ("pattern slices in order", observation(SYS, DIA), []),
    ("closed: a component matching no slice", observation(SYS, DIA, component("8867-4")),
     [err("structure", "Observation.component[2]")]),
    ("ordered: diastolic before systolic", observation(DIA, SYS), [err("structure", "Observation.component[1]")]),
    ("slice minimum", observation(SYS), [err("required", "Observation.component")]),
    ("slice maximum", observation(SYS, DIA, component("8462-4", 81)), [err("structure", "Observation.component[2]")]),
    ("type slice of a choice: its children's rules apply", observation(SYS, DIA, valueQuantity={"unit": "mmHg"}),
     [err("required", "Observation.valueQuantity.value")]),
    ("choice restricted to one type", observation(SYS, DIA, valueString="120/80"),
     [err("structure", "Observation.valueString")]),
    ("open at end: unmatched values last", patient("ids-open-at-end", identifier=[
        {"system": "urn:a", "value": "1"}, {"system": "urn:b", "value": "2"}]), []),
    ("open at end: an unmatched value first", patient("ids-open-at-end", identifier=[
        {"system": "urn:b", "value": "2"}, {"system": "urn:a", "value": "1"}]),
     [err("structure", "Patient.identifier[1]")]),
    ("exists discriminator", patient("address-exists", address=[
        {"city": "Lyon", "period": {"start": "2020"}}, {"city": "Nice"}, {"city": "Metz"}]), []),
    ("exists discriminator: two dated addresses", patient("address-exists", address=[
        {"city": "Lyon", "period": {"start": "2020"}}, {"city": "Nice", "period": {"start": "2021"}}]),
     [err("structure", "Patient.address[1]")]),
    ("profile discriminator: a conforming patient fills the slice", bundle("bundle-by-profile", good_patient()), []),
    ("profile discriminator: a patient that does not conform fills nothing",
     bundle("bundle-by-profile", {**good_patient(), "birthDate": None} | {"gender": "female"}),
     [err("required", "Bundle.entry")]),
    ("type discriminator", bundle("bundle-by-type", good_patient(), good_patient()), []),
    ("type discriminator, closed: a condition", bundle("bundle-by-type", good_patient(), {
        "resourceType": "Condition", "subject": {"reference": "Patient/p"}}),
     [err("structure", "Bundle.entry[1]")]),
]


@pytest.mark.parametrize(("resource", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_slicing(validator: FhirValidator, resource: dict[str, Any], expected: Found) -> None:
    for entry in resource.get("entry") or []:
        entry["resource"] = {k: v for k, v in entry["resource"].items() if v is not None}
    assert sorted(found(validator.validate(resource))) == sorted(expected)
