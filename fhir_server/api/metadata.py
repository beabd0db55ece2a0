"""The public discovery documents: GET /fhir/metadata and /fhir/.well-known/smart-configuration."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..capabilities import capability_statement
from ..http import fhir_response
from .deps import PUBLIC_FHIR_ROUTE, BaseDep, ServicesDep

router = APIRouter(prefix="/fhir", dependencies=PUBLIC_FHIR_ROUTE)


@router.get("/metadata")
def metadata(request: Request, svc: ServicesDep, base: BaseDep) -> Response:
    return fhir_response(capability_statement(svc, base), 200, request=request)


@router.get("/.well-known/smart-configuration")
def smart_configuration(svc: ServicesDep) -> Response:
    """SMART App Launch discovery (public, like the CapabilityStatement): where to get a token, and what
    this server accepts."""
    settings = svc.settings
    document = {
        "issuer": settings.auth_issuer,
        "jwks_uri": settings.auth_jwks_url or None,
        "token_endpoint": settings.auth_token_url or None,
        "authorization_endpoint": settings.auth_authorization_url or None,
        "grant_types_supported": ["client_credentials"] + (["authorization_code"] if settings.auth_authorization_url
                                                           else []),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "scopes_supported": ["openid", "fhirUser", "launch/patient", "patient/*.rs", "user/*.cruds", "system/*.cruds",
                             "patient/*.read", "user/*.read", "user/*.write", "system/*.read", "system/*.write"],
        "capabilities": ["permission-v2", "permission-v1", "permission-patient", "permission-user",
                         "client-confidential-symmetric", "client-confidential-asymmetric"],
        "code_challenge_methods_supported": ["S256"],
    }
    return JSONResponse({k: v for k, v in document.items() if v is not None},
                        headers={"Cache-Control": "public, max-age=300"})
