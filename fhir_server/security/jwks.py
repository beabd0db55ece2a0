"""The issuer's signing keys (JWKS), fetched over HTTP and cached.

Every request carries a token, so keys must come from memory: the set is fetched once, kept for
`cache_seconds`, then fetched again. Issuers rotate keys by publishing a new `kid` and signing with it
right away, so a token whose `kid` we do not know triggers one early refetch. That refetch is the only
thing an anonymous caller can cause, hence `min_refetch_seconds`: whatever the number of tokens with
unknown kids, the issuer is asked at most once per interval (a flood of forged tokens cannot be turned
against the issuer, nor slow us down waiting on it).

When a scheduled refresh fails, the keys we already hold keep being used (an issuer outage should not log
out every user at once) and the next attempt waits for the minimum interval. With no keys at all, the
error is `JwksUnavailable`, which callers should report as "cannot verify" rather than "bad token".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from fhir_server.security.errors import JwksUnavailable, TokenError

# Key types and curves we can verify with our algorithms (RS256 → RSA, ES256 → EC P-256).
_USABLE = {"RSA": "RS256", "EC": "ES256"}


@dataclass(frozen=True)
class SigningKey:
    """One published verification key: its id, the only algorithm we accept it for, and the key itself."""

    kid: str | None
    algorithm: str
    key: Any  # a cryptography public key object, as jwt.decode takes it


def discovery_url(issuer: str) -> str:
    """Where an OIDC issuer publishes its configuration (OpenID Connect Discovery 1.0 §4)."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


class JwksCache:
    """Thread-safe cache of one issuer's verification keys, indexed by `kid`.

    `jwks_url` may be given (setting `auth_jwks_url`); otherwise it is read once from the issuer's
    discovery document, whose `issuer` must equal ours (OIDC Discovery §4.3, so a misconfigured or
    spoofed discovery document cannot hand us another issuer's keys).

    `clock` is a monotonic clock in seconds; tests pass their own to step over intervals without sleeping.
    """

    def __init__(self, issuer: str, jwks_url: str | None = None, *, cache_seconds: float = 300,
                 min_refetch_seconds: float = 30, timeout_seconds: float = 5,
                 client: httpx.Client | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer
        self.cache_seconds = cache_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self._jwks_url = jwks_url or None
        self._client = client or httpx.Client(timeout=timeout_seconds, follow_redirects=False)
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._unnamed: list[SigningKey] = []  # keys published without a kid
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._last_error: str | None = None
        self.fetch_count = 0  # JWKS documents requested (attempts), for tests and metrics

    @property
    def jwks_url(self) -> str | None:
        """The JWKS URL in use (None until discovered)."""
        return self._jwks_url

    def key_for(self, kid: str | None, alg: str) -> SigningKey:
        """The key that must have signed a token with header `kid` and `alg`.

        Raises TokenError when no such key exists (after at most one refetch), JwksUnavailable when the
        keys cannot be obtained at all.
        """
        with self._lock:
            now = self._clock()
            expired = self._fetched_at is None or now - self._fetched_at >= self.cache_seconds
            if expired and self._may_fetch(now):
                self._refresh(now, keep_on_error=self._fetched_at is not None)
            if self._fetched_at is None:
                raise JwksUnavailable(f"signing keys of the issuer are unavailable: {self._last_error}")
            key = self._find(kid, alg)
            if key is None and self._may_fetch(now):
                # Possibly a rotation we have not seen yet: one refetch, then decide.
                self._refresh(now, keep_on_error=True)
                key = self._find(kid, alg)
            if key is None:
                raise TokenError("unknown signing key" if kid else "token has no kid and no single key fits")
            return key

    def refresh(self) -> None:
        """Fetch the keys now, regardless of the intervals (startup, administration)."""
        with self._lock:
            self._refresh(self._clock(), keep_on_error=True)
            if self._fetched_at is None:
                raise JwksUnavailable(f"signing keys of the issuer are unavailable: {self._last_error}")

    def kids(self) -> frozenset[str]:
        """The key ids currently held."""
        with self._lock:
            return frozenset(self._keys)

    def close(self) -> None:
        self._client.close()

    # Internals; callers hold the lock.

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self.min_refetch_seconds

    def _find(self, kid: str | None, alg: str) -> SigningKey | None:
        if kid is not None:
            key = self._keys.get(kid)
            return key if key is not None and _fits(key, alg) else None
        # No kid: accept only when exactly one published key fits the algorithm, never guess among several.
        candidates = [k for k in [*self._keys.values(), *self._unnamed] if _fits(k, alg)]
        return candidates[0] if len(candidates) == 1 else None

    def _refresh(self, now: float, *, keep_on_error: bool) -> None:
        self._attempted_at = now
        try:
            document = self._get_json(self._discover_jwks_url())
            keyed, unnamed = _parse_jwks(document)
        except JwksUnavailable as exc:
            self._last_error = exc.reason
            if not keep_on_error:
                self._keys, self._unnamed, self._fetched_at = {}, [], None
            return
        self._keys, self._unnamed = keyed, unnamed
        self._fetched_at, self._last_error = now, None

    def _discover_jwks_url(self) -> str:
        if self._jwks_url is None:
            config = self._get_json(discovery_url(self.issuer), count=False)
            if config.get("issuer") != self.issuer:
                raise JwksUnavailable("the discovery document names another issuer")
            uri = config.get("jwks_uri")
            if not isinstance(uri, str) or not uri:
                raise JwksUnavailable("the discovery document has no jwks_uri")
            self._jwks_url = uri
        return self._jwks_url

    def _get_json(self, url: str, *, count: bool = True) -> dict[str, Any]:
        if count:
            self.fetch_count += 1
        try:
            response = self._client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise JwksUnavailable(f"cannot reach {url} ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise JwksUnavailable(f"{url} answered HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError as exc:
            raise JwksUnavailable(f"{url} did not answer JSON") from exc
        if not isinstance(document, dict):
            raise JwksUnavailable(f"{url} did not answer a JSON object")
        return document


def _fits(key: SigningKey, alg: str) -> bool:
    """A key verifies exactly one algorithm: an RSA key is never used for ES256 and vice versa."""
    return key.algorithm == alg


def _parse_jwks(document: dict[str, Any]) -> tuple[dict[str, SigningKey], list[SigningKey]]:
    """Usable signature keys of a JWKS document; encryption keys and key types we cannot use are skipped
    (an issuer may publish them for other clients), but a set with no usable key at all is an error."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise JwksUnavailable("the JWKS document has no keys array")
    keyed: dict[str, SigningKey] = {}
    unnamed: list[SigningKey] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or entry.get("kty") not in _USABLE:
            continue
        algorithm = _USABLE[entry["kty"]]
        if entry.get("alg", algorithm) != algorithm or (entry["kty"] == "EC" and entry.get("crv") != "P-256"):
            continue  # pinned to an algorithm or curve we do not accept
        try:
            public = jwt.PyJWK(entry, algorithm=algorithm).key
            if hasattr(public, "public_key"):  # a private JWK published by mistake: verify with its public half
                public = public.public_key()
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue
        kid = entry.get("kid") if isinstance(entry.get("kid"), str) and entry.get("kid") else None
        key = SigningKey(kid, algorithm, public)
        if kid is not None:
            keyed[kid] = key
        else:
            unnamed.append(key)
    if not keyed and not unnamed:
        raise JwksUnavailable("the JWKS document has no usable signing key")
    return keyed, unnamed
