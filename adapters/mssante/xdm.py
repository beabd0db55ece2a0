"""IHE XDM packaging of the CDA document: `IHE_XDM.ZIP` with README.TXT, INDEX.HTM and one submission set.

METADATA.XML is an ebRIM `SubmitObjectsRequest` (IHE ITI TF-3 §4.2) holding the submission set, the
document entry and their HasMember association, with the classification and identification schemes
IHE fixes by UUID. Values follow the ANS conventions (patient id = INS with its OID and type NH,
authorPerson = idnps with type IDNPS, authorInstitution = IDNST), and hash/size are computed from the
very bytes put in the archive, so a receiver's integrity check passes by construction.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from .facts import IDNPS_OID, IDNST_OID, Facts, RecipientFacts

LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
_R = f"{{{RIM}}}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SUBSET = "IHE_XDM/SUBSET01"
DOCUMENT_NAME = "DOC0001.XML"  # ISO 9660 level 1: 8.3, upper case

# IHE ITI TF-3 §4.2.5 identification and classification schemes.
SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
DE_OBJECT_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"  # stable document entry
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
OT_CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
OT_EXTERNAL_ID = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"
OT_PACKAGE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
OT_ASSOCIATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"
GENDERS = {"male": "M", "female": "F", "other": "A", "unknown": "U"}


def dtm(value: datetime) -> str:
    """XDS DTM: UTC, second precision (naive values are taken as UTC)."""
    return (value.astimezone(UTC) if value.tzinfo else value).strftime("%Y%m%d%H%M%S")


def cx(value: str, oid: str, kind: str = "NH") -> str:
    return f"{value}^^^&{oid}&ISO^{kind}"


def xcn(idnps: str | None, family: str, given: str) -> str:
    if not idnps:
        return f"^{family.upper()}^{given}"
    return f"{idnps}^{family.upper()}^{given}^^^^^^&{IDNPS_OID}&ISO^D^^^IDNPS"


def xon(name: str, idnst: str | None) -> str:
    return f"{name}^^^^^&{IDNST_OID}&ISO^IDNST^^^{idnst}" if idnst else name


class _Builder:
    def __init__(self) -> None:
        self.counter = 0

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:02d}"

    @staticmethod
    def el(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
        return etree.SubElement(parent, _R + tag, {k: v for k, v in attrs.items() if v is not None})

    def slot(self, parent: etree._Element, name: str, *values: str) -> None:
        values_list = self.el(self.el(parent, "Slot", name=name), "ValueList")
        for value in values:
            self.el(values_list, "Value").text = value

    def localized(self, parent: etree._Element, tag: str, value: str) -> None:
        holder = self.el(parent, tag)
        self.el(holder, "LocalizedString", value=value, charset="UTF-8", **{XML_LANG: "fr-FR"})

    def classification(self, parent: etree._Element, scheme: str, obj: str, code: dict[str, str] | None,
                       slots: dict[str, str] | None = None) -> None:
        cls = self.el(parent, "Classification", classificationScheme=scheme, classifiedObject=obj,
                      nodeRepresentation=code["code"] if code else "", id=self.next_id("cl"),
                      objectType=OT_CLASSIFICATION)
        for name, value in (slots or {}).items():
            self.slot(cls, name, value)
        if code:
            self.slot(cls, "codingScheme", code["scheme"])
            self.localized(cls, "Name", code["display"])

    def external_id(self, parent: etree._Element, scheme: str, obj: str, value: str, name: str) -> None:
        ext = self.el(parent, "ExternalIdentifier", identificationScheme=scheme, value=value, id=self.next_id("ei"),
                      registryObject=obj, objectType=OT_EXTERNAL_ID)
        self.localized(ext, "Name", name)


def build_metadata(facts: Facts, recipient: RecipientFacts, mapping: dict[str, Any], *, document: bytes,
                   document_id: str, submission_set_id: str, source_oid: str, title: str,
                   entry_uuid: str, set_uuid: str) -> tuple[bytes, str, int]:
    sha1 = hashlib.sha1(document).hexdigest()  # noqa: S324 - IHE XDS mandates SHA-1 here
    size = len(document)
    b = _Builder()
    root = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    objects = b.el(root, "RegistryObjectList")
    patient = facts.patient
    patient_id = cx(patient.ins, patient.ins_oid) if patient.ins and patient.ins_oid else \
        cx(patient.ipp or "INCONNU", patient.ipp_oid or source_oid, "PI")
    prescriber = facts.prescriber
    author_slots = {
        "authorPerson": xcn(prescriber.idnps if prescriber else None, prescriber.family if prescriber else "",
                            prescriber.given if prescriber else ""),
        "authorInstitution": xon(facts.hospital.name if facts.hospital else "Équipe hospitalière",
                                 facts.hospital.idnst if facts.hospital else None),
    }
    when = dtm(facts.sent)

    ss_id = f"urn:uuid:{set_uuid}"
    package = b.el(objects, "RegistryPackage", id=ss_id, objectType=OT_PACKAGE)
    b.slot(package, "submissionTime", when)
    kind = "Internet"
    b.slot(package, "intendedRecipient",
           f"{recipient.name}|^{recipient.name}|^^{kind}^{recipient.address}" if recipient.kind != "Organization"
           else f"{recipient.name}||^^{kind}^{recipient.address}")
    b.localized(package, "Name", title)
    b.classification(package, SS_AUTHOR, ss_id, None, author_slots)
    b.classification(package, SS_CONTENT_TYPE, ss_id, mapping["content_type"])
    b.external_id(package, SS_PATIENT_ID, ss_id, patient_id, "XDSSubmissionSet.patientId")
    b.external_id(package, SS_SOURCE_ID, ss_id, source_oid, "XDSSubmissionSet.sourceId")
    b.external_id(package, SS_UNIQUE_ID, ss_id, submission_set_id, "XDSSubmissionSet.uniqueId")
    b.el(objects, "Classification", classifiedObject=ss_id, classificationNode=SS_NODE, id=b.next_id("cl"),
         objectType=OT_CLASSIFICATION)

    de_id = f"urn:uuid:{entry_uuid}"
    entry = b.el(objects, "ExtrinsicObject", id=de_id, mimeType="text/xml", objectType=DE_OBJECT_TYPE)
    b.slot(entry, "creationTime", when)
    b.slot(entry, "hash", sha1)
    b.slot(entry, "size", str(size))
    b.slot(entry, "languageCode", mapping.get("language", "fr-FR"))
    b.slot(entry, "legalAuthenticator", author_slots["authorPerson"])
    if facts.sequence_start or facts.episode_start:
        start = facts.sequence_start or facts.episode_start
        b.slot(entry, "serviceStartTime", start.strftime("%Y%m%d"))
    if facts.sequence_end:
        b.slot(entry, "serviceStopTime", facts.sequence_end.strftime("%Y%m%d"))
    b.slot(entry, "sourcePatientId", patient_id)
    info = [f"PID-5|{patient.family.upper()}^{patient.given}^^^^^L", f"PID-8|{GENDERS.get(patient.gender, 'U')}"]
    if patient.birth_date:
        info.insert(1, f"PID-7|{patient.birth_date.strftime('%Y%m%d')}")
    b.slot(entry, "sourcePatientInfo", *info)
    b.slot(entry, "URI", DOCUMENT_NAME)
    b.localized(entry, "Name", title)
    b.classification(entry, DE_AUTHOR, de_id, None, author_slots)
    b.classification(entry, DE_CLASS, de_id, mapping["class"])
    b.classification(entry, DE_CONFIDENTIALITY, de_id, mapping["confidentiality"])
    b.classification(entry, DE_FORMAT, de_id, mapping["format"])
    b.classification(entry, DE_FACILITY, de_id, mapping["healthcare_facility_type"])
    b.classification(entry, DE_PRACTICE, de_id, mapping["practice_setting"])
    b.classification(entry, DE_TYPE, de_id, mapping["type"])
    b.external_id(entry, DE_PATIENT_ID, de_id, patient_id, "XDSDocumentEntry.patientId")
    b.external_id(entry, DE_UNIQUE_ID, de_id, document_id, "XDSDocumentEntry.uniqueId")

    association = b.el(objects, "Association", associationType=HAS_MEMBER, sourceObject=ss_id, targetObject=de_id,
                       id=b.next_id("as"), objectType=OT_ASSOCIATION)
    b.slot(association, "SubmissionSetStatus", "Original")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), sha1, size


def pack(*, cda: bytes, metadata: bytes, readme: str, index: str, when: datetime) -> bytes:
    """The archive, byte-for-byte reproducible for the same content (fixed entry times and order)."""
    stamp = when.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, data in (("README.TXT", readme.replace("\n", "\r\n").encode("utf-8")),
                           ("INDEX.HTM", index.encode("utf-8")),
                           (f"{SUBSET}/METADATA.XML", metadata),
                           (f"{SUBSET}/{DOCUMENT_NAME}", cda)):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()
