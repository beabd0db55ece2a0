"""How the adapters prove who they are to the FHIR server: OAuth 2 client-credentials tokens.

The DPI interface and the MSSanté worker are machine clients with `system/` scopes (issue 9). They ask
the issuer's token endpoint for a token (RFC 6749 §4.4, client secret sent with HTTP Basic), keep it
until shortly before it expires, and ask again when the server answers 401 (a rotated key, a revoked
token). A fixed token (`ONCOLINK_FHIR_TOKEN`) serves scripts and short-lived runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Generator

import httpx

# A token is renewed this long before its announced expiry, so a request never leaves with a token that
# dies on the way.
RENEW_BEFORE_SECONDS = 30.0


class TokenUnavailable(Exception):
    """The token endpoint refused the client or could not be reached; the message says which."""


class BearerToken(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class ClientCredentials(httpx.Auth):
    def __init__(self, token_url: str, client_id: str, client_secret: str, *, timeout: float = 10.0) -> None:
        self.token_url = token_url
        self._client = (client_id, client_secret)
        self._timeout = timeout
        self._token: str | None = None
        self._expires = 0.0
        self._lock: asyncio.Lock | None = None

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self.token()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self.token(renew=True)}"
            yield request

    async def token(self, *, renew: bool = False) -> str:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if renew or self._token is None or time.monotonic() >= self._expires:
                self._token, lifetime = await self._fetch()
                self._expires = time.monotonic() + max(lifetime - RENEW_BEFORE_SECONDS, 1.0)
            return self._token

    async def _fetch(self) -> tuple[str, float]:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                response = await http.post(self.token_url, data={"grant_type": "client_credentials"},
                                           auth=self._client)
        except httpx.HTTPError as exc:
            raise TokenUnavailable(f"token endpoint {self.token_url} unreachable ({exc})") from exc
        if response.status_code != 200:
            raise TokenUnavailable(f"token endpoint {self.token_url} refused client {self._client[0]!r} "
                                   f"(HTTP {response.status_code})")
        try:
            body = response.json()
            return str(body["access_token"]), float(body.get("expires_in") or 300)
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenUnavailable(f"token endpoint {self.token_url} sent no access_token") from exc
