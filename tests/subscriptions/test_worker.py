"""The worker as it runs: inside the served app next to the other periodic jobs, and as
`oncolink subscriptions deliver` from a site's scheduler."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from fhir_server.app import create_app
from fhir_server.periodic import scheduled
from fhir_server.services import Services
from tests.live_server import serve
from tests.test_cli import run_cli

from .conftest import Receiver
from .test_delivery import care_plan, subscription


def test_the_served_app_delivers_without_being_asked(services: Services, receiver: Receiver,
                                                     admin_headers: dict[str, str]) -> None:
    with serve(create_app(services=services, attachments=scheduled())) as base:
        http = httpx.Client(base_url=f"{base}/fhir", timeout=10, headers=admin_headers)
        assert http.post("/Subscription", json=subscription(receiver.url, "CarePlan?subject=Patient/p1")
                         ).status_code == 201
        http.post("/CarePlan", json=care_plan("Patient/p1"))
        assert receiver.arrived.wait(timeout=10)
    assert [(r.method, r.path) for r in receiver.requests] == [("POST", "/hook")]


def test_cli_runs_one_pass(client: TestClient, db_url: str, package_cache: Path, receiver: Receiver) -> None:
    client.post("/fhir/Subscription", json=subscription(receiver.url, "CarePlan?subject=Patient/p1"))
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    env = {"ONCOLINK_DATABASE_URL": db_url, "ONCOLINK_PACKAGE_CACHE": str(package_cache)}
    done = run_cli("subscriptions", "deliver", env=env)
    assert (done.returncode, done.stdout) == (0, "1 delivered, 0 to retry, 0 abandoned\n"), done.stderr
    assert len(receiver.requests) == 1
    again = run_cli("subscriptions", "deliver", env=env)
    assert again.stdout == "0 delivered, 0 to retry, 0 abandoned\n"
