"""Request-scoped helpers shared by the routers.

They are `async def` although they never await: FastAPI runs a plain `def` dependency in the
threadpool, and a thread hop per dependency costs more than the work itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..errors import BadRequest, NotFound
from ..http import BodyLimits, Prefer, check_accept, read_body
from ..services import Services
from ..settings import Settings
from .auth import authenticated


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def services(request: Request) -> Services:
    return _services(request)


def public_base(settings: Settings, reached: str) -> str:
    """The public FHIR base: configured, or the one the client reached (behind a proxy, set it)."""
    return settings.base_url.rstrip("/") + "/fhir" if settings.base_url else reached


async def fhir_base(request: Request) -> str:
    return public_base(_services(request).settings, str(request.base_url).rstrip("/") + "/fhir")


async def known_type(res_type: str, request: Request) -> str:
    if res_type not in _services(request).validator.resource_types:
        raise NotFound(f"Unknown resource type {res_type!r}; this server serves the R4 resource types")
    return res_type


async def fhir_request(request: Request) -> None:
    """Checks every FHIR route shares: a JSON answer is acceptable, and the URL holds no NUL.

    No FHIR value may contain a NUL character, and PostgreSQL rejects it in text outright, so it is
    refused here once rather than in each parameter parser."""
    check_accept(request)
    if "\x00" in request.url.path or any("\x00" in v for _, v in request.query_params.multi_items()):
        raise BadRequest("The URL contains a NUL character, which no FHIR value may hold", code="value")


async def prefer(request: Request) -> Prefer:
    return Prefer.parse(request.headers.get("prefer"))


async def raw_body(request: Request) -> bytes:
    return await read_body(request, _services(request).settings.max_body_bytes)


async def body_limits(request: Request) -> BodyLimits:
    return BodyLimits.of(_services(request).settings)


ServicesDep = Annotated[Services, Depends(services)]
BaseDep = Annotated[str, Depends(fhir_base)]
TypeDep = Annotated[str, Depends(known_type)]
PreferDep = Annotated[Prefer, Depends(prefer)]
BodyDep = Annotated[bytes, Depends(raw_body)]
LimitsDep = Annotated[BodyLimits, Depends(body_limits)]
# Every FHIR route but the CapabilityStatement needs a token (`auth.authenticated`).
PUBLIC_FHIR_ROUTE = [Depends(fhir_request)]
FHIR_ROUTE = [Depends(fhir_request), Depends(authenticated)]
