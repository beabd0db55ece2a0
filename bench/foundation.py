"""Issue 3 benchmark: create throughput, read latency at 100,000 resources, server memory.

Each figure is printed with a baseline measured in the same run on the same database: raw INSERTs of
the same JSON documents into a one-table schema for creates, a raw primary-key SELECT for reads.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import orjson
import sqlalchemy as sa

from .common import PG_ADMIN_URL, ROOT, Target, auth, machine, percentile, record, server, targets
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


def read_latencies(base: str, ids: list[str], samples: int = READ_SAMPLES) -> list[float]:
    rng = random.Random(7)
    sample = [rng.choice(ids) for _ in range(samples)]
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


def raw_read_baseline(url: str, ids: list[str], samples: int = READ_SAMPLES) -> list[float]:
    rng = random.Random(7)
    sample = [rng.choice(ids) for _ in range(samples)]
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


@contextmanager
def kept_targets(name: str) -> Iterator[list[Target]]:
    """Databases named `name` that outlive the run (a SQLite file under var/bench, a PostgreSQL schema), so
    that servers of two source trees can be read from in alternating runs over the same stored data."""
    sqlite_file = ROOT / "var" / "bench" / f"{name}.db"
    sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{name}"')
    admin.dispose()
    yield [Target("SQLite", f"sqlite:///{sqlite_file}"),
           Target("PostgreSQL", f"{PG_ADMIN_URL}?options=-csearch_path%3D{name}")]


def stored_patients(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("resource"):
                return []
            query = "SELECT res_id FROM resource WHERE res_type = 'Patient' AND NOT deleted"
            return list(conn.exec_driver_sql(query).scalars())
    finally:
        engine.dispose()


def run_reads(target: Target, store: int, samples: int) -> dict[str, float]:
    """The read part alone: fill to `store` Patients when the database holds fewer, then time reads."""
    ids = stored_patients(target.url)
    with server(target.url) as (base, _proc):
        if len(ids) < store:
            print(f"[foundation] {target.name}: filling {len(ids)} → {store} Patients …", flush=True)
            _, more = post_bundles(base, _bundles(len(ids) + 2, store - len(ids), start=len(ids)))
            ids += more
        reads = read_latencies(base, ids, samples)
    raw_reads = raw_read_baseline(target.url, ids, samples)
    return {
        "read_p50": percentile(reads, 50) * 1000,
        "read_p99": percentile(reads, 99) * 1000,
        "raw_p50": percentile(raw_reads, 50) * 1000,
        "raw_p99": percentile(raw_reads, 99) * 1000,
        "stored": len(ids),
    }


def creates_only(databases: list[str], runs: int) -> None:
    """Print the create figures (rate, raw-insert baseline, server CPU per resource, RSS) on fresh databases;
    not recorded. Server CPU time is printed because wall-clock rates swing on a shared machine."""
    bundles = _bundles(1, CREATE_TOTAL)
    for _ in range(runs):
        with targets(ROOT / "var" / "bench") as dbs:
            for target in dbs:
                if target.name.lower() not in databases:
                    continue
                with server(target.url) as (base, proc):
                    rss_start = proc.memory_info().rss / 2**20
                    cpu_start = sum(proc.cpu_times()[:2])
                    elapsed, _ = post_bundles(base, bundles)
                    cpu = sum(proc.cpu_times()[:2]) - cpu_start
                    rss = proc.memory_info().rss / 2**20
                raw = CREATE_TOTAL / raw_insert_baseline(target.url, bundles)
                rate = CREATE_TOTAL / elapsed
                print(f"| {target.name} | {rate:.0f}/s | raw {raw:.0f}/s | ratio {rate / raw:.1%} "
                      f"| server CPU {cpu / CREATE_TOTAL * 1e6:.0f} µs/resource | RSS {rss_start:.0f} → {rss:.0f} MB "
                      f"| load {os.getloadavg()[0]:.2f} |", flush=True)


def reads_only(store: int, samples: int, keep: str | None, databases: list[str]) -> None:
    """Print the read figures of the target databases; not recorded (a partial run of this benchmark)."""
    chosen = kept_targets(keep) if keep else targets(ROOT / "var" / "bench")
    with chosen as dbs:
        for target in dbs:
            if target.name.lower() not in databases:
                continue
            r = run_reads(target, store, samples)
            print(f"| {target.name} | {r['stored']} Patients "
                  f"| read p50 / p99 {r['read_p50']:.2f} / {r['read_p99']:.2f} ms "
                  f"| raw SELECT {r['raw_p50']:.2f} / {r['raw_p99']:.2f} ms "
                  f"| ratio p50 {r['read_p50'] / r['raw_p50']:.0f}× | load {os.getloadavg()[0]:.2f} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads-only", action="store_true", help="only the read-latency part (printed, not recorded)")
    parser.add_argument("--creates-only", action="store_true",
                        help="only the create part on fresh databases (printed, not recorded)")
    parser.add_argument("--runs", type=int, default=1, help="repetitions of --creates-only")
    parser.add_argument("--store", type=int, default=READ_STORE, help="Patients stored before the reads")
    parser.add_argument("--samples", type=int, default=READ_SAMPLES)
    parser.add_argument("--keep", metavar="NAME", help="reuse (or create) databases named NAME across runs")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], action="append",
                        help="only this database (repeatable; both by default)")
    args = parser.parse_args(argv)
    if args.creates_only:
        creates_only(args.database or ["sqlite", "postgresql"], args.runs)
        return
    if args.reads_only:
        reads_only(args.store, args.samples, args.keep, args.database or ["sqlite", "postgresql"])
        return
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
