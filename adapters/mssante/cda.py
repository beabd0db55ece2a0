"""The care plan as a CDA R2 document (HL7 v3 `POCD_MT000040`), French header conventions.

Header elements follow the schema's order (tests check it, since no CDA schema can be installed from a
package registry here) and the CI-SIS habits seen in ANS examples: realmCode FR, HL7 France and CI-SIS
templateIds, INS as the patient id, RPPS (idnps) for persons, IDNST for organisations. The body is
structured in sections whose narrative is what a reader sees; the drug also gets a coded entry
(CIP13/UCD with its ATC translation, EDQM route) that software can read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lxml import etree

from .facts import IDNPS_OID, IDNST_OID, Code, Facts, RecipientFacts

NS = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_Q = f"{{{NS}}}"
LOINC = "2.16.840.1.113883.6.1"
GENDERS = {"male": "M", "female": "F", "other": "UN", "unknown": "UN"}
ROUTE_ORAL = ("20053000", "0.4.0.127.0.16.1.1.2.1", "Voie orale")


@dataclass(frozen=True)
class CdaDocument:
    xml: bytes
    document_id: str  # OID used as ClinicalDocument/id@root and XDS uniqueId
    set_id: str
    version: int
    title: str
    effective: datetime


def ts(value: datetime | date) -> str:
    """HL7 v3 TS: local time with its offset for instants, day precision for dates."""
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d%H%M%S%z")
    return value.strftime("%Y%m%d")


def _el(parent: etree._Element | None, tag: str, attrs: dict[str, str] | None = None,
        text: str | None = None) -> etree._Element:
    element = etree.Element(_Q + tag) if parent is None else etree.SubElement(parent, _Q + tag)
    for key, value in (attrs or {}).items():
        if value is not None:
            element.set(key, value)
    if text is not None:
        element.text = text
    return element


def _code(parent: etree._Element, tag: str, code: Code | None, fallback_text: str = "") -> etree._Element:
    if code is None or not code.oid or not code.code:
        element = _el(parent, tag, {"nullFlavor": "OTH" if code or fallback_text else "UNK"})
        if code or fallback_text:
            _el(element, "originalText", text=(code.display if code else fallback_text))
        return element
    return _el(parent, tag, {"code": code.code, "codeSystem": code.oid, "displayName": code.display or None})


def _name(parent: etree._Element, family: str, given: str, prefix: str = "") -> None:
    name = _el(parent, "name")
    if prefix:
        _el(name, "prefix", text=prefix)
    if given:
        _el(name, "given", text=given)
    _el(name, "family", text=family.upper() or "INCONNU")


def _table(parent: etree._Element, rows: list[tuple[str, str]]) -> None:
    table = _el(parent, "table", {"border": "1"})
    body = _el(table, "tbody")
    for label, value in rows:
        tr = _el(body, "tr")
        _el(tr, "th", text=label)
        _el(tr, "td", text=value)


def _section(body: etree._Element, loinc: str, display: str, title: str) -> tuple[etree._Element, etree._Element]:
    component = _el(body, "component")
    section = _el(component, "section")
    _el(section, "code", {"code": loinc, "codeSystem": LOINC, "codeSystemName": "LOINC", "displayName": display})
    _el(section, "title", text=title)
    return section, _el(section, "text")


def fr_date(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else "non précisée"


def _organisation(parent: etree._Element, tag: str, facts: Facts, max_phones: int = 2) -> None:
    org = _el(parent, tag)
    hospital = facts.hospital
    if hospital and hospital.idnst:
        _el(org, "id", {"root": IDNST_OID, "extension": hospital.idnst})
    else:
        _el(org, "id", {"nullFlavor": "UNK"})
    _el(org, "name", text=hospital.name if hospital else "Équipe hospitalière")
    if hospital:
        for phone in hospital.phones[:max_phones]:
            _el(org, "telecom", {"value": f"tel:{phone.replace(' ', '')}", "use": "WP"})


def _person_entity(parent: etree._Element, facts: Facts, person_tag: str) -> None:
    prescriber = facts.prescriber
    if prescriber and prescriber.idnps:
        _el(parent, "id", {"root": IDNPS_OID, "extension": prescriber.idnps})
    else:
        _el(parent, "id", {"nullFlavor": "UNK"})
    person = _el(parent, person_tag)
    if prescriber:
        _name(person, prescriber.family, prescriber.given, prescriber.prefix)
    else:
        _el(person, "name", {"nullFlavor": "UNK"})


def build_cda(facts: Facts, recipient: RecipientFacts, mapping: dict[str, Any], *, document_id: str, set_id: str,
              title: str, actions: list[str], headline: str, contacts: dict[str, list[str]]) -> CdaDocument:
    doc_type = mapping["type"]
    version = int(facts.episode_version) if (facts.episode_version or "").isdigit() else 1
    effective = facts.sent
    root = etree.Element(_Q + "ClinicalDocument", nsmap={None: NS, "xsi": XSI})
    _el(root, "realmCode", {"code": "FR"})
    _el(root, "typeId", {"root": "2.16.840.1.113883.1.3", "extension": "POCD_HD000040"})
    _el(root, "templateId", {"root": "2.16.840.1.113883.2.8.2.1"})  # HL7 France
    _el(root, "templateId", {"root": "1.2.250.1.213.1.1.1.1"})  # CI-SIS: structuration minimale
    _el(root, "id", {"root": document_id})
    _el(root, "code", {"code": doc_type["code"], "codeSystem": doc_type["scheme"], "codeSystemName": "LOINC",
                       "displayName": doc_type["display"]})
    _el(root, "title", text=title)
    _el(root, "effectiveTime", {"value": ts(effective)})
    conf = mapping["confidentiality"]
    _el(root, "confidentialityCode", {"code": conf["code"], "codeSystem": conf["scheme"],
                                      "displayName": conf["display"]})
    _el(root, "languageCode", {"code": mapping.get("language", "fr-FR")})
    _el(root, "setId", {"root": set_id})
    _el(root, "versionNumber", {"value": str(version)})

    # recordTarget: INS first (the identity the receiver files the document under), then the IPP.
    patient = facts.patient
    role = _el(_el(root, "recordTarget"), "patientRole")
    if patient.ins and patient.ins_oid:
        _el(role, "id", {"root": patient.ins_oid, "extension": patient.ins})
    if patient.ipp and patient.ipp_oid:
        _el(role, "id", {"root": patient.ipp_oid, "extension": patient.ipp})
    if not (patient.ins or patient.ipp):
        _el(role, "id", {"nullFlavor": "UNK"})
    if patient.city:
        _el(_el(role, "addr"), "city", text=patient.city)
    person = _el(role, "patient")
    _name(person, patient.family, patient.given)
    _el(person, "administrativeGenderCode", {"code": GENDERS.get(patient.gender, "UN"),
                                             "codeSystem": "2.16.840.1.113883.5.1"})
    if patient.birth_date:
        _el(person, "birthTime", {"value": ts(patient.birth_date)})
    else:
        _el(person, "birthTime", {"nullFlavor": "UNK"})

    author = _el(root, "author")
    _el(author, "time", {"value": ts(effective)})
    assigned = _el(author, "assignedAuthor")
    _person_entity(assigned, facts, "assignedPerson")
    _organisation(assigned, "representedOrganization", facts)

    custodian = _el(_el(root, "custodian"), "assignedCustodian")
    _organisation(custodian, "representedCustodianOrganization", facts, max_phones=1)  # the schema allows one

    intended = _el(_el(root, "informationRecipient"), "intendedRecipient")
    _el(intended, "telecom", {"value": f"mailto:{recipient.address}"})
    if recipient.kind == "Organization":
        org = _el(intended, "receivedOrganization")
        _el(org, "name", text=recipient.name)
    else:
        _el(_el(intended, "informationRecipient"), "name", text=recipient.name)

    legal = _el(root, "legalAuthenticator")
    _el(legal, "time", {"value": ts(effective)})
    _el(legal, "signatureCode", {"code": "S"})
    entity = _el(legal, "assignedEntity")
    _person_entity(entity, facts, "assignedPerson")

    event = _el(_el(root, "documentationOf"), "serviceEvent", {"classCode": "PCPR"})
    period = _el(event, "effectiveTime")
    _el(period, "low", {"value": ts(facts.episode_start)} if facts.episode_start else {"nullFlavor": "UNK"})
    if facts.episode_end:
        _el(period, "high", {"value": ts(facts.episode_end)})

    encounter = _el(_el(root, "componentOf"), "encompassingEncounter")
    enc_time = _el(encounter, "effectiveTime")
    _el(enc_time, "low", {"value": ts(facts.sequence_start or facts.episode_start)}
        if (facts.sequence_start or facts.episode_start) else {"nullFlavor": "UNK"})
    if facts.sequence_end:
        _el(enc_time, "high", {"value": ts(facts.sequence_end)})
    facility_type = mapping["healthcare_facility_type"]
    facility = _el(_el(encounter, "location"), "healthCareFacility")
    _el(facility, "code", {"code": facility_type["code"], "codeSystem": facility_type["scheme"],
                           "displayName": facility_type["display"]})

    body = _el(_el(root, "component"), "structuredBody")
    _drug_section(body, facts)
    _sequence_section(body, facts)
    _actions_section(body, headline, actions)
    _alerts_section(body, facts)
    _team_section(body, facts, contacts)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return CdaDocument(xml=xml, document_id=document_id, set_id=set_id, version=version, title=title,
                       effective=effective)


def _drug_section(body: etree._Element, facts: Facts) -> None:
    section, text = _section(body, "10160-0", "Traitements", "Traitement anticancéreux oral")
    if not facts.drugs:
        _el(text, "paragraph", text="Aucune prescription d'anticancéreux oral n'est rattachée à l'épisode.")
        return
    table = _el(text, "table", {"border": "1"})
    head = _el(_el(table, "thead"), "tr")
    for label in ("Médicament", "Codes", "Posologie", "Réserve hospitalière"):
        _el(head, "th", text=label)
    rows = _el(table, "tbody")
    for index, drug in enumerate(facts.drugs, start=1):
        tr = _el(rows, "tr")
        _el(tr, "td", {"ID": f"med-{index}"}, drug.text)
        codes = [f"{c.display or c.code} ({c.code})" for c in drug.codes]
        if drug.atc:
            codes.append(f"ATC {drug.atc.code}")
        _el(tr, "td", text=", ".join(codes) or "non codé")
        _el(tr, "td", {"ID": f"dose-{index}"}, drug.dosage)
        reserve = {True: "oui (parcours B)", False: "non (parcours A)", None: "non précisé"}[drug.hospital_reserve]
        _el(tr, "td", text=reserve)
    for index, drug in enumerate(facts.drugs, start=1):
        admin = _el(_el(section, "entry"), "substanceAdministration", {"classCode": "SBADM", "moodCode": "INT"})
        _el(_el(admin, "text"), "reference", {"value": f"#dose-{index}"})
        _el(admin, "routeCode", {"code": ROUTE_ORAL[0], "codeSystem": ROUTE_ORAL[1], "displayName": ROUTE_ORAL[2]})
        material = _el(_el(_el(admin, "consumable"), "manufacturedProduct"), "manufacturedMaterial")
        main = next((c for c in drug.codes if c.oid), None)
        code = _code(material, "code", main or drug.atc, drug.text)
        if main is not None and drug.atc is not None and drug.atc.oid:
            _el(code, "translation", {"code": drug.atc.code, "codeSystem": drug.atc.oid,
                                      "displayName": drug.atc.display or None})
        _el(material, "name", text=drug.text)


def _sequence_section(body: etree._Element, facts: Facts) -> None:
    _, text = _section(body, "18776-5", "Plan de soins", "Parcours Onco'Link et séquence en cours")
    seq3 = {True: "oui", False: "non", None: "non précisé"}[facts.sequence3_allowed]
    _table(text, [
        ("Parcours", facts.parcours.display if facts.parcours else "non précisé"),
        ("Séquence", facts.sequence.display if facts.sequence else "non précisée"),
        ("Renouvellement", str(facts.renewal) if facts.renewal is not None else "0"),
        ("Début de la séquence", fr_date(facts.sequence_start)),
        ("Fin prévue de la séquence", fr_date(facts.sequence_end)),
        ("Début de l'épisode", fr_date(facts.episode_start)),
        ("Séquence 3 possible", seq3),
    ])


def _actions_section(body: etree._Element, headline: str, actions: list[str]) -> None:
    _, text = _section(body, "69730-0", "Instructions", "Ce qui change et actions attendues")
    _el(text, "paragraph", text=headline)
    items = _el(text, "list", {"listType": "ordered"})
    for action in actions:
        _el(items, "item", text=action)


def _alerts_section(body: etree._Element, facts: Facts) -> None:
    _, text = _section(body, "75310-3", "Préoccupations de santé", "Alertes et message de l'équipe")
    if not (facts.reasons or facts.flags or facts.texts):
        _el(text, "paragraph", text="Aucune alerte en cours.")
        return
    if facts.reasons or facts.flags:
        items = _el(text, "list")
        for reason in facts.reasons:
            _el(items, "item", text=f"Motif : {reason.display}")
        for code, colour in facts.flags:
            _el(items, "item", text=f"Alerte {colour.lower() if colour else ''} : {code.display}".replace("  ", " "))
    for paragraph in facts.texts:
        _el(text, "paragraph", text=paragraph)


def _team_section(body: etree._Element, facts: Facts, contacts: dict[str, list[str]]) -> None:
    _, text = _section(body, "85847-2", "Équipe de soins", "Équipe de soins et contacts")
    rows = [(role or "membre", member) for role, member, _ in facts.care_team]
    if facts.prescriber:
        rows.insert(0, ("Prescripteur", facts.prescriber.display))
    if rows:
        _table(text, rows)
    for label, key in (("Heures ouvrables", "working_hours"), ("En dehors des heures ouvrables", "out_of_hours")):
        _el(text, "paragraph", text=f"{label} :")
        items = _el(text, "list")
        for line in contacts.get(key) or ["non renseigné"]:
            _el(items, "item", text=line)
