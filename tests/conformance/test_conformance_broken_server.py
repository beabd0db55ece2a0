"""A small FHIR-ish server that claims more than it does: the run must name each broken feature and why.

It claims read, vread, create and search-type on Patient (with `_tag` and `family`), but answers every
vread 404 and ignores `_count`; it claims no delete, so the run must say its data stays.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fhir_server.conformance.run import execute
from tests.live_server import serve

ROOT = Path(__file__).resolve().parents[2]
FHIR = "application/fhir+json"


def broken_app() -> FastAPI:
    app = FastAPI()
    store: dict[str, dict[str, Any]] = {}

    def answer(resource: dict[str, Any], status: int = 200, **headers: str) -> JSONResponse:
        return JSONResponse(resource, status_code=status, media_type=FHIR, headers=headers)

    @app.get("/fhir/metadata")
    def metadata() -> JSONResponse:
        return answer({"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
                       "fhirVersion": "4.0.1", "format": ["json"], "rest": [{"mode": "server", "resource": [{
                           "type": "Patient",
                           "interaction": [{"code": c} for c in ("read", "vread", "create", "search-type")],
                           "searchParam": [{"name": "_tag", "type": "token"}, {"name": "family", "type": "string"}],
                       }]}]})

    @app.post("/fhir/Patient")
    async def create(request: Request) -> JSONResponse:
        resource = await request.json()
        resource["id"] = uuid.uuid4().hex
        resource["meta"] = {**resource.get("meta", {}), "versionId": "1", "lastUpdated": "2026-01-01T00:00:00Z"}
        store[resource["id"]] = resource
        return answer(resource, 201, location=f"/fhir/Patient/{resource['id']}/_history/1", etag='W/"1"')

    @app.get("/fhir/Patient/{res_id}")
    def read(res_id: str) -> JSONResponse:
        if res_id not in store:
            return answer({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]},
                          404)
        return answer(store[res_id], etag='W/"1"')

    @app.get("/fhir/Patient/{res_id}/_history/{vid}")
    def vread(res_id: str, vid: str) -> JSONResponse:
        return answer({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found",
                                                                      "diagnostics": "no history kept"}]}, 404)

    @app.get("/fhir/Patient")
    def search(request: Request) -> JSONResponse:
        tag = request.query_params.get("_tag", "")
        family = request.query_params.get("family", "").lower()
        found = [r for r in store.values()
                 if (not tag or any(f"{t['system']}|{t['code']}" == tag for t in r["meta"].get("tag", [])))
                 and all(n.get("family", "").lower().startswith(family) for n in r.get("name", [{}]))]
        return answer({"resourceType": "Bundle", "type": "searchset", "total": len(found),
                       "entry": [{"resource": r, "search": {"mode": "match"}} for r in found]})

    return app


@pytest.fixture
def broken_base() -> Iterator[str]:
    with serve(broken_app()) as url:
        yield url + "/fhir"


def test_failures_are_detected_with_their_reason(broken_base: str) -> None:
    report = execute(broken_base)
    results = {r.feature: (r.status, r.reason) for r in report.results}
    assert results["create Patient"] == ("pass", "")
    assert results["read Patient"] == ("pass", "")
    assert results["search string Patient?family"] == ("pass", "")
    status, reason = results["vread Patient"]
    assert status == "fail"
    assert "/_history/1 answered 404, expected 200 (no history kept)" in reason
    status, reason = results["search _count Patient"]
    assert status == "fail"
    # The run's three tagged patients (the lifecycle one, never deleted here, and the two search ones).
    assert reason == "GET Patient?_count=1 returned 3 resources on the first page, expected 1"
    # Only what is claimed is checked.
    assert not any(f.startswith(("update", "delete", "patch", "batch", "transaction", "conditional"))
                   for f in results)
    assert results["cleanup"][0] == "skip" and "stays" in results["cleanup"][1]
    assert report.exit_code == 1


def test_cli_exits_1_and_prints_the_reasons(broken_base: str) -> None:
    done = subprocess.run([sys.executable, "-m", "fhir_server", "conformance", broken_base],
                          env={**os.environ}, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert any(line.split()[:3] == ["FAIL", "vread", "Patient"] and "answered 404, expected 200" in line
               for line in lines)
    assert lines[-1] == "6 passed, 2 failed, 1 skipped"
    json_run = subprocess.run([sys.executable, "-m", "fhir_server", "conformance", broken_base, "--json"],
                              env={**os.environ}, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert json_run.returncode == 1
    assert json.loads(json_run.stdout)["summary"]["fail"] == 2


def test_unreachable_server_is_one_failure_not_a_traceback() -> None:
    from tests.live_server import free_port

    done = subprocess.run([sys.executable, "-m", "fhir_server", "conformance",
                           f"http://127.0.0.1:{free_port()}/fhir"],
                          env={**os.environ}, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "FAIL  capabilities" in done.stdout and "no answer from the server" in done.stdout
