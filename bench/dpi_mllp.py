"""Issue 6 benchmark: HL7 v2 over MLLP end to end (receive → journal → parse → map → FHIR transaction
committed → ACK), 4 concurrent senders on persistent connections, on SQLite and PostgreSQL.

Baseline in the same run: the bare MLLP echo round trip of the same messages (a listener answering a
fixed ACK, in its own process like the server). Sizes can be lowered for a quick look with
DPI_BENCH_ADT, DPI_BENCH_RDE and DPI_BENCH_MEMORY (messages), DPI_BENCH_MEMORY_DB (SQLite, PostgreSQL or all).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import orjson
import psutil

from adapters.dpi.er7 import parse_bytes
from adapters.dpi.maps import Mappings
from adapters.dpi.mllp import END_BLOCK, frame
from adapters.dpi.settings import DEFAULT_MAPPINGS
from adapters.dpi.transform import BUILDERS, Builder

from . import dpi_parse
from .common import ROOT, auth, free_port, machine, percentile, record, server, targets

SENDERS = 4
ADT_COUNT = int(os.environ.get("DPI_BENCH_ADT", "4000"))
RDE_COUNT = int(os.environ.get("DPI_BENCH_RDE", "2000"))
MEMORY_COUNT = int(os.environ.get("DPI_BENCH_MEMORY", "20000"))
MEMORY_DB = os.environ.get("DPI_BENCH_MEMORY_DB", "SQLite")
MESSAGES = ROOT / "tests" / "adapters" / "dpi" / "messages"


def adt_messages(count: int, start: int = 0) -> list[bytes]:
    """PAM-FR ADT^A01 (~1 KB, INS, Z-segments), one new patient and stay each."""
    template = (MESSAGES / "adt_a01_pamfr_ins.hl7").read_bytes()
    out = []
    for n in range(start, start + count):
        out.append(template.replace(b"0012345^^^", f"{n:07d}^^^".encode())
                   .replace(b"279035121518989", f"2790351{n:08d}".encode())
                   .replace(b"VIS-2025-0001", f"VIS-{n:08d}".encode())
                   .replace(b"MVT-0001", f"MVT-{n:08d}".encode())
                   .replace(b"|A01-0001|", f"|A01-{n:08d}|".encode()))
    return out


def rde_messages(count: int, start: int = 0) -> list[bytes]:
    """RDE^O11 with 3 orders (one prescription), one new patient each (IPP and INS); same prescriber and drugs."""
    template = (MESSAGES / "rde_o11_three_orders.hl7").read_bytes()
    out = []
    for n in range(start, start + count):
        out.append(template.replace(b"0012345^^^", f"R{n:07d}^^^".encode())
                   .replace(b"279035121518989", f"2790352{n:08d}".encode())
                   .replace(b"VIS-2025-0001", f"VISR-{n:08d}".encode())
                   .replace(b"CMD-100", f"C{n:08d}-".encode())
                   .replace(b"PRESC-2025-042", f"P{n:08d}".encode())
                   .replace(b"|RDE-0001|", f"|RDE-{n:08d}|".encode()))
    return out


@dataclass
class Run:
    seconds: float
    latencies: list[float]
    codes: dict[str, int]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


async def _sender(port: int, payloads: list[bytes], latencies: list[float], codes: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for payload in payloads:
            started = time.perf_counter()
            writer.write(frame(payload))
            await writer.drain()
            answer = await reader.readuntil(END_BLOCK + b"\r")
            latencies.append(time.perf_counter() - started)
            code = answer.split(b"MSA|", 1)[1][:2].decode() if b"MSA|" in answer else "??"
            codes[code] = codes.get(code, 0) + 1
    finally:
        writer.close()


async def _load(port: int, messages: list[bytes], senders: int = SENDERS) -> Run:
    latencies: list[float] = []
    codes: dict[str, int] = {}
    shares = [messages[i::senders] for i in range(senders)]
    started = time.perf_counter()
    await asyncio.gather(*(_sender(port, share, latencies, codes) for share in shares))
    return Run(time.perf_counter() - started, latencies, codes)


def load(port: int, messages: list[bytes]) -> Run:
    return asyncio.run(_load(port, messages))


def _wait_port(port: int, alive: Callable[[], bool], what: str) -> None:
    """Until something listens on `port`; the caller's context stops the process on failure."""
    import socket

    deadline = time.monotonic() + 60
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if not alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.2)


