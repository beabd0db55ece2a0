"""Real third-party material: the 65 FR Core 2.0.0 profiles and the 85 example Bundles of the ANS
ePrescription guide load, compile and validate without crashing, and what is reported is pinned here
with its reason (docs/adr/0003-profile-validation.md lists the same findings)."""

from __future__ import annotations

import collections
import json
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from fhir_server.validation.packages import R4_CORE, Package, PackageRegistry
from fhir_server.validation.validator import FhirValidator
from tests.conftest import SHARED

PACKAGES = SHARED / "fhir" / "packages"
FR_CORE = "http://hl7.fr/ig/fhir/core/StructureDefinition/"


@pytest.fixture(scope="module")
def registry(package_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> PackageRegistry:
    tmp = tmp_path_factory.mktemp("third-party")
    loaded = PackageRegistry.from_cache(package_cache, [R4_CORE])
    for name in ("hl7.fhir.fr.core-2.0.0", "ans.fhir.fr.eprescription-1.1.0-ballot"):
        with tarfile.open(PACKAGES / f"{name}.tgz") as tar:
            tar.extractall(tmp / name, filter="data")
        loaded.add(Package(tmp / name / "package"))
    return loaded


@pytest.fixture(scope="module")
def validator(registry: PackageRegistry) -> FhirValidator:
    return FhirValidator(registry)


def test_all_fr_core_profiles_compile(validator: FhirValidator, registry: PackageRegistry) -> None:
    profiles = [d for d in registry.resources("StructureDefinition") if d["url"].startswith(FR_CORE)]
    assert len(profiles) == 65
    for definition in profiles:
        root = validator.profiles.compiler.root(definition["url"])
        assert root.path == definition["type"]


def _fr_core_patient() -> dict[str, Any]:
    reliability = {
        "url": FR_CORE + "fr-core-ident-reliability",
        "extension": [
            {"url": "identityStatus", "valueCoding": {
                "system": "http://interopsante.org/CodeSystem/v2-0445", "code": "VALI"}},
            {"url": "validationDate", "valueDate": "2024-01-10"},
            {"url": "validationMode", "valueCoding": {
                "system": "http://hl7.fr/ig/fhir/core/CodeSystem/fr-core-mode-validation-identite", "code": "CN"}},
        ],
    }
    return {
        "resourceType": "Patient",
        "meta": {"profile": [FR_CORE + "fr-core-patient"]},
        "extension": [reliability],
        "identifier": [{"use": "official", "type": {"coding": [{
            "system": "http://interopsante.org/CodeSystem/fr-core-v2-0203", "code": "INS-NIR"}]},
            "system": "urn:oid:1.2.250.1.213.1.4.8", "value": "248027512345678"}],
        "name": [{"use": "official", "family": "Martin", "given": ["Jeanne"]}],
        "gender": "female",
        "birthDate": "1948-02-20",
    }


def test_an_fr_core_patient(validator: FhirValidator) -> None:
    patient = _fr_core_patient()
    errors = [(i.code, i.expression) for i in validator.validate(patient) if i.severity == "error"]
    assert errors == []
    del patient["birthDate"]
    patient["extension"] = []
    patient["name"][0]["given"] = ["Jeanne", "Marie"]
    errors = [(i.code, i.expression) for i in validator.validate(patient) if i.severity == "error"]
    assert sorted(errors) == sorted([
        ("structure", ("Patient.extension",)),  # an empty array (structural)
        ("required", ("Patient.extension",)),  # identityReliability 1..1
        ("structure", ("Patient.name[0].given[1]",)),  # officialName.given 0..1: the second one
        ("required", ("Patient.birthDate",)),
    ])


def _category(diagnostics: str) -> str:
    text = diagnostics.split(": ", 1)[-1]
    text = re.sub(r"'[^']*'|\S+\|\S+|https?://\S+", "X", text)
    return re.sub(r" \(.*", "", text)[:80]


# What the 85 ANS example Bundles yield, by (severity, code, message shape), and why.
ANS_FINDINGS = {
    # EDQM, UCD, SMS… are not distributed here: their codes cannot be checked (never a silent pass).
    ("warning", "code-invalid", "cannot check X against X code system X is not available on this server"): 114,
    # Medication references written `#id` to Bundle entries instead of contained resources (ref-1).
    ("error", "invariant", "ref-1: SHALL have a contained resource if a local reference is provided"): 81,
    # R5 cross-version extensions (hl7.fhir.uv.xver-r5.r4) and FR Core 2.1.0 extensions, whose canonical
    # moved to https://hl7.fr/…: the guide depends on packages we do not hold.
    ("warning", "extension", "unknown extension X it cannot be checked"): 53,
    # fr-medication-noncompound slices Medication.code.coding on the path `coding.system`, which does not
    # exist below a Coding: no coding can fill the required slice (a defect of the profile).
    ("error", "required", "slice X requires at least 1 value(s), found 0"): 40,
    # Medications coded in the examples' fictitious http://BogusSystemMedicabase.com.
    ("error", "code-invalid", "X is not in the required value set X"): 33,
    # FR Core 2.1.0 identifier types, outside R4's extensible identifier-type value set.
    ("warning", "code-invalid", "X is not in the extensible value set X"): 10,
    # The extension's context is misspelt in the guide: RequestGroup.action.retaledAction.
    ("error", "extension", "extension X is not allowed on RequestGroup.action.relatedAction"): 3,
    # Dosage timings that break R4's Timing invariants (timeOfDay with when, countMax without count…).
    ("error", "invariant", "tim-10: If there's a timeOfDay, there cannot be a when, or vice versa"): 2,
    ("error", "invariant", "tim-8: If there's a countMax, there must be a count"): 1,
    ("error", "invariant", "tim-6: If there's a periodMax, there must be a period"): 1,
    ("error", "invariant", "rat-1: Numerator and denominator SHALL both be present, or both are absent. If b"): 1,
}


def test_ans_eprescription_examples(validator: FhirValidator) -> None:
    archive = zipfile.ZipFile(PACKAGES / "ans.fhir.fr.eprescription-1.1.0-ballot.examples.json.zip")
    names = sorted(archive.namelist())
    assert len(names) == 85
    findings: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for name in names:
        bundle = json.loads(archive.read(name))
        assert bundle["resourceType"] == "Bundle"
        for issue in validator.validate(bundle):
            if issue.severity != "information":
                findings[(issue.severity, issue.code, _category(issue.diagnostics))] += 1
    assert dict(findings) == ANS_FINDINGS
