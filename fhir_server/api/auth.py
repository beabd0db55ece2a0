"""Authentication of every protected route, and the scope check of the interaction it serves.

One dependency on every `/fhir` router (`FHIR_ROUTE`), except the CapabilityStatement, which clients read
before they have a token. It verifies the bearer token, builds the caller's `Access` and binds it for
the rest of the request (`security.context`), then checks the route's interaction against the scopes.
Bundles and operations check each write they make through the repository's guards instead, since only
their content says which interactions they are.
"""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ..errors import Forbidden
from ..outcomes import request_id
from ..security.context import Caller, bind
from ..security.policy import Access
from ..security.scopes import FHIR_INTERACTIONS
from ..services import Services

# (method, route template) → the FHIR restful interaction it serves (audit subtype); the SMART interaction
# checked against the scopes follows from it (`scopes.FHIR_INTERACTIONS`: vread and instance history are
# reads, type history a search, patch an update). System-level searches and history have no single type:
# their rows are limited to the types the scopes grant, in SQL.
ROUTE_INTERACTIONS: dict[tuple[str, str], str] = {
    ("GET", "/fhir/{res_type}/{res_id}"): "read",
    ("GET", "/fhir/{res_type}/{res_id}/_history/{version_id}"): "vread",
    ("GET", "/fhir/{res_type}/{res_id}/_history"): "history-instance",
    ("GET", "/fhir/{res_type}/_history"): "history-type",
    ("GET", "/fhir/_history"): "history-system",
    ("GET", "/fhir/{res_type}"): "search-type",
    ("POST", "/fhir/{res_type}/_search"): "search-type",
    ("GET", "/fhir"): "search-system",
    ("POST", "/fhir/_search"): "search-system",
    ("POST", "/fhir/{res_type}"): "create",
    ("PUT", "/fhir/{res_type}/{res_id}"): "update",
    ("PATCH", "/fhir/{res_type}/{res_id}"): "patch",
    ("DELETE", "/fhir/{res_type}/{res_id}"): "delete",
    ("PUT", "/fhir/{res_type}"): "update",
    ("PATCH", "/fhir/{res_type}"): "patch",
    ("DELETE", "/fhir/{res_type}"): "delete",
    ("POST", "/fhir"): "batch",
    ("POST", "/fhir/"): "batch",
}


def route_interaction(request: Request) -> str:
    """The request's FHIR interaction code; `operation` for `$…` routes and anything else."""
    route = request.scope.get("route")
    return ROUTE_INTERACTIONS.get((request.method, getattr(route, "path", "")), "operation")


def _access(svc: Services, authorization: str | None) -> Access:
    assert svc.security is not None, "build_services installs the security layer"
    principal = svc.security.authenticate(authorization)
    return svc.security.policy.access(principal, svc.db.read, svc.search)


def _remembered_access(svc: Services, authorization: str | None) -> Access | None:
    """The access of a token verified moments ago whose rights need no lookup: no thread hop for it."""
    assert svc.security is not None, "build_services installs the security layer"
    principal = svc.security.remembered(authorization)
    return svc.security.policy.access_without_lookup(principal) if principal is not None else None


def verified_access(svc: Services, authorization: str | None) -> Access:
    """`authenticate`'s verification for a caller already off the event loop (`api.in_process`)."""
    return _remembered_access(svc, authorization) or _access(svc, authorization)


async def authenticate(request: Request, authorization: str | None) -> Access:
    """Verify `authorization`, bind the caller for the rest of the request and return its access.

    A token seen moments ago is answered on the loop (`_remembered_access`: a dictionary look-up, which
    costs less than the hop); a real verification runs in the threadpool: a JWKS refetch or a care-team
    lookup must not stall the loop."""
    svc: Services = request.app.state.services
    access = _remembered_access(svc, authorization) or await run_in_threadpool(_access, svc, authorization)
    client = request.client
    caller = Caller(access, client.host if client else None, request_id(request), route_interaction(request))
    bind(caller)
    request.state.caller = caller
    return access


async def authenticated(request: Request) -> Access:
    """401 without a valid token; 403 when the token's scopes do not grant the route's interaction."""
    access = await authenticate(request, request.headers.get("authorization"))
    interaction = request.state.caller.interaction
    res_type = request.path_params.get("res_type")
    if interaction in FHIR_INTERACTIONS and res_type:
        access.require(FHIR_INTERACTIONS[interaction], res_type)
    return access


def require_establishment(access: Access, what: str) -> None:
    """403 unless the caller acts for the establishment (its systems and hospital team, roles.yaml)."""
    if access.rule is None or access.rule.patients != "establishment":
        raise Forbidden(f"Le rôle « {access.role} » ne peut pas {what} : réservé aux systèmes et équipes de "
                        "l'établissement")


async def establishment_caller(request: Request) -> Access:
    """For the adapters' routes (`POST /hl7v2`): a valid token of the establishment's side (its DPI
    interface or hospital team); the adapter then writes with its own client, whose writes are audited."""
    access = await authenticated(request)
    require_establishment(access, "envoyer de messages HL7 v2")
    return access
