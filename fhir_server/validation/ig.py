"""The Onco'Link implementation guide as a FHIR NPM package, built from SUSHI's committed output.

`profiles/fsh-generated/resources/` holds what SUSHI compiled from the FSH sources (differentials
only). The package adds what integrators and the server need: snapshots generated here against R4
core, `package/package.json`, `package/.index.json`, an ImplementationGuide resource, and examples
under `package/example/`. The same build serves three uses, so they cannot drift apart: the server
loads it at start-up (conformance resources only), `GET /ig/package.tgz` serves it, and
`oncolink ig build` writes it to `profiles/dist/`. The tarball is byte-for-byte reproducible.
"""

from __future__ import annotations

import gzip
import io
import logging
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from ..settings import default_ig_dir
from .packages import R4_CORE, Package, PackageRegistry
from .snapshot import SnapshotGenerator

log = logging.getLogger(__name__)

SOURCES = Path("fsh-generated") / "resources"


# The code default; the server and the CLI take `Settings.ig_dir` (ONCOLINK_IG_DIR).
IG_DIR = default_ig_dir()
# Resource types that define things; every other instance is an example.
CONFORMANCE_TYPES = frozenset({
    "StructureDefinition", "ValueSet", "CodeSystem", "SearchParameter", "CapabilityStatement", "Questionnaire",
    "PlanDefinition", "OperationDefinition", "ConceptMap", "NamingSystem", "ImplementationGuide", "ActivityDefinition",
})


class IgError(Exception):
    """The implementation guide sources are missing or inconsistent."""


@dataclass(frozen=True)
class IgConfig:
    package_id: str
    version: str
    canonical: str
    title: str
    description: str
    license: str
    fhir_version: str

    @property
    def filename(self) -> str:
        return f"{self.package_id}-{self.version}.tgz"


@dataclass
class BuiltIg:
    """The package contents: `files` maps names inside the tarball (`package/...`) to JSON documents."""

    config: IgConfig
    conformance: dict[str, dict[str, Any]]
    examples: dict[str, dict[str, Any]]
    files: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def package(self) -> Package:
        """The conformance resources as a registry package (examples stay out of the registry)."""
        return Package.from_resources(self.config.package_id, self.config.version, self.conformance,
                                      {"hl7.fhir.r4.core": "4.0.1"})

    def tgz(self) -> bytes:
        """The NPM tarball, reproducible: sorted entries, zero timestamps and owners. Built once."""
        cached: bytes | None = getattr(self, "_tgz", None)
        if cached is None:
            cached = self._tgz = self._pack()
        return cached

    def _pack(self) -> bytes:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name in sorted(self.files):
                data = orjson.dumps(self.files[name], option=orjson.OPT_INDENT_2) + b"\n"
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                info.mtime = 0
                tar.addfile(info, io.BytesIO(data))
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=9) as gz:
            gz.write(raw.getvalue())
        return out.getvalue()


def read_config(ig_dir: Path = IG_DIR) -> IgConfig:
    config_file = ig_dir / "sushi-config.yaml"
    if not config_file.exists():
        raise IgError(f"{config_file} is missing: the implementation guide sources are not there")
    raw = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    try:
        return IgConfig(
            package_id=raw["packageId"], version=str(raw["version"]), canonical=raw["canonical"].rstrip("/"),
            title=raw.get("title", raw["packageId"]), description=raw.get("description", "").strip(),
            license=raw.get("license", "CC0-1.0"), fhir_version=str(raw.get("fhirVersion", "4.0.1")),
        )
    except KeyError as exc:
        raise IgError(f"{config_file} lacks {exc}") from exc


def source_resources(ig_dir: Path = IG_DIR) -> dict[str, dict[str, Any]]:
    folder = ig_dir / SOURCES
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise IgError(f"no resources in {folder}: run `make fsh` (SUSHI) to compile the FSH sources")
    return {path.name: orjson.loads(path.read_bytes()) for path in files}


def build(base: PackageRegistry, ig_dir: Path = IG_DIR) -> BuiltIg:
    """Snapshots for every profile and extension, the manifest, the index and the IG resource."""
    started = time.perf_counter()
    config = read_config(ig_dir)
    sources = source_resources(ig_dir)
    conformance = {n: r for n, r in sources.items() if r.get("resourceType") in CONFORMANCE_TYPES}
    examples = {n: r for n, r in sources.items() if r.get("resourceType") not in CONFORMANCE_TYPES}
    draft = Package.from_resources(config.package_id, config.version, conformance)
    registry = PackageRegistry([*base.packages, draft])
    generator = SnapshotGenerator(registry)
    for name, resource in conformance.items():
        if resource["resourceType"] == "StructureDefinition" and not resource.get("snapshot"):
            conformance[name] = generator.ensure(resource["url"])
    guide = _implementation_guide(config, conformance, examples)
    conformance[f"ImplementationGuide-{guide['id']}.json"] = guide
    built = BuiltIg(config, conformance, examples)
    built.files = {f"package/{n}": r for n, r in conformance.items()}
    built.files.update({f"package/example/{n}": r for n, r in examples.items()})
    built.files["package/package.json"] = _manifest(config)
    built.files["package/.index.json"] = _index(conformance)
    built.files["package/example/.index.json"] = _index(examples)
    built.seconds = time.perf_counter() - started
    return built


