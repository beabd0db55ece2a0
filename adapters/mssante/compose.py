"""One RFC 5322 message per recipient: French bodies, the IHE XDM archive of the CDA care plan, the FHIR JSON.

Everything a message needs comes from the trigger's snapshot (frozen when the trigger was taken in) and
the recipient's address, so the bytes are made once, stored in the outbox and sent as they are on every
attempt: a retry is the same message with the same Message-ID, never a new one.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import charset as email_charset
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP, compat32
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

import orjson
import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from . import facts as F
from .cda import build_cda, fr_date
from .xdm import build_metadata, pack

TEMPLATES = Path(__file__).parent / "templates"
VERSION = "0.1.0"
ZIP_NAME = "IHE_XDM.ZIP"
_QP_UTF8 = email_charset.Charset("utf-8")
_QP_UTF8.body_encoding = email_charset.QP
_WIRE = compat32.clone(linesep="\r\n", max_line_length=78)
JSON_NAME = "ONCOLINK.JSON"


def uuid_oid(value: uuid.UUID) -> str:
    """An OID from a UUID (ITU-T X.667, arc 2.25): globally unique without registering anything."""
    return f"2.25.{value.int}"


def message_id(trigger_key: str, recipient_ref: str, sender: str) -> str:
    """Deterministic, so a trigger taken in again (after a crash, or by a second worker) gets the same id."""
    digest = hashlib.sha256(f"{trigger_key}\x00{recipient_ref}".encode()).hexdigest()[:32]
    domain = sender.rpartition("@")[2] or "oncolink.invalid"
    return f"<{digest}.oncolink@{domain}>"


@dataclass(frozen=True)
class Composed:
    raw: bytes
    subject: str
    details: dict[str, Any]


@dataclass(frozen=True)
class Mappings:
    kinds: dict[str, Any]
    out_of_hours_default: str
    document: dict[str, Any]
    contacts: dict[str, Any]
    alert_labels: dict[str, str]

    @classmethod
    def load(cls, folder: Path) -> Mappings:
        messages = yaml.safe_load((folder / "messages.yaml").read_text(encoding="utf-8"))
        document = yaml.safe_load((folder / "document.yaml").read_text(encoding="utf-8"))["document"]
        contacts = yaml.safe_load((folder / "contacts.yaml").read_text(encoding="utf-8"))
        missing = [k for k in F.KINDS if k not in messages.get("kinds", {})]
        if missing:
            raise ValueError(f"{folder / 'messages.yaml'}: no wording for {', '.join(missing)}")
        return cls(messages["kinds"], messages.get("out_of_hours_default", ""), document, contacts,
                   {str(k): str(v) for k, v in (messages.get("alert_types") or {}).items()})


def _fill(template: str, values: dict[str, str]) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


class Composer:
    def __init__(self, mappings: Mappings, *, sender: str, sender_name: str, notification_to: str,
                 source_oid: str) -> None:
        self.mappings = mappings
        self.sender = sender
        self.sender_name = sender_name
        self.notification_to = notification_to
        self.source_oid = source_oid
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, trim_blocks=False,
                               autoescape=select_autoescape(enabled_extensions=("html", "htm", "html.j2", "htm.j2")))
        self.text_body = self.env.get_template("body.txt.j2")
        self.html_body = self.env.get_template("body.html.j2")
        self.readme = self.env.get_template("readme.txt.j2")
        self.index = self.env.get_template("index.htm.j2")

    def contacts(self, facts: F.Facts) -> dict[str, list[str]]:
        teams = self.mappings.contacts.get("teams") or {}
        default = self.mappings.contacts.get("default") or {}
        chosen = teams.get(facts.hospital.idnst) if facts.hospital and facts.hospital.idnst else None
        entry = chosen or default
        working = list(entry.get("working_hours") or [])
        if facts.hospital:
            working += [f"Standard de l'équipe : {p}" for p in facts.hospital.phones
                        if not any(p in line for line in working)]
        out_of_hours = list(entry.get("out_of_hours") or []) or [self.mappings.out_of_hours_default]
        return {"working_hours": working, "out_of_hours": out_of_hours}

    def wording(self, facts: F.Facts, role: str) -> tuple[str, str, list[str]]:
        kind = self.mappings.kinds.get(facts.kind) or self.mappings.kinds["information"]
        values = {
            "sequence": facts.sequence.code if facts.sequence else "?",
            "sequence_label": facts.sequence.display if facts.sequence else "",
            "start": fr_date(facts.sequence_start), "end": fr_date(facts.sequence_end),
            "drug": ", ".join(d.text for d in facts.drugs) or "traitement",
        }
        actions = kind["actions"].get(role) or kind["actions"].get("other") or []
        return (_fill(kind["title"], values), _fill(kind["headline"], values), [_fill(a, values) for a in actions])

    def compose(self, snapshot: dict[str, Any], *, recipient_ref: str, recipient_name: str, address: str,
                message_id: str, at: datetime | None = None) -> Composed:
        facts = F.build(snapshot, self.mappings.alert_labels)
        created = at or datetime.now(UTC)
        team = F.care_team_of(snapshot.get("episode"))
        role = F.role_of(recipient_ref, team)
        recipient = F.RecipientFacts(ref=recipient_ref, role=role, name=recipient_name, address=address,
                                     kind=recipient_ref.partition("/")[0])
        title, headline, actions = self.wording(facts, role)
        contacts = self.contacts(facts)
        patient = facts.patient

        namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"oncolink:mssante:{message_id}")
        document_id = uuid_oid(uuid.uuid5(namespace, "document"))
        set_id = uuid_oid(uuid.uuid5(uuid.NAMESPACE_URL, f"oncolink:careplan:{facts.episode_ref or facts.trigger_key}"))
        submission_set_id = uuid_oid(uuid.uuid5(namespace, "submission-set"))
        cda = build_cda(facts, recipient, self.mappings.document, document_id=document_id, set_id=set_id, title=title,
                        actions=actions, headline=headline, contacts=contacts)
        metadata, sha1, size = build_metadata(
            facts, recipient, self.mappings.document, document=cda.xml, document_id=document_id,
            submission_set_id=submission_set_id, source_oid=self.source_oid, title=title,
            entry_uuid=str(uuid.uuid5(namespace, "entry")), set_uuid=str(uuid.uuid5(namespace, "set")))
        hospital_name = facts.hospital.name if facts.hospital else "l'équipe hospitalière"
        shared = {"sender": self.sender, "sender_name": self.sender_name, "hospital_name": hospital_name,
                  "hospital_id": facts.hospital.idnst if facts.hospital else None, "version": VERSION,
                  "created": created.astimezone().strftime("%d/%m/%Y %H:%M"), "title": title, "patient": patient}
        archive = pack(cda=cda.xml, metadata=metadata, readme=self.readme.render(**shared),
                       index=self.index.render(**shared), when=created.astimezone())

        ins_label = F.INS_OIDS.get(patient.ins_oid or "", "")
        context = {
            "facts": facts, "patient": patient, "recipient": recipient, "headline": headline, "title": title,
            "actions": actions, "contacts": contacts, "hospital_name": hospital_name, "ins_label": ins_label,
            "parcours": facts.parcours.display if facts.parcours else "Parcours non précisé",
            "sequence": facts.sequence.display if facts.sequence else "séquence non précisée",
            "seq_start": fr_date(facts.sequence_start), "seq_end": fr_date(facts.sequence_end),
        }
        # Ref#2 ECO.2.1.3: XDM/1.0/DDM+<title> <LASTNAME> <first name> <birth date>.
        subject = f"XDM/1.0/DDM+{title} {patient.family.upper()} {patient.given} {patient.birth_fr}".strip()

        fhir_json = orjson.dumps(_bundle(snapshot), option=orjson.OPT_INDENT_2)
        raw = self._mime(
            subject=subject, to_name=recipient_name, address=address, message_id=message_id, created=created,
            ins_flag="O" if patient.ins_qualified else "N", text=self.text_body.render(**context),
            html=self.html_body.render(**context), archive=archive, fhir_json=fhir_json)
        details = {
            "kind": facts.kind, "role": role, "title": title, "document_id": document_id, "set_id": set_id,
            "version": cda.version, "submission_set_id": submission_set_id, "cda_sha1": sha1, "cda_size": size,
            "zip_sha1": hashlib.sha1(archive).hexdigest(), "zip_size": len(archive),  # noqa: S324 - as XDS does
            "json_size": len(fhir_json),
        }
        return Composed(raw=raw, subject=subject, details=details)

    def _mime(self, *, subject: str, to_name: str, address: str, message_id: str, created: datetime, ins_flag: str,
              text: str, html: str, archive: bytes, fhir_json: bytes) -> bytes:
        """RFC 5322 / MIME bytes. Built with the email package's compat32 classes: the same structure as the
        modern API at a fraction of its header-parsing cost (it was most of the compose time)."""
        alternative = MIMEMultipart("alternative")
        alternative.attach(MIMEText(text, "plain", _QP_UTF8))
        alternative.attach(MIMEText(html, "html", _QP_UTF8))
        for part in alternative.get_payload():
            del part["MIME-Version"]  # the legacy classes repeat it on every part; once at the top is enough
        del alternative["MIME-Version"]
        message = MIMEMultipart("mixed")
        message["From"] = formataddr((self.sender_name, self.sender), charset="utf-8")
        message["To"] = formataddr((to_name, address), charset="utf-8") if to_name else address
        message["Subject"] = _encoded_words(subject)
        message["Date"] = format_datetime(created.astimezone())
        message["Message-ID"] = message_id
        message["Disposition-Notification-To"] = f"<{self.notification_to}>"  # MDN request (RFC 8098)
        message["X-MSS-CODECDA"] = self.mappings.document["type"]["code"]  # Ref#2 ECO.2.4.1
        message["X-MSS-INS"] = ins_flag  # Ref#2 ECO.2.4.2
        message["X-Mailer"] = f"Onco'Link FHIR {VERSION}"
        message["Content-Language"] = "fr"
        message.attach(alternative)
        for data, subtype, name in ((archive, "zip", ZIP_NAME), (fhir_json, "fhir+json", JSON_NAME)):
            part = MIMEApplication(data, subtype)
            part.add_header("Content-Disposition", "attachment", filename=name)
            part.set_param("name", name)
            del part["MIME-Version"]
            message.attach(part)
        return message.as_bytes(policy=_WIRE)


def _encoded_words(value: str) -> str:
    """RFC 2047 encoding of the non-ASCII words only, so that `XDM/1.0/DDM+…` stays readable as such by
    receivers that match the subject's prefix (the modern policy knows how; the legacy one encodes all)."""
    folded = SMTP.fold("Subject", value)
    return folded[len("Subject: "):].replace("\r\n", "").rstrip()

def _bundle(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The FHIR content the message was made from, as a collection Bundle the receiver's software can read."""
    seen: set[str] = set()
    resources: list[dict[str, Any]] = []
    candidates = [snapshot.get("communication"), snapshot.get("patient"), snapshot.get("episode"),
                  snapshot.get("sequence"), *(snapshot.get("medications") or []), snapshot.get("prescriber"),
                  snapshot.get("hospital"), *(snapshot.get("flags") or [])]
    for resource in candidates:
        if not resource or not resource.get("id"):
            continue
        key = f"{resource['resourceType']}/{resource['id']}"
        if key not in seen:
            seen.add(key)
            resources.append(resource)
    return {"resourceType": "Bundle", "type": "collection", "timestamp": snapshot["taken_at"],
            "entry": [{"fullUrl": f"{snapshot.get('base', 'urn:oncolink')}/{r['resourceType']}/{r['id']}",
                       "resource": r} for r in resources]}
