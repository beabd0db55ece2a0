"""A local OIDC issuer for `oncolink serve --dev` and for tests.

Tests of access control are only worth something if they go through the same verification as
production: real signatures, a real JWKS fetched over HTTP, no "skip auth" switch. This issuer gives
them that without a network: it makes an RSA key (RS256) and an EC P-256 key (ES256), serves
`/.well-known/openid-configuration` and `/jwks.json` from a threaded `http.server` on a loopback port,
and mints tokens for each Onco'Link role with that role's scopes and identifying claims. It can rotate
a key (the old `kid` disappears from the JWKS, as with a real issuer) and counts the JWKS requests it
answers, so tests can see refetch behaviour from the outside.

Machine clients (the DPI interface, pharmacy software, the MSSanté worker, the administrator) get their
tokens as in production, from a client-credentials token endpoint (`/token`, RFC 6749 §4.4); their
secrets are derived from a key made at start-up (`client_secret`). It is a development tool: keys live
in memory only, there is no user login, and it must never be the issuer of a deployed server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

Algorithm = Literal["RS256", "ES256"]
DEFAULT_AUDIENCE = "oncolink-fhir"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"  # national identifier of health professionals
FINESS = "urn:oid:1.2.250.1.71.4.2.2"  # national identifier of establishments and pharmacies
HOSPITAL = f"{FINESS}|1690000001"  # org-oncologie-lyon in the IG examples
PHARMACY = f"{FINESS}|1690000002"  # org-pharmacie-lilas in the IG examples


@dataclass(frozen=True)
class RoleProfile:
    """The claims a token of one role carries; ids follow the IG examples (profiles/input/fsh/examples)."""

    role: str
    subject: str
    scope: str
    fhir_user: str | None = None
    organizations: tuple[str, ...] = ()
    practitioner: str | None = None
    patient: str | None = None
    client_id: str = "oncolink-dev"

    def claims(self) -> dict[str, Any]:
        """The role's identifying claims (no iss/aud/exp: `DevIssuer.mint` adds those)."""
        claims: dict[str, Any] = {"sub": self.subject, "client_id": self.client_id, "scope": self.scope,
                                  "role": self.role}
        if self.fhir_user:
            claims["fhirUser"] = self.fhir_user
        if self.organizations:
            claims["organization"] = list(self.organizations)
        if self.practitioner:
            claims["practitioner"] = self.practitioner
        if self.patient:
            claims["patient"] = self.patient
        return claims


_HOSPITAL_TEAM = "openid fhirUser user/*.cruds"
_COMMUNITY_READ = "user/Patient.rs user/CarePlan.rs user/CareTeam.rs user/MedicationRequest.rs user/Flag.rs"
ROLES: dict[str, RoleProfile] = {
    profile.role: profile
    for profile in (
        RoleProfile("oncologist", "dev-oncologist", _HOSPITAL_TEAM, "Practitioner/prescriber-claire-roux",
                    (HOSPITAL,), f"{RPPS}|810001234567"),
        RoleProfile("idec", "dev-idec", _HOSPITAL_TEAM, "Practitioner/idec-dev", (HOSPITAL,), f"{RPPS}|810000000101"),
        RoleProfile("hospital-pharmacist", "dev-hospital-pharmacist", _HOSPITAL_TEAM,
                    "Practitioner/hospital-pharmacist-dev", (HOSPITAL,), f"{RPPS}|810000000202"),
        RoleProfile("community-pharmacist", "dev-community-pharmacist",
                    f"openid fhirUser {_COMMUNITY_READ} user/Communication.crus user/Task.rus "
                    "user/Observation.crus user/MedicationDispense.crus user/QuestionnaireResponse.rs",
                    "Practitioner/community-pharmacist-dev", (PHARMACY,), f"{RPPS}|810000000303"),
        RoleProfile("gp", "dev-gp",
                    f"openid fhirUser {_COMMUNITY_READ} user/Communication.crus user/Task.rus "
                    "user/Observation.crus user/QuestionnaireResponse.rs",
                    "Practitioner/gp-paul-petit", (), f"{RPPS}|810007654321"),
        RoleProfile("patient", "dev-patient",
                    "openid fhirUser launch/patient patient/*.rs patient/QuestionnaireResponse.cru",
                    "Patient/patient-jeanne-martin", patient="patient-jeanne-martin"),
        RoleProfile("auditor", "dev-auditor", "openid fhirUser user/AuditEvent.rs", "Practitioner/auditor-dev",
                    (HOSPITAL,)),
        # Machine clients: client-credentials tokens, `sub` is the client, no user and no fhirUser.
        RoleProfile("dpi-interface", "dpi-interface", "system/*.crus", organizations=(HOSPITAL,),
                    client_id="dpi-interface"),
        RoleProfile("pharmacy-software", "pharmacy-software-lilas",
                    "system/Patient.rs system/CarePlan.rs system/CareTeam.rs system/MedicationRequest.rs "
                    "system/MedicationDispense.crus system/Communication.crus system/Subscription.cruds",
                    organizations=(PHARMACY,), client_id="pharmacy-software-lilas"),
        RoleProfile("mssante-worker", "mssante-worker", "system/*.crus", organizations=(HOSPITAL,),
                    client_id="mssante-worker"),
        # Integration and tests: everything the API allows, as an establishment's service account.
        RoleProfile("administrator", "oncolink-admin", "system/*.cruds", organizations=(HOSPITAL,),
                    client_id="oncolink-admin"),
    )
}


