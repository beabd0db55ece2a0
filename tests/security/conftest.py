"""Fixtures for the security tests: a real loopback issuer and verifiers fetching its JWKS over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fhir_server.security.dev_issuer import DevIssuer
from fhir_server.security.jwks import JwksCache
from fhir_server.security.tokens import TokenVerifier


class Clock:
    """A monotonic clock the test moves by hand, so cache intervals are crossed without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def issuer() -> Iterator[DevIssuer]:
    with DevIssuer() as dev:
        yield dev


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def jwks(issuer: DevIssuer, clock: Clock) -> Iterator[JwksCache]:
    cache = JwksCache(issuer.issuer, issuer.jwks_url, cache_seconds=300, min_refetch_seconds=30, clock=clock)
    yield cache
    cache.close()


@pytest.fixture
def verifier(issuer: DevIssuer, jwks: JwksCache) -> TokenVerifier:
    return TokenVerifier(jwks, issuer=issuer.issuer, audience=issuer.audience, leeway_seconds=30)
