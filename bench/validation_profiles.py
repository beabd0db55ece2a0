"""Issue 5 benchmark: profile validation per resource, what it adds to a create, snapshot generation.

1. In process: an episode CarePlan and an oral-anticancer MedicationRequest validated against their
   profiles (the write-path check), after warm-up; target ≤ 5 ms per resource.
2. Over loopback HTTP, one client, on SQLite and PostgreSQL: POST of the same resources with and
   without `meta.profile` (without it, only the R4 structural check runs: the foundation's create
   path); target: profile validation adds ≤ 50 % to the create latency.
3. Snapshot generation: our guide at start-up, and every constraint profile of R4 core and FR Core
   regenerated from its differential; target ≤ 3 s.

    .venv/bin/python -m bench.validation_profiles            # all, records bench/RESULTS.md
    .venv/bin/python -m bench.validation_profiles serve      # (internal) the server the HTTP part runs
"""

from __future__ import annotations

import copy
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from .common import ROOT, Target, auth, machine, percentile, record, server, targets

SHARED = ROOT.parent / "shared" / "fhir" / "packages"
ROUNDS = 400
CREATES = 300


def _cache() -> Path:
    return Path(os.environ.get("ONCOLINK_PACKAGE_CACHE", Path.home() / ".fhir" / "packages"))


def _examples() -> dict[str, dict[str, Any]]:
    from fhir_server.validation.ig import build
    from fhir_server.validation.packages import R4_CORE, PackageRegistry

    built = build(PackageRegistry.from_cache(_cache(), [R4_CORE]))
    return {r["id"]: r for r in built.examples.values()}


def micro() -> dict[str, tuple[float, float, float]]:
    """Per resource: (structure p50, profile p50, profile p95) in ms."""
    from fhir_server.validation.ig import ensure_loaded
    from fhir_server.validation.packages import R4_CORE, PackageRegistry
    from fhir_server.validation.validator import FhirValidator

    registry = PackageRegistry.from_cache(_cache(), [R4_CORE])
    ensure_loaded(registry)
    validator = FhirValidator(registry)
    examples = _examples()
    out = {}
    for name in ("episode-jeanne-martin", "mr-capecitabine"):
        resource = examples[name]
        for _ in range(30):
            assert not [i for i in validator.check_claimed(resource) if i.severity == "error"]
            validator.structure.validate(resource)
        structure, profile = [], []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            validator.structure.validate(resource)
            structure.append(time.perf_counter() - started)
            started = time.perf_counter()
            validator.check_claimed(resource)
            profile.append(time.perf_counter() - started)
        out[name] = (percentile(structure, 50) * 1e3, percentile(profile, 50) * 1e3, percentile(profile, 95) * 1e3)
    return out


def snapshots() -> dict[str, float]:
    from fhir_server.validation.ig import build
    from fhir_server.validation.packages import R4_CORE, Package, PackageRegistry
    from fhir_server.validation.snapshot import SnapshotGenerator

    out: dict[str, float] = {}
    started = time.perf_counter()
    registry = PackageRegistry.from_cache(_cache(), [R4_CORE])
    build(registry)
    out["guide"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(SHARED / "hl7.fhir.fr.core-2.0.0.tgz") as tar:
            tar.extractall(tmp, filter="data")
        registry.add(Package(Path(tmp) / "package"))
        for package in registry.packages:
            generator = SnapshotGenerator(registry)
            definitions = [
                d for d in (package.load(e) for e in package.entries if e.resource_type == "StructureDefinition")
                if d.get("derivation") == "constraint"
            ]
            started = time.perf_counter()
            for definition in definitions:
                generator.generate(definition)
            out[f"{package.name} ({len(definitions)} profiles)"] = time.perf_counter() - started
    return out


def serve() -> None:
    """The server as the lead will wire it: guide loaded, claimed profiles checked on writes."""
    import uvicorn

    from fhir_server.app import create_app
    from fhir_server.operations import ig, validate
    from fhir_server.services import build_services
    from fhir_server.settings import Settings
    from fhir_server.validation.ig import ensure_loaded
    from fhir_server.validation.packages import R4_CORE, PackageRegistry
    from fhir_server.validation.validator import WriteValidator

    settings = Settings()
    registry = PackageRegistry.from_cache(settings.package_cache, [R4_CORE])
    ensure_loaded(registry)
    services = build_services(settings, registry)
    if not isinstance(services.repository.validator, WriteValidator):
        services.repository.validator = WriteValidator(validate.validator_for(services))
    app = create_app(settings, services)
    paths = {getattr(route, "path", "") for route in app.routes}
    if "/fhir/{res_type}/$validate" not in paths:
        app.include_router(validate.router)
        app.include_router(ig.router)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)


