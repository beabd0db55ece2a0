"""Snapshot generation from differentials, checked against snapshots published by the HL7 and French
IG publishers (R4 core profiles, FR Core 2.0.0, ANS ePrescription): same elements, cardinalities,
types, bindings and fixed/pattern values. The few differences are listed with their reason."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from fhir_server.validation.packages import R4_CORE, Package, PackageRegistry
from fhir_server.validation.primitives import SD_BASE
from fhir_server.validation.snapshot import SnapshotError, SnapshotGenerator
from tests.conftest import SHARED

PACKAGES = SHARED / "fhir" / "packages"

# Element ids where our snapshot differs from the published one, and why.
KNOWN: dict[str, set[str]] = {
    # R4's `valueQuantity` spelling restricts value[x] to Quantity (as R4 core's own bodyweight snapshot
    # shows); FR Core's publisher kept every type on value[x] for the profiles derived from it.
    **{name: {"Observation.value[x]"} for name in (
        "fr-core-observation-bmi", "fr-core-observation-body-height", "fr-core-observation-body-temperature",
        "fr-core-observation-body-weight", "fr-core-observation-head-circum", "fr-core-observation-heartrate",
        "fr-core-observation-resp-rate", "fr-core-observation-saturation-oxygen")},
    # Same, plus the component slices: we constrain value[x] itself, they made a valueQuantity type slice.
    "fr-core-observation-bp": {"Observation.value[x]", "Observation.component:SystolicBP.value[x]",
                               "Observation.component:DiastolicBP.value[x]"},
    # Their publisher restricted value[x] to Reference although the type slicing is open; we keep the
    # types of the base (a valueReference still gets the slice's rules).
    "fr-core-appointment-operator": {"Extension.value[x]"},
    # Their snapshot copies the extensible unit binding of R4's Duration type onto the element.
    "fr-core-encounter": {"Encounter.length"},
    # The name slices are declared after `name` gets the fr-core-human-name profile: our slices keep that
    # profile (and its extension slice and prefix rules); theirs fell back to plain HumanName.
    "fr-core-patient": {"Patient.name:usualName", "Patient.name:officialName"},
}


def _unpacked(tmp: Path, name: str) -> Path:
    target = tmp / name
    if not (target / "package" / "package.json").exists():
        with tarfile.open(PACKAGES / f"{name}.tgz") as tar:
            tar.extractall(target, filter="data")
    return target / "package"


@pytest.fixture(scope="module")
def third_party(package_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> PackageRegistry:
    tmp = tmp_path_factory.mktemp("packages")
    registry = PackageRegistry.from_cache(package_cache, [R4_CORE])
    registry.add(Package(_unpacked(tmp, "hl7.fhir.fr.core-2.0.0")))
    registry.add(Package(_unpacked(tmp, "ans.fhir.fr.eprescription-1.1.0-ballot")))
    return registry


def _types(element: dict[str, Any]) -> list[tuple[Any, ...]]:
    def plain(urls: list[str]) -> tuple[str, ...]:
        return tuple(u.split("|", 1)[0] for u in urls)

    return sorted((t.get("code"), plain(t.get("profile", [])), plain(t.get("targetProfile", [])))
                  for t in element.get("type", []))


def _signature(element: dict[str, Any]) -> dict[str, Any]:
    binding = element.get("binding") or {}
    return {
        "min": element.get("min"),
        "max": element.get("max"),
        "types": _types(element),
        "binding": (binding.get("strength"), (binding.get("valueSet") or "").split("|", 1)[0]),
        "values": sorted((k, json.dumps(v, sort_keys=True)) for k, v in element.items()
                         if k.startswith(("fixed", "pattern"))),
    }


def _root_constraints(registry: PackageRegistry, element: dict[str, Any]) -> set[str]:
    """Newer publishers copy the invariants of an element's type (per-1, ref-1…) onto it; we check
    those on the type itself, so they are not a difference."""
    keys: set[str] = set()
    for type_ in element.get("type", []):
        for url in type_.get("profile") or [SD_BASE + str(type_.get("code"))]:
            definition = registry.resolve(url)
            if definition and definition.get("snapshot"):
                keys |= {c["key"] for c in definition["snapshot"]["element"][0].get("constraint", [])}
    return keys


def differences(registry: PackageRegistry, generator: SnapshotGenerator, definition: dict[str, Any]) -> set[str]:
    ours = {e["id"]: e for e in generator.generate(definition)["snapshot"]["element"]}
    theirs = {e["id"]: e for e in definition["snapshot"]["element"]}
    out = set(ours.keys() ^ theirs.keys())
    for element_id in ours.keys() & theirs.keys():
        mine, published = ours[element_id], theirs[element_id]
        if _signature(mine) != _signature(published):
            out.add(element_id)
        keys_mine = {c["key"] for c in mine.get("constraint", [])} - {"ele-1"}
        keys_theirs = {c["key"] for c in published.get("constraint", [])} - {"ele-1"}
        if keys_mine - keys_theirs or keys_theirs - keys_mine - _root_constraints(registry, published):
            out.add(element_id)
    # Report a differing subtree once, by its topmost element.
    return {i for i in out if not any(i.startswith(o + ".") or i.startswith(o + ":") for o in out if o != i)}


def _constraint_profiles(registry: PackageRegistry, package_name: str) -> list[dict[str, Any]]:
    package = next(p for p in registry.packages if p.name == package_name)
    return [
        d for d in (package.load(e) for e in package.entries if e.resource_type == "StructureDefinition")
        if d.get("derivation") == "constraint"
    ]


def test_fr_core_snapshots_match_the_published_ones(third_party: PackageRegistry) -> None:
    generator = SnapshotGenerator(third_party)
    profiles = _constraint_profiles(third_party, "hl7.fhir.fr.core")
    assert len(profiles) == 65
    found = {d["id"]: diff for d in profiles if (diff := differences(third_party, generator, d))}
    assert found == KNOWN


def test_ans_eprescription_snapshots_match_the_published_ones(third_party: PackageRegistry) -> None:
    generator = SnapshotGenerator(third_party)
    profiles = _constraint_profiles(third_party, "ans.fhir.fr.eprescription")
    assert len(profiles) == 20
    assert {d["id"]: diff for d in profiles if (diff := differences(third_party, generator, d))} == {}


def test_every_r4_core_constraint_profile_can_be_regenerated(registry: PackageRegistry) -> None:
    generator = SnapshotGenerator(registry)
    profiles = _constraint_profiles(registry, "hl7.fhir.r4.core")
    assert len(profiles) > 400
    for definition in profiles:
        snapshot = generator.generate(definition)["snapshot"]["element"]
        assert snapshot[0]["path"] == definition["type"]


def test_our_profiles_get_full_snapshots(ig_registry: PackageRegistry) -> None:
    patient = ig_registry.resolve("https://oncolink.example.org/fhir/StructureDefinition/oncolink-patient")
    assert patient is not None
    elements = {e["id"]: e for e in patient["snapshot"]["element"]}
    assert elements["Patient.identifier:INS-NIR.system"]["fixedUri"] == "urn:oid:1.2.250.1.213.1.4.8"
    assert elements["Patient.identifier:INS-NIR.value"]["maxLength"] == 15
    assert elements["Patient.identifier:INS-NIR"]["sliceName"] == "INS-NIR"
    assert elements["Patient.birthDate"]["min"] == 1
    assert elements["Patient.birthDate"]["base"] == {"path": "Patient.birthDate", "min": 0, "max": "1"}
    assert "Patient.contact.relationship" in elements  # inherited backbone content
    episode = ig_registry.resolve("https://oncolink.example.org/fhir/StructureDefinition/oncolink-episode")
    assert episode is not None
    ids = [e["id"] for e in episode["snapshot"]["element"]]
    # Slices sit right after their sliced element's children, in declaration order.
    start = ids.index("CarePlan.extension:parcours")
    assert ids[start:start + 4] == ["CarePlan.extension:parcours", "CarePlan.extension:currentSequence",
                                    "CarePlan.extension:sequence3Allowed", "CarePlan.extension:telemonitoring"]
    detail = next(e for e in episode["snapshot"]["element"] if e["id"] == "CarePlan.activity.detail")
    assert detail["max"] == "0"
    extension = ig_registry.resolve("https://oncolink.example.org/fhir/StructureDefinition/oncolink-parcours")
    assert extension is not None
    value = next(e for e in extension["snapshot"]["element"] if e["id"] == "Extension.value[x]")
    assert [t["code"] for t in value["type"]] == ["Coding"]
    assert value["binding"]["strength"] == "required"


def _broken(elements: list[dict[str, Any]], base: str = "http://hl7.org/fhir/StructureDefinition/Patient"
            ) -> dict[str, Any]:
    return {"resourceType": "StructureDefinition", "url": "https://test.example.org/broken", "type": "Patient",
            "derivation": "constraint", "baseDefinition": base,
            "differential": {"element": [{"id": "Patient", "path": "Patient"}, *elements]}}


@pytest.mark.parametrize(("elements", "base", "message"), [
    ([{"id": "Patient.nickname", "path": "Patient.nickname"}], None, "no element Patient.nickname"),
    ([{"id": "Patient.deceased[x].value", "path": "Patient.deceased[x].value"}], None, "several types"),
    ([], "https://test.example.org/missing", "is not loaded"),
])
def test_impossible_differentials_are_reported(registry: PackageRegistry, elements: list[dict[str, Any]],
                                               base: str | None, message: str) -> None:
    generator = SnapshotGenerator(registry)
    definition = _broken(elements, base) if base else _broken(elements)
    with pytest.raises(SnapshotError, match=message):
        generator.generate(definition)
