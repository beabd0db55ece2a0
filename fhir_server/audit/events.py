"""AuditEvent resources (R4) describing one access to the API.

The shape follows the FHIR "RESTful operation" audit pattern (type `rest`, subtype the restful
interaction, action C/R/U/D/E, outcome 0/4/8), with the caller as requesting agent: the user's
`fhirUser` when there is one, else the OAuth client, plus the network address. The request id is kept
as an entity detail so a log line, an OperationOutcome and an audit record can be matched.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..resources import instant
from ..security.tokens import Principal

AUDIT_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
              "display": "RESTful Operation"}
DCM = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
SOURCE_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "3",
               "display": "Web Server"}
_ACTIONS = {"create": "C", "read": "R", "vread": "R", "history-instance": "R", "history-type": "R",
            "history-system": "R", "search-type": "E", "search-system": "E", "update": "U", "patch": "U",
            "delete": "D", "batch": "E", "transaction": "E", "operation": "E"}


def outcome_code(status: int) -> str:
    """0 success, 4 minor failure (the client's: refused, not found, invalid), 8 serious (the server's)."""
    return "0" if status < 400 else ("4" if status < 500 else "8")


def _agents(principal: Principal | None, address: str | None) -> list[dict[str, Any]]:
    network = {"address": address, "type": "2"} if address else None
    if principal is None:
        agent: dict[str, Any] = {"who": {"display": "appelant non authentifié"}, "requestor": True}
        if network:
            agent["network"] = network
        return [agent]
    who: dict[str, Any] = ({"reference": principal.fhir_user} if principal.fhir_user
                           else {"identifier": {"system": principal.issuer, "value": principal.subject}})
    user: dict[str, Any] = {"who": who, "altId": principal.subject, "requestor": True,
                            "policy": [principal.issuer] if principal.issuer else []}
    if principal.role:
        user["role"] = [{"text": principal.role}]
    if network:
        user["network"] = network
    agents = [{k: v for k, v in user.items() if v}]
    if principal.fhir_user and principal.client_id:
        agents.append({"who": {"identifier": {"value": principal.client_id}}, "requestor": False,
                       "type": {"coding": [{"system": DCM, "code": "110150", "display": "Application"}]}})
    return agents


def rest_event(*, interaction: str, status: int, recorded: datetime, principal: Principal | None,
               address: str | None, request_id: str, observer: str, entities: Sequence[str] = (),
               query: str | None = None, description: str | None = None) -> dict[str, Any]:
    """One access: `entities` are the `Type/id` references concerned, `query` a search's query string."""
    entity: list[dict[str, Any]] = [{"what": {"reference": ref}} for ref in dict.fromkeys(entities)]
    detail = [{"type": "request-id", "valueString": request_id}]
    if query:
        entity.append({"query": base64.b64encode(query.encode()).decode(), "detail": detail})
    elif entity:
        entity[0]["detail"] = detail
    else:
        entity.append({"description": "requête", "detail": detail})
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(uuid.uuid4()),
        "type": AUDIT_TYPE,
        "subtype": [{"system": RESTFUL, "code": interaction}],
        "action": _ACTIONS.get(interaction, "E"),
        "recorded": instant(recorded),
        "outcome": outcome_code(status),
        "agent": _agents(principal, address),
        "source": {"site": observer, "observer": {"display": observer}, "type": [SOURCE_TYPE]},
        "entity": entity,
    }
    if status >= 400 or description:
        event["outcomeDesc"] = description or f"HTTP {status}"
    return event
