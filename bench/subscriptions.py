"""Subscription delivery benchmark (issue 9): delay from commit to delivery on a loopback receiver while
CarePlans are written at ~50/s through `oncolink serve` (its own delivery worker, default settings).

The delay of one notification is measured from the moment its write was *sent* (the commit happens later,
so this overstates the delay) to its arrival at the receiver. Baseline in the same run: a bare loopback
POST of the same body to the same receiver. Target: p95 ≤ 2 s."""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from .common import auth, machine, percentile, record, server, targets

SECTION = "Subscriptions (issue 9)"
JSON = {"Content-Type": "application/fhir+json"}
PATIENTS = 10


@contextmanager
def receiver() -> Iterator[tuple[str, dict[str, float]]]:
    """A loopback receiver; yields its URL and `{request path: arrival time}`."""
    arrivals: dict[str, float] = {}

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrivals[self.path] = time.perf_counter()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = _record  # noqa: N815 - the names http.server dispatches to

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base class signature
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", arrivals
    finally:
        httpd.shutdown()
        httpd.server_close()


def _care_plan(patient: int) -> dict[str, Any]:
    return {"resourceType": "CarePlan", "status": "active", "intent": "plan",
            "subject": {"reference": f"Patient/bench-{patient}"}}


def baseline(url: str, arrivals: dict[str, float], count: int) -> list[float]:
    """Bare loopback PUTs of the same body, send to arrival, in ms."""
    delays = []
    with httpx.Client(timeout=10, headers=auth()) as http:
        for n in range(count):
            began = time.perf_counter()
            http.put(f"{url}/CarePlan/baseline-{n}", json=_care_plan(n % PATIENTS), headers=JSON)
            delays.append((arrivals[f"/hook/CarePlan/baseline-{n}"] - began) * 1000)
    return delays


def run(base: str, url: str, arrivals: dict[str, float], rate: float, seconds: float) -> tuple[list[float], float]:
    sent: dict[str, float] = {}
    with httpx.Client(base_url=base, timeout=30, headers=auth()) as http:
        for patient in range(PATIENTS):  # one pharmacy per patient, plus subscriptions that never match
            for criteria in (f"CarePlan?subject=Patient/bench-{patient}",
                             f"MedicationRequest?subject=Patient/bench-{patient}"):
                http.post("/Subscription", headers=JSON, json={
                    "resourceType": "Subscription", "status": "requested", "reason": "bench", "criteria": criteria,
                    "channel": {"type": "rest-hook", "endpoint": url, "payload": "application/fhir+json",
                                "header": ["Authorization: Bearer bench"]}}).raise_for_status()
        total = int(rate * seconds)
        start = time.perf_counter()
        for n in range(total):
            wait = start + n / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            began = time.perf_counter()
            created = http.post("/CarePlan", json=_care_plan(n % PATIENTS), headers=JSON)
            created.raise_for_status()
            sent[f"/hook/CarePlan/{created.json()['id']}"] = began
        achieved = total / (time.perf_counter() - start)
    deadline = time.monotonic() + 60
    while len([p for p in sent if p in arrivals]) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.1)
    missing = [p for p in sent if p not in arrivals]
    if missing:
        raise RuntimeError(f"{len(missing)} of {len(sent)} notifications never arrived")
    return [(arrivals[p] - t) * 1000 for p, t in sent.items()], achieved


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=50, help="CarePlan writes per second")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as work, targets(Path(work)) as dbs, receiver() as (url, arrivals):
        bare = baseline(url, arrivals, 500)
        bare_p95 = percentile(bare, 95)
        for target in dbs:
            with server(target.url) as (base, _proc):
                delays, achieved = run(base, url, arrivals, args.rate, args.seconds)
            p50, p95 = percentile(delays, 50), percentile(delays, 95)
            line = (f"| {target.name} | {achieved:.1f}/s | {len(delays)} | {p50:.0f} ms | {p95:.0f} ms | "
                    f"{max(delays):.0f} ms | {bare_p95:.2f} ms | {p95 / bare_p95:.0f}× | "
                    f"{'met' if p95 <= 2000 else 'MISSED'} |")
            print(line, flush=True)
            rows.append(line)
    record(SECTION, f"""
Machine: {machine()}. `oncolink serve` subprocess with its own delivery worker (default settings: poll every
0.5 s); 20 active rest-hook Subscriptions with full payload (10 pharmacies × CarePlan and MedicationRequest
of one patient each); one client writing CarePlans at the target rate for {args.seconds:.0f} s over loopback,
each one matching one Subscription. Delay = from sending the write (before its commit, so an overstatement)
to the notification's arrival at a loopback `http.server` receiver. Baseline in the same run: a bare
loopback PUT of the same body to the same receiver (p95). Target: delivery p95 ≤ 2 s.

| database | writes | notifications | delay p50 | delay p95 | max | bare PUT p95 | ratio p95 | target |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}
""")


if __name__ == "__main__":
    main()
