"""POST to the base: batch and transaction Bundles."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..bundle import BundleProcessor
from ..http import Prefer, fhir_response, read_resource_body
from .deps import FHIR_ROUTE, BaseDep, BodyDep, LimitsDep, ServicesDep

router = APIRouter(prefix="/fhir", dependencies=FHIR_ROUTE)


@router.post("")
@router.post("/")
def batch_or_transaction(request: Request, svc: ServicesDep, base: BaseDep, raw: BodyDep, limits: LimitsDep
                         ) -> Response:
    body = read_resource_body(request, raw, limits)
    # Entries default to a bare response (status, location, etag): clients ask for more with Prefer.
    prefer = Prefer.parse(request.headers.get("prefer"), default_return="minimal")
    return fhir_response(BundleProcessor(svc, base, prefer).process(body), 200, request=request)
