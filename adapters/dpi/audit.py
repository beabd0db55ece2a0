"""The AuditEvent of an HL7 v2 message the adapter did not accept (ACK AE or AR).

An accepted message is audited by the server with the transaction it becomes (the DPI interface as agent,
the resources and their Provenance as entities). A refused one writes nothing, so the adapter records it
itself: which message, from whom, over which transport, and why, for the interface team and auditors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

DCM = "http://dicom.nema.org/resources/ontology/DCM"
V2_EVENT = "http://terminology.hl7.org/CodeSystem/v2-0003"


def refused_message(*, control_id: str, message_type: str, sender: str, transport: str, peer: str, ack_code: str,
                    reason: str, observer: str) -> dict[str, Any]:
    """`ack_code` AE is the message's fault or a passing failure (outcome 4), AR a refusal (outcome 8)."""
    event_code = message_type.split("^")[1] if "^" in message_type else ""
    entity: dict[str, Any] = {
        "what": {"identifier": {"system": f"urn:oncolink:hl7v2:{sender or 'inconnu'}", "value": control_id or "?"}},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
                 "display": "System Object"},
        "name": message_type or "?",
        "detail": [{"type": "transport", "valueString": transport}, {"type": "ack", "valueString": ack_code}],
    }
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {"system": DCM, "code": "110107", "display": "Import"},
        "action": "C",
        "recorded": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "outcome": "8" if ack_code == "AR" else "4",
        "outcomeDesc": reason[:1000],
        "agent": [{"who": {"display": sender or "émetteur inconnu"}, "requestor": True,
                   "network": {"address": peer.rsplit(":", 1)[0], "type": "2"}} if peer else
                  {"who": {"display": sender or "émetteur inconnu"}, "requestor": True}],
        "source": {"observer": {"display": observer},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
                             "display": "Application Server"}]},
        "entity": [entity],
    }
    if event_code:
        event["subtype"] = [{"system": V2_EVENT, "code": event_code}]
    return event
