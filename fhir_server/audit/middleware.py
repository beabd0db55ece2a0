"""Audits what the write transactions did not: reads, searches, refusals and failed writes.

Runs around every request; the protected routes (FHIR API, HL7 v2 over HTTP, worklist pages) are
recorded, the public documents (CapabilityStatement, SMART discovery, login form) are not. The event is
queued for the background writer, so the response is not delayed by its own audit record. A plain ASGI
middleware (as `outcomes.RequestIds`): it only needs the response status, not the response itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..resources import now_ms
from ..security.context import Caller
from .events import rest_event

if TYPE_CHECKING:
    from ..services import Services

AUDITED = ("/fhir", "/hl7v2", "/worklist")
PUBLIC = frozenset({"/fhir/metadata", "/fhir/.well-known/smart-configuration", "/worklist/login",
                    "/worklist/logout", "/worklist/static/worklist.css"})


class AuditRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(AUDITED) or path in PUBLIC:
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            _record(scope, path, status)


def _record(scope: Scope, path: str, status: int) -> None:
    state: dict[str, Any] = scope.get("state") or {}
    path_params = scope.get("path_params") or {}
    entities = []
    if "res_type" in path_params and "res_id" in path_params:
        entities.append(f"{path_params['res_type']}/{path_params['res_id']}")
    client = scope.get("client")
    record_request(scope["app"].state.services, state.get("caller"), status, method=str(scope.get("method")),
                   path=path, address=client[0] if client else None, request_id=state.get("request_id", ""),
                   entities=entities, query=scope.get("query_string", b"").decode("latin-1") or None)


def record_request(services: Services, caller: Caller | None, status: int, *, method: str, path: str,
                   address: str | None, request_id: str, entities: Sequence[str] = (), query: str | None = None
                   ) -> None:
    """Queue the AuditEvent of one request, unless its writes already recorded it (`Caller.audited`) and it
    succeeded; shared by the HTTP middleware and the in-process transaction entry (`api.in_process`)."""
    if caller is not None and caller.audited and status < 400:
        return
    if services.audit is None:
        return
    services.audit.submit(rest_event(
        interaction=caller.interaction if caller else "operation", status=status, recorded=now_ms(),
        principal=caller.access.principal if caller else None, address=address, request_id=request_id,
        observer=services.settings.audit_observer, entities=entities, query=query,
        description=f"{method} {path} → HTTP {status}"))


def install(app: FastAPI) -> None:
    app.add_middleware(AuditRequests)
