"""Bearer token verification against the dev issuer's real keys and loopback JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from fhir_server.security.dev_issuer import DevIssuer
from fhir_server.security.errors import JwksUnavailable, MissingToken, TokenError
from fhir_server.security.jwks import JwksCache
from fhir_server.security.tokens import TokenVerifier, bearer_token
from fhir_server.settings import Settings


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


def _claims(issuer: DevIssuer, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "someone", "iss": issuer.issuer, "aud": issuer.audience, "iat": now, "exp": now + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenError) as info:
        verifier.verify(token)
    return info.value.reason


def test_good_rs256_token_gives_the_principal(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    principal = verifier.verify(issuer.mint("community-pharmacist"))
    assert principal.subject == "dev-community-pharmacist"
    assert principal.client_id == "oncolink-dev"
    assert principal.role == "community-pharmacist"
    assert principal.fhir_user == "Practitioner/community-pharmacist-dev"
    assert principal.organizations == ("urn:oid:1.2.250.1.71.4.2.2|1690000002",)
    assert principal.practitioner == "urn:oid:1.2.250.1.71.4.2.1|810000000303"
    assert principal.issuer == issuer.issuer
    assert principal.scopes.permits("read", "MedicationRequest", "user")
    assert not principal.scopes.permits("update", "MedicationRequest", "user")
    assert "openid" in principal.scopes.other
    assert not principal.is_system_client
    with pytest.raises(TypeError):
        principal.claims["role"] = "oncologist"  # type: ignore[index]


def test_good_es256_token_is_accepted(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    principal = verifier.verify(issuer.mint("patient", alg="ES256"))
    assert principal.patient == "patient-jeanne-martin"
    assert principal.fhir_user == "Patient/patient-jeanne-martin"
    assert principal.scopes.permits("create", "QuestionnaireResponse", "patient")
    assert not principal.scopes.permits("create", "Observation", "patient")


def test_system_client_token(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    principal = verifier.verify(issuer.mint("pharmacy-software"))
    assert principal.is_system_client
    assert principal.subject == principal.client_id == "pharmacy-software-lilas"
    assert principal.scopes.permits("search", "CarePlan", "system")
    assert not principal.scopes.permits("search", "CarePlan", "user")


def test_expired_token_is_refused(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    token = issuer.mint("gp", now=time.time() - 7200, lifetime_seconds=3600)
    assert _refused(verifier, token) == "token expired"


def test_expiry_within_leeway_is_accepted(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    token = issuer.sign(_claims(issuer, exp=int(time.time()) - 10))
    assert verifier.verify(token).subject == "someone"


def test_not_yet_valid_token_is_refused(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    later = int(time.time()) + 600
    assert _refused(verifier, issuer.sign(_claims(issuer, nbf=later, iat=None))) == "token not yet valid"
    # Within the leeway, clock skew is tolerated.
    assert verifier.verify(issuer.sign(_claims(issuer, nbf=int(time.time()) + 10, iat=None)))


def test_wrong_issuer_is_refused(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    assert _refused(verifier, issuer.sign(_claims(issuer, iss="https://elsewhere.example"))) == "wrong issuer"


def test_wrong_audience_is_refused(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    assert _refused(verifier, issuer.sign(_claims(issuer, aud="another-api"))) == "wrong audience"
    # A list of audiences is fine when it includes ours.
    assert verifier.verify(issuer.sign(_claims(issuer, aud=["another-api", issuer.audience])))


@pytest.mark.parametrize("claim", ["exp", "iss", "aud"])
def test_required_claims(issuer: DevIssuer, verifier: TokenVerifier, claim: str) -> None:
    assert _refused(verifier, issuer.sign(_claims(issuer, **{claim: None}))) == f"missing claim {claim}"


def test_token_without_subject_or_client_is_refused(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    assert _refused(verifier, issuer.sign(_claims(issuer, sub=None))) == "token has neither sub nor client_id"


def test_tampered_payload_is_refused(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    header, payload, signature = issuer.mint("gp").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "user/*.cruds"
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    assert _refused(verifier, forged) == "invalid signature"


def test_tampered_signature_is_refused(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    for alg in ("RS256", "ES256"):
        header, payload, signature = issuer.mint("gp", alg=alg).split(".")  # type: ignore[arg-type]
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[len(raw) // 2] ^= 0x01
        assert _refused(verifier, f"{header}.{payload}.{_b64(bytes(raw))}") == "invalid signature"


def test_signature_by_another_key_with_our_kid_is_refused(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    with DevIssuer() as impostor:
        token = impostor.sign(_claims(issuer), headers={"kid": issuer.kid("RS256")})
    assert _refused(verifier, token) == "invalid signature"


def test_alg_none_is_refused(issuer: DevIssuer, verifier: TokenVerifier, jwks: JwksCache) -> None:
    for alg in ("none", "None", "NONE"):
        token = _unsigned({"alg": alg, "typ": "JWT", "kid": issuer.kid()}, _claims(issuer)) + "."
        assert "not accepted" in _refused(verifier, token)
    assert jwks.fetch_count == 0  # refused on the header, before any key lookup


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_with_the_public_key_as_secret_is_refused(issuer: DevIssuer, verifier: TokenVerifier, alg: str) -> None:
    """The classic algorithm-confusion attack: the public key is public, so an HMAC over it proves nothing."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = _unsigned({"alg": alg, "typ": "JWT", "kid": issuer.kid()}, _claims(issuer))
    mac = hmac.new(issuer.public_key_pem(), signing_input.encode(), digest).digest()
    assert "not accepted" in _refused(verifier, f"{signing_input}.{_b64(mac)}")


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "ES384", "EdDSA"])
def test_other_asymmetric_algorithms_are_refused(issuer: DevIssuer, verifier: TokenVerifier, alg: str) -> None:
    token = _unsigned({"alg": alg, "kid": issuer.kid()}, _claims(issuer)) + ".c2ln"
    assert "not accepted" in _refused(verifier, token)


