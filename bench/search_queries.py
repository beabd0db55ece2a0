"""Issue 4 benchmark: search latency at national scale, over loopback HTTP with one client.

For each database: load the seeded data set (`search_data`, scale 1.0 = 100,000 Patients and 600,000
other resources), start the server, and time each query with varying values; every figure is printed
with a baseline measured in the same run and database: the hand-written SQL a developer would write
against the same index tables for the same result (ids and contents), shaped for each database as the
engine shapes it, executed in-process: the ratio is the cost of the server around the SQL.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from fhir_server.search.dates import parse_range
from fhir_server.search.hashing import hash_parts
from fhir_server.search.text import normalise, prefix_upper_bound

from .common import auth, free_port, percentile, server
from .search_data import FAMILIES, INS_OID, LOINC, Scale, ins, patient_id, pharmacy_id
from .search_load import load, registry

SAMPLES = int(os.environ.get("ONCOLINK_BENCH_SAMPLES", "200"))
WARMUP = 20
PAGES = 100
PAGE_SIZE = 100
WALKS = 5


@contextmanager
def search_server(database_url: str, **env: str) -> Iterator[str]:
    port = free_port()
    with server(database_url, "bench.search_server", port=port, startup_seconds=120,
                ONCOLINK_BASE_URL=f"http://127.0.0.1:{port}", **env) as (base, _):
        yield base


@dataclass
class Query:
    name: str
    target_ms: float
    url: Callable[[random.Random], tuple[str, dict[str, Any]]]  # → (query URL, baseline SQL parameters)
    baseline: list[str]  # SQL statements run in sequence, with the parameters


def _h(*parts: str) -> int:
    return hash_parts(*parts)


def queries(scale: Scale, dialect: str) -> list[Query]:
    prefixes = sorted({f[:3] for f in FAMILIES})

    def by_identifier(rng: random.Random) -> tuple[str, dict[str, Any]]:
        n = rng.randrange(scale.patients)
        return (f"Patient?identifier={INS_OID}|{ins(n)}",
                {"hv": _h("Patient", "identifier", ins(n)), "hy": _h("Patient", "identifier", INS_OID, "")})

    def by_name_birthdate(rng: random.Random) -> tuple[str, dict[str, Any]]:
        prefix = rng.choice(prefixes)
        low, high = parse_range("1950-01-01")
        norm = normalise(prefix)
        return (f"Patient?name={prefix.lower()}&birthdate=ge1950-01-01&_count=50",
                {"hn": _h("Patient", "name"), "lo": norm, "hi": prefix_upper_bound(norm),
                 "hd": _h("Patient", "birthdate"), "sl": low, "sh": high})

    def by_subject_identifier(rng: random.Random) -> tuple[str, dict[str, Any]]:
        n = rng.randrange(scale.patients)
        return (f"MedicationRequest?subject.identifier={INS_OID}|{ins(n)}&status=active",
                {"hv": _h("Patient", "identifier", ins(n)), "hy": _h("Patient", "identifier", INS_OID, ""),
                 "hs": _h("MedicationRequest", "subject"), "hst": _h("MedicationRequest", "status", "active")})

    def pharmacy_pull(rng: random.Random) -> tuple[str, dict[str, Any]]:
        pharmacy = pharmacy_id(rng.randrange(scale.pharmacies))
        return (f"CarePlan?status=active&care-team=Organization/{pharmacy}&_lastUpdated=gt2025-03-01"
                "&_include=CarePlan:activity-reference&_count=50",
                {"hs": _h("CarePlan", "status", "active"), "hc": _h("CarePlan", "care-team"), "org": pharmacy,
                 "since": "2025-03-01 23:59:59.999999", "ha": _h("CarePlan", "activity-reference")})

    sqlite = dialect == "sqlite"

    def of_type(alias: str, res_type: str) -> str:
        # SQLite would otherwise scan every resource of the type through the (res_type, …) index.
        return f"{alias}.res_type || '' = '{res_type}'" if sqlite else f"{alias}.res_type = '{res_type}'"

    def ordered(candidates: str, res_type: str, conditions: str, limit: int) -> str:
        """Candidate pks from an index, then resources checked in pk order until the page is full."""
        if sqlite:
            return (f"SELECT r.pk, r.res_id, r.content FROM resource r WHERE {of_type('r', res_type)} "
                    f"AND r.deleted = false AND r.pk IN ({candidates}) {conditions} ORDER BY r.pk LIMIT {limit}")
        return (f"SELECT r.pk, r.res_id, r.content FROM (SELECT DISTINCT res_pk FROM ({candidates}) c "
                f"ORDER BY res_pk) c CROSS JOIN LATERAL (SELECT r.pk, r.res_id, r.content FROM resource r "
                f"WHERE r.pk = c.res_pk AND r.res_type = '{res_type}' AND r.deleted = false {conditions}) r "
                f"ORDER BY c.res_pk LIMIT {limit}")

    care_plans = ordered(
        "SELECT res_pk FROM idx_reference WHERE target_id = :org AND target_type = 'Organization' "
        "AND hash_identity = :hc", "CarePlan",
        "AND r.last_updated > :since AND EXISTS (SELECT 1 FROM idx_token s WHERE s.res_pk = r.pk "
        "AND s.hash_value = :hs)", 50)
    return [
        Query("Patient?identifier=system|value", 10, by_identifier, [
            "SELECT r.pk, r.res_id, r.content FROM idx_token t JOIN resource r ON r.pk = t.res_pk "
            "WHERE t.hash_value = :hv AND t.hash_sys = :hy AND r.res_type = 'Patient' AND r.deleted = false "
            "ORDER BY r.pk LIMIT 20"]),
        Query("Patient?name=dur&birthdate=ge1950-01-01&_count=50", 40, by_name_birthdate, [ordered(
            "SELECT res_pk FROM idx_string WHERE hash_identity = :hn AND value_norm >= :lo AND value_norm < :hi",
            "Patient", "AND EXISTS (SELECT 1 FROM idx_date d WHERE d.res_pk = r.pk AND d.hash_identity = :hd "
            "AND (d.low >= :sl OR d.high > :sh))", 50)]),
        Query("MedicationRequest?subject.identifier=system|value&status=active", 25, by_subject_identifier, [ordered(
            "SELECT ref.res_pk FROM idx_reference ref WHERE ref.hash_identity = :hs AND ref.target_type = 'Patient' "
            f"AND ref.target_id IN (SELECT p.res_id FROM resource p WHERE {of_type('p', 'Patient')} "
            "AND p.deleted = false AND p.pk IN "
            "(SELECT res_pk FROM idx_token WHERE hash_value = :hv AND hash_sys = :hy))",
            "MedicationRequest",
            "AND EXISTS (SELECT 1 FROM idx_token s WHERE s.res_pk = r.pk AND s.hash_value = :hst)", 20)]),
        Query("CarePlan?status=active&care-team=Organization/x&_lastUpdated=gt…&_include=…&_count=50", 60,
              pharmacy_pull, [
                  care_plans,
                  # CROSS JOIN: SQLite keeps the page's references as the outer loop
                  "SELECT m.pk, m.content FROM idx_reference ref CROSS JOIN resource m "
                  "WHERE m.res_type = ref.target_type AND m.res_id = ref.target_id AND ref.hash_identity = :ha "
                  f"AND m.deleted = false AND ref.res_pk IN (SELECT pk FROM ({care_plans}) page)"]),
    ]


def time_http(base: str, query: Query, seed: int) -> tuple[list[float], int]:
    rng = random.Random(seed)
    timings, matches = [], 0
    with httpx.Client(timeout=60, headers=auth()) as http:
        for i in range(WARMUP + SAMPLES):
            url, _ = query.url(rng)
            started = time.perf_counter()
            response = http.get(f"{base}/{url}")
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
            if i >= WARMUP:
                timings.append(elapsed)
                matches += sum(1 for e in response.json().get("entry", []) if e["search"]["mode"] == "match")
    return timings, matches


def time_sql(url: str, query: Query, seed: int) -> tuple[list[float], int]:
    rng = random.Random(seed)
    engine = sa.create_engine(url)
    statements = [sa.text(s) for s in query.baseline]
    timings, matches = [], 0
    with engine.connect() as conn:
        for i in range(WARMUP + SAMPLES):
            _, params = query.url(rng)
            if engine.dialect.name == "sqlite" and "since" in params:
                params = {**params, "since": params["since"].replace("T", " ")}
            started = time.perf_counter()
            rows = [conn.execute(statement, params).all() for statement in statements]
            elapsed = time.perf_counter() - started
            if i >= WARMUP:
                timings.append(elapsed)
                matches += len(rows[0])
    engine.dispose()
    return timings, matches


def time_paging(base: str) -> tuple[list[float], list[float]]:
    """First and last page times of WALKS walks through PAGES pages of PAGE_SIZE Observations."""
    firsts, lasts = [], []
    with httpx.Client(timeout=60, headers=auth()) as http:
        for _ in range(WALKS):
            url = f"{base}/Observation?code={LOINC}|29463-7&_count={PAGE_SIZE}"
            for page in range(PAGES):
                started = time.perf_counter()
                bundle = http.get(url).json()
                elapsed = time.perf_counter() - started
                if page == 0:
                    firsts.append(elapsed)
                elif page == PAGES - 1:
                    lasts.append(elapsed)
                url = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    return firsts, lasts


@dataclass
class Figures:
    name: str
    target_ms: float
    http_p50: float
    http_p95: float
    sql_p50: float
    sql_p95: float
    matches: float


def run_target(name: str, url: str, scale_factor: float, cache: Path, *, fill: bool = True
               ) -> tuple[list[Figures], dict[str, float]]:
    """`fill=False` measures a database loaded earlier (`python -m bench.search_load URL --scale …`)."""
    loaded = {"resources": 0.0, "seconds": 0.0, "index_seconds": 0.0}
    if fill:
        print(f"[search] {name}: loading the data set (scale {scale_factor}) …", flush=True)
        loaded = load(url, scale_factor, registry(cache))
        print(f"[search] {name}: loaded {loaded['resources']} resources in {loaded['seconds']:.0f} s", flush=True)
    scale = Scale.of(scale_factor)
    figures = []
    with search_server(url) as base:
        dialect = sa.engine.make_url(url).get_backend_name()
        for seed, query in enumerate(queries(scale, dialect)):
            http_times, http_matches = time_http(base, query, seed)
            sql_times, sql_matches = time_sql(url, query, seed)
            if http_matches != sql_matches:
                print(f"[search] {name}: WARNING {query.name}: {http_matches} matches over HTTP, "
                      f"{sql_matches} by the baseline SQL", flush=True)
            figures.append(Figures(query.name, query.target_ms,
                                   percentile(http_times, 50) * 1000, percentile(http_times, 95) * 1000,
                                   percentile(sql_times, 50) * 1000, percentile(sql_times, 95) * 1000,
                                   http_matches / SAMPLES))
            print(f"[search] {name}: {figures[-1]}", flush=True)
        firsts, lasts = time_paging(base)
    paging = {"first_p50": percentile(firsts, 50) * 1000, "last_p50": percentile(lasts, 50) * 1000}
    print(f"[search] {name}: paging {paging}", flush=True)
    return figures, {**paging, **loaded}


__all__ = ["Figures", "run_target", "search_server", "patient_id"]
