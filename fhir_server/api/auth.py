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

from ..outcomes import request_id
from ..security.context import Caller, bind
from ..security.policy import Access
from ..security.scopes import Interaction
from ..services import Services

# (method, route template) → the SMART interaction it needs on the URL's type (SMART 2.x mapping:
# vread and instance history are reads, type history a search, patch an update).
_TYPE_ROUTES: dict[tuple[str, str], Interaction] = {
    ("GET", "/fhir/{res_type}/{res_id}"): "read",
    ("GET", "/fhir/{res_type}/{res_id}/_history/{version_id}"): "read",
    ("GET", "/fhir/{res_type}/{res_id}/_history"): "read",
    ("GET", "/fhir/{res_type}/_history"): "search",
    ("GET", "/fhir/{res_type}"): "search",
    ("POST", "/fhir/{res_type}/_search"): "search",
    ("POST", "/fhir/{res_type}"): "create",
    ("PUT", "/fhir/{res_type}/{res_id}"): "update",
    ("PATCH", "/fhir/{res_type}/{res_id}"): "update",
    ("DELETE", "/fhir/{res_type}/{res_id}"): "delete",
    ("PUT", "/fhir/{res_type}"): "update",
    ("PATCH", "/fhir/{res_type}"): "update",
    ("DELETE", "/fhir/{res_type}"): "delete",
    ("GET", "/fhir/{res_type}/{res_id}/$validate"): "read",
    ("POST", "/fhir/{res_type}/{res_id}/$validate"): "read",
}


def _access(svc: Services, authorization: str | None) -> Access:
    assert svc.security is not None, "build_services installs the security layer"
    principal = svc.security.authenticate(authorization)
    return svc.security.policy.access(principal, svc.db.read, svc.search)


async def authenticated(request: Request) -> Access:
    """401 without a valid token; 403 when the token's scopes do not grant the route's interaction.

    Verification runs in the threadpool: a JWKS refetch or a care-team lookup must not stall the loop."""
    svc: Services = request.app.state.services
    access = await run_in_threadpool(_access, svc, request.headers.get("authorization"))
    client = request.client
    bind(Caller(access, client.host if client else None, request_id(request), request.method, request.url.path))
    request.state.access = access
    route = request.scope.get("route")
    interaction = _TYPE_ROUTES.get((request.method, getattr(route, "path", "")))
    res_type = request.path_params.get("res_type")
    if interaction is not None and res_type:
        access.require(interaction, res_type)
    return access