class _KeyPair:
    """A private key, its id and its public JWK; one per algorithm, replaced on rotation."""

    def __init__(self, alg: Algorithm) -> None:
        self.alg = alg
        self.kid = f"{alg.lower()}-{secrets.token_hex(6)}"
        if alg == "RS256":
            self.private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwk: dict[str, Any] = {**jwk, "kid": self.kid, "use": "sig", "alg": alg}


class DevIssuer:
    """The local issuer; use as a context manager, or `start()`/`stop()`.

    `issuer` is `http://127.0.0.1:<port>` once started. `jwks_status` can be set to e.g. 503 to simulate
    an issuer outage; `jwks_requests` counts JWKS documents served (whatever their status).
    """

    def __init__(self, *, audience: str = DEFAULT_AUDIENCE, host: str = "127.0.0.1", port: int = 0) -> None:
        self.audience = audience
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._keys: dict[Algorithm, _KeyPair] = {"RS256": _KeyPair("RS256"), "ES256": _KeyPair("ES256")}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.jwks_status = 200
        self.jwks_requests = 0
        self.discovery_requests = 0
        self._secret_key = secrets.token_bytes(32)

    # Lifecycle.

    def start(self) -> DevIssuer:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self._host, self._port), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="oncolink-dev-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> DevIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Addresses.

    @property
    def issuer(self) -> str:
        if self._server is None:
            raise RuntimeError("the dev issuer is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def jwks_url(self) -> str:
        return self.issuer + "/jwks.json"

    @property
    def token_url(self) -> str:
        return self.issuer + "/token"

    def discovery(self) -> dict[str, Any]:
        """The OIDC discovery document (only what verification needs, plus the algorithms we sign with)."""
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            "token_endpoint": self.token_url,
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "scopes_supported": sorted({s for p in ROLES.values() for s in p.scope.split()}),
            "claims_supported": ["sub", "client_id", "scope", "role", "fhirUser", "organization",
                                 "practitioner", "patient"],
        }

    def jwks(self) -> dict[str, Any]:
        """The public keys currently published."""
        with self._lock:
            return {"keys": [pair.jwk for pair in self._keys.values()]}

    def settings_env(self) -> dict[str, str]:
        """The `ONCOLINK_AUTH_*` variables that point a server at this issuer."""
        return {"ONCOLINK_AUTH_ISSUER": self.issuer, "ONCOLINK_AUTH_AUDIENCE": self.audience,
                "ONCOLINK_AUTH_JWKS_URL": self.jwks_url, "ONCOLINK_AUTH_TOKEN_URL": self.token_url}

    def client_env(self) -> dict[str, str]:
        """The client-credentials variables of the server's own adapters (DPI interface, MSSanté worker)."""
        return {"ONCOLINK_AUTH_TOKEN_URL": self.token_url,
                "ONCOLINK_DPI_CLIENT_ID": "dpi-interface",
                "ONCOLINK_DPI_CLIENT_SECRET": self.client_secret("dpi-interface"),
                "ONCOLINK_MSSANTE_OAUTH_CLIENT_ID": "mssante-worker",
                "ONCOLINK_MSSANTE_OAUTH_CLIENT_SECRET": self.client_secret("mssante-worker")}

    # Machine clients.

    def client_secret(self, client_id: str) -> str:
        """The secret of a machine client (a role without fhirUser), stable for this issuer's life."""
        return hmac.new(self._secret_key, client_id.encode(), hashlib.sha256).hexdigest()[:32]

    def client_token(self, client_id: str, secret: str) -> dict[str, Any] | None:
        """A client-credentials grant: the token response, or None for an unknown client or wrong secret."""
        profile = next((p for p in ROLES.values() if p.client_id == client_id and p.fhir_user is None), None)
        if profile is None or not hmac.compare_digest(secret, self.client_secret(client_id)):
            return None
        lifetime = 3600
        return {"access_token": self.mint(profile.role, lifetime_seconds=lifetime), "token_type": "Bearer",
                "expires_in": lifetime, "scope": profile.scope}

    # Keys.

    def kid(self, alg: Algorithm = "RS256") -> str:
        with self._lock:
            return self._keys[alg].kid

    def rotate(self, alg: Algorithm = "RS256") -> str:
        """Replace the key of `alg` by a new one; the old kid is no longer published. Returns the new kid."""
        pair = _KeyPair(alg)
        with self._lock:
            self._keys[alg] = pair
        return pair.kid

    def public_key_pem(self, alg: Algorithm = "RS256") -> bytes:
        """The public key in PEM, e.g. to show that it cannot be used as an HMAC secret."""
        with self._lock:
            private = self._keys[alg].private
        return private.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)

    # Tokens.

    def sign(self, claims: Mapping[str, Any], *, alg: Algorithm = "RS256",
             headers: Mapping[str, Any] | None = None) -> str:
        """Sign arbitrary claims with the current key of `alg` (header `kid` set unless `headers` override)."""
        with self._lock:
            pair = self._keys[alg]
        return jwt.encode(dict(claims), pair.private, algorithm=alg, headers={"kid": pair.kid, **(headers or {})})

    def mint(self, role: str, *, lifetime_seconds: int = 3600, alg: Algorithm = "RS256", now: float | None = None,
             claims: Mapping[str, Any] | None = None) -> str:
        """A token for one of `ROLES`, valid `lifetime_seconds` from `now`; `claims` override or add claims."""
        try:
            profile = ROLES[role]
        except KeyError:
            raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}") from None
        issued = int(now if now is not None else time.time())
        body = {**profile.claims(), "iss": self.issuer, "aud": self.audience, "iat": issued, "nbf": issued,
                "exp": issued + lifetime_seconds, "jti": secrets.token_hex(8)}
        body.update(claims or {})
        return self.sign(body, alg=alg)

    def tokens(self, *, lifetime_seconds: int = 12 * 3600) -> dict[str, str]:
        """One token per role, as `oncolink serve --dev` prints them."""
        return {role: self.mint(role, lifetime_seconds=lifetime_seconds) for role in ROLES}