def test_rsa_kid_with_es256_header_is_refused(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    """A key is only ever used for its own algorithm: an RS256 key id under an ES256 header names no key."""
    token = issuer.sign(_claims(issuer), alg="ES256", headers={"kid": issuer.kid("RS256")})
    assert _refused(verifier, token) == "unknown signing key"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b", "x" * 20_000, "eyJhbGciOiJSUzI1NiJ9.e30"])
def test_malformed_tokens_are_refused(verifier: TokenVerifier, token: str) -> None:
    assert _refused(verifier, token) in {"malformed token", "token too large"}


def test_jwks_unreachable_gives_a_clear_error(issuer: DevIssuer) -> None:
    from tests.live_server import free_port

    cache = JwksCache(issuer.issuer, f"http://127.0.0.1:{free_port()}/jwks.json", timeout_seconds=2)
    verifier = TokenVerifier(cache, issuer=issuer.issuer, audience=issuer.audience)
    with pytest.raises(JwksUnavailable) as info:
        verifier.verify(issuer.mint("oncologist"))
    assert info.value.reason.startswith("signing keys of the issuer are unavailable: cannot reach http://127.0.0.1:")
    assert 'error="invalid_token"' in info.value.www_authenticate


def test_discovery_finds_the_jwks(issuer: DevIssuer) -> None:
    cache = JwksCache(issuer.issuer)
    verifier = TokenVerifier(cache, issuer=issuer.issuer, audience=issuer.audience)
    assert verifier.verify(issuer.mint("idec")).role == "idec"
    assert cache.jwks_url == issuer.jwks_url
    assert (issuer.discovery_requests, issuer.jwks_requests) == (1, 1)


def test_discovery_naming_another_issuer_is_not_trusted(issuer: DevIssuer) -> None:
    """OIDC Discovery §4.3: the document's issuer must be exactly ours (here, ours has a trailing slash)."""
    configured = issuer.issuer + "/"
    cache = JwksCache(configured)
    verifier = TokenVerifier(cache, issuer=configured, audience=issuer.audience)
    with pytest.raises(JwksUnavailable, match="names another issuer"):
        verifier.verify(issuer.sign(_claims(issuer, iss=configured)))
    assert issuer.jwks_requests == 0


def test_verifier_from_settings(issuer: DevIssuer) -> None:
    settings = Settings(auth_issuer=issuer.issuer, auth_audience=issuer.audience, auth_leeway_seconds=0,
                        auth_role_claim="oncolink_role")
    verifier = TokenVerifier.from_settings(settings)
    assert verifier.jwks.jwks_url is None  # discovered, since auth_jwks_url is empty
    principal = verifier.verify(issuer.sign(_claims(issuer, oncolink_role="auditor", role="oncologist")))
    assert principal.role == "auditor"
    # No leeway: expired ten seconds ago is expired.
    assert _refused(verifier, issuer.sign(_claims(issuer, exp=int(time.time()) - 10))) == "token expired"


def test_verifier_needs_issuer_and_audience(jwks: JwksCache) -> None:
    with pytest.raises(ValueError):
        TokenVerifier(jwks, issuer="", audience="x")
    assert Settings().auth_issuer == ""  # authentication stays unconfigured by default


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer   abc.def.ghi ") == "abc.def.ghi"
    for missing in (None, "", "   "):
        with pytest.raises(MissingToken) as info:
            bearer_token(missing)
        assert info.value.www_authenticate == 'Bearer realm="oncolink-fhir"'
    for bad in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"):
        with pytest.raises(TokenError) as err:
            bearer_token(bad)
        assert not isinstance(err.value, MissingToken)


def test_www_authenticate_header(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    with pytest.raises(TokenError) as info:
        verifier.verify_header("Bearer " + issuer.mint("gp", now=time.time() - 7200, lifetime_seconds=60))
    assert info.value.www_authenticate == (
        'Bearer realm="oncolink-fhir", error="invalid_token", error_description="token expired"')
    assert 'error_description="algorithm x"' in TokenError('algorithm "x"').www_authenticate


def test_verified_tokens_are_remembered_but_never_past_their_expiry(jwks: JwksCache, issuer: DevIssuer) -> None:
    verifier = TokenVerifier(jwks, issuer=issuer.issuer, audience=issuer.audience, leeway_seconds=0,
                             cache_seconds=60)
    token = issuer.sign(_claims(issuer))
    short = issuer.sign(_claims(issuer, exp=int(time.time()) + 1))
    first = verifier.verify(token)
    verifier.verify(short)
    issuer.rotate("RS256")  # the key is gone from the JWKS: only the remembered answer can accept it now
    assert verifier.verify(token) is first
    time.sleep(1.2)
    assert _refused(verifier, short) == "token expired"  # remembered only until its exp
