"""Type-level writes: create (incl. conditional create) and conditional update, patch and delete."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..errors import BadRequest
from ..http import read_resource_body, version_headers, write_response
from ..patching import patch_applier
from .deps import FHIR_ROUTE, BaseDep, BodyDep, LimitsDep, PreferDep, ServicesDep, TypeDep

router = APIRouter(prefix="/fhir", dependencies=FHIR_ROUTE)

_NOT_CRITERIA = {"_format", "_pretty"}


def criteria(request: Request, what: str) -> str:
    """The search criteria of a conditional interaction, without the output-only parameters."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in _NOT_CRITERIA]
    if not pairs:
        raise BadRequest(f"A conditional {what} needs search criteria in the URL (e.g. ?identifier=system|value)")
    return urlencode(pairs)


@router.post("/{res_type}")
def create(res_type: TypeDep, request: Request, svc: ServicesDep, base: BaseDep, prefer: PreferDep, raw: BodyDep,
           limits: LimitsDep) -> Response:
    body = read_resource_body(request, raw, limits)
    if_none_exist = request.headers.get("if-none-exist")
    with svc.db.write() as conn:
        result = svc.repository.create(conn, res_type, body, if_none_exist=if_none_exist or None)
    return write_response(result, base, prefer, request)


@router.put("/{res_type}")
def conditional_update(res_type: TypeDep, request: Request, svc: ServicesDep, base: BaseDep, prefer: PreferDep,
                       raw: BodyDep, limits: LimitsDep) -> Response:
    query = criteria(request, "update")
    body = read_resource_body(request, raw, limits)
    with svc.db.write() as conn:
        result = svc.repository.conditional_update(conn, res_type, query, body,
                                                   if_match=request.headers.get("if-match"))
    return write_response(result, base, prefer, request)


@router.patch("/{res_type}")
def conditional_patch(res_type: TypeDep, request: Request, svc: ServicesDep, base: BaseDep, prefer: PreferDep,
                      raw: BodyDep, limits: LimitsDep) -> Response:
    query = criteria(request, "patch")
    apply = patch_applier(request.headers.get("content-type", ""), raw, limits, svc.packages)
    with svc.db.write() as conn:
        result = svc.repository.conditional_patch(conn, res_type, query, apply,
                                                  if_match=request.headers.get("if-match"))
    return write_response(result, base, prefer, request)


@router.delete("/{res_type}")
def conditional_delete(res_type: TypeDep, request: Request, svc: ServicesDep, base: BaseDep) -> Response:
    query = criteria(request, "delete")
    with svc.db.write() as conn:
        result = svc.repository.conditional_delete(conn, res_type, query)
    if result is None:
        return Response(status_code=204)
    return Response(status_code=204, headers=version_headers(result.stored, base, location=False))