def _handler_for(issuer: DevIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """Answers the two documents a verifier reads; everything else is 404."""

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0]
            if path == "/.well-known/openid-configuration":
                with issuer._lock:
                    issuer.discovery_requests += 1
                self._answer(200, issuer.discovery())
            elif path == "/jwks.json":
                with issuer._lock:
                    issuer.jwks_requests += 1
                    status = issuer.jwks_status
                self._answer(status, issuer.jwks() if status == 200 else {"error": "unavailable"})
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.split("?", 1)[0] != "/token":
                self._answer(404, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(min(length, 16384)).decode("utf-8", "replace")))
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            basic = self.headers.get("Authorization", "")
            if basic.lower().startswith("basic "):
                try:
                    pair = base64.b64decode(basic[6:].strip()).decode()
                except (ValueError, UnicodeDecodeError):
                    pair = ""
                client_id, _, secret = pair.partition(":")
                client_id, secret = unquote(client_id), unquote(secret)
            if form.get("grant_type") != "client_credentials":
                self._answer(400, {"error": "unsupported_grant_type"})
                return
            granted = issuer.client_token(client_id, secret)
            if granted is None:
                self._answer(401, {"error": "invalid_client"})
                return
            self._answer(200, granted)

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
            """Silent: the dev server's own log says what matters."""

    return Handler
