"""`make bench` part for issue 4: FHIRPath suite figure, indexing cost, search latency at scale.

Writes the `## Search` section of bench/RESULTS.md. ONCOLINK_BENCH_SEARCH_SCALE (default 1.0) scales
the data set for quicker runs; the recorded figures say which scale they were measured at.
"""

from __future__ import annotations

import os
from pathlib import Path

from .common import ROOT, machine, record, targets
from .foundation import BUNDLE_SIZE, CREATE_TOTAL, _bundles, post_bundles
from .search_queries import Figures, run_target, search_server

SCALE = float(os.environ.get("ONCOLINK_BENCH_SEARCH_SCALE", "1.0"))
CACHE = Path(os.environ.get("ONCOLINK_PACKAGE_CACHE", Path.home() / ".fhir" / "packages"))
INDEXING_TARGET = 0.60


def fhirpath_figure() -> tuple[int, int]:
    from fhir_server.validation.packages import R4_CORE, PackageRegistry
    from tests.search.fhirpath_suite import run

    outcomes = run(PackageRegistry.from_cache(CACHE, [R4_CORE]))
    return sum(o.passed for o in outcomes), len(outcomes)


def indexing_cost(url: str) -> tuple[float, float]:
    """Create throughput (resources/s) through the API without and with search indexing."""
    rates = []
    for index, flag in enumerate(("1", "0")):
        bundles = _bundles(100 + index, CREATE_TOTAL, start=index * CREATE_TOTAL)
        with search_server(url, ONCOLINK_BENCH_NO_INDEX=flag) as base:
            post_bundles(base, _bundles(99, 2 * BUNDLE_SIZE, start=10**7 + index * 1000))  # warm-up
            elapsed, _ = post_bundles(base, bundles)
        rates.append(CREATE_TOTAL / elapsed)
    return rates[0], rates[1]


def main() -> None:
    passed, total = fhirpath_figure()
    print(f"[search] FHIRPath R4 suite: {passed}/{total}", flush=True)
    query_rows: list[str] = []
    other_rows: list[str] = []
    index_rows: list[str] = []
    with targets(ROOT / "var" / "bench") as dbs:
        for target in dbs:
            without, with_index = indexing_cost(target.url)
            ratio = with_index / without
            index_rows.append(f"| {target.name} | {without:.0f}/s | {with_index:.0f}/s | {ratio:.1%} "
                              f"| {'ok' if ratio >= INDEXING_TARGET else 'MISSED'} |")
            print(f"[search] {target.name}: indexing cost {index_rows[-1]}", flush=True)
        for target in dbs:
            figures, other = run_target(target.name, target.url, SCALE, CACHE)
            load = os.getloadavg()[0]
            query_rows.extend(_query_row(f"{target.name} (load {load:.1f})", f) for f in figures)
            slower = other["last_p50"] / other["first_p50"]
            other_rows.append(
                f"| {target.name} | {other['resources']:,} in {other['seconds']:.0f} s "
                f"({other['resources'] / other['seconds']:.0f}/s, indexing {other['index_seconds']:.0f} s) "
                f"| {other['first_p50']:.1f} ms | {other['last_p50']:.1f} ms | {slower:.2f}× "
                f"| {'ok' if slower <= 2 else 'MISSED'} |")
    body = (
        f"Machine: {machine()}. Shared with other work during the run (the 1-minute load average at the end "
        "of each database's queries is shown; 2 cores): figures are upper bounds, p95 most of all.\n\n"
        f"### FHIRPath R4 suite\n\n{passed} / {total} tests pass with the engine as the server wraps it "
        "(fhirpathpy 2.2.4 with the R4 model passes 776; the wrapper adds `resolve()`, `Resource.` roots, FHIR "
        "constants, lowBoundary/highBoundary, matchesFull, escape/unescape); "
        "`tests/search/test_fhirpath_suite.py` asserts the floor.\n\n"
        f"### Search latency (data set scale {SCALE}: 100,000 Patients, 300,000 MedicationRequests, "
        "100,000 CarePlans, 200,000 Observations at 1.0)\n\n"
        "One client, loopback HTTP to the server process (`bench/search_server.py`: the app of `oncolink serve` "
        "with the profiles package), values varying per request; baseline = the hand-written SQL for the same "
        "result over the same tables, in-process, same database.\n\n"
        "| database | query | HTTP p50 / p95 | target p95 | baseline SQL p50 / p95 | ratio (p50) | matches |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(query_rows) + "\n\n"
        "### Load and paging (10,000 Observations, `_count=100`, keyset cursors)\n\n"
        "| database | load with indexing | first page p50 | 100th page p50 | last/first | ≤ 2× |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(other_rows) + "\n\n"
        f"### Indexing cost ({CREATE_TOTAL:,} Patients as transactions of {BUNDLE_SIZE}, 2 clients)\n\n"
        "| database | create without indexing | with indexing | ratio | ≥ 60 % |\n|---|---|---|---|---|\n"
        + "\n".join(index_rows) + "\n\n" + INDEXING_NOTE
    )
    record("Search", body)


INDEXING_NOTE = """Where indexing time goes (measured in-process, 10,000 Patients in transactions of 100, CPU
time, 2026-12-07): 13 rows per Patient; extraction about 40 µs, extraction + inserts + commit about 100 µs on
SQLite (175 µs with the 19 rows and two token value indexes before ADR 0017) and 50 µs of the server's CPU on
PostgreSQL (78 µs before), where the B-tree work happens in the database process. On SQLite most of the
insert and commit cost is pages: value-ordered indexes receive keys in random order, and a transaction of
100 Patients dirties about 700 distinct 4 KiB pages (1,000 before), each written to the WAL at commit.
Done: direct evaluator instead of fhirpathpy for 99.8 % of branches, rows as tuples straight to
`executemany`/COPY, tables clustered on `res_pk` (SQLite WITHOUT ROWID), identical parameters sharing rows
(`phonetic` = `name`), part parameters (`family`, `given`, `address-city`…, `phone`, `email`) reading their
parent's rows, one token value index, no text columns nothing reads, no DELETE for a first version, and the
checks and index rows of a transaction's plain creates computed before its write transaction (ADR 0017)."""


def _query_row(database: str, f: Figures) -> str:
    status = "ok" if f.http_p95 <= f.target_ms else "MISSED"
    return (f"| {database} | `{f.name}` | {f.http_p50:.1f} / {f.http_p95:.1f} ms | ≤ {f.target_ms:.0f} ms {status} "
            f"| {f.sql_p50:.2f} / {f.sql_p95:.2f} ms | {f.http_p50 / max(f.sql_p50, 1e-3):.0f}× | {f.matches:.1f} |")



if __name__ == "__main__":
    main()