def _manifest(config: IgConfig) -> dict[str, Any]:
    return {
        "name": config.package_id,
        "version": config.version,
        "canonical": config.canonical,
        "url": config.canonical,
        "title": config.title,
        "description": config.description,
        "fhirVersions": [config.fhir_version],
        "dependencies": {"hl7.fhir.r4.core": "4.0.1"},
        "type": "IG",
        "license": config.license,
        "author": "Projet Onco'Link FHIR",
        "jurisdiction": "urn:iso:std:iso:3166#FR",
        "directories": {"lib": "package", "example": "example"},
    }


def _index(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    files = []
    for name, resource in sorted(resources.items()):
        entry = {"filename": name, "resourceType": resource["resourceType"], "id": resource.get("id")}
        for key in ("url", "version", "kind", "type", "content"):
            if resource.get(key) is not None:
                entry[key] = resource[key]
        files.append(entry)
    return {"index-version": 1, "files": files}


def _implementation_guide(config: IgConfig, conformance: dict[str, dict[str, Any]],
                          examples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    resources = []
    for resource in conformance.values():
        resources.append({
            "reference": {"reference": f"{resource['resourceType']}/{resource['id']}"},
            "name": resource.get("title") or resource.get("name") or resource["id"],
            "exampleBoolean": False,
        })
    for resource in examples.values():
        entry: dict[str, Any] = {
            "reference": {"reference": f"{resource['resourceType']}/{resource['id']}"},
            "name": resource["id"],
        }
        profiles = (resource.get("meta") or {}).get("profile") or []
        if profiles:
            entry["exampleCanonical"] = profiles[0]
        else:
            entry["exampleBoolean"] = True
        resources.append(entry)
    return {
        "resourceType": "ImplementationGuide",
        "id": config.package_id,
        "url": f"{config.canonical}/ImplementationGuide/{config.package_id}",
        "version": config.version,
        "name": "OncoLinkIG",
        "title": config.title,
        "status": "draft",
        "publisher": "Projet Onco'Link FHIR",
        "description": config.description,
        "jurisdiction": [{"coding": [{"system": "urn:iso:std:iso:3166", "code": "FR"}]}],
        "packageId": config.package_id,
        "license": config.license,
        "fhirVersion": [config.fhir_version],
        "dependsOn": [{"id": "hl7_fhir_r4_core", "uri": "http://hl7.org/fhir", "packageId": "hl7.fhir.r4.core",
                       "version": "4.0.1"}],
        "definition": {"resource": resources},
    }


_LOADED_ATTR = "_oncolink_ig"


def ensure_loaded(registry: PackageRegistry, ig_dir: Path = IG_DIR) -> BuiltIg:
    """Build the guide once per registry and add its conformance resources to it; later calls return
    the same build. The registry must already hold R4 core."""
    built: BuiltIg | None = getattr(registry, _LOADED_ATTR, None)
    if built is not None:
        return built
    if not any(p.package_id == R4_CORE for p in registry.packages):
        raise IgError(f"the implementation guide needs {R4_CORE} in the registry")
    built = build(registry, ig_dir)
    registry.add(built.package())
    setattr(registry, _LOADED_ATTR, built)
    log.info("implementation guide %s#%s loaded (%d resources, %.0f ms)", built.config.package_id,
             built.config.version, len(built.conformance), built.seconds * 1000)
    return built


def capability_claims(built: BuiltIg) -> dict[str, Any]:
    """What the server's CapabilityStatement can say about the guide it runs: the CapabilityStatement
    of the guide it instantiates, the ImplementationGuide, and the supported profiles per type."""
    claimed = next((r for r in built.conformance.values() if r["resourceType"] == "CapabilityStatement"), None)
    profiles: dict[str, list[str]] = {}
    for rest in (claimed or {}).get("rest") or []:
        for entry in rest.get("resource") or []:
            if entry.get("supportedProfile"):
                profiles.setdefault(entry["type"], []).extend(entry["supportedProfile"])
    guide = next(r for r in built.conformance.values() if r["resourceType"] == "ImplementationGuide")
    return {
        "instantiates": [claimed["url"]] if claimed else [],
        "implementationGuide": [guide["url"]],
        "supportedProfile": profiles,
    }
