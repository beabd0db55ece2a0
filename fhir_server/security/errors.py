"""Why a bearer token was refused.

The reason is short English meant for the `error_description` of `WWW-Authenticate: Bearer
error="invalid_token"` (RFC 6750 §3): it tells an integrator what to fix without echoing the token or
any key material back.
"""

from __future__ import annotations


class TokenError(Exception):
    """The request's bearer token cannot be accepted; `reason` is safe to send to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def www_authenticate(self) -> str:
        """The `WWW-Authenticate` header value for a 401 answering this error."""
        return bearer_challenge("invalid_token", self.reason)


class MissingToken(TokenError):
    """No bearer token at all: RFC 6750 §3.1 says to answer the challenge without an error code."""

    @property
    def www_authenticate(self) -> str:
        return bearer_challenge(None, None)


class JwksUnavailable(TokenError):
    """The issuer's keys could not be obtained, so no token can be verified. Still a 401 for the client
    (nothing was verified), but operators should see it as an outage, not as a client mistake."""


def bearer_challenge(error: str | None, description: str | None, realm: str = "oncolink-fhir") -> str:
    """A `WWW-Authenticate: Bearer …` value; quotes and backslashes in the description are dropped, as
    RFC 6750 restricts `error_description` to printable ASCII without them."""
    parts = [f'realm="{realm}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        clean = "".join(ch for ch in description if 0x20 <= ord(ch) <= 0x7E and ch not in '"\\')
        parts.append(f'error_description="{clean}"')
    return "Bearer " + ", ".join(parts)
