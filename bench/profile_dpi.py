"""CPU cost per HL7 v2 message, in-process: the app and the DPI adapter in one event loop, no MLLP.

Wall-clock throughput on a shared machine says little; CPU time of this process per message (adapter,
ASGI call, FHIR transaction, journal) is what the end-to-end rate is bounded by. With `--profile` the
cProfile own time is grouped by layer, like `bench/profile_create.py`. PostgreSQL work done inside the
database server is not in this process's CPU time (its wall time is printed alongside).

    python -m bench.profile_dpi [adt|rde] [COUNT] [DATABASE_URL] [--profile] [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import threading
import time
from pathlib import Path

from adapters.dpi.service import start
from adapters.dpi.settings import DpiSettings
from adapters.fhir_client import FhirClient
from fhir_server.app import create_app
from fhir_server.services import build_services
from fhir_server.settings import Settings

from .common import WRITE_PATH_LAYERS, auth, issuer_settings, time_by_layer
from .dpi_mllp import adt_messages, rde_messages

LAYERS = {
    **WRITE_PATH_LAYERS,
    "DPI adapter": ("adapters/",),
    "HTTP stack (httpx, starlette, fastapi)": ("httpx/", "starlette/", "fastapi/", "anyio/", "h11"),
    "asyncio": ("asyncio/",),
}


_THREAD_PROFILERS: list[cProfile.Profile] = []


def _thread_profiler(*_args: object) -> None:
    """Worker threads (the server's sync endpoints, the journal) get their own profiler, since cProfile
    only sees the thread that enabled it; timed in thread CPU time, so waiting on a lock is no cost."""
    own = cProfile.Profile(time.thread_time)
    _THREAD_PROFILERS.append(own)
    own.enable()


async def run(kind: str, count: int, url: str, profile: bool, concurrency: int) -> None:
    if profile:  # before any worker thread starts: the thread profilers also see the warm-up
        threading.setprofile(_thread_profiler)
    services = build_services(Settings(database_url=url, **issuer_settings()))
    app = create_app(services=services)
    make = adt_messages if kind == "adt" else rde_messages
    warm, messages = make(50, start=1_000_000), make(count, start=2_000_000)
    async with FhirClient.for_app(app, run_lifespan=True, headers=auth("dpi-interface")) as client:
        service = await start(DpiSettings(database_url=url, mllp_port=0), client, listen=False)
        try:
            for raw in warm:
                assert (await service.process(raw)).code == "AA"
            queue = list(reversed(messages))
            codes: dict[str, int] = {}

            async def sender() -> None:
                while queue:
                    outcome = await service.process(queue.pop(), transport="mllp", peer="bench")
                    codes[outcome.code] = codes.get(outcome.code, 0) + 1

            profiler = cProfile.Profile(time.thread_time) if profile else None
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            await asyncio.gather(*(sender() for _ in range(concurrency)))
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            await service.stop()
    services.close()
    print(f"{kind} x{count} concurrency {concurrency} on {url.split(':')[0]}: codes {codes}; "
          f"CPU {cpu / count * 1e3:.2f} ms/message, wall {wall / count * 1e3:.2f} ms/message"
          f"{' (profiled)' if profiler else ''}")
    if profiler:
        stats = pstats.Stats(profiler, *_THREAD_PROFILERS)
        per_layer = time_by_layer(stats, LAYERS)
        total = sum(per_layer.values())
        for layer, seconds in sorted(per_layer.items(), key=lambda kv: -kv[1]):
            print(f"| {layer} | {seconds / count * 1e3:.2f} ms | {seconds / total:.0%} |")
        stats.sort_stats("cumulative").print_stats("fhir_server|adapters", 40)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", nargs="?", default="adt", choices=["adt", "rde"])
    parser.add_argument("count", nargs="?", type=int, default=300)
    parser.add_argument("url", nargs="?", default="")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'dpi.db'}"
    asyncio.run(run(args.kind, args.count, url, args.profile, args.concurrency))


if __name__ == "__main__":
    main()
