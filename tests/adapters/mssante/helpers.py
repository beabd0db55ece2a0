"""FHIR data of the tests (the implementation guide's own examples), triggers, and reading what arrived."""

from __future__ import annotations

import email
import io
import zipfile
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
from lxml import etree

from adapters.fhir_client import FhirClient

EXAMPLES = Path(__file__).resolve().parents[3] / "profiles" / "fsh-generated" / "resources"
MESSAGE_CATEGORY = "https://oncolink.example.org/fhir/CodeSystem/oncolink-message-category"
MESSAGE_PROFILE = "https://oncolink.example.org/fhir/StructureDefinition/oncolink-message"
TRIGGER_SYSTEM = "https://oncolink.example.org/fhir/CodeSystem/oncolink-mssante-trigger"
TRIGGER_SID = "https://oncolink.example.org/fhir/sid/trigger"
DIRECTORY = "https://annuaire.test/fhir/v2"
MSS_EXT = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata"
PHARMACY_ADDRESS = "pharmacie.lilas@pharmacien.mssante.fr"
GP_ADDRESS = "paul.petit@medecin.mssante.fr"
CDA_NS = {"h": "urn:hl7-org:v3"}
RIM_NS = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
          "lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"}

SEED = ["Patient-patient-jeanne-martin.json", "Practitioner-prescriber-claire-roux.json",
        "Practitioner-gp-paul-petit.json", "Organization-org-oncologie-lyon.json",
        "Organization-org-pharmacie-lilas.json", "Condition-condition-cancer-sein.json",
        "MedicationRequest-mr-capecitabine.json", "CarePlan-episode-jeanne-martin.json",
        "CarePlan-sequence-jeanne-martin-1.json", "Flag-flag-jeanne-martin-diarrhee.json",
        "QuestionnaireResponse-pro-jeanne-martin-2025-11-17.json"]


def example(name: str) -> dict[str, Any]:
    return orjson.loads((EXAMPLES / name).read_bytes())


async def seed(fhir: FhirClient) -> dict[str, dict[str, Any]]:
    """The pathway example of the IG, written through the API as any client would."""
    stored = {}
    for name in SEED:
        resource = example(name)
        if resource["resourceType"] == "Organization" and resource["id"] == "org-oncologie-lyon":
            resource["telecom"] = [{"system": "phone", "value": "04 72 00 00 00", "use": "work"}]
        stored[f"{resource['resourceType']}/{resource['id']}"] = await fhir.update(
            resource["resourceType"], resource["id"], resource)
    return stored


def trigger(trigger_id: str = "seq-start-1", kind: str = "sequence-start", *, recipients: list[str] | None = None,
            text: str = "La séquence 1 commence après la primo-prescription.", reason: str | None = None,
            flag: str | None = None, comm_id: str | None = None) -> dict[str, Any]:
    about = [{"reference": "CarePlan/episode-jeanne-martin"}]
    if flag:
        about.append({"reference": f"Flag/{flag}"})
    body: dict[str, Any] = {
        "resourceType": "Communication", "id": comm_id or f"trig-{trigger_id}",
        "meta": {"profile": [MESSAGE_PROFILE]},
        "identifier": [{"system": TRIGGER_SID, "value": trigger_id}],
        "status": "preparation",
        "category": [{"coding": [{"system": MESSAGE_CATEGORY, "code": "coordination"}]}],
        "subject": {"reference": "Patient/patient-jeanne-martin"},
        "about": about,
        "recipient": [{"reference": r} for r in (recipients if recipients is not None else
                                                  ["Organization/org-pharmacie-lilas", "Practitioner/gp-paul-petit"])],
        "topic": {"coding": [{"system": TRIGGER_SYSTEM, "code": kind}]},
        "payload": [{"contentString": text}],
    }
    if reason:
        body["reasonCode"] = [{"coding": [{"system": "https://oncolink.example.org/fhir/CodeSystem/oncolink-alert-type",
                                           "code": reason}]}]
    return body


def mailbox(address: str, kind: str = "PER", red: bool = False) -> dict[str, Any]:
    return {"system": "email", "value": address, "extension": [{"url": MSS_EXT, "extension": [
        {"url": "type", "valueCodeableConcept": {"coding": [
            {"system": "https://mos.esante.gouv.fr/NOS/TRE_R257-TypeBAL/FHIR/TRE-R257-TypeBAL", "code": kind}]}},
        {"url": "listeRouge", "valueBoolean": red}]}]}


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
                              "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def directory_pharmacy(address: str = PHARMACY_ADDRESS) -> dict[str, Any]:
    return {"resourceType": "Organization", "id": "org-finess-690000002",
            "identifier": [{"system": "https://finess.esante.gouv.fr", "value": "690000002"},
                           {"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1690000002"}],
            "name": "PHARMACIE DES LILAS", "telecom": [mailbox(address, "ORG")]}


def directory_gp(address: str | None = GP_ADDRESS) -> dict[str, Any]:
    person = {"resourceType": "Practitioner", "id": "pra-810007654321",
              "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810007654321"}],
              "name": [{"family": "PETIT", "given": ["Paul"]}]}
    if address:
        person["telecom"] = [mailbox(address, "PER")]
    return person


@dataclass
class Parsed:
    message: EmailMessage
    text: str
    html: str
    zip_names: list[str]
    zip: zipfile.ZipFile
    cda: etree._Element
    cda_bytes: bytes
    metadata: etree._Element
    fhir: dict[str, Any]


def parse(raw: bytes) -> Parsed:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    attachments = {part.get_filename(): part for part in message.iter_attachments()}
    archive = zipfile.ZipFile(io.BytesIO(attachments["IHE_XDM.ZIP"].get_content()))
    cda_bytes = archive.read("IHE_XDM/SUBSET01/DOC0001.XML")
    return Parsed(message, text, html, archive.namelist(), archive, etree.fromstring(cda_bytes), cda_bytes,
                  etree.fromstring(archive.read("IHE_XDM/SUBSET01/METADATA.XML")),
                  orjson.loads(attachments["ONCOLINK.JSON"].get_content()))


def example_snapshot(communication: dict[str, Any] | None = None) -> dict[str, Any]:
    """A trigger snapshot made of the IG examples, for composing without a server."""
    comm = communication or trigger()
    refs = ["Organization/org-pharmacie-lilas", "Practitioner/gp-paul-petit", "Organization/org-oncologie-lyon"]
    files = {"Organization/org-pharmacie-lilas": "Organization-org-pharmacie-lilas.json",
             "Practitioner/gp-paul-petit": "Practitioner-gp-paul-petit.json",
             "Organization/org-oncologie-lyon": "Organization-org-oncologie-lyon.json"}
    episode = example("CarePlan-episode-jeanne-martin.json")
    episode["meta"] = {"versionId": "3"}
    return {"trigger_key": f"{TRIGGER_SID}|{comm['identifier'][0]['value']}", "taken_at": "2025-11-03T10:00:00+01:00",
            "base": "http://oncolink.test/fhir", "communication": comm,
            "patient": example("Patient-patient-jeanne-martin.json"), "episode": episode,
            "sequence": example("CarePlan-sequence-jeanne-martin-1.json"),
            "medications": [example("MedicationRequest-mr-capecitabine.json")],
            "prescriber": example("Practitioner-prescriber-claire-roux.json"),
            "hospital": example("Organization-org-oncologie-lyon.json"), "flags": [],
            "resources": {ref: example(files[ref]) for ref in refs}}
