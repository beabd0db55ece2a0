"""History interactions: system, type and instance."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..history import HistoryQuery, history_bundle
from ..http import Prefer, fhir_response
from ..security.context import current_filter
from .deps import FHIR_ROUTE, BaseDep, ServicesDep, TypeDep

router = APIRouter(prefix="/fhir", dependencies=FHIR_ROUTE)


def _history(request: Request, svc: ServicesDep, base: str, res_type: str | None, res_id: str | None) -> Response:
    settings = svc.settings
    strict = Prefer.parse(request.headers.get("prefer")).handling == "strict"
    query = HistoryQuery.parse(res_type, res_id, list(request.query_params.multi_items()),
                               default_count=settings.default_page_size, max_count=settings.max_page_size,
                               strict=strict)
    with svc.db.read() as conn:
        if res_type and res_id:
            svc.repository.current_or_404(conn, res_type, res_id)
        bundle = history_bundle(conn, query, base, current_filter())
    return fhir_response(bundle, 200, request=request)


@router.get("/_history")
def system_history(request: Request, svc: ServicesDep, base: BaseDep) -> Response:
    return _history(request, svc, base, None, None)


@router.get("/{res_type}/_history")
def type_history(res_type: TypeDep, request: Request, svc: ServicesDep, base: BaseDep) -> Response:
    return _history(request, svc, base, res_type, None)


@router.get("/{res_type}/{res_id}/_history")
def instance_history(res_type: TypeDep, res_id: str, request: Request, svc: ServicesDep, base: BaseDep) -> Response:
    return _history(request, svc, base, res_type, res_id)
