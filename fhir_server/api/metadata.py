"""GET /fhir/metadata."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..capabilities import capability_statement
from ..http import fhir_response
from .deps import FHIR_ROUTE, BaseDep, ServicesDep

router = APIRouter(prefix="/fhir", dependencies=FHIR_ROUTE)


@router.get("/metadata")
def metadata(request: Request, svc: ServicesDep, base: BaseDep) -> Response:
    return fhir_response(capability_statement(svc, base), 200, request=request)
