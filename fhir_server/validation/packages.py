"""FHIR NPM packages: fill the local cache, index packages, resolve canonical URLs.

Start-up must stay fast although R4 core alone is 4,581 files (31 MB): a package is indexed from
its `.index.json` (or a scan of file names when absent) and each resource file is parsed only on
first use, then kept.
"""

from __future__ import annotations

import io
import logging
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

log = logging.getLogger(__name__)

R4_CORE = "hl7.fhir.r4.core#4.0.1"


class PackageError(Exception):
    """A package is missing from the cache or cannot be read; the message says what to do."""


@dataclass(frozen=True)
class IndexEntry:
    filename: str
    resource_type: str
    id: str | None
    url: str | None
    version: str | None


def split_package_id(package_id: str) -> tuple[str, str]:
    name, _, version = package_id.partition("#")
    if not name or not version:
        raise PackageError(f"package id {package_id!r} must be written name#version")
    return name, version


def package_dir(cache: Path, package_id: str) -> Path:
    return cache / package_id / "package"


def _extract_tgz(data: bytes | Path, target: Path) -> None:
    """Unpack an NPM tarball so that `target/package/package.json` exists."""
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fileobj = io.BytesIO(data) if isinstance(data, bytes) else open(data, "rb")  # noqa: SIM115
    with fileobj, tarfile.open(fileobj=fileobj, mode="r:gz") as tar:
        tar.extractall(tmp, filter="data")
    if not (tmp / "package" / "package.json").exists():
        shutil.rmtree(tmp, ignore_errors=True)
        raise PackageError(f"{target.name}: archive has no package/package.json")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def install(cache: Path, package_id: str, *, source_dir: Path | None, registry_url: str) -> Path:
    """Make `package_id` present in the cache: from a folder of `name-version.tgz` files when it has
    one, otherwise downloaded from the FHIR package registry. Returns the package folder."""
    name, version = split_package_id(package_id)
    target = cache / package_id
    if (target / "package" / "package.json").exists():
        return target / "package"
    cache.mkdir(parents=True, exist_ok=True)
    local = source_dir / f"{name}-{version}.tgz" if source_dir else None
    if local is not None and local.exists():
        _extract_tgz(local, target)
    else:
        url = f"{registry_url.rstrip('/')}/{name}/{version}"
        try:
            response = httpx.get(url, follow_redirects=True, timeout=120)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise PackageError(
                f"cannot download {package_id} from {url} ({exc}); set ONCOLINK_PACKAGE_REGISTRY_URL "
                "to a reachable FHIR package registry or put the .tgz in the source folder"
            ) from exc
        _extract_tgz(response.content, target)
    return target / "package"


class Package:
    """One unpacked package folder, indexed lazily."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        manifest = orjson.loads((folder / "package.json").read_bytes())
        self.name: str = manifest["name"]
        self.version: str = manifest["version"]
        self.dependencies: dict[str, str] = manifest.get("dependencies") or {}
        self._loaded: dict[str, dict[str, Any]] = {}
        self.entries = self._read_index()

    def _read_index(self) -> list[IndexEntry]:
        index_file = self.folder / ".index.json"
        if index_file.exists():
            files = orjson.loads(index_file.read_bytes()).get("files", [])
            return [
                IndexEntry(f["filename"], f["resourceType"], f.get("id"), f.get("url"), f.get("version"))
                for f in files
                if "resourceType" in f
            ]
        # No index (hand-made packages): read each JSON resource's header once.
        entries = []
        for path in sorted(self.folder.glob("*.json")):
            if path.name == "package.json":
                continue
            try:
                doc = orjson.loads(path.read_bytes())
            except orjson.JSONDecodeError:
                log.warning("%s: %s is not JSON, skipped", self.name, path.name)
                continue
            if isinstance(doc, dict) and "resourceType" in doc:
                entries.append(
                    IndexEntry(path.name, doc["resourceType"], doc.get("id"), doc.get("url"), doc.get("version"))
                )
                self._loaded[path.name] = doc
        return entries

    @classmethod
    def from_resources(
        cls, name: str, version: str, resources: dict[str, dict[str, Any]], dependencies: dict[str, str] | None = None
    ) -> Package:
        """A package held in memory (e.g. our implementation guide built at start-up): `resources`
        maps file names to resources, as they would sit in `package/`."""
        package = cls.__new__(cls)
        package.folder = Path("/nonexistent") / f"{name}#{version}" / "package"
        package.name, package.version = name, version
        package.dependencies = dict(dependencies or {})
        package._loaded = dict(resources)
        package.entries = [
            IndexEntry(filename, doc["resourceType"], doc.get("id"), doc.get("url"), doc.get("version"))
            for filename, doc in sorted(resources.items())
            if isinstance(doc, dict) and "resourceType" in doc
        ]
        return package

    def load(self, entry: IndexEntry) -> dict[str, Any]:
        doc = self._loaded.get(entry.filename)
        if doc is None:
            doc = orjson.loads((self.folder / entry.filename).read_bytes())
            self._loaded[entry.filename] = doc
        return doc

    @property
    def package_id(self) -> str:
        return f"{self.name}#{self.version}"


class PackageRegistry:
    """The conformance resources of several packages, looked up by type, id or canonical URL.

    Later packages win over earlier ones for the same canonical URL, so a project's own package
    can be loaded after its dependencies.
    """

    def __init__(self, packages: list[Package]) -> None:
        self.packages = packages
        self._by_url: dict[str, tuple[Package, IndexEntry]] = {}
        self._by_type: dict[str, list[tuple[Package, IndexEntry]]] = {}
        for package in packages:
            for entry in package.entries:
                self._by_type.setdefault(entry.resource_type, []).append((package, entry))
                if entry.url:
                    self._by_url[entry.url] = (package, entry)
                    if entry.version:
                        self._by_url[f"{entry.url}|{entry.version}"] = (package, entry)

    @classmethod
    def from_cache(cls, cache: Path, package_ids: list[str]) -> PackageRegistry:
        packages = []
        for package_id in package_ids:
            folder = package_dir(cache, package_id)
            if not (folder / "package.json").exists():
                raise PackageError(
                    f"FHIR package {package_id} is not in the package cache {cache}; run `make run` "
                    f"(or `oncolink packages install {package_id}`) to fill it"
                )
            packages.append(Package(folder))
        return cls(packages)

    def add(self, package: Package) -> None:
        """Register one more package (e.g. our own implementation guide) after construction."""
        self.packages.append(package)
        for entry in package.entries:
            self._by_type.setdefault(entry.resource_type, []).append((package, entry))
            if entry.url:
                self._by_url[entry.url] = (package, entry)
                if entry.version:
                    self._by_url[f"{entry.url}|{entry.version}"] = (package, entry)

    def resolve(self, canonical: str) -> dict[str, Any] | None:
        """The resource for `url` or `url|version`, or None when no loaded package has it."""
        hit = self._by_url.get(canonical)
        if hit is None and "|" in canonical:
            hit = self._by_url.get(canonical.split("|", 1)[0])
        return hit[0].load(hit[1]) if hit else None

    def resources(self, resource_type: str) -> Iterator[dict[str, Any]]:
        for package, entry in self._by_type.get(resource_type, []):
            yield package.load(entry)

    def index_entries(self, resource_type: str) -> list[IndexEntry]:
        return [entry for _, entry in self._by_type.get(resource_type, [])]

    def get(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        for package, entry in self._by_type.get(resource_type, []):
            if entry.id == resource_id:
                return package.load(entry)
        return None