@contextmanager
def dpi_server(database_url: str, **extra_env: str) -> Iterator[tuple[int, psutil.Process, str]]:
    """The server with its MLLP listener, in its own process; yields the MLLP port, the process and the
    FHIR base URL."""
    mllp = free_port()
    with server(database_url, ONCOLINK_MLLP_PORT=str(mllp), **extra_env) as (base, proc):
        _wait_port(mllp, proc.is_running, "the MLLP listener")
        yield mllp, proc, base


@contextmanager
def echo_server() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.mllp_echo", str(port)], cwd=ROOT)
    try:
        _wait_port(port, lambda: proc.poll() is None, "the echo listener")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bundles(messages: list[bytes]) -> list[bytes]:
    """The transaction Bundles the adapter would submit for these messages (built here, once)."""
    mappings = Mappings.load(DEFAULT_MAPPINGS)
    out = []
    for raw in messages:
        message = parse_bytes(raw)
        spec = mappings.messages[message.type_name]
        out.append(orjson.dumps(BUILDERS[spec.kind](Builder(message, mappings, spec)).bundle))
    return out


def direct(base: str, payloads: list[bytes]) -> Run:
    """Reference: the same transactions posted straight to the server's REST API, same concurrency."""
    latencies: list[float] = []
    codes: dict[str, int] = {}

    def run(share: list[bytes]) -> None:
        with httpx.Client(timeout=120, headers=auth(**{"Content-Type": "application/fhir+json"})) as http:
            for body in share:
                started = time.perf_counter()
                status = http.post(base, content=body).status_code
                latencies.append(time.perf_counter() - started)
                codes[str(status)] = codes.get(str(status), 0) + 1

    started = time.perf_counter()
    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(run, [payloads[i::SENDERS] for i in range(SENDERS)]))
    return Run(time.perf_counter() - started, latencies, codes)


def _check(run: Run, what: str) -> None:
    if set(run.codes) not in ({"AA"}, {"200"}):
        raise RuntimeError(f"{what}: not every message was accepted: {run.codes}")


@dataclass
class Measured:
    """A load on the server, with the server process's CPU time per message (the machine is shared:
    wall-clock rates depend on what else runs, CPU per message much less)."""

    run: Run
    cpu_ms: float
    load: float


def measured(port: int, proc: psutil.Process, messages: list[bytes]) -> Measured:
    before = proc.cpu_times()
    run = load(port, messages)
    after = proc.cpu_times()
    cpu = (after.user + after.system) - (before.user + before.system)
    return Measured(run, cpu / len(messages) * 1000, os.getloadavg()[0])


