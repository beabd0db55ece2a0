"""A parsed message → one FHIR transaction Bundle (a `Plan`), through the maps in mappings/dpi/.

The builders here decide the structure (which resources a message type produces, how ORDER groups
are cut, how resources reference each other, which identifier keys each conditional write); every
field-to-element detail comes from the map data. Each builder records which segments it consumed so
that a segment nobody reads is reported instead of vanishing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from .bundle import Transaction, identifier_query, patch_operation, token_query
from .datatypes import Rule, cwe, cx, local_system
from .er7 import Field, Message, Segment
from .errors import REQUIRED_FIELD_MISSING, SEGMENT_SEQUENCE, TABLE_VALUE_NOT_FOUND, ContentError, Location, Problem
from .maps import Mappings, MessageSpec

ADAPTER_NAME = "Onco'Link DPI adapter (HL7 v2)"
PID3_RULE = Rule("PID", "Patient", 3, "CX", "identifier[]")
# Segments the builders read themselves (structure, control), besides those with map rules.
STRUCTURAL = {"MSH", "MRG"}


@dataclass
class Plan:
    """What one message will write, and what we need to explain the result."""

    bundle: dict[str, Any]
    kind: str
    summary: str
    unmapped: list[str] = field(default_factory=list)
    # "Type?query" or query → the segment that produced it, to place server errors in ERR.
    origins: dict[str, Location] = field(default_factory=dict)
    entry_origins: list[Location] = field(default_factory=list)
    # Shared resources (Practitioner, Medication) written by this plan: key → fingerprint.
    shared_written: dict[str, str] = field(default_factory=dict)


class SharedResources:
    """Fingerprints of Practitioner/Medication resources already committed as they are.

    A message naming the same prescriber or drug as earlier ones then references it conditionally
    instead of rewriting it, which keeps transactions small and avoids concurrent writers racing to
    create the same resource. Cleared when a conditional reference no longer resolves.
    """

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self.known: dict[str, str] = {}

    def unchanged(self, key: str, fingerprint: str) -> bool:
        return self.known.get(key) == fingerprint

    def remember(self, written: dict[str, str]) -> None:
        if len(self.known) + len(written) > self.limit:
            self.known.clear()
        self.known.update(written)

    def forget(self) -> None:
        self.known.clear()


def fingerprint(resource: dict[str, Any]) -> str:
    return hashlib.blake2b(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def lock_keys(message: Message) -> list[str]:
    """Keys serialising messages about the same patient (PID-3, and MRG-1 for merges), from raw text."""
    keys = set()
    for name, number in (("PID", 3), ("MRG", 1)):
        for segment in message.all(name):
            for rep in segment.repetitions(number):
                value = rep.component(1).strip()
                if value:
                    keys.add(f"patient:{value}")
    return sorted(keys)


class Builder:
    """Per-message state; also the `Context` the datatype converters call back."""

    def __init__(self, message: Message, mappings: Mappings, spec: MessageSpec,
                 shared: SharedResources | None = None, provenance: bool = True) -> None:
        self.message = message
        self.mappings = mappings
        self.maps = mappings.maps
        self.spec = spec
        self.config = mappings.config
        self.tz = ZoneInfo(self.config.get("timezone", "Europe/Paris"))
        self.local_base = self.config.get("local_system_base", "https://oncolink.example.org/fhir/sid/hl7v2")
        self.tx = Transaction()
        self.consumed: set[int] = set()
        self.shared = shared
        self.provenance = provenance
        self.plan_origins: dict[str, Location] = {}
        self.entry_origins: list[Location] = []
        self.shared_written: dict[str, str] = {}
        msh = message.msh
        self.default_authority = self._hd_system(msh.field(4)) or self._hd_system(msh.field(3))
        self.consume(msh)

    # -- Context for the converters ---------------------------------------------------------------

    def _hd_system(self, hd: Field) -> str | None:
        namespace, universal, kind = hd.component(1).strip(), hd.component(2).strip(), hd.component(3).strip()
        if universal and kind.upper() == "ISO":
            return "urn:oid:" + universal
        if universal and kind.upper() in ("URI", "URL"):
            return universal
        for name in (namespace, universal):
            if name:
                target = self.maps.translate("assigning-authorities", name)
                if target is not None:
                    return target.code
        name = namespace or universal
        return local_system(self.local_base, name) if name else None

    def system_for(self, authority: Field) -> str | None:
        return self._hd_system(authority) or self.default_authority

    def practitioner(self, xcn: Field, location: Location) -> dict[str, Any] | None:
        value = xcn.component(1).strip()
        family = xcn.sub(2, 1).strip()
        given = [g for g in (xcn.component(3).strip(), xcn.component(4).strip()) if g]
        display = " ".join([*given, family]).strip()
        if not value:
            return {"display": display} if display else None
        type_code = xcn.component(13).strip()
        authority = xcn.component_field(9)
        system = self._hd_system(authority) if not authority.empty else None
        if system is None and type_code:
            mapped = self.maps.translate("assigning-authorities", type_code)
            system = mapped.code if mapped else None
        system = system or self.default_authority
        identifier: dict[str, Any] = {}
        if type_code:
            kind = self.maps.translate("identifier-type", type_code)
            if kind is not None:
                identifier["type"] = {"coding": [kind.coding()]}
        if system:
            identifier["system"] = system
        identifier["value"] = value
        resource: dict[str, Any] = {"resourceType": "Practitioner", "identifier": [identifier], "active": True}
        name: dict[str, Any] = {}
        if family:
            name["family"] = family
        if given:
            name["given"] = given
        prefix = xcn.component(6).strip()
        if prefix:
            name["prefix"] = [prefix]
        if name:
            resource["name"] = [name]
        reference = self.shared_reference(resource, identifier_query(identifier), location)
        return {"reference": reference, **({"display": display} if display else {})}

    # -- helpers for builders ---------------------------------------------------------------------

    def consume(self, segment: Segment) -> None:
        self.consumed.add(segment.index)

    def apply(self, segment: Segment, res_type: str, resource: dict[str, Any], occurrence: int = 0) -> None:
        self.mappings.apply(segment, res_type, resource, self, occurrence)
        self.consume(segment)

    def record_origin(self, location: Location, key: str | None) -> None:
        """Remember which segment produced the next entry (and its key), to place server errors."""
        self.entry_origins.append(location)
        if key:
            self.plan_origins[key] = location

    def upsert(self, resource: dict[str, Any], query: str, location: Location) -> str:
        before = len(self.tx)
        ref = self.tx.upsert(resource, query)
        if len(self.tx) > before:
            self.record_origin(location, f"{resource['resourceType']}?{query}")
        return ref

    def create_if_absent(self, resource: dict[str, Any], query: str, location: Location) -> str:
        before = len(self.tx)
        ref = self.tx.create_if_absent(resource, query)
        if len(self.tx) > before:
            self.record_origin(location, f"{resource['resourceType']}?{query}")
        return ref

    def shared_reference(self, resource: dict[str, Any], query: str, location: Location) -> str:
        """Write a shared resource only when it differs from what we committed last time."""
        key = f"{resource['resourceType']}?{query}"
        known = self.tx.known(resource["resourceType"], query)
        if known:
            return known
        digest = fingerprint(resource)
        if self.shared is not None and self.shared.unchanged(key, digest):
            self.plan_origins[key] = location
            return key
        self.shared_written[key] = digest
        return self.upsert(resource, query, location)

    def require(self, name: str) -> Segment:
        segment = self.message.first(name)
        if segment is None:
            raise ContentError(Problem(SEGMENT_SEQUENCE, f"{self.message.type_name} needs a {name} segment",
                                       Location(name, 1)))
        return segment

    # -- patient ------------------------------------------------------------------------------------

    def patient_key(self, pid: Segment) -> dict[str, Any]:
        """The identifier the Patient is keyed on: the first CX-5 type in config order (IPP first)."""
        repetitions = pid.repetitions(3)
        location = pid.location(3)
        if not repetitions or not any(r.component(1).strip() for r in repetitions):
            raise ContentError(Problem(REQUIRED_FIELD_MISSING, "PID-3 must carry the patient identifier (IPP)",
                                       location))
        preferred = self.config.get("patient_key_types", ["PI", "MR"])
        chosen = None
        for kind in preferred:
            chosen = next((r for r in repetitions if r.component(5).strip() == kind and r.component(1).strip()), None)
            if chosen is not None:
                break
        if chosen is None:
            chosen = next(r for r in repetitions if r.component(1).strip())
        identifier = cx(chosen, PID3_RULE, self, location)
        identifier.setdefault("system", self.default_authority)
        if identifier.get("system") is None:
            raise ContentError(Problem(REQUIRED_FIELD_MISSING, "PID-3 needs an assigning authority (CX-4) or MSH-4",
                                       location))
        return identifier

    def patient(self, pid: Segment) -> dict[str, Any]:
        patient: dict[str, Any] = {"resourceType": "Patient"}
        self.apply(pid, "Patient", patient)
        # Identifiers without an authority belong to the sending facility.
        for identifier in patient.get("identifier", []):
            if "system" not in identifier and self.default_authority:
                identifier["system"] = self.default_authority
        patient["active"] = True
        return _ordered(patient, PATIENT_ORDER)

    def patient_reference(self, *, write: bool) -> tuple[str, dict[str, Any]]:
        """Write (ADT) or create-if-absent (orders) the Patient; returns its reference and key."""
        pid = self.require("PID")
        key = self.patient_key(pid)
        resource = self.patient(pid)
        query = identifier_query(key)
        if write:
            ref = self.upsert(resource, query, pid.location(3))
        else:
            ref = self.create_if_absent(resource, query, pid.location(3))
        return ref, key

    # -- result ---------------------------------------------------------------------------------------

    def unmapped(self) -> list[str]:
        ignored = {**self.mappings.ignored, **self.spec.options.get("ignored_segments", {})}
        return [f"{s.name}[{s.sequence}]" for s in self.message.segments
                if s.index not in self.consumed and s.name not in ignored]

    def add_provenance(self) -> None:
        if not self.provenance or not self.tx.targets:
            return
        msh = self.message.msh
        sender = msh.value(3) or "?"
        facility = msh.value(4)
        digest = hashlib.sha256()
        for segment in self.message.segments:
            if segment.name == "MSH":
                fields = list(segment.fields)
                for n in (7, 10):
                    if n < len(fields):
                        fields[n] = ""
                digest.update("|".join(fields).encode())
            else:
                digest.update(segment.text().encode())
            digest.update(b"\r")
        authority = self.default_authority or self.local_base
        provenance = {
            "resourceType": "Provenance",
            "id": "hl7v2-" + digest.hexdigest()[:40],
            "target": [{"reference": t} for t in self.tx.targets],
            "recorded": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                     "code": "UPDATE", "display": "revise"}]},
            "agent": [
                {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                      "code": "author"}]},
                 "who": {"identifier": {"system": authority, "value": sender},
                         "display": f"{sender} ({facility})" if facility else sender}},
                {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                      "code": "assembler"}]},
                 "who": {"display": ADAPTER_NAME}},
            ],
            "entity": [{"role": "source", "what": {
                "identifier": {"system": f"{authority}/hl7v2-message", "value": self.message.control_id},
                "display": f"HL7 v2 {self.message.type_name} {self.message.control_id}"}}],
        }
        self.tx.put(provenance, target=False)
        self.entry_origins.append(Location("MSH", 1, 10))

    def plan(self, summary: str) -> Plan:
        self.add_provenance()
        return Plan(self.tx.bundle(), self.spec.kind, summary, self.unmapped(), self.plan_origins,
                    self.entry_origins, self.shared_written)


PATIENT_ORDER = ("resourceType", "extension", "identifier", "active", "name", "telecom", "gender", "birthDate",
                 "deceasedDateTime", "address")


def _ordered(resource: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """Stable key order, so a resent message serialises to the very same JSON."""
    head = {k: resource[k] for k in order if k in resource}
    return {**head, **{k: v for k, v in resource.items() if k not in head}}


def visit_reference(b: Builder, patient_ref: str) -> str | None:
    """Orders and dispenses name their visit (PV1-19): link it, creating it if we never saw its admission."""
    pv1 = b.message.first("PV1")
    if pv1 is None:
        return None
    encounter: dict[str, Any] = {"resourceType": "Encounter", "status": "unknown"}
    b.apply(pv1, "Encounter", encounter)
    identifiers = encounter.get("identifier") or []
    if not identifiers:
        return None
    encounter["subject"] = {"reference": patient_ref}
    return b.create_if_absent(encounter, identifier_query(identifiers[0]), pv1.location(19))


# -- ADT ------------------------------------------------------------------------------------------


def build_identity(b: Builder) -> Plan:
    ref, key = b.patient_reference(write=True)
    return b.plan(f"Patient {key['value']}")


def build_admit(b: Builder) -> Plan:
    patient_ref, key = b.patient_reference(write=True)
    pv1 = b.message.first("PV1")
    summary = f"Patient {key['value']}"
    if pv1 is None:
        return b.plan(summary)
    encounter: dict[str, Any] = {"resourceType": "Encounter", "status": b.spec.options.get("encounter_status",
                                                                                            "in-progress")}
    b.apply(pv1, "Encounter", encounter)
    zbe = b.message.first("ZBE")
    if zbe is not None:
        b.apply(zbe, "Encounter", encounter)
        action = zbe.value(4).strip().upper()
        if action == "CANCEL":
            encounter["status"] = "cancelled"
    encounter["subject"] = {"reference": patient_ref}
    identifiers = encounter.get("identifier") or []
    if not identifiers:
        # Without a visit number or movement id a resent A01 could not find its Encounter again.
        raise ContentError(Problem(REQUIRED_FIELD_MISSING, "PV1-19 (visit number) or ZBE-1 (movement id) is "
                                   "needed to record the encounter", pv1.location(19)))
    b.upsert(encounter, identifier_query(identifiers[0]), pv1.location(19))
    return b.plan(summary + f", Encounter {identifiers[0]['value']}")


# -- orders ------------------------------------------------------------------------------------------


def order_groups(message: Message) -> tuple[list[Segment], list[list[Segment]]]:
    """Segments before the first ORC, then one list per ORC (the ORC first)."""
    head: list[Segment] = []
    groups: list[list[Segment]] = []
    for segment in message.segments:
        if segment.name == "ORC":
            groups.append([segment])
        elif groups:
            groups[-1].append(segment)
        else:
            head.append(segment)
    return head, groups


def _order_key(b: Builder, orc: Segment) -> tuple[dict[str, Any], Location]:
    for number, _kind in ((2, "PLAC"), (3, "FILL")):
        repetition = orc.field(number)
        if repetition.component(1).strip():
            authority = repetition.components_from(2)
            system = b.system_for(authority)
            identifier = {"system": system, "value": repetition.component(1).strip()} if system else \
                {"value": repetition.component(1).strip()}
            return identifier, orc.location(number)
    raise ContentError(Problem(REQUIRED_FIELD_MISSING, "ORC-2 (placer order number) or ORC-3 (filler order "
                               "number) identifies the order and is required", orc.location(2)))


def _control(b: Builder, orc: Segment) -> tuple[str, str, dict[str, str]]:
    code = orc.value(1).strip()
    if not code:
        raise ContentError(Problem(REQUIRED_FIELD_MISSING, "ORC-1 (order control) is required", orc.location(1)))
    target = b.maps.translate("order-control", code)
    if target is None:
        allowed = ", ".join(b.maps.table("order-control").codes)
        raise ContentError(Problem(TABLE_VALUE_NOT_FOUND, f"order control {code!r} is not supported ({allowed})",
                                   orc.location(1)))
    return code, target.code, target.products


def _split_detail(group: list[Segment], detail: str) -> tuple[list[Segment], Segment | None, list[Segment]]:
    """An ORDER group cut at its detail segment (RXE or RXO): before, the detail, after."""
    for position, segment in enumerate(group):
        if segment.name == detail:
            return group[1:position], segment, group[position + 1:]
    return group[1:], None, []


def _status_change(b: Builder, orc: Segment, query: str, status: str) -> None:
    """CA/DC/HD/RL…: move the status of the existing request, leave the rest as the prescriber wrote it."""
    operations = [patch_operation("replace", "MedicationRequest.status", "valueCode", status)]
    reason = cwe(orc.field(16), Rule("ORC", "MedicationRequest", 16, "CWE", "statusReason"), b, orc.location(16))
    if reason:
        operations += [patch_operation("delete", "MedicationRequest.statusReason"),
                       patch_operation("add", "MedicationRequest", "valueCodeableConcept", reason, "statusReason")]
    b.tx.patch("MedicationRequest", query, operations)
    b.record_origin(orc.location(2), f"MedicationRequest?{query}")
    b.plan_origins[query] = orc.location(2)


def _medication(b: Builder, detail: Segment) -> dict[str, Any]:
    """The Medication resource (keyed on its first coded drug code) or, without a coded system, a concept."""
    medication: dict[str, Any] = {"resourceType": "Medication"}
    b.apply(detail, "Medication", medication)
    codings = medication.get("code", {}).get("coding", [])
    keyed = next((c for c in codings if c.get("system") and c.get("code")), None)
    if keyed is None:
        return {"medicationCodeableConcept": medication.get("code", {"text": detail.value(2)})}
    query = token_query("code", keyed["system"], keyed["code"])
    ref = b.shared_reference(medication, query, detail.location(2 if detail.name != "RXO" else 1))
    display = next((c.get("display") for c in codings if c.get("display")), None) or medication["code"].get("text")
    return {"medicationReference": {"reference": ref, **({"display": display} if display else {})}}


def _timing_segments(before: list[Segment], after: list[Segment], detail_name: str) -> list[Segment]:
    """RDE: TQ1 after RXE is the encoded timing (preferred); OMP: TQ1 before RXO."""
    encoded = [s for s in after if s.name == "TQ1"]
    ordered = [s for s in before if s.name == "TQ1"]
    return encoded or ordered if detail_name == "RXE" else ordered or encoded


def _medication_request(b: Builder, group: list[Segment], patient_ref: str, status: str,
                        products: dict[str, str], encounter_ref: str | None) -> tuple[dict[str, Any], Segment]:
    orc = group[0]
    detail_name = b.spec.options.get("detail", "RXE")
    before, detail, after = _split_detail(group, detail_name)
    if detail is None:
        raise ContentError(Problem(SEGMENT_SEQUENCE, f"order {orc.sequence} ({orc.value(2) or orc.value(3)}) has no "
                                   f"{detail_name} segment", Location(detail_name, orc.sequence)))
    request: dict[str, Any] = {"resourceType": "MedicationRequest"}
    b.apply(orc, "MedicationRequest", request)
    if "status" not in request or products.get("statusFrom") != "ORC-5":
        request["status"] = status
    request["intent"] = b.spec.options.get("intent", "order")
    request.update(_medication(b, detail))
    request["subject"] = {"reference": patient_ref}
    if encounter_ref:
        request["encounter"] = {"reference": encounter_ref}
    b.apply(detail, "MedicationRequest", request)
    for occurrence, tq1 in enumerate(_timing_segments(before, after, detail_name)):
        b.apply(tq1, "MedicationRequest", request, occurrence)
    routes = [s for s in after if s.name == "RXR"] or [s for s in before if s.name == "RXR"]
    if routes:
        b.apply(routes[0], "MedicationRequest", request)
    for segment in group:
        if segment.name == "NTE":
            b.apply(segment, "MedicationRequest", request)
        elif segment.name in ("TQ1", "RXR", "RXO", "RXE") and segment.index not in b.consumed:
            b.consume(segment)  # the other TQ1/RXR/RXO of the group: superseded by the encoded order
    return _ordered(request, MR_ORDER), detail


MR_ORDER = ("resourceType", "identifier", "status", "statusReason", "intent", "category", "priority",
            "medicationReference", "medicationCodeableConcept", "subject", "encounter", "authoredOn", "requester",
            "reasonCode", "groupIdentifier", "note", "dosageInstruction", "dispenseRequest", "substitution")


def build_order(b: Builder) -> Plan:
    _, groups = order_groups(b.message)
    if not groups:
        raise ContentError(Problem(SEGMENT_SEQUENCE, f"{b.message.type_name} needs at least one ORC segment",
                                   Location("ORC", 1)))
    patient_ref, key = b.patient_reference(write=False)
    encounter_ref = visit_reference(b, patient_ref)
    done = []
    for group in groups:
        orc = group[0]
        code, status, products = _control(b, orc)
        identifier, location = _order_key(b, orc)
        query = identifier_query(identifier)
        if products.get("action") == "status":
            if products.get("statusFrom") == "ORC-5":
                if not orc.has(5):
                    raise ContentError(Problem(REQUIRED_FIELD_MISSING, "ORC-1 SC needs the new status in ORC-5",
                                               orc.location(5)))
                mapped = b.maps.translate("order-status", orc.value(5).strip())
                status = mapped.code if mapped else status
            _status_change(b, orc, query, status)
            for segment in group:
                b.consume(segment)  # the order's details are not rewritten by a status change
        else:
            request, _ = _medication_request(b, group, patient_ref, status, products, encounter_ref)
            b.upsert(request, query, location)
        done.append(f"{code} {identifier['value']}")
    return b.plan(f"Patient {key['value']}; orders " + ", ".join(done))


# -- dispense ----------------------------------------------------------------------------------------


def build_dispense(b: Builder) -> Plan:
    _, groups = order_groups(b.message)
    if not groups:
        raise ContentError(Problem(SEGMENT_SEQUENCE, "RDS^O13 needs an ORC segment", Location("ORC", 1)))
    patient_ref, key = b.patient_reference(write=False)
    encounter_ref = visit_reference(b, patient_ref)
    done = []
    for group in groups:
        orc = group[0]
        b.consume(orc)
        identifier, location = _order_key(b, orc)
        query = identifier_query(identifier)
        dispenses = [s for s in group if s.name == "RXD"]
        if not dispenses:
            raise ContentError(Problem(SEGMENT_SEQUENCE, f"order {orc.sequence} has no RXD segment",
                                       Location("RXD", orc.sequence)))
        rxd_position = group.index(dispenses[0])
        order_part = group[:rxd_position]
        request_ref = b.tx.reference("MedicationRequest", query)
        if any(s.name == "RXE" for s in order_part):
            # The dispense carries its order: create it if this is the first we hear of it.
            _, status, products = _control(b, orc)
            request, _ = _medication_request(b, order_part, patient_ref, status, products, encounter_ref)
            request_ref = b.create_if_absent(request, query, location)
        for rxd in dispenses:
            dispense: dict[str, Any] = {"resourceType": "MedicationDispense", "status": "completed"}
            counter = rxd.value(1).strip() or str(rxd.sequence)
            dispense_id = {"system": f"{identifier.get('system', b.local_base)}/dispense",
                           "value": f"{identifier['value']}-{counter}"}
            dispense["identifier"] = [dispense_id]
            dispense.update(_medication(b, rxd))
            dispense["subject"] = {"reference": patient_ref}
            dispense["authorizingPrescription"] = [{"reference": request_ref}]
            b.apply(rxd, "MedicationDispense", dispense)
            following = group[group.index(rxd) + 1:]
            route = next((s for s in following if s.name == "RXR"), None)
            if route is not None:
                b.apply(route, "MedicationDispense", dispense)
            b.upsert(dispense, identifier_query(dispense_id), rxd.location(1))
            done.append(dispense_id["value"])
        for segment in group:
            if segment.name in ("RXR", "TQ1", "NTE", "RXO", "RXE") and segment.index not in b.consumed:
                b.consume(segment)
    return b.plan(f"Patient {key['value']}; dispenses " + ", ".join(done))


BUILDERS = {
    "identity": build_identity,
    "admit": build_admit,
    "order": build_order,
    "dispense": build_dispense,
}
