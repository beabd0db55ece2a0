"""What a message says, read once from the FHIR snapshot of a trigger.

The composer (bodies, CDA, XDS metadata) works on these plain values only, so the same facts feed every
part of the message and tests can compare what arrived with what FHIR holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

BASE = "https://oncolink.example.org/fhir"
TRIGGER_SYSTEM = f"{BASE}/CodeSystem/oncolink-mssante-trigger"
EXT_PARCOURS = f"{BASE}/StructureDefinition/oncolink-parcours"
EXT_SEQUENCE = f"{BASE}/StructureDefinition/oncolink-sequence-number"
EXT_RENEWAL = f"{BASE}/StructureDefinition/oncolink-sequence-renewal"
EXT_SEQ3 = f"{BASE}/StructureDefinition/oncolink-sequence3-allowed"
EXT_RESERVE = f"{BASE}/StructureDefinition/oncolink-hospital-reserve"
EXT_IDENTITY = f"{BASE}/StructureDefinition/oncolink-identity-status"
EXT_COLOUR = f"{BASE}/StructureDefinition/oncolink-alert-colour"
TEAM_ROLE_SYSTEM = f"{BASE}/CodeSystem/oncolink-care-team-role"

INS_OIDS = {"1.2.250.1.213.1.4.8": "INS-NIR", "1.2.250.1.213.1.4.9": "INS-NIA",
            "1.2.250.1.213.1.4.10": "INS-NIR (test)"}
IDNPS_OID = "1.2.250.1.71.4.2.1"
IDNST_OID = "1.2.250.1.71.4.2.2"
FINESS_SYSTEMS = ("https://finess.esante.gouv.fr", "http://finess.sante.gouv.fr", "urn:oid:1.2.250.1.71.4.2.2.1")
KINDS = ("sequence-start", "sequence-renewal", "sequence-end", "episode-end", "alert", "information")

# FHIR code system URIs → the OIDs a CDA document needs.
SYSTEM_OIDS = {
    "http://www.whocc.no/atc": "2.16.840.1.113883.6.73",
    "http://loinc.org": "2.16.840.1.113883.6.1",
    "http://snomed.info/sct": "2.16.840.1.113883.6.96",
    "http://standardterms.edqm.eu": "0.4.0.127.0.16.1.1.2.1",
    "http://hl7.org/fhir/sid/icd-10": "2.16.840.1.113883.6.3",
}


def oid_of(system: str | None) -> str | None:
    if not system:
        return None
    if system.startswith("urn:oid:"):
        return system[len("urn:oid:"):]
    return SYSTEM_OIDS.get(system)


@dataclass(frozen=True)
class Code:
    code: str
    system: str | None
    display: str

    @property
    def oid(self) -> str | None:
        return oid_of(self.system)


@dataclass(frozen=True)
class PatientFacts:
    family: str
    given: str
    gender: str  # FHIR code
    birth_date: date | None
    ins: str | None
    ins_oid: str | None
    ins_qualified: bool
    ipp: str | None
    ipp_oid: str | None
    city: str | None

    @property
    def birth_fr(self) -> str:
        return self.birth_date.strftime("%d/%m/%Y") if self.birth_date else "date de naissance inconnue"

    @property
    def display(self) -> str:
        return f"{self.family.upper()} {self.given}".strip()


@dataclass(frozen=True)
class DrugFacts:
    text: str
    codes: list[Code]
    atc: Code | None
    dosage: str
    hospital_reserve: bool | None
    authored: str | None


@dataclass(frozen=True)
class PersonFacts:
    family: str
    given: str
    prefix: str
    idnps: str | None

    @property
    def display(self) -> str:
        return " ".join(p for p in (self.prefix, self.given, self.family.upper()) if p)


@dataclass(frozen=True)
class OrgFacts:
    name: str
    idnst: str | None
    phones: list[str]
    emails: list[str]


@dataclass(frozen=True)
class Facts:
    trigger_key: str
    kind: str
    communication_id: str
    sent: datetime
    texts: list[str]
    reasons: list[Code]
    flags: list[tuple[Code, str | None]]  # (alert type, colour)
    patient: PatientFacts
    parcours: Code | None
    sequence: Code | None
    renewal: int | None
    sequence_start: date | None
    sequence_end: date | None
    sequence3_allowed: bool | None
    episode_start: date | None
    episode_end: date | None
    episode_ref: str | None
    episode_version: str | None
    episode_title: str | None
    drugs: list[DrugFacts]
    prescriber: PersonFacts | None
    hospital: OrgFacts | None
    care_team: list[tuple[str, str, str]] = field(default_factory=list)  # (role display, member display, ref)


@dataclass(frozen=True)
class RecipientFacts:
    ref: str
    role: str  # community-pharmacy | gp | other
    name: str
    address: str
    kind: str  # Organization | Practitioner | PractitionerRole


# -- small readers ---------------------------------------------------------------------------------

def _ext(resource: dict[str, Any], url: str) -> dict[str, Any] | None:
    return next((e for e in resource.get("extension") or [] if e.get("url") == url), None)


def _coding(concept: dict[str, Any] | None) -> Code | None:
    if not concept:
        return None
    codings = concept.get("coding") or []
    if codings:
        c = codings[0]
        display = c.get("display") or concept.get("text") or c.get("code", "")
        return Code(str(c.get("code", "")), c.get("system"), display)
    if concept.get("text"):
        return Code("", None, concept["text"])
    return None


def _coding_value(ext: dict[str, Any] | None) -> Code | None:
    if not ext:
        return None
    c = ext.get("valueCoding")
    if c:
        return Code(str(c.get("code", "")), c.get("system"), c.get("display") or str(c.get("code", "")))
    return _coding(ext.get("valueCodeableConcept"))


def parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10]) if len(value) >= 10 else date(int(value[:4]), int(value[5:7] or 1), 1)
    except ValueError:
        return None


def _name(resource: dict[str, Any]) -> tuple[str, str, str]:
    names = resource.get("name") or []
    if isinstance(names, str):  # Organization.name
        return names, "", ""
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    return (official.get("family") or official.get("text") or "", " ".join(official.get("given") or []),
            " ".join(official.get("prefix") or []))


def identifier(resource: dict[str, Any], *systems: str) -> str | None:
    wanted = set(systems)
    for ident in resource.get("identifier") or []:
        if ident.get("system") in wanted and ident.get("value"):
            return str(ident["value"])
    return None


def display_of(resource: dict[str, Any] | None) -> str:
    if not resource:
        return ""
    if resource.get("resourceType") == "Organization":
        return str(resource.get("name") or "")
    family, given, prefix = _name(resource)
    return " ".join(p for p in (prefix, given, family.upper()) if p)


def patient_facts(patient: dict[str, Any]) -> PatientFacts:
    family, given, _ = _name(patient)
    ins = ins_oid = ipp = ipp_oid = None
    for ident in patient.get("identifier") or []:
        system = str(ident.get("system") or "")
        oid = system[len("urn:oid:"):] if system.startswith("urn:oid:") else None
        if oid in INS_OIDS and ins is None:
            ins, ins_oid = ident.get("value"), oid
        elif ipp is None and any(c.get("code") == "PI" for c in (ident.get("type") or {}).get("coding") or []):
            ipp, ipp_oid = ident.get("value"), oid
    status = _coding_value(_ext(patient, EXT_IDENTITY))
    qualified = bool(ins) and (status is None or status.code == "QUAL") and ins_oid != "1.2.250.1.213.1.4.9"
    address = (patient.get("address") or [{}])[0]
    return PatientFacts(family=family, given=given, gender=patient.get("gender") or "unknown",
                        birth_date=parse_date(patient.get("birthDate")), ins=ins, ins_oid=ins_oid,
                        ins_qualified=qualified, ipp=ipp, ipp_oid=ipp_oid, city=address.get("city"))


def drug_facts(request: dict[str, Any]) -> DrugFacts:
    concept = request.get("medicationCodeableConcept") or {}
    codes = [Code(str(c.get("code", "")), c.get("system"), c.get("display") or "") for c in concept.get("coding") or []]
    atc = next((c for c in codes if c.system == "http://www.whocc.no/atc"), None)
    text = concept.get("text") or next((c.display for c in codes if c.display and c is not atc), "") or \
        (atc.display if atc else "traitement")
    dosage = "; ".join(d.get("text") or "" for d in request.get("dosageInstruction") or [] if d.get("text"))
    reserve_ext = _ext(request, EXT_RESERVE)
    reserve = reserve_ext.get("valueBoolean") if reserve_ext else None
    return DrugFacts(text=text, codes=[c for c in codes if c is not atc], atc=atc,
                     dosage=dosage or "posologie non précisée", hospital_reserve=reserve,
                     authored=request.get("authoredOn"))


def person_facts(practitioner: dict[str, Any]) -> PersonFacts:
    family, given, prefix = _name(practitioner)
    return PersonFacts(family=family, given=given, prefix=prefix,
                       idnps=identifier(practitioner, f"urn:oid:{IDNPS_OID}"))


def org_facts(org: dict[str, Any]) -> OrgFacts:
    telecom = org.get("telecom") or []
    return OrgFacts(name=str(org.get("name") or "équipe hospitalière"),
                    idnst=identifier(org, f"urn:oid:{IDNST_OID}", *FINESS_SYSTEMS),
                    phones=[t["value"] for t in telecom if t.get("system") == "phone" and t.get("value")],
                    emails=[t["value"] for t in telecom if t.get("system") == "email" and t.get("value")])


def trigger_kind(communication: dict[str, Any]) -> str:
    for coding in (communication.get("topic") or {}).get("coding") or []:
        if coding.get("system") == TRIGGER_SYSTEM and coding.get("code") in KINDS:
            return str(coding["code"])
    return "alert" if communication.get("reasonCode") else "information"


def care_team_of(episode: dict[str, Any] | None) -> dict[str, Any] | None:
    if not episode:
        return None
    refs = [r.get("reference", "") for r in episode.get("careTeam") or []]
    for contained in episode.get("contained") or []:
        if contained.get("resourceType") == "CareTeam" and (f"#{contained.get('id')}" in refs or not refs):
            return contained
    return None


def role_of(ref: str, team: dict[str, Any] | None) -> str:
    """The recipient's role in the episode's care team: community-pharmacy, gp or other."""
    for participant in (team or {}).get("participant") or []:
        if (participant.get("member") or {}).get("reference") == ref:
            for concept in participant.get("role") or []:
                for coding in concept.get("coding") or []:
                    if coding.get("code") in ("community-pharmacy", "gp"):
                        return str(coding["code"])
    return "other"


def _labelled(code: Code, labels: dict[str, str]) -> Code:
    if (not code.display or code.display == code.code) and code.code in labels:
        return Code(code.code, code.system, labels[code.code])
    return code


def build(snapshot: dict[str, Any], labels: dict[str, str] | None = None) -> Facts:
    """`labels`: French labels of alert-type codes, for triggers that carry a code without its display."""
    labels = labels or {}
    comm = snapshot["communication"]
    episode = snapshot.get("episode") or {}
    sequence = snapshot.get("sequence") or {}
    resources = snapshot.get("resources") or {}
    seq_code = _coding_value(_ext(sequence, EXT_SEQUENCE)) or _coding_value(_ext(episode, EXT_SEQUENCE))
    renewal_ext = _ext(sequence, EXT_RENEWAL)
    seq3 = _ext(episode, EXT_SEQ3)
    period = sequence.get("period") or {}
    ep_period = episode.get("period") or {}
    flags = []
    for flag in snapshot.get("flags") or []:
        code = _coding(flag.get("code"))
        if code:
            colour = _coding_value(_ext(flag, EXT_COLOUR))
            flags.append((_labelled(code, labels), colour.display if colour else None))
    team = care_team_of(episode)
    members = []
    for participant in (team or {}).get("participant") or []:
        ref = (participant.get("member") or {}).get("reference", "")
        role = _coding((participant.get("role") or [None])[0]) if participant.get("role") else None
        members.append((role.display if role else "", display_of(resources.get(ref)) or
                        (participant.get("member") or {}).get("display", "") or ref, ref))
    texts = [p["contentString"] for p in comm.get("payload") or [] if p.get("contentString")]
    return Facts(
        trigger_key=snapshot["trigger_key"], kind=trigger_kind(comm), communication_id=comm.get("id", ""),
        sent=datetime.fromisoformat(snapshot["taken_at"]), texts=texts,
        reasons=[_labelled(c, labels) for c in (_coding(r) for r in comm.get("reasonCode") or []) if c], flags=flags,
        patient=patient_facts(snapshot["patient"]), parcours=_coding_value(_ext(episode, EXT_PARCOURS)),
        sequence=seq_code, renewal=renewal_ext.get("valueUnsignedInt") if renewal_ext else None,
        sequence_start=parse_date(period.get("start")), sequence_end=parse_date(period.get("end")),
        sequence3_allowed=seq3.get("valueBoolean") if seq3 else None,
        episode_start=parse_date(ep_period.get("start")), episode_end=parse_date(ep_period.get("end")),
        episode_ref=f"CarePlan/{episode['id']}" if episode.get("id") else None,
        episode_version=(episode.get("meta") or {}).get("versionId"), episode_title=episode.get("title"),
        drugs=[drug_facts(m) for m in snapshot.get("medications") or []],
        prescriber=person_facts(snapshot["prescriber"]) if snapshot.get("prescriber") else None,
        hospital=org_facts(snapshot["hospital"]) if snapshot.get("hospital") else None,
        care_team=members,
    )
