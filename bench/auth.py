"""Issue 9 benchmark: what authentication and access filtering add to a request and to searches.

1. Per request: verifying the bearer token (RS256, cached JWKS) and building the caller's access (with
   the cached Organization lookup of a pharmacist), against the baseline of the cheapest request's own
   work in the same run, a primary-key read through the repository. Target: ≤ 1 ms at p50.
2. Per search: each query of the search benchmark (`search_queries`), run through the engine in-process
   on the same data, without a row filter (the baseline) and with the filter of the hospital team
   (establishment) and of a community pharmacist (care-team sub-query), the three taking turns on each
   query URL. Target: ≤ 15 % at p50.

Data: the search benchmark's data set (`search_data`) at `--scale` (default 0.02 = 2,000 patients), bulk
loaded; `care_access` and the member-scoped string index are rebuilt from its episodes as the write listener
would have filled them (the time taken is reported).
`python -m bench.auth [--scale F]`, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
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


def search_figures(services: Services, scale: Scale) -> list[tuple[str, float, float, float]]:
    security = services.security
    assert security is not None
    dev = issuer()
    accesses = {}
    for role, claims in CALLERS:
        principal = security.verifier.verify(dev.mint(role, claims=claims))  # type: ignore[union-attr]
        accesses[role] = security.policy.access(principal, services.db.read, services.search)
    variants: tuple[tuple[Any, Any], ...] = tuple((None if a is None else a.condition, None if a is None else a.members)
                                                  for a in (None, accesses["oncologist"],
                                                            accesses["community-pharmacist"]))
    rows = []
    for query in queries(scale, services.db.dialect):
        rng = random.Random(7)
        urls = [query.url(rng)[0] for _ in range(SEARCH_WARMUP + SEARCH_SAMPLES)]
        times: list[list[float]] = [[] for _ in variants]
        # The variants take turns on each URL, in a rotating order, so that a busy moment of the shared
        # machine or a warming cache weighs on all three alike instead of on whichever ran then.
        for n, url in enumerate(urls):
            res_type, _, params = url.partition("?")
            for k in range(len(variants)):
                which = (n + k) % len(variants)
                began = time.perf_counter()
                with services.db.read() as conn:
                    visible, members = variants[which]
                    services.search.search(conn, res_type, params, visible=visible, members=members)
                if n >= SEARCH_WARMUP:
                    times[which].append((time.perf_counter() - began) * 1000)
        rows.append((query.name, *(_p50(t) for t in times)))
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
            load(target.url, args.scale, packages)
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
            sections.append(_report(target.name, access_rows, (member_rows, rebuilt), baseline, tokens, searches))
    body = "\n\n".join([f"{machine()}; scale {args.scale} ({scale.patients} patients); p50 over {SAMPLES} token "
                         f"checks and {SEARCH_SAMPLES} searches per query, in-process.", *sections])
    print(body)
    record("Access control (issue 9)", body)


def _report(database: str, access_rows: int, member: tuple[int, float], baseline: float,
            tokens: list[tuple[str, float, float]], searches: list[tuple[str, float, float, float]]) -> str:
    lines = [f"### {database} ({access_rows} care-access rows, {member[0]} member-scoped string rows; both "
             f"rebuilt in {member[1]:.1f} s)", "",
             f"Baseline: a primary-key read through the repository, p50 {baseline:.3f} ms.", "",
             "| caller | token check + access, p50 | p99 | target p50 ≤ 1 ms | vs the read |",
             "|---|---|---|---|---|"]
    for role, p50, p99 in tokens:
        lines.append(f"| {role} | {p50:.3f} ms | {p99:.3f} ms | {'met' if p50 <= 1 else 'MISSED'} | "
                     f"×{p50 / baseline:.2f} |")
    lines += ["", "| query | no filter (baseline) p50 | hospital team | ratio | pharmacist (care team) | ratio |",
              "|---|---|---|---|---|---|"]
    for name, plain, hospital, pharmacist in searches:
        lines.append(f"| `{name}` | {plain:.2f} ms | {hospital:.2f} ms | {hospital / plain:.2f} | "
                     f"{pharmacist:.2f} ms | {pharmacist / plain:.2f} |")
    worst = max(max(h / p, c / p) for _, p, h, c in searches)
    lines += ["", f"Worst ratio {worst:.2f} (target ≤ 1.15: {'met' if worst <= 1.15 else 'MISSED'})."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
