"""Issue 3 benchmark: create throughput, read latency at 100,000 resources, server memory.

Each figure is printed with a baseline measured in the same run on the same database: raw INSERTs of
the same JSON documents into a one-table schema for creates, a raw primary-key SELECT for reads.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import sqlalchemy as sa

from .common import ROOT, Target, auth, machine, percentile, record, server, targets
from .data import patient, transaction
from .profile_create import profile

CREATE_TOTAL = 10_000
BUNDLE_SIZE = 100
READ_STORE = 100_000
READ_SAMPLES = 3_000
CLIENTS = 2


def _bundles(seed: int, count: int, start: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    docs = [patient(rng, start + i) for i in range(count)]
    return [orjson.dumps(transaction(docs[i:i + BUNDLE_SIZE])) for i in range(0, count, BUNDLE_SIZE)]


def post_bundles(base: str, bundles: list[bytes], clients: int = CLIENTS) -> tuple[float, list[str]]:
    """POST every bundle with `clients` persistent connections; returns seconds and the created ids."""
    ids: list[str] = []
    lock = threading.Lock()
    chunks = [bundles[i::clients] for i in range(clients)]

    def run(chunk: list[bytes]) -> None:
        with httpx.Client(timeout=300, headers=auth(**{"Content-Type": "application/fhir+json"})) as http:
            for body in chunk:
                response = http.post(base, content=body)
                response.raise_for_status()
                found = [e["response"]["location"].split("/")[1] for e in response.json()["entry"]]
                with lock:
                    ids.extend(found)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, chunks))
    return time.perf_counter() - started, ids


def raw_insert_baseline(url: str, bundles: list[bytes]) -> float:
    """The same documents inserted with plain SQL into one table, one transaction per 100."""
    engine = sa.create_engine(url)
    table = f"raw_{uuid.uuid4().hex[:8]}"
    json_type = "JSONB" if engine.dialect.name == "postgresql" else "TEXT"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table} (id VARCHAR(64) PRIMARY KEY, content {json_type} NOT NULL)")
    batches = [
        [{"id": str(uuid.uuid4()), "content": orjson.dumps(e["resource"]).decode()}
         for e in orjson.loads(body)["entry"]]
        for body in bundles
    ]
    cast = "CAST(:content AS JSONB)" if engine.dialect.name == "postgresql" else ":content"
    insert = sa.text(f"INSERT INTO {table} (id, content) VALUES (:id, {cast})")
    started = time.perf_counter()
    for rows in batches:
        with engine.begin() as conn:
            conn.execute(insert, rows)
    elapsed = time.perf_counter() - started
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {table}")
    engine.dispose()
    return elapsed


def read_latencies(base: str, ids: list[str]) -> list[float]:
    rng = random.Random(7)
    sample = [rng.choice(ids) for _ in range(READ_SAMPLES)]
    timings = []
    with httpx.Client(timeout=30, headers=auth()) as http:
        for rid in sample[:200]:  # warm-up: connection, caches
            http.get(f"{base}/Patient/{rid}")
        for rid in sample:
            started = time.perf_counter()
            response = http.get(f"{base}/Patient/{rid}")
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200
    return timings


def raw_read_baseline(url: str, ids: list[str]) -> list[float]:
    rng = random.Random(7)
    sample = [rng.choice(ids) for _ in range(READ_SAMPLES)]
    engine = sa.create_engine(url)
    query = sa.text("SELECT content FROM resource WHERE res_type = 'Patient' AND res_id = :id")
    timings = []
    with engine.connect() as conn:
        for rid in sample:
            started = time.perf_counter()
            conn.execute(query, {"id": rid}).scalar_one()
            timings.append(time.perf_counter() - started)
    engine.dispose()
    return timings


def run_target(target: Target) -> dict[str, float]:
    create_bundles = _bundles(1, CREATE_TOTAL)
    fill_bundles = _bundles(2, READ_STORE - CREATE_TOTAL, start=CREATE_TOTAL)
    with server(target.url) as (base, proc):
        rss_start = proc.memory_info().rss
        elapsed, ids = post_bundles(base, create_bundles)
        rss_after_create = proc.memory_info().rss
        _, more = post_bundles(base, fill_bundles)
        ids += more
        reads = read_latencies(base, ids)
    baseline = raw_insert_baseline(target.url, create_bundles)
    raw_reads = raw_read_baseline(target.url, ids)
    return {
        "create_rate": CREATE_TOTAL / elapsed,
        "raw_rate": CREATE_TOTAL / baseline,
        "read_p50": percentile(reads, 50) * 1000,
        "read_p99": percentile(reads, 99) * 1000,
        "raw_p50": percentile(raw_reads, 50) * 1000,
        "raw_p99": percentile(raw_reads, 99) * 1000,
        "rss_start": rss_start / 2**20,
        "rss_after_create": rss_after_create / 2**20,
        "stored": len(ids),
    }


def main() -> None:
    rows = []
    profiles = []
    with targets(ROOT / "var" / "bench") as dbs:
        for target in dbs:
            print(f"[foundation] {target.name}: creating {CREATE_TOTAL} then filling to {READ_STORE} …", flush=True)
            r = run_target(target)
            ratio = r["create_rate"] / r["raw_rate"]
            line = (
                f"| {target.name} | {r['create_rate']:.0f}/s | {r['raw_rate']:.0f}/s | {ratio:.1%} "
                f"| {r['read_p50']:.2f} / {r['read_p99']:.2f} ms | {r['raw_p50']:.2f} / {r['raw_p99']:.2f} ms "
                f"| {r['rss_start']:.0f} → {r['rss_after_create']:.0f} MB |"
            )
            print(line, flush=True)
            rows.append(line)
            profiles.append(f"**{target.name}**: {profile(target.url)}")
    body = (
        f"Machine: {machine()}. Server = `oncolink serve` subprocess, uvicorn over loopback; {CLIENTS} client "
        f"connections posting transaction Bundles of {BUNDLE_SIZE} Patients ({CREATE_TOTAL} in all), then filled to "
        f"{READ_STORE} Patients; {READ_SAMPLES} random reads by id with one client. Baselines in the same run and "
        "database: raw INSERT of the same JSON into a one-table schema (one transaction per 100), "
        "raw SELECT by key.\n\n"
        "Targets: create ≥ 1,500/s (ratio aim ≥ 10 %), read p50 ≤ 3 ms and p99 ≤ 15 ms, RSS after creates ≤ 300 MB.\n\n"
        "| database | create (API) | raw INSERT | ratio | read p50 / p99 | raw SELECT p50 / p99 | server RSS |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
        + "\n\nWhere the create time goes (cProfile of the same transactions in-process, "
        "`bench/profile_create.py`):\n\n"
        + "\n\n".join(profiles)
    )
    record("Foundation (issue 3)", body)


if __name__ == "__main__":
    main()