def _options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.dpi_mllp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--adt", type=int, default=ADT_COUNT, help="ADT^A01 messages per database")
    parser.add_argument("--rde", type=int, default=RDE_COUNT, help="RDE^O11 messages per database")
    parser.add_argument("--memory", type=int, default=MEMORY_COUNT, help="messages of the memory run (0: none)")
    parser.add_argument("--databases", default="SQLite,PostgreSQL", help="comma-separated: SQLite, PostgreSQL")
    parser.add_argument("--no-direct", action="store_true", help="skip the 'same Bundles over REST' reference")
    parser.add_argument("--no-record", action="store_true", help="print the table, leave bench/RESULTS.md alone")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra server environment (e.g. ONCOLINK_DPI_GROUP_MAX_MESSAGES=1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    options = _options(argv)
    wanted = {name.strip().lower() for name in options.databases.split(",")}
    extra_env = dict(item.split("=", 1) for item in options.env)
    adt = adt_messages(options.adt)
    rde = rde_messages(options.rde)
    with echo_server() as port:
        load(port, adt[:500])  # warm-up
        echo_adt = load(port, adt)
        echo_rde = load(port, rde)
    print(f"[dpi] echo baseline: ADT {echo_adt.rate:.0f}/s p99 {echo_adt.p(99):.2f} ms, "
          f"RDE {echo_rde.rate:.0f}/s", flush=True)
    rows, cpu_rows, memory_rows = [], [], []
    with targets(ROOT / "var" / "bench") as dbs:
        for target in [t for t in dbs if t.name.lower() in wanted]:
            with dpi_server(target.url, **extra_env) as (port, proc, base):
                load(port, adt_messages(200, start=10_000_000))  # warm-up: connections, caches
                adt_run = measured(port, proc, adt)
                _check(adt_run.run, "ADT")
                rde_run = measured(port, proc, rde)
                _check(rde_run.run, "RDE")
                adt_direct = rde_direct = "–"
                if not options.no_direct:
                    run = direct(base, bundles(adt_messages(options.adt, start=30_000_000)))
                    _check(run, "ADT bundles over REST")
                    adt_direct = f"{run.rate:.0f}/s"
                    run = direct(base, bundles(rde_messages(options.rde, start=30_000_000)))
                    _check(run, "RDE bundles over REST")
                    rde_direct = f"{run.rate:.0f}/s"
                a, r = adt_run.run, rde_run.run
                line = (f"| {target.name} | {a.rate:.0f}/s | {a.p(50):.1f} / {a.p(99):.1f} ms "
                        f"| {echo_adt.rate:.0f}/s, p99 {echo_adt.p(99):.2f} ms | {adt_direct} "
                        f"| {r.rate:.0f}/s | {r.p(50):.1f} / {r.p(99):.1f} ms "
                        f"| {echo_rde.rate:.0f}/s | {rde_direct} |")
                cpu_line = (f"| {target.name} | {adt_run.cpu_ms:.2f} ms | {adt_run.load:.1f} "
                            f"| {rde_run.cpu_ms:.2f} ms | {rde_run.load:.1f} |")
                print(line, flush=True)
                print(cpu_line, flush=True)
                rows.append(line)
                cpu_rows.append(cpu_line)
                if options.memory and MEMORY_DB in (target.name, "all"):
                    memory_rows.append(_memory(target.name, port, proc, options.memory))
    if options.no_record:
        return
    body = (
        f"Machine: {machine()}. Server = FHIR app + DPI adapter in one process (`python -m fhir_server serve`, "
        f"wired as `oncolink serve`), uvicorn + asyncio MLLP on loopback; journal in the same database. "
        f"{SENDERS} concurrent senders on persistent connections, each waiting for its ACK. "
        f"ADT^A01 = PAM-FR admission, {len(adt[0])} bytes, a new patient and stay per message "
        f"(Patient + Encounter + Provenance); RDE^O11 = 3 orders, {len(rde[0])} bytes, a new patient per message "
        f"(Patient, Encounter, 3 MedicationRequests, Provenance; prescriber and drugs shared). "
        f"{options.adt} ADT then {options.rde} RDE per database. Baseline in the same run: the bare MLLP echo "
        "round trip of the same messages (listener in its own process answering a fixed ACK).\n\n"
        "Targets: ADT ≥ 500 msg/s with ACK p99 ≤ 50 ms; RDE (3 orders) ≥ 250 msg/s; RSS growth ≤ 50 MB over "
        "100,000 messages.\n\n"
        "The 'same Bundles over REST' columns post, with the same 4-way concurrency, the transaction Bundles the "
        "adapter builds for the same kind of messages straight to `POST /fhir`: the server's own ceiling, "
        "without MLLP, journal or mapping.\n\n"
        "| database | ADT^A01 | ADT ACK p50 / p99 | echo baseline (ADT) | same Bundles over REST (ADT) "
        "| RDE^O11 ×3 | RDE ACK p50 / p99 | echo baseline (RDE) | same Bundles over REST (RDE) |\n"
        "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    body += ("\n\nServer process CPU time per message in the same runs (user + system, from /proc; on PostgreSQL "
             "the database's own work is in its processes, not here), with the 1-minute load average at the end "
             "of each run (2 cores, shared):\n\n| database | ADT CPU/message | load | RDE CPU/message | load |\n"
             "|---|---|---|---|---|\n" + "\n".join(cpu_rows))
    body += ("\n\nHL7 v2 parsing (same machine, same run; see docs/adr/0002-hl7v2-library.md):\n\n"
             + dpi_parse.table())
    if memory_rows:
        body += ("\n\nMemory (server RSS, ADT^A01 new patients, same senders; DPI_BENCH_MEMORY messages):\n\n"
                 "| database | messages | RSS start → end | growth | rate |\n|---|---|---|---|---|\n"
                 + "\n".join(memory_rows))
    record("DPI adapter (issue 6)", body)


def _memory(name: str, port: int, proc: psutil.Process, count: int) -> str:
    batch = 10_000
    start_rss = proc.memory_info().rss / 2**20
    done = 0
    started = time.perf_counter()
    while done < count:
        size = min(batch, count - done)
        run = load(port, adt_messages(size, start=20_000_000 + done))
        _check(run, "memory run")
        done += size
        print(f"[dpi] {name} memory run: {done} messages, RSS {proc.memory_info().rss / 2**20:.0f} MB", flush=True)
    end_rss = proc.memory_info().rss / 2**20
    rate = done / (time.perf_counter() - started)
    return f"| {name} | {done} | {start_rss:.0f} → {end_rss:.0f} MB | {end_rss - start_rss:+.0f} MB | {rate:.0f}/s |"


if __name__ == "__main__":
    main()
