"""The adapter wired into the server exactly as `oncolink serve` is to do it (see the report to the lead):
`attached(app, settings)` inside the app's lifespan, the `/hl7v2` router mounted; real uvicorn, real
sockets, real HTTP."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx

from adapters.dpi.http import router as hl7v2_router
from adapters.dpi.mllp import END_BLOCK, frame
from adapters.dpi.service import attached
from adapters.dpi.settings import DpiSettings
from tests.adapters.dpi.dpi_helpers import Ack, message
from tests.live_server import serve

if TYPE_CHECKING:
    from fhir_server.services import Services


def _mllp_send(port: int, payload: bytes) -> Ack:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(frame(payload))
        data = b""
        while not data.endswith(END_BLOCK + b"\r"):
            chunk = sock.recv(65536)
            assert chunk, "connection closed before the ACK"
            data += chunk
    return Ack.parse(data[1:-2])


def test_serve_with_listener_and_http_endpoint(services: Services, dpi_settings: DpiSettings,
                                              tokens: dict[str, str]) -> None:
    from fhir_server.app import create_app

    app = create_app(services=services, routers=[hl7v2_router])
    server_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[None]:
        async with server_lifespan(application), attached(application, dpi_settings):
            yield

    app.router.lifespan_context = lifespan
    with serve(app) as base:
        assert app.state.dpi.mllp_port == dpi_settings.mllp_port
        assert _mllp_send(dpi_settings.mllp_port, message("adt_a01_pamfr_ins.hl7")).code == "AA"
        er7 = {"Content-Type": "x-application/hl7-v2+er7"}
        anonymous = httpx.post(f"{base}/hl7v2", content=message("rde_o11_three_orders.hl7"), headers=er7, timeout=30)
        assert anonymous.status_code == 401
        gp = httpx.post(f"{base}/hl7v2", content=message("rde_o11_three_orders.hl7"),
                        headers={**er7, "Authorization": f"Bearer {tokens['gp']}"}, timeout=30)
        assert gp.status_code == 403
        response = httpx.post(f"{base}/hl7v2", content=message("rde_o11_three_orders.hl7"),
                              headers={**er7, "Authorization": f"Bearer {tokens['dpi-interface']}"}, timeout=30)
        assert response.status_code == 200 and Ack.parse(response.content).code == "AA"
        found = httpx.get(f"{base}/fhir/MedicationRequest", params={"_summary": "count"}, timeout=30,
                          headers={"Authorization": f"Bearer {tokens['oncologist']}"}).json()
        assert found["total"] == 3
    assert app.state.dpi is None  # stopped with the server
    closed = socket.socket()
    assert closed.connect_ex(("127.0.0.1", dpi_settings.mllp_port)) != 0
    closed.close()