@contextmanager
def _server(url: str) -> Iterator[str]:
    with server(url, "bench.validation_profiles", "serve") as (base, _):
        yield base


def _post(http: httpx.Client, base: str, resource: dict[str, Any]) -> float:
    body = {k: v for k, v in resource.items() if k != "id"}
    started = time.perf_counter()
    response = http.post(f"{base}/{resource['resourceType']}", json=body, headers={"Prefer": "return=minimal"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.text
    return elapsed


def _paired_latencies(http: httpx.Client, base: str, plain: dict[str, Any], claimed: dict[str, Any]
                      ) -> tuple[list[float], list[float]]:
    """Alternate the two variants, so that load from other processes hits both alike."""
    without, with_profile = [], []
    for i in range(CREATES + 30):
        a, b = _post(http, base, plain), _post(http, base, claimed)
        if i >= 30:
            without.append(a)
            with_profile.append(b)
    return without, with_profile


def creates(target: Target) -> dict[str, tuple[float, float]]:
    """Per resource: (p50 without profile, p50 with profile) in ms."""
    examples = _examples()
    out = {}
    with _server(target.url) as base, httpx.Client(timeout=30,
                                                   headers=auth(**{"Content-Type": "application/fhir+json"})) as http:
        for name in ("episode-jeanne-martin", "mr-capecitabine"):
            claimed = examples[name]
            plain = copy.deepcopy(claimed)
            del plain["meta"]
            without, with_profile = _paired_latencies(http, base, plain, claimed)
            out[name] = (percentile(without, 50) * 1e3, percentile(with_profile, 50) * 1e3)
    return out


def main() -> None:
    if sys.argv[1:] == ["serve"]:
        serve()
        return
    print("[validation] in-process validation …", flush=True)
    per_resource = micro()
    print("[validation] snapshot generation …", flush=True)
    generation = snapshots()
    http_rows = []
    with targets(ROOT / "var" / "bench") as dbs:
        for target in dbs:
            print(f"[validation] {target.name}: creates with and without meta.profile …", flush=True)
            for name, (plain, claimed) in creates(target).items():
                http_rows.append(f"| {target.name} | {name} | {plain:.2f} ms | {claimed:.2f} ms "
                                 f"| +{(claimed / plain - 1):.0%} |")
    micro_rows = [f"| {name} | {s:.3f} ms | {p50:.2f} ms | {p95:.2f} ms |"
                  for name, (s, p50, p95) in per_resource.items()]
    snapshot_rows = [f"| {name} | {seconds:.2f} s |" for name, seconds in generation.items()]
    body = (
        f"Machine: {machine()}.\n\n"
        "Validation of one resource against its claimed profile, in process, after warm-up "
        f"({ROUNDS} rounds; target ≤ 5 ms per resource); the R4 structural check is the baseline.\n\n"
        "| example | structural p50 | profile p50 | profile p95 |\n|---|---|---|---|\n" + "\n".join(micro_rows) +
        "\n\nCreate latency over loopback HTTP, one client, POST with `Prefer: return=minimal`, p50 of "
        f"{CREATES} after 30 warm-up: the same resource without `meta.profile` (structural check only, the "
        "foundation's path) and with it (profile enforced). Target: ≤ +50 %.\n\n"
        "| database | example | without profile | with profile | added |\n|---|---|---|---|---|\n"
        + "\n".join(http_rows) +
        "\n\nSnapshot generation (target ≤ 3 s at start-up: only our guide is generated at start-up; R4 core "
        "ships snapshots, regenerated here from the differentials to size the generator).\n\n"
        "| what | time |\n|---|---|\n" + "\n".join(snapshot_rows)
    )
    print(body)
    record("Validation (issue 5)", body)


if __name__ == "__main__":
    main()
