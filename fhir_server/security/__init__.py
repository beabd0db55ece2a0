"""Authentication and authorisation (issue 9, ADRs 0009 and 0013): JWKS cache, bearer token verification,
SMART scopes, the role and care-team policy applied in SQL, the repository's access guards, and a local
OIDC issuer for development and tests."""

from fhir_server.security.errors import JwksUnavailable, MissingToken, TokenError, bearer_challenge
from fhir_server.security.jwks import JwksCache
from fhir_server.security.scopes import Access, Scope, ScopeError, ScopeSet, interaction_for, parse_scope, permits
from fhir_server.security.tokens import ClaimNames, Principal, TokenVerifier, bearer_token

__all__ = [
    "Access", "ClaimNames", "JwksCache", "JwksUnavailable", "MissingToken", "Principal", "Scope", "ScopeError",
    "ScopeSet", "TokenError", "TokenVerifier", "bearer_challenge", "bearer_token", "interaction_for",
    "parse_scope", "permits",
]
