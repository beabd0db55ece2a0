"""The implementation guide: the committed SUSHI output is what the FSH sources compile to, and the
FHIR NPM package built from it is complete, reproducible and usable by any package loader."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from fhir_server.search.registry import SearchParameters
from fhir_server.validation.ig import IG_DIR, SOURCES, BuiltIg, build
from fhir_server.validation.packages import R4_CORE, PackageRegistry, install
from fhir_server.validation.validator import FhirValidator

SUSHI = IG_DIR / "node_modules" / ".bin" / "sushi"
CANONICAL = "https://oncolink.example.org/fhir"


def _members(data: bytes) -> dict[str, Any]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: json.loads(tar.extractfile(m).read()) for m in tar.getmembers()}  # type: ignore[union-attr]


def test_package_layout(built_ig: BuiltIg) -> None:
    files = _members(built_ig.tgz())
    manifest = files["package/package.json"]
    assert manifest["name"] == "onco-link.fhir"
    assert manifest["version"] == "0.1.0"
    assert manifest["canonical"] == CANONICAL
    assert manifest["fhirVersions"] == ["4.0.1"]
    assert manifest["dependencies"] == {"hl7.fhir.r4.core": "4.0.1"}
    index = files["package/.index.json"]
    listed = {f["filename"] for f in index["files"]}
    direct = {n.split("/", 1)[1] for n in files if n.count("/") == 1}
    assert listed == direct - {"package.json", ".index.json"}
    for entry in index["files"]:
        resource = files["package/" + entry["filename"]]
        assert (entry["resourceType"], entry["id"], entry.get("url")) == (
            resource["resourceType"], resource["id"], resource.get("url"))
    definitions = [r for n, r in files.items() if n.startswith("package/StructureDefinition-")]
    assert len(definitions) == 19
    assert all(d["snapshot"]["element"] and d["differential"]["element"] for d in definitions)
    examples = {n for n in files if n.startswith("package/example/") and not n.endswith(".index.json")}
    assert len(examples) == 16
    assert all(files[n]["resourceType"] not in ("StructureDefinition", "ValueSet", "CodeSystem") for n in examples)
    guide = files["package/ImplementationGuide-onco-link.fhir.json"]
    assert guide["packageId"] == "onco-link.fhir"
    assert len(guide["definition"]["resource"]) == len(files) - 4  # all but two manifests and two indexes
    kinds = {r["resourceType"] for n, r in files.items() if n.count("/") == 1 and "resourceType" in r}
    assert kinds == {"StructureDefinition", "ValueSet", "CodeSystem", "SearchParameter", "CapabilityStatement",
                     "Questionnaire", "PlanDefinition", "ImplementationGuide", "OperationDefinition"}


def test_package_is_reproducible(ig_registry: PackageRegistry, built_ig: BuiltIg) -> None:
    again = build(PackageRegistry(ig_registry.packages[:1]))
    assert again.tgz() == built_ig.tgz()


def test_package_installs_and_validates_like_the_source(built_ig: BuiltIg, package_cache: Path,
                                                        tmp_path: Path) -> None:
    """A third party fills its cache from the tarball and validates with it, without our sources."""
    source = tmp_path / "source"
    source.mkdir()
    (source / built_ig.config.filename).write_bytes(built_ig.tgz())
    cache = tmp_path / "cache"
    shutil.copytree(package_cache / R4_CORE, cache / R4_CORE, symlinks=True)
    install(cache, "onco-link.fhir#0.1.0", source_dir=source, registry_url="http://unused.invalid")
    registry = PackageRegistry.from_cache(cache, [R4_CORE, "onco-link.fhir#0.1.0"])
    validator = FhirValidator(registry)
    episode = next(r for r in built_ig.examples.values() if r["id"] == "episode-jeanne-martin")
    assert [i for i in validator.validate(episode) if i.severity == "error"] == []
    del episode["subject"]
    assert [(i.code, i.expression) for i in validator.validate(episode) if i.severity == "error"] == [
        ("required", ("CarePlan.subject",))
    ]


def test_committed_dist_package_is_current(built_ig: BuiltIg) -> None:
    committed = IG_DIR / "dist" / built_ig.config.filename
    if not committed.exists():
        pytest.skip(f"{committed} is not committed; `oncolink ig build` writes it")
    assert committed.read_bytes() == built_ig.tgz(), "run `oncolink ig build` and commit profiles/dist"


def test_pathway_search_parameters(ig_registry: PackageRegistry, built_ig: BuiltIg) -> None:
    """The pharmacy pull: `care-team` reaches the members of the contained care team."""
    params = SearchParameters(ig_registry)
    care_team = params.get("CarePlan", "care-team")
    assert care_team is not None and care_team.url == CANONICAL + "/SearchParameter/oncolink-careplan-care-team"
    episode = next(r for r in built_ig.examples.values() if r["id"] == "episode-jeanne-martin")
    references = {v["reference"] for _, v in params.values(care_team, "CarePlan", episode) if isinstance(v, dict)}
    assert references == {"#team-jeanne-martin", "Organization/org-oncologie-lyon",
                          "Organization/org-pharmacie-lilas", "Practitioner/gp-paul-petit"}
    parcours = params.get("CarePlan", "parcours")
    assert parcours is not None
    assert [v["code"] for _, v in params.values(parcours, "CarePlan", episode)] == ["A"]
    for res_type, code in [("ChargeItem", "actor-share"), ("Flag", "alert-colour"),
                           ("MedicationRequest", "hospital-reserve"), ("CarePlan", "sequence")]:
        assert params.get(res_type, code) is not None, (res_type, code)


@pytest.mark.skipif(not SUSHI.exists(), reason="SUSHI is not installed (npm ci in profiles/ installs it)")
def test_committed_output_is_up_to_date_with_fsh(package_cache: Path, tmp_path: Path) -> None:
    """SUSHI compiles the FSH sources again; the result must equal the committed fsh-generated/."""
    project = tmp_path / "ig"
    project.mkdir()
    for name in ("sushi-config.yaml", "sushi-ignoreWarnings.txt"):
        shutil.copy(IG_DIR / name, project / name)
    shutil.copytree(IG_DIR / "input", project / "input")
    home = tmp_path / "home"
    (home / ".fhir").mkdir(parents=True)
    (home / ".fhir" / "packages").symlink_to(package_cache)  # SUSHI only reads ~/.fhir/packages
    env = {**os.environ, "HOME": str(home), "npm_config_fetch_retries": "0", "npm_config_cache": str(tmp_path / "npm")}
    result = subprocess.run([str(SUSHI), "build", str(project), "-l", "error"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    fresh = {p.name: json.loads(p.read_text()) for p in (project / SOURCES).glob("*.json")}
    committed = {p.name: json.loads(p.read_text()) for p in (IG_DIR / SOURCES).glob("*.json")}
    assert sorted(fresh) == sorted(committed), "run `make fsh` and commit profiles/fsh-generated"
    stale = [name for name in committed if committed[name] != fresh[name]]
    assert stale == [], "run `make fsh` and commit profiles/fsh-generated"


def test_capability_claims(built_ig: BuiltIg) -> None:
    from fhir_server.validation.ig import capability_claims

    claims = capability_claims(built_ig)
    assert claims["instantiates"] == [CANONICAL + "/CapabilityStatement/oncolink-server"]
    assert claims["implementationGuide"] == [CANONICAL + "/ImplementationGuide/onco-link.fhir"]
    assert claims["supportedProfile"]["CarePlan"] == [CANONICAL + "/StructureDefinition/oncolink-episode",
                                                      CANONICAL + "/StructureDefinition/oncolink-sequence"]
    assert len(claims["supportedProfile"]) == 10
