"""Authentication and SMART scopes (issue 9, ADR 0009): JWKS cache, bearer token verification, scope
model, and a local OIDC issuer for development and tests. Not wired into the app yet; `TokenVerifier`
is the entry point for that."""

from fhir_server.security.errors import JwksUnavailable, MissingToken, TokenError, bearer_challenge
from fhir_server.security.jwks import JwksCache
from fhir_server.security.scopes import Access, Scope, ScopeError, ScopeSet, interaction_for, parse_scope, permits
from fhir_server.security.tokens import ClaimNames, Principal, TokenVerifier, bearer_token

__all__ = [
    "Access", "ClaimNames", "JwksCache", "JwksUnavailable", "MissingToken", "Principal", "Scope", "ScopeError",
    "ScopeSet", "TokenError", "TokenVerifier", "bearer_challenge", "bearer_token", "interaction_for",
    "parse_scope", "permits",
]
