"""`--token` (or ONCOLINK_TOKEN) goes as `Authorization: Bearer` on every HTTP request the demo makes: the
real app is served behind a gate that turns away any request without it, while the DPI adapter calls the
app in-process as `oncolink serve` wires it."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from fastapi import FastAPI
from typer.testing import CliRunner

from adapters.dpi.service import DpiService
from fhir_server.cli import app as cli
from tests.live_server import serve


class Gate:
    """An ASGI wrapper counting the requests that carry the token and answering 401 to the others."""

    def __init__(self, app: FastAPI, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.seen: Counter[str] = Counter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = dict(scope["headers"]).get(b"authorization", b"")
        if authorization == self.expected:
            self.seen["with token"] += 1
            await self.app(scope, receive, send)
            return
        self.seen["without"] += 1
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/fhir+json")]})
        await send({"type": "http.response.body", "body": b'{"resourceType":"OperationOutcome","issue":[{'
                                                          b'"severity":"error","code":"login"}]}'})


async def test_every_request_carries_the_token(app: FastAPI, dpi: DpiService, tokens: dict[str, str]) -> None:
    gate = Gate(app, tokens["administrator"])
    with serve(gate) as base:  # type: ignore[arg-type]
        common = ["demo", "--patients", "2", "--seed", "11", "--base-url", f"{base}/fhir", "--mllp-host", "127.0.0.1",
                  "--mllp-port", str(dpi.mllp_port), "--wait", "0"]
        refused = await asyncio.to_thread(CliRunner().invoke, cli, common, env={
            "ONCOLINK_TOKEN": "", "ONCOLINK_DEV_TOKENS_FILE": "/nonexistent/dev-tokens.json"})
        assert refused.exit_code == 1
        assert refused.stderr.startswith(f"oncolink: the FHIR server at {base}/fhir refused the request (HTTP 401)")
        assert "--token" in refused.stderr
        gate.seen.clear()
        done = await asyncio.to_thread(CliRunner().invoke, cli, common, env={"ONCOLINK_TOKEN": tokens["administrator"]})
    assert done.exit_code == 0, done.stdout + done.stderr
    assert gate.seen["without"] == 0 and gate.seen["with token"] > 20
    assert "traitées dans la worklist" in done.stdout
