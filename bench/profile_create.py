"""Where the time of a transaction create goes: cProfile of the server's own code path, grouped by layer.

Runs the same transaction Bundles as the foundation benchmark through `BundleProcessor` in-process
(no HTTP), so the split between JSON, validation, indexing and SQL is visible.
"""

from __future__ import annotations

import cProfile
import pstats
import random
import sys
import tempfile
from pathlib import Path

import orjson

from fhir_server.bundle import BundleProcessor
from fhir_server.http import Prefer
from fhir_server.services import build_services
from fhir_server.settings import Settings

from .common import WRITE_PATH_LAYERS, time_by_layer
from .data import patient, transaction


def profile(database_url: str, bundles: int = 20) -> str:
    services = build_services(Settings(database_url=database_url))
    rng = random.Random(3)
    bodies = [orjson.dumps(transaction([patient(rng, b * 100 + i) for i in range(100)])) for b in range(bundles)]
    processor = BundleProcessor(services, "http://bench/fhir", Prefer.parse(None, default_return="minimal"))
    processor.process(orjson.loads(bodies[0]))  # warm-up: schemas and statements compiled
    profiler = cProfile.Profile()
    profiler.enable()
    for body in bodies[1:]:
        processor.process(orjson.loads(body))
    profiler.disable()
    services.close()
    stats = pstats.Stats(profiler)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    per_layer = time_by_layer(stats, WRITE_PATH_LAYERS)
    other = per_layer.pop("other")
    resources = (bundles - 1) * 100
    lines = [f"{resources} Patients in {bundles - 1} transactions, {total / resources * 1e6:.0f} µs per resource "
             "(profiled, so slower than real):", "", "| layer | share of own time |", "|---|---|"]
    for layer, seconds in sorted(per_layer.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {layer} | {seconds / total:.0%} |")
    lines.append(f"| other (json, stdlib, drivers) | {other / total:.0%} |")
    return "\n".join(lines)


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path(tempfile.mkdtemp()) / 'profile.db'}"
    print(profile(url))


if __name__ == "__main__":
    main()
