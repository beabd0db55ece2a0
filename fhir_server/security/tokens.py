"""Bearer JWT verification: from an `Authorization` header to a `Principal`, or a `TokenError`.

What is checked, in this order (ADR 0009): the token is a compact JWS of sane size; its header `alg` is
RS256 or ES256 (never `none`, never HMAC: with HS256 a verifier holding a *public* key could be fooled into
using it as a shared secret); the signature against the issuer's key named by `kid` (JWKS, `jwks.py`);
`iss` and `aud` equal to the configured issuer and audience; `exp` (required) and `nbf`/`iat` with a
small leeway for clock skew. Only then are claims read into a `Principal`, so nothing downstream ever sees
an unverified claim.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import jwt

from fhir_server.security.errors import MissingToken, TokenError
from fhir_server.security.jwks import JwksCache
from fhir_server.security.scopes import Context, ScopeSet

if TYPE_CHECKING:
    from fhir_server.settings import Settings

ALLOWED_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
# Far above any real token (a few KiB), low enough that parsing junk costs nothing.
MAX_TOKEN_BYTES = 16 * 1024


@dataclass(frozen=True)
class ClaimNames:
    """Where our identifying claims live in the token; issuers differ (Pro Santé Connect needs a mapping),
    the names used by the dev issuer are the defaults."""

    role: str = "role"
    fhir_user: str = "fhirUser"
    organization: str = "organization"
    practitioner: str = "practitioner"
    patient: str = "patient"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as proven by a verified token.

    `subject` is `sub` (for client-credentials tokens, the client itself); `client_id` is the OAuth client
    (`client_id`, else `azp`); `fhir_user` a reference such as `Practitioner/gp-paul-petit`; `organizations`
    and `practitioner` the identifiers (`system|value`) the issuer asserts, for care-team matching; `patient`
    the SMART launch patient id when present. `claims` keeps every verified claim, read-only.
    """

    subject: str
    client_id: str | None
    scopes: ScopeSet
    fhir_user: str | None = None
    role: str | None = None
    organizations: tuple[str, ...] = ()
    practitioner: str | None = None
    patient: str | None = None
    issuer: str = ""
    expires_at: int | None = None
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)

    @property
    def contexts(self) -> frozenset[Context]:
        """The SMART contexts the token has resource scopes in."""
        return self.scopes.contexts()

    @property
    def is_system_client(self) -> bool:
        """A machine client (client-credentials, `system/` scopes only, no user behind it)."""
        return self.contexts == frozenset({"system"}) and self.fhir_user is None


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive, RFC 6750 §2.1).

    Raises MissingToken when there is no header, TokenError when it is not a bearer credential.
    """
    if authorization is None or not authorization.strip():
        raise MissingToken("bearer token required")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise TokenError("authorization scheme must be Bearer")
    token = token.strip()
    if not token or " " in token:
        raise TokenError("malformed bearer credential")
    return token


class TokenVerifier:
    """Verifies tokens of one issuer for one audience. Thread-safe; build one per process and keep it (the
    JWKS cache inside is what makes verification cheap)."""

    def __init__(self, jwks: JwksCache, *, issuer: str, audience: str, leeway_seconds: float = 30,
                 claim_names: ClaimNames | None = None, cache_seconds: float = 0, cache_size: int = 10_000) -> None:
        if not issuer or not audience:
            raise ValueError("an issuer and an audience are required to verify tokens")
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.leeway_seconds = leeway_seconds
        self.claim_names = claim_names or ClaimNames()
        # Verified tokens, remembered for `cache_seconds` (never past their `exp`): a client sends the same
        # token with every request, and checking its signature again each time is most of the cost.
        self.cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._verified: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        """A verifier for `auth_issuer`/`auth_audience`, with its JWKS cache, from the settings."""
        jwks = JwksCache(settings.auth_issuer, settings.auth_jwks_url or None,
                         cache_seconds=settings.auth_jwks_cache_seconds,
                         min_refetch_seconds=settings.auth_jwks_min_refetch_seconds,
                         timeout_seconds=settings.auth_http_timeout_seconds)
        return cls(jwks, issuer=settings.auth_issuer, audience=settings.auth_audience,
                   leeway_seconds=settings.auth_leeway_seconds,
                   claim_names=ClaimNames(role=settings.auth_role_claim),
                   cache_seconds=settings.auth_token_cache_seconds)

    def verify_header(self, authorization: str | None) -> Principal:
        """`verify` applied to the token of an `Authorization` header value."""
        return self.verify(bearer_token(authorization))

    def remembered(self, token: str) -> Principal | None:
        """The principal of a token verified less than `cache_seconds` ago and not yet expired, else None.

        Never blocks (no JWKS fetch, no signature check), so the event loop may ask it directly and go to
        the threadpool only for a real verification."""
        if self.cache_seconds <= 0:
            return None
        with self._lock:
            cached = self._verified.get(token)
        return cached[1] if cached is not None and cached[0] > time.time() else None

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; TokenError (with a client-safe reason) otherwise."""
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenError("token too large")
        if self.cache_seconds > 0:
            now = time.time()
            remembered = self.remembered(token)
            if remembered is not None:
                return remembered
            principal = self._verify(token)
            until = now + self.cache_seconds
            if principal.expires_at is not None:
                until = min(until, principal.expires_at + self.leeway_seconds)
            with self._lock:
                self._verified[token] = (until, principal)
                self._verified.move_to_end(token)
                while len(self._verified) > self._cache_size:
                    self._verified.popitem(last=False)
            return principal
        return self._verify(token)

    def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenError("malformed token") from None
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise TokenError(f"signing algorithm {str(alg)[:20]!r} not accepted (RS256 or ES256 only)")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenError("malformed kid")
        key = self.jwks.key_for(kid, alg)
        try:
            claims = jwt.decode(
                token, key.key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iss", "aud"], "verify_signature": True, "verify_exp": True,
                         "verify_nbf": True, "verify_iat": True, "verify_aud": True, "verify_iss": True},
            )
        except jwt.InvalidTokenError as exc:
            raise TokenError(_reason(exc)) from None
        return self.principal(claims)

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        """The principal of claims already verified (now, or when a Subscription recorded them)."""
        names = self.claim_names
        client_id = _string(claims.get("client_id")) or _string(claims.get("azp"))
        subject = _string(claims.get("sub")) or client_id
        if subject is None:
            raise TokenError("token has neither sub nor client_id")
        scope_claim = claims.get("scope", claims.get("scp"))
        if scope_claim is not None and not isinstance(scope_claim, str | list):
            raise TokenError("malformed scope claim")
        return Principal(
            subject=subject,
            client_id=client_id,
            scopes=ScopeSet.parse(scope_claim),
            fhir_user=_string(claims.get(names.fhir_user)),
            role=_string(claims.get(names.role)),
            organizations=_strings(claims.get(names.organization)),
            practitioner=_string(claims.get(names.practitioner)),
            patient=_string(claims.get(names.patient)),
            issuer=claims["iss"],
            expires_at=claims["exp"] if isinstance(claims.get("exp"), int) else None,
            claims=MappingProxyType(dict(claims)),
        )


# Short English for each PyJWT failure, most specific first; the exception text itself may be long or
# library-specific.
_REASONS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidSignatureError, "invalid signature"),
    (jwt.InvalidAlgorithmError, "signing algorithm not accepted"),
    (jwt.DecodeError, "malformed token"),
)


def _reason(exc: jwt.InvalidTokenError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing claim {exc.claim}"
    return next((text for kind, text in _REASONS if isinstance(exc, kind)), "invalid token")


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str) and item)
    return ()
