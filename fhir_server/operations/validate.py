"""`$validate` on a type and on an instance (FHIR R4 Resource-validate).

Input: the resource as the body, or a Parameters body with `resource`, `profile` and `mode`; `profile`
and `mode` may also come as URL parameters. The answer is always 200 with an OperationOutcome whose
issues carry severity, code and expression; a resource with errors is a successful validation that
found them. Modes: `create` and `update` check what a write would (an update needs the id of the URL),
`delete` checks the instance exists, `profile` checks only the profiles asked for.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..api.deps import FHIR_ROUTE, BodyDep, LimitsDep, ServicesDep, TypeDep
from ..errors import BadRequest, Issue, operation_outcome
from ..http import fhir_response, read_resource_body
from ..services import Services
from ..validation.ig import ensure_loaded
from ..validation.validator import FhirValidator
from .parameters import value_of

router = APIRouter(prefix="/fhir", dependencies=FHIR_ROUTE)

MODES = ("create", "update", "delete", "profile")

# The operation's definition, as the CapabilityStatement refers to it.
DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"


def validator_for(svc: Services) -> FhirValidator:
    """The process's FhirValidator: `svc.profile_validator` when the services carry one, otherwise
    built once over the same registry and structural validator, with our guide loaded."""
    found: FhirValidator | None = getattr(svc, "profile_validator", None)
    if found is None:
        ensure_loaded(svc.packages)
        policy = getattr(svc.settings, "unknown_profile", "warning")
        found = FhirValidator(svc.packages, svc.validator, unknown_profile=policy)
        svc.profile_validator = found  # type: ignore[attr-defined]
    return found


def _inputs(body: Any, res_type: str, request: Request) -> tuple[Any, list[str], str | None]:
    """(resource, profiles, mode) from a Parameters body or a plain resource, plus the URL."""
    profiles = list(request.query_params.getlist("profile"))
    mode = request.query_params.get("mode")
    resource = body
    if isinstance(body, dict) and body.get("resourceType") == "Parameters" and res_type != "Parameters":
        resource = None
        for parameter in body.get("parameter") or []:
            if not isinstance(parameter, dict):
                continue
            name = parameter.get("name")
            if name == "resource":
                resource = parameter.get("resource")
            elif name == "profile" and isinstance(value_of(parameter), str):
                profiles.append(value_of(parameter))
            elif name == "mode" and isinstance(value_of(parameter), str):
                mode = value_of(parameter)
    if mode is not None and mode not in MODES:
        raise BadRequest(f"mode={mode!r} is not one of {', '.join(MODES)}", code="value")
    return resource, profiles, mode


def _answer(issues: list[Issue], request: Request) -> Response:
    if not issues:
        issues = [Issue("information", "informational", "Validation found no issues")]
    return fhir_response(operation_outcome(issues), 200, request=request)


def _check(svc: Services, res_type: str, resource: Any, profiles: list[str], mode: str | None,
           res_id: str | None) -> list[Issue]:
    validator = validator_for(svc)
    issues = validator.validate(resource, resource_type=res_type, profiles=profiles, claimed=mode != "profile")
    if mode == "update" and isinstance(resource, dict):
        found = resource.get("id")
        if found is None:
            issues.append(Issue("error", "required", f"{res_type}.id: an update needs the resource id",
                                (f"{res_type}.id",)))
        elif res_id is not None and found != res_id:
            issues.append(Issue("error", "invalid", f"{res_type}.id: '{found}' does not match the id '{res_id}' of "
                                "the URL", (f"{res_type}.id",)))
    return issues


@router.post("/{res_type}/$validate")
def validate_type(res_type: TypeDep, request: Request, svc: ServicesDep, raw: BodyDep, limits: LimitsDep) -> Response:
    body = read_resource_body(request, raw, limits)
    resource, profiles, mode = _inputs(body, res_type, request)
    if mode == "delete":
        raise BadRequest("mode=delete needs an instance: POST [type]/[id]/$validate", code="value")
    if resource is None:
        raise BadRequest("$validate needs a resource: the body, or a Parameters 'resource' parameter", code="required")
    return _answer(_check(svc, res_type, resource, profiles, mode, None), request)


@router.post("/{res_type}/{res_id}/$validate")
def validate_instance(res_type: TypeDep, res_id: str, request: Request, svc: ServicesDep, raw: BodyDep,
                      limits: LimitsDep) -> Response:
    body = read_resource_body(request, raw, limits) if raw.strip() else None
    resource, profiles, mode = _inputs(body, res_type, request)
    if mode == "delete" or resource is None:
        with svc.db.read() as conn:
            stored = svc.repository.read(conn, res_type, res_id)
        if mode == "delete":
            return _answer([], request)
        resource = stored.content
    return _answer(_check(svc, res_type, resource, profiles, mode, res_id), request)


@router.get("/{res_type}/{res_id}/$validate")
def validate_stored(res_type: TypeDep, res_id: str, request: Request, svc: ServicesDep) -> Response:
    _, profiles, mode = _inputs(None, res_type, request)
    with svc.db.read() as conn:
        stored = svc.repository.read(conn, res_type, res_id)
    if mode == "delete":
        return _answer([], request)
    return _answer(_check(svc, res_type, stored.content, profiles, mode, res_id), request)
