"""Search routes: type-level and system-level, GET and POST `_search` (form-encoded).

Routes only parse the HTTP request and format the answer; the engine does the searching. POST
`_search` merges the URL's parameters with the form body's, as the spec allows both.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..errors import BadRequest, UnsupportedMediaType
from ..http import fhir_response
from ..security.context import current_filter, current_members
from .deps import FHIR_ROUTE, BaseDep, BodyDep, PreferDep, ServicesDep, TypeDep

router = APIRouter(prefix="/fhir", dependencies=FHIR_ROUTE)

FORM = "application/x-www-form-urlencoded"


def _form_pairs(request: Request, raw: bytes) -> list[tuple[str, str]]:
    pairs = list(request.query_params.multi_items())
    if not raw.strip():
        return pairs
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise UnsupportedMediaType(f"POST _search takes a body of type {FORM}, not '{content_type or 'none'}'")
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("The _search form body is not UTF-8") from exc
    return pairs + parse_qsl(body, keep_blank_values=True)


def _search(svc: ServicesDep, res_type: str | None, pairs: list[tuple[str, str]], base: str, strict: bool,
            request: Request) -> Response:
    with svc.db.read() as conn:
        bundle = svc.search.search(conn, res_type, pairs, base_url=base, strict=strict, visible=current_filter(),
                                   members=current_members())
    return fhir_response(bundle, request=request)


@router.get("")
def search_system(request: Request, svc: ServicesDep, base: BaseDep, prefer: PreferDep) -> Response:
    pairs = list(request.query_params.multi_items())
    return _search(svc, None, pairs, base, prefer.handling == "strict", request)


@router.post("/_search")
def search_system_post(request: Request, svc: ServicesDep, base: BaseDep, prefer: PreferDep, raw: BodyDep
                       ) -> Response:
    return _search(svc, None, _form_pairs(request, raw), base, prefer.handling == "strict", request)


@router.get("/{res_type}")
def search_type(res_type: TypeDep, request: Request, svc: ServicesDep, base: BaseDep, prefer: PreferDep
                ) -> Response:
    pairs = list(request.query_params.multi_items())
    return _search(svc, res_type, pairs, base, prefer.handling == "strict", request)


@router.post("/{res_type}/_search")
def search_type_post(res_type: TypeDep, request: Request, svc: ServicesDep, base: BaseDep, prefer: PreferDep,
                     raw: BodyDep) -> Response:
    return _search(svc, res_type, _form_pairs(request, raw), base, prefer.handling == "strict", request)
