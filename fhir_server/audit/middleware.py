"""Audits what the write transactions did not: reads, searches, refusals and failed writes.

Runs around every request; the protected routes (FHIR API, HL7 v2 over HTTP, worklist pages) are
recorded, the public documents (CapabilityStatement, SMART discovery, login form) are not. The event is
queued for the background writer, so the response is not delayed by its own audit record.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from ..outcomes import request_id
from ..resources import now_ms
from ..security.context import Caller
from .events import rest_event

AUDITED = ("/fhir", "/hl7v2", "/worklist")
PUBLIC = frozenset({"/fhir/metadata", "/fhir/.well-known/smart-configuration", "/worklist/login",
                    "/worklist/logout", "/worklist/static/worklist.css"})


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def _audit(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        path = request.url.path
        if not path.startswith(AUDITED) or path in PUBLIC:
            return response
        caller: Caller | None = getattr(request.state, "caller", None)
        if caller is not None and caller.audited and response.status_code < 400:
            return response
        services = request.app.state.services
        if services.audit is None:
            return response
        path_params = request.scope.get("path_params") or {}
        entities = []
        if "res_type" in path_params and "res_id" in path_params:
            entities.append(f"{path_params['res_type']}/{path_params['res_id']}")
        client = request.client
        services.audit.submit(rest_event(
            interaction=caller.interaction if caller else "operation", status=response.status_code,
            recorded=now_ms(), principal=caller.access.principal if caller else None,
            address=client.host if client else None, request_id=request_id(request),
            observer=services.settings.audit_observer, entities=entities,
            query=request.url.query or None, description=f"{request.method} {path} → HTTP {response.status_code}"))
        return response
