"""FHIR errors as exceptions carrying their HTTP status and OperationOutcome issues.

Raising one of these anywhere below the HTTP layer is the only way code reports a client-visible
failure; `outcomes.py` turns them into responses, so status codes are decided where the cause is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue; `code` is from http://hl7.org/fhir/issue-type."""

    severity: str
    code: str
    diagnostics: str
    expression: tuple[str, ...] = field(default_factory=tuple)

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            out["expression"] = list(self.expression)
        return out


def error(code: str, diagnostics: str, *expression: str) -> Issue:
    return Issue("error", code, diagnostics, tuple(expression))


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


class FhirError(Exception):
    """A failure with a FHIR meaning; `status` is the HTTP status the client must see."""

    status = 400
    headers: dict[str, str] | None = None

    def __init__(self, issues: list[Issue] | str, *, code: str = "invalid", expression: tuple[str, ...] = ()):
        if isinstance(issues, str):
            issues = [Issue("error", code, issues, expression)]
        self.issues = issues
        super().__init__("; ".join(i.diagnostics for i in issues))

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


class BadRequest(FhirError):
    status = 400


class Unauthorized(FhirError):
    """No acceptable credential; `challenge` is the `WWW-Authenticate` value RFC 6750 requires with a 401."""

    status = 401

    def __init__(self, diagnostics: str, challenge: str) -> None:
        super().__init__(diagnostics, code="login")
        self.headers = {"WWW-Authenticate": challenge}


class Forbidden(FhirError):
    status = 403

    def __init__(self, diagnostics: str, expression: tuple[str, ...] = ()) -> None:
        super().__init__(diagnostics, code="forbidden", expression=expression)


class NotFound(FhirError):
    status = 404

    def __init__(self, diagnostics: str):
        super().__init__(diagnostics, code="not-found")


class MethodNotAllowed(FhirError):
    status = 405

    def __init__(self, diagnostics: str):
        super().__init__(diagnostics, code="not-supported")


class NotAcceptable(FhirError):
    status = 406

    def __init__(self, diagnostics: str):
        super().__init__(diagnostics, code="not-supported")


class Conflict(FhirError):
    status = 409

    def __init__(self, diagnostics: str):
        super().__init__(diagnostics, code="conflict")


class Gone(FhirError):
    status = 410

    def __init__(self, diagnostics: str):
        super().__init__(diagnostics, code="deleted")


class PreconditionFailed(FhirError):
    status = 412

    def __init__(self, diagnostics: str, code: str = "conflict"):
        super().__init__(diagnostics, code=code)


class PayloadTooLarge(FhirError):
    status = 413

    def __init__(self, diagnostics: str, expression: tuple[str, ...] = ()):
        super().__init__(diagnostics, code="too-costly", expression=expression)


class UnsupportedMediaType(FhirError):
    status = 415

    def __init__(self, diagnostics: str):
        super().__init__(diagnostics, code="not-supported")


class Unprocessable(FhirError):
    status = 422


class NotImplementedFhir(FhirError):
    status = 501

    def __init__(self, diagnostics: str):
        super().__init__(diagnostics, code="not-supported")
