"""Instance-level interactions: read, vread, update, patch, delete."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..http import fhir_response, read_resource_body, version_headers, write_response
from ..patching import patch_applier
from .deps import FHIR_ROUTE, BaseDep, BodyDep, LimitsDep, PreferDep, ServicesDep, TypeDep

router = APIRouter(prefix="/fhir", dependencies=FHIR_ROUTE)


@router.get("/{res_type}/{res_id}")
def read(res_type: TypeDep, res_id: str, request: Request, svc: ServicesDep, base: BaseDep) -> Response:
    with svc.db.read() as conn:
        stored = svc.repository.read(conn, res_type, res_id)
    headers = version_headers(stored, base, location=False)
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and if_none_match.strip() == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return fhir_response(stored.content, 200, headers, request)


@router.get("/{res_type}/{res_id}/_history/{version_id}")
def vread(res_type: TypeDep, res_id: str, version_id: str, request: Request, svc: ServicesDep, base: BaseDep
          ) -> Response:
    with svc.db.read() as conn:
        stored = svc.repository.vread(conn, res_type, res_id, version_id)
    return fhir_response(stored.content, 200, version_headers(stored, base, location=False), request)


@router.put("/{res_type}/{res_id}")
def update(res_type: TypeDep, res_id: str, request: Request, svc: ServicesDep, base: BaseDep, prefer: PreferDep,
           raw: BodyDep, limits: LimitsDep) -> Response:
    body = read_resource_body(request, raw, limits)
    with svc.db.write() as conn:
        result = svc.repository.update(conn, res_type, res_id, body, if_match=request.headers.get("if-match"))
    return write_response(result, base, prefer, request)


@router.patch("/{res_type}/{res_id}")
def patch(res_type: TypeDep, res_id: str, request: Request, svc: ServicesDep, base: BaseDep, prefer: PreferDep,
          raw: BodyDep, limits: LimitsDep) -> Response:
    apply = patch_applier(request.headers.get("content-type", ""), raw, limits, svc.packages)
    with svc.db.write() as conn:
        result = svc.repository.patch(conn, res_type, res_id, apply, if_match=request.headers.get("if-match"))
    return write_response(result, base, prefer, request)


@router.delete("/{res_type}/{res_id}")
def delete(res_type: TypeDep, res_id: str, request: Request, svc: ServicesDep, base: BaseDep) -> Response:
    with svc.db.write() as conn:
        result = svc.repository.delete(conn, res_type, res_id, if_match=request.headers.get("if-match"))
    return Response(status_code=204, headers=version_headers(result.stored, base, location=False))
