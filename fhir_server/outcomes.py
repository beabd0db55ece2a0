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

from .errors import FhirError, Issue, operation_outcome

log = logging.getLogger("oncolink.errors")

FHIR_JSON = "application/fhir+json; charset=utf-8"

_HTTP_CODES = {404: "not-found", 405: "not-supported", 406: "not-supported", 415: "not-supported"}


def outcome_response(status: int, issues: list[Issue], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(operation_outcome(issues)), status_code=status, media_type=FHIR_JSON,
                    headers=headers)


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = rid
    return rid


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def _request_id(request: Request, call_next):  # type: ignore[no-untyped-def]
        rid = request_id(request)
        try:
            response = await call_next(request)
        except Exception:
            log.exception("unhandled error, request id %s, %s %s", rid, request.method, request.url.path)
            response = outcome_response(
                500, [Issue("fatal", "exception", f"Internal server error; quote request id {rid} to support")]
            )
        response.headers["X-Request-Id"] = rid
        return response

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
