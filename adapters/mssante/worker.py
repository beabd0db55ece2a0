"""One pass of the adapter: take triggers in, compose, deliver, and show the outcome in FHIR.

1. Intake: `Communication?status=preparation&category=…|coordination`. Each is claimed by a PUT with
   If-Match (status in-progress): a second worker gets 412 and leaves it. Its snapshot and one outbox
   row per recipient are then stored, keyed by trigger id, so taking a trigger in twice adds nothing.
   A claimed trigger whose worker died before storing it is taken in again after a lease.
2. Compose: the recipient's MSSanté address (directory), then the message bytes, once.
3. Deliver: messages are claimed in the outbox (conditional update) and sent over one SMTP session.
4. Record: each message gets its own Communication (partOf the trigger) with its SMTP outcome; a
   recipient without address gets a Task for the coordinating nurse; when all messages of a trigger are
   settled, the trigger's Communication becomes completed or entered-in-error with the reason.
Every step reads its work from the outbox, so a pass that dies anywhere is continued by the next one.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from adapters.fhir_client import FhirClient, FhirResponseError, FhirUnavailable

from . import store as S
from .compose import Composer, message_id
from .context import ContextReader, trigger_key
from .directory import Directory, DirectoryError, DirectoryUnavailable
from .facts import display_of, trigger_kind
from .settings import MssanteSettings
from .smtp import ConnectionFailed, Transport

log = logging.getLogger(__name__)

MESSAGE_CATEGORY = "https://oncolink.example.org/fhir/CodeSystem/oncolink-message-category"
MESSAGE_PROFILE = "https://oncolink.example.org/fhir/StructureDefinition/oncolink-message"
MESSAGE_ID_SYSTEM = "https://oncolink.example.org/fhir/sid/mssante-message-id"
TASK_SYSTEM = "https://oncolink.example.org/fhir/CodeSystem/oncolink-mssante-task"
PARTICIPATION_MODE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
STATUS_REASON = "https://oncolink.example.org/fhir/CodeSystem/oncolink-mssante-outcome"
AGENT = {"display": "Onco'Link — adaptateur MSSanté"}
FHIR_STATUS = {S.READY: "in-progress", S.SENT: "completed", S.FAILED: "entered-in-error", S.UNKNOWN: "unknown"}


@dataclass
class PassReport:
    taken_in: int = 0
    composed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    finished: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: PassReport) -> None:
        for name in ("taken_in", "composed", "sent", "retried", "failed", "unknown", "finished"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors

    @property
    def busy(self) -> bool:
        return bool(self.taken_in or self.composed or self.sent or self.retried or self.failed or self.unknown)


def _etag(resource: dict[str, Any]) -> str:
    return f'W/"{(resource.get("meta") or {}).get("versionId", "")}"'


def _is_coordination(resource: dict[str, Any]) -> bool:
    return any(c.get("system") == MESSAGE_CATEGORY and c.get("code") == "coordination"
               for concept in resource.get("category") or [] for c in concept.get("coding") or [])


def _email_medium(resource: dict[str, Any]) -> bool:
    """No medium means ours; a medium that is not written e-mail belongs to another channel."""
    media = resource.get("medium") or []
    return not media or any(c.get("code") == "EMAILWRIT" for m in media for c in m.get("coding") or [])


def _location_id(response: dict[str, Any], index: int) -> str | None:
    entries = response.get("entry") or []
    if index >= len(entries):
        return None
    location = (entries[index].get("response") or {}).get("location") or ""
    parts = location.split("/")
    return parts[1] if len(parts) >= 2 else None


class Worker:
    def __init__(self, settings: MssanteSettings, client: FhirClient, store: S.Store, directory: Directory,
                 composer: Composer, transport: Transport, *, worker_id: str | None = None) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.directory = directory
        self.composer = composer
        self.transport = transport
        self.reader = ContextReader(client)
        self.worker_id = worker_id or f"mss-{uuid.uuid4().hex[:12]}"
        self._connect_failures = 0

    # -- scheduling helpers ---------------------------------------------------------------------

    def backoff(self, attempts: int) -> timedelta:
        seconds = self.settings.mssante_backoff_seconds * (2 ** max(0, attempts - 1))
        return timedelta(seconds=min(seconds, self.settings.mssante_backoff_max_seconds))

    async def _db(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(func, *args, **kwargs)

    # -- the pass -------------------------------------------------------------------------------

    async def run_once(self, *, max_rounds: int = 50) -> PassReport:
        report = PassReport()
        lease = timedelta(seconds=self.settings.mssante_sending_lease_seconds)
        expired = await self._db(self.store.expire_sending, lease)
        report.unknown += len(expired)
        await self.intake(report)
        for _ in range(max_rounds):
            before = (report.composed, report.sent, report.retried, report.failed, report.unknown)
            await self.compose_due(report)
            await self.deliver_due(report)
            if (report.composed, report.sent, report.retried, report.failed, report.unknown) == before:
                break
        await self.record(report)
        return report

    # -- 1. intake ------------------------------------------------------------------------------

    async def intake(self, report: PassReport) -> None:
        # One search parameter only, the category is checked below: the server (as of this writing) fails on
        # two ANDed token parameters, and status alone keeps the page small anyway.
        params = {"status": "preparation", "_count": "100"}
        pending = [c async for c in self.client.search_all("Communication", params, limit=1000)]
        for communication in pending:
            if not _is_coordination(communication) or not _email_medium(communication) or communication.get("partOf"):
                continue
            try:
                if await self.take_in(communication, claim=True):
                    report.taken_in += 1
            except (FhirResponseError, FhirUnavailable) as exc:
                report.errors.append(f"Communication/{communication.get('id')}: {exc}")
                log.warning("MSSanté: trigger Communication/%s not taken in: %s", communication.get("id"), exc)
        await self._recover_claimed(report)

    async def _recover_claimed(self, report: PassReport) -> None:
        """Triggers claimed by a worker that died before storing them: in-progress, no trigger row, stale."""
        params = {"status": "in-progress", "_count": "100"}
        limit = datetime.now(UTC) - timedelta(seconds=self.settings.mssante_claim_lease_seconds)
        async for communication in self.client.search_all("Communication", params, limit=1000):
            if communication.get("partOf") or not _is_coordination(communication) or not _email_medium(communication):
                continue
            updated = (communication.get("meta") or {}).get("lastUpdated")
            if not updated or datetime.fromisoformat(updated.replace("Z", "+00:00")) > limit:
                continue
            known = await self._db(self.store.trigger, trigger_key(communication))
            if known is None and await self.take_in(communication, claim=False):
                report.taken_in += 1

    async def take_in(self, communication: dict[str, Any], *, claim: bool) -> bool:
        key = trigger_key(communication)
        known = await self._db(self.store.trigger, key)
        if known is not None and known.communication_id != communication.get("id"):
            # The same trigger id on a second Communication: the messages went (or go) with the first one.
            await self._settle_duplicate(communication, known)
            return False
        if claim:
            claimed = dict(communication, status="in-progress")
            try:
                communication = await self.client.update("Communication", communication["id"], claimed,
                                                         if_match=_etag(communication))
            except FhirResponseError as exc:
                if exc.status in (409, 412):
                    return False  # another worker claimed it first
                raise
        if known is not None:
            return False
        snapshot, recipients = await self.reader.snapshot(communication, base=self.client.base_url)
        sender = self.settings.mssante_sender
        rows = [(ref, display_of(snapshot["resources"].get(ref)) or ref, message_id(key, ref, sender))
                for ref in recipients]
        created = await self._db(self.store.open_trigger, key, communication["id"],
                                 self.composer_kind(snapshot), snapshot, rows)
        log.info("MSSanté: trigger %s (Communication/%s) taken in, %d message(s)", key, communication["id"], created)
        return True

    @staticmethod
    def composer_kind(snapshot: dict[str, Any]) -> str:
        return trigger_kind(snapshot["communication"])

    async def _settle_duplicate(self, communication: dict[str, Any], known: S.TriggerRow) -> None:
        if communication.get("status") != "preparation":
            return
        body = dict(communication, status="not-done", statusReason={
            "coding": [{"system": STATUS_REASON, "code": "duplicate-trigger", "display": "Déclencheur déjà traité"}],
            "text": f"Déclencheur déjà traité par Communication/{known.communication_id} : aucun nouveau message."})
        try:
            await self.client.update("Communication", communication["id"], body, if_match=_etag(communication))
        except FhirResponseError as exc:
            if exc.status not in (409, 412):
                raise

    # -- 2. compose -----------------------------------------------------------------------------

    async def compose_due(self, report: PassReport) -> None:
        rows: list[S.OutboxRow] = await self._db(self.store.due, S.NEW, 200)
        triggers: dict[str, S.TriggerRow | None] = {}
        for row in rows:
            if row.trigger_key not in triggers:
                triggers[row.trigger_key] = await self._db(self.store.trigger, row.trigger_key)
            trigger = triggers[row.trigger_key]
            await self._compose_one(row, trigger, report)

    async def _compose_one(self, row: S.OutboxRow, trigger: S.TriggerRow | None, report: PassReport) -> None:
        snapshot = trigger.snapshot if trigger else None
        resources = (snapshot or {}).get("resources") or {}
        recipient = resources.get(row.recipient_ref)
        if snapshot is None or recipient is None:
            reason = f"destinataire {row.recipient_ref} introuvable dans le dossier FHIR"
            await self._db(self.store.failed, row.id, reason, from_status=(S.NEW,), attempted=False)
            report.failed += 1
            return
        try:
            resolution = await self.directory.resolve(
                recipient, practitioner=resources.get((recipient.get("practitioner") or {}).get("reference", "")),
                organization=resources.get((recipient.get("organization") or {}).get("reference", "")))
        except DirectoryUnavailable as exc:
            attempts = row.attempts + 1
            if attempts >= self.settings.mssante_max_attempts:
                await self._db(self.store.failed, row.id, f"{exc} ({attempts} tentatives)", from_status=(S.NEW,))
                report.failed += 1
            else:
                await self._db(self.store.retry, row.id, str(exc), datetime.now(UTC) + self.backoff(attempts),
                               from_status=(S.NEW,))
                report.retried += 1
            return
        except DirectoryError as exc:
            await self._db(self.store.failed, row.id, str(exc), from_status=(S.NEW,))
            report.failed += 1
            return
        if not resolution.address:
            reason = f"aucune adresse MSSanté pour {resolution.display or row.recipient_ref} : {resolution.reason}"
            await self._db(self.store.failed, row.id, reason, from_status=(S.NEW,), attempted=False)
            report.failed += 1
            return
        composed = await asyncio.to_thread(
            self.composer.compose, snapshot, recipient_ref=row.recipient_ref,
            recipient_name=resolution.display or row.recipient_name or "", address=resolution.address,
            message_id=row.message_id)
        details = {**composed.details, "address_source": resolution.source}
        await self._db(self.store.composed, row.id, address=resolution.address,
                       recipient_name=resolution.display or row.recipient_name or "", subject=composed.subject,
                       raw=composed.raw, details=details)
        report.composed += 1

    # -- 3. deliver -----------------------------------------------------------------------------

    async def deliver_due(self, report: PassReport) -> None:
        rows: list[S.OutboxRow] = await self._db(self.store.claim, self.worker_id, self.settings.mssante_batch_size)
        if not rows:
            return
        try:
            session = await self.transport.open()
        except ConnectionFailed as exc:
            # Not the messages' fault: they wait, uncharged, while the connection backs off.
            self._connect_failures += 1
            later = datetime.now(UTC) + self.backoff(self._connect_failures)
            for row in rows:
                await self._db(self.store.retry, row.id, str(exc), later, attempted=False)
            report.retried += len(rows)
            report.errors.append(str(exc))
            log.warning("MSSanté: %s (next try %s)", exc, later.isoformat(timespec="seconds"))
            return
        self._connect_failures = 0
        try:
            for index, row in enumerate(rows):
                if not session.alive:
                    # The connection died on an earlier message: the rest were never offered.
                    for left in rows[index:]:
                        await self._db(self.store.retry, left.id, "connexion perdue avant l'envoi de ce message",
                                       datetime.now(UTC), attempted=False)
                    break
                await self._deliver_one(session, row, report)
        finally:
            await session.close()

    async def _deliver_one(self, session: Any, row: S.OutboxRow, report: PassReport) -> None:
        assert row.raw is not None and row.address is not None
        outcome = await session.send(sender=self.settings.mssante_sender, recipient=row.address, raw=row.raw,
                                     envelope_id=row.message_id.strip("<>"))
        if outcome.verdict == "sent":
            await self._db(self.store.sent, row.id, outcome.reply)
            report.sent += 1
        elif outcome.verdict == "retry":
            attempts = row.attempts + 1
            if attempts >= self.settings.mssante_max_attempts:
                await self._db(self.store.failed, row.id, f"{outcome.error} ({attempts} tentatives, abandon)",
                               reply=outcome.reply or None)
                report.failed += 1
            else:
                await self._db(self.store.retry, row.id, outcome.error, datetime.now(UTC) + self.backoff(attempts),
                               reply=outcome.reply or None)
                report.retried += 1
        elif outcome.verdict == "failed":
            await self._db(self.store.failed, row.id, outcome.error, reply=outcome.reply or None)
            report.failed += 1
        else:
            await self._db(self.store.unknown, row.id, outcome.error)
            report.unknown += 1

    # -- 4. record in FHIR ----------------------------------------------------------------------

    async def record(self, report: PassReport) -> None:
        rows: list[S.OutboxRow] = await self._db(self.store.unsynced)
        triggers: dict[str, S.TriggerRow | None] = {}
        for row in rows:
            if row.trigger_key not in triggers:
                triggers[row.trigger_key] = await self._db(self.store.trigger, row.trigger_key)
            trigger = triggers[row.trigger_key]
            if trigger is None or not trigger.snapshot:
                continue
            try:
                await self._record_message(row, trigger)
            except (FhirResponseError, FhirUnavailable) as exc:
                report.errors.append(f"message {row.id}: {exc}")
                log.warning("MSSanté: outcome of message %s not recorded in FHIR yet: %s", row.id, exc)
        for trigger in await self._db(self.store.open_triggers):
            try:
                if await self._finish_trigger(trigger):
                    report.finished += 1
            except (FhirResponseError, FhirUnavailable) as exc:
                report.errors.append(f"trigger {trigger.key}: {exc}")

    def _child(self, row: S.OutboxRow, trigger: S.TriggerRow) -> dict[str, Any]:
        parent = trigger.snapshot["communication"]  # type: ignore[index]
        status = FHIR_STATUS[row.status]
        details = row.details or {}
        recipient = {"reference": row.recipient_ref}
        label = row.recipient_name or row.recipient_ref
        recipient["display"] = f"{label} <{row.address}>" if row.address else label
        child: dict[str, Any] = {
            "resourceType": "Communication",
            "meta": {"profile": [MESSAGE_PROFILE]},
            "identifier": [{"system": MESSAGE_ID_SYSTEM, "value": row.message_id}],
            "partOf": [{"reference": f"Communication/{trigger.communication_id}"}],
            "status": status,
            "category": parent.get("category") or [{"coding": [{"system": MESSAGE_CATEGORY, "code": "coordination"}]}],
            "medium": [{"coding": [{"system": PARTICIPATION_MODE, "code": "EMAILWRIT", "display": "email"}]}],
            "subject": parent.get("subject"),
            "recipient": [recipient],
            "sender": {"display": f"{self.settings.mssante_sender_name} <{self.settings.mssante_sender}>"},
            "payload": [{"contentString": (row.subject or details.get("title") or "Message MSSanté")[:2000]}],
        }
        for key in ("about", "basedOn", "reasonCode", "topic", "encounter"):
            if parent.get(key):
                child[key] = parent[key]
        if not child["subject"]:  # a hand-made trigger without subject: the profile would refuse the record
            child.pop("subject")
            child.pop("meta")
        if details.get("zip_size"):
            child["payload"].append({"contentAttachment": {
                "contentType": "application/zip", "title": "IHE_XDM.ZIP", "size": details["zip_size"],
                "url": f"urn:oid:{details.get('submission_set_id', '')}"}})
        if details.get("cda_size"):
            child["payload"].append({"contentAttachment": {
                "contentType": "text/xml", "title": details.get("title", "Document CDA R2"),
                "size": details["cda_size"], "url": f"urn:oid:{details.get('document_id', '')}"}})
        notes = []
        if row.sent_at:
            child["sent"] = row.sent_at.isoformat()
        if row.smtp_reply:
            notes.append(f"Réponse du relais : {row.smtp_reply}")
        if row.status != S.SENT and row.last_error:
            child["statusReason"] = {"coding": [{"system": STATUS_REASON, "code": self._reason_code(row)}],
                                     "text": row.last_error[:1000]}
        if row.attempts:
            notes.append(f"Tentatives : {row.attempts}")
        if notes:
            child["note"] = [{"text": n} for n in notes]
        return child

    @staticmethod
    def _reason_code(row: S.OutboxRow) -> str:
        if row.status == S.UNKNOWN:
            return "delivery-uncertain"
        if row.status == S.READY:
            return "delivery-pending"
        if row.address is None:
            return "no-mssante-address"
        return "delivery-refused"

    def _task(self, row: S.OutboxRow, trigger: S.TriggerRow) -> dict[str, Any]:
        snapshot = trigger.snapshot or {}
        parent = snapshot.get("communication") or {}
        hospital = snapshot.get("hospital") or {}
        label = row.recipient_name or row.recipient_ref
        task: dict[str, Any] = {
            "resourceType": "Task",
            "identifier": [{"system": MESSAGE_ID_SYSTEM, "value": row.message_id}],
            "status": "requested", "intent": "order", "priority": "routine",
            "code": {"coding": [{"system": TASK_SYSTEM, "code": "mssante-address-missing",
                                 "display": "Adresse MSSanté manquante"}],
                     "text": "Transmettre le message Onco'Link par un autre moyen"},
            "description": (f"Le message Onco'Link destiné à {label} n'a pas pu être envoyé par messagerie "
                            f"sécurisée : {row.last_error or 'adresse MSSanté introuvable'}. Contacter le "
                            "destinataire par un autre moyen et faire compléter son adresse dans l'annuaire santé."),
            "focus": {"reference": f"Communication/{trigger.communication_id}"},
            "authoredOn": datetime.now(UTC).isoformat(timespec="seconds"),
            "reasonCode": {"text": row.last_error or "adresse MSSanté introuvable"},
        }
        if parent.get("subject"):
            task["for"] = parent["subject"]
        if hospital.get("id"):
            task["owner"] = {"reference": f"Organization/{hospital['id']}", "display": hospital.get("name", "")}
        return task

    async def _record_message(self, row: S.OutboxRow, trigger: S.TriggerRow) -> None:
        child = self._child(row, trigger)
        query = "identifier=" + quote(f"{MESSAGE_ID_SYSTEM}|{row.message_id}", safe="|")
        child_url = f"urn:uuid:{uuid.uuid4()}"
        entries: list[dict[str, Any]] = [{"fullUrl": child_url, "resource": child,
                                          "request": {"method": "PUT", "url": f"Communication?{query}"}}]
        targets = [{"reference": child_url}]
        if row.status == S.FAILED and row.address is None:
            task_url = f"urn:uuid:{uuid.uuid4()}"
            entries.append({"fullUrl": task_url, "resource": self._task(row, trigger),
                            "request": {"method": "POST", "url": "Task", "ifNoneExist": query}})
        provenance = {"resourceType": "Provenance", "target": targets,
                      "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
                      "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                               "code": "UPDATE" if row.child_id else "CREATE"}]},
                      "agent": [{"who": AGENT}]}
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": provenance,
                        "request": {"method": "POST", "url": "Provenance"}})
        response = await self.client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
        child_id = _location_id(response, 0) or row.child_id or ""
        await self._db(self.store.synced, row.id, row.status, child_id)

    async def _finish_trigger(self, trigger: S.TriggerRow) -> bool:
        rows: list[S.OutboxRow] = await self._db(self.store.for_trigger, trigger.key)
        if any(r.status not in S.TERMINAL or r.fhir_status != r.status for r in rows):
            return False
        sent = [r for r in rows if r.status == S.SENT]
        problems = [r for r in rows if r.status != S.SENT]
        status = "completed" if rows and not problems else "entered-in-error"
        for _ in range(3):
            try:
                current = await self.client.read("Communication", trigger.communication_id)
            except FhirResponseError as exc:
                if exc.status in (404, 410):
                    await self._db(self.store.finish_trigger, trigger.key, "deleted")
                    return True
                raise
            body = dict(current, status=status)
            body["medium"] = current.get("medium") or [
                {"coding": [{"system": PARTICIPATION_MODE, "code": "EMAILWRIT", "display": "email"}]}]
            if sent:
                body["sent"] = min(r.sent_at for r in sent if r.sent_at).isoformat()  # type: ignore[type-var]
            notes = [{"text": f"{r.recipient_name or r.recipient_ref} <{r.address or 'sans adresse'}> : "
                              f"{ {'sent': 'envoyé', 'failed': 'échec', 'unknown': 'remise incertaine'}[r.status] }"
                              f"{' — ' + r.last_error if r.last_error and r.status != S.SENT else ''}"} for r in rows]
            body["note"] = [n for n in current.get("note") or [] if not str(n.get("text", "")).startswith("MSSanté")]
            body["note"] += [{"text": "MSSanté — " + n["text"]} for n in notes]
            if problems or not rows:
                reason = "aucun destinataire dans l'équipe de soins" if not rows else \
                    f"{len(problems)} message(s) sur {len(rows)} non remis"
                body["statusReason"] = {"coding": [{"system": STATUS_REASON, "code": "delivery-incomplete"}],
                                        "text": reason}
            else:
                body.pop("statusReason", None)
            try:
                await self.client.update("Communication", trigger.communication_id, body, if_match=_etag(current))
            except FhirResponseError as exc:
                if exc.status in (409, 412):
                    continue  # someone edited it meanwhile: read again
                raise
            await self._db(self.store.finish_trigger, trigger.key, status)
            return True
        return False
