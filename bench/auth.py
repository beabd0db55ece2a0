"""Issue 9 benchmark: what authentication and access filtering add to a request and to searches.

1. Per request: verifying the bearer token (RS256, cached JWKS) and building the caller's access (with
   the cached Organization lookup of a pharmacist), against the baseline of the cheapest request's own
   work in the same run, a primary-key read through the repository. Target: ≤ 1 ms at p50.
2. Per search: each query of the search benchmark (`search_queries`), run through the engine in-process
   on the same data, without a row filter (the baseline) and with the filter of the hospital team
   (establishment) and of a community pharmacist (care-team sub-query, with the member-scoped string
   index as served and, for comparison, without it), all taking turns on each query URL. Target: ≤ 15 %
   at p50.

Data: the search benchmark's data set (`search_data`) at `--scale` (default 0.02 = 2,000 patients), bulk
loaded; `care_access` and the member-scoped string index are rebuilt from its episodes as the write listener
would have filled them (the time taken is reported).
`python -m bench.auth [--scale F]`, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fhir_server.security import member_index
from fhir_server.security.care_access import rebuild
from fhir_server.security.dev_issuer import FINESS
from fhir_server.services import Services, build_services
from fhir_server.settings import Settings
from fhir_server.store.database import Database
from fhir_server.store.tables import resource

from .common import ROOT, issuer, issuer_settings, machine, percentile, record, targets
from .search_data import Scale, patient_id
from .search_load import analyse, load, registry
from .search_queries import queries

SAMPLES = 300
SEARCH_SAMPLES = 300
SEARCH_WARMUP = 30
# The hospital team, and the pharmacist of the data set's first pharmacy (its FINESS in `search_data`).
CALLERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("oncologist", {}), ("community-pharmacist", {"organization": [f"{FINESS}|690000000"]}))


def _timed(call: Callable[[], Any], samples: int) -> list[float]:
    for _ in range(min(20, samples)):
        call()
    out = []
    for _ in range(samples):
        began = time.perf_counter()
        call()
        out.append((time.perf_counter() - began) * 1000)
    return out


def _p50(values: list[float]) -> float:
    return statistics.median(values)


def token_figures(services: Services) -> list[tuple[str, float, float]]:
    security = services.security
    assert security is not None
    dev = issuer()
    headers = {role: f"Bearer {dev.mint(role, claims=claims)}" for role, claims in CALLERS}
    rows = []
    for role, header in headers.items():
        def check(header: str = header) -> None:
            principal = security.authenticate(header)
            security.policy.access(principal, services.db.read, services.search)

        times = _timed(check, SAMPLES)
        rows.append((role, _p50(times), percentile(times, 99)))
    return rows


def read_baseline(services: Services) -> float:
    with services.db.read() as conn:
        def read() -> None:
            services.repository.read(conn, "Patient", patient_id(random.randrange(100)))

        return _p50(_timed(read, SAMPLES))


def search_figures(services: Services, scale: Scale) -> list[tuple[str, list[float], list[float]]]:
    """Per query, for each variant (no filter, hospital, pharmacist before, pharmacist served): the wall
    p50, and this process's CPU p50 (all of the work on SQLite, the client's share on PostgreSQL)."""
    security = services.security
    assert security is not None
    dev = issuer()
    accesses = {}
    for role, claims in CALLERS:
        principal = security.verifier.verify(dev.mint(role, claims=claims))  # type: ignore[union-attr]
        accesses[role] = security.policy.access(principal, services.db.read, services.search)
    hospital, pharmacist = accesses["oncologist"], accesses["community-pharmacist"]
    # What the API passes for each caller (`api/search.py`), and the pharmacist as served before the
    # member-scoped string index (its row filter alone): before and after measured in the same minutes.
    variants: list[dict[str, Any]] = [
        {}, {"visible": hospital.condition, "members": hospital.members}, {"visible": pharmacist.condition},
        {"visible": pharmacist.condition, "members": pharmacist.members}]
    rows = []
    for query in queries(scale, services.db.dialect):
        rng = random.Random(7)
        urls = [query.url(rng)[0] for _ in range(SEARCH_WARMUP + SEARCH_SAMPLES)]
        times: list[list[float]] = [[] for _ in variants]
        cpu: list[list[float]] = [[] for _ in variants]
        # The variants take turns on each URL, in a rotating order, so that a busy moment of the shared
        # machine or a warming cache weighs on all of them alike instead of on whichever ran then.
        for n, url in enumerate(urls):
            res_type, _, params = url.partition("?")
            for k in range(len(variants)):
                which = (n + k) % len(variants)
                began, began_cpu = time.perf_counter(), time.process_time()
                with services.db.read() as conn:
                    services.search.search(conn, res_type, params, **variants[which])
                if n >= SEARCH_WARMUP:
                    times[which].append((time.perf_counter() - began) * 1000)
                    cpu[which].append((time.process_time() - began_cpu) * 1000)
        rows.append((query.name, [_p50(t) for t in times], [_p50(c) for c in cpu]))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.02)
    args = parser.parse_args(argv)
    scale = Scale.of(args.scale)
    packages = registry(Path(Settings().package_cache))
    sections = []
    with targets(ROOT / "var" / "bench") as found:
        for target in found:
            loaded = load(target.url, args.scale, packages)
            db = Database(target.url)
            began = time.perf_counter()
            with db.write() as conn:
                access_rows = rebuild(conn, resource)
                member_rows = member_index.rebuild(conn)
            rebuilt = time.perf_counter() - began
            analyse(db, ["care_access", "idx_string_member"])
            db.dispose()
            services = build_services(Settings(database_url=target.url, **issuer_settings()), packages)
            try:
                baseline = read_baseline(services)
                tokens = token_figures(services)
                searches = search_figures(services, scale)
            finally:
                services.close()
            load_average = _load()
            sections.append(_report(target.name, access_rows, (member_rows, rebuilt), baseline, tokens, searches))
            sections[-1] += (f"\n\nData set bulk loaded in {loaded['seconds']:.0f} s; load average after the "
                             f"searches (1, 5, 15 min): {load_average}.")
    body = "\n\n".join([f"{machine()}; scale {args.scale} ({scale.patients} patients); p50 over {SAMPLES} token "
                         f"checks and {SEARCH_SAMPLES} searches per query, in-process.", *sections])
    print(body)
    record("Access control (issue 9)", body)


def _report(database: str, access_rows: int, member: tuple[int, float], baseline: float,
            tokens: list[tuple[str, float, float]], searches: list[tuple[str, list[float], list[float]]]) -> str:
    lines = [f"### {database} ({access_rows} care-access rows, {member[0]} member-scoped string rows; both "
             f"rebuilt in {member[1]:.1f} s)", "",
             f"Baseline: a primary-key read through the repository, p50 {baseline:.3f} ms.", "",
             "| caller | token check + access, p50 | p99 | target p50 ≤ 1 ms | vs the read |",
             "|---|---|---|---|---|"]
    for role, p50, p99 in tokens:
        lines.append(f"| {role} | {p50:.3f} ms | {p99:.3f} ms | {'met' if p50 <= 1 else 'MISSED'} | "
                     f"×{p50 / baseline:.2f} |")
    lines += ["", "| query | no filter (baseline) p50 | hospital team | ratio | pharmacist, row filter only "
              "(before) | ratio | pharmacist, member index (served) | ratio | process CPU p50: no filter, before, "
              "served |", "|---|---|---|---|---|---|---|---|---|"]
    for name, (plain, hospital, before, served), cpu in searches:
        lines.append(f"| `{name}` | {plain:.2f} ms | {hospital:.2f} ms | {hospital / plain:.2f} | {before:.2f} ms | "
                     f"{before / plain:.2f} | {served:.2f} ms | {served / plain:.2f} | "
                     f"{cpu[0]:.2f}, {cpu[2]:.2f}, {cpu[3]:.2f} ms |")
    worst = max(max(w[1] / w[0], w[3] / w[0]) for _, w, _ in searches)
    lines += ["", f"Worst ratio as served {worst:.2f} (target ≤ 1.15: {'met' if worst <= 1.15 else 'MISSED'})."]
    return "\n".join(lines)


def _load() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
