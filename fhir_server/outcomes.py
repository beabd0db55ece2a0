"""The one place turning exceptions into OperationOutcome responses with the right status.

A 500 on client input is a bug, but one must still answer as FHIR: the catch-all logs the traceback
with a request id and returns that id to the client so the two can be matched.
"""

from __future__ import annotations

import logging
import uuid

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import FhirError, Issue, operation_outcome

log = logging.getLogger("oncolink.errors")

FHIR_JSON = "application/fhir+json; charset=utf-8"

_HTTP_CODES = {404: "not-found", 405: "not-supported", 406: "not-supported", 415: "not-supported"}


def outcome_response(status: int, issues: list[Issue], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(operation_outcome(issues)), status_code=status, media_type=FHIR_JSON,
                    headers=headers)


def internal_error(request_id: str) -> Issue:
    """What a client is told of a failure of ours: only the id to quote, the traceback is in our log."""
    return Issue("fatal", "exception", f"Internal server error; quote request id {request_id} to support")


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = rid
    return rid


class RequestIds:
    """Gives every request an id (the client's `X-Request-Id`, else a new one), returns it in the
    response headers, and turns an unexpected failure into a 500 OperationOutcome quoting it.

    A plain ASGI middleware rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs
    the rest of the app in a task of its own and passes the response through memory streams, which cost
    more per request than reading a resource by id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"x-request-id"), "")
        rid = rid or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        header = (b"x-request-id", rid.encode("latin-1"))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error, request id %s, %s %s", rid, scope.get("method"), scope.get("path"))
            if started:  # part of the answer is on the wire: nothing else can be said
                raise
            response = outcome_response(500, [internal_error(rid)])
            await response(scope, receive, send_with_id)


def install(app: FastAPI) -> None:
    app.add_middleware(RequestIds)

    @app.exception_handler(FhirError)
    async def _fhir_error(_request: Request, exc: FhirError) -> Response:
        return outcome_response(exc.status, exc.issues, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "processing")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            detail = f"No FHIR endpoint at {request.method} {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not supported on {request.url.path}"
        return outcome_response(exc.status_code, [Issue("error", code, detail)], getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        issues = [
            Issue("error", "invalid", str(err.get("msg")), (".".join(str(p) for p in err.get("loc", ())),))
            for err in exc.errors()
        ]
        return outcome_response(400, issues)
