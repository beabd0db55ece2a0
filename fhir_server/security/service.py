"""The security layer of one server process: token verification and the access policy, built once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import Unauthorized
from . import member_index
from .care_access import CareAccessListener
from .errors import TokenError, bearer_challenge
from .guard import ReadGuard, WriteGuard
from .policy import AccessPolicy, PatientCompartment, load_roles
from .tokens import Principal, TokenVerifier, bearer_token

if TYPE_CHECKING:
    from ..services import Services
    from ..settings import Settings


@dataclass
class Security:
    """`verifier` is None when no issuer is configured: then every protected request is refused (fail
    closed) with a sentence telling the operator which setting is missing."""

    verifier: TokenVerifier | None
    policy: AccessPolicy

    @classmethod
    def from_settings(cls, settings: Settings, services: Services) -> Security:
        verifier = TokenVerifier.from_settings(settings) if settings.auth_issuer and settings.auth_audience else None
        policy = AccessPolicy(load_roles(settings.access_roles_file),
                              PatientCompartment(services.packages, services.search_params),
                              settings.auth_organization_cache_seconds)
        return cls(verifier, policy)

    def authenticate(self, authorization: str | None) -> Principal:
        """The verified principal of an `Authorization` header, or a 401 carrying its challenge."""
        if self.verifier is None:
            raise Unauthorized("Authentication is not configured on this server (ONCOLINK_AUTH_ISSUER and "
                               "ONCOLINK_AUTH_AUDIENCE); no request can be accepted",
                               bearer_challenge("invalid_token", "server has no token issuer configured"))
        try:
            return self.verifier.verify_header(authorization)
        except TokenError as exc:
            raise Unauthorized(f"Bearer token refused: {exc.reason}", exc.www_authenticate) from None

    def remembered(self, authorization: str | None) -> Principal | None:
        """The principal of an `Authorization` header whose token was verified moments ago (`TokenVerifier.
        remembered`), else None: then `authenticate` must verify it (and may block)."""
        if self.verifier is None:
            return None
        try:
            token = bearer_token(authorization)
        except TokenError:
            return None
        return self.verifier.remembered(token)

    def close(self) -> None:
        if self.verifier is not None:
            self.verifier.jwks.close()


def install(services: Services) -> None:
    """Put the guards on the repository: checked first, before any other listener reacts to a write; an
    accepted write is recorded in its own transaction."""
    from ..audit.recorder import AuditRecorder
    from ..audit.writer import AuditWriter

    services.security = Security.from_settings(services.settings, services)
    services.audit = AuditWriter(services)
    services.repository.guards.append(ReadGuard())
    recorder = AuditRecorder(services.repository, services.settings.audit_observer)
    services.repository.listeners.insert(0, WriteGuard(recorder))
    services.repository.listeners.insert(1, CareAccessListener(member_index.on_change))
