"""One message in, one ACK out: journal → parse → map → FHIR transaction → outcome → ACK.

Shared by the MLLP listener, `POST /hl7v2` and `oncolink hl7 replay`. The ACK code follows what the
server did: AA only after the transaction committed (HTTP 200), AE with ERR for content the server or
the maps refuse (4xx, missing/invalid fields, unknown order), AR for messages we do not take. Server
failures (5xx, unreachable) are retried, then answered AE and dead-lettered for replay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.fhir_client import FhirClient, FhirResponseError, FhirUnavailable

from . import ack, audit, journal
from .combine import Claims, claims, combine
from .er7 import Message, encode, parse_bytes
from .errors import (
    DATA_TYPE_ERROR,
    INTERNAL_ERROR,
    RECORD_LOCKED,
    UNKNOWN_KEY,
    UNSUPPORTED_EVENT_CODE,
    UNSUPPORTED_MESSAGE_TYPE,
    UNSUPPORTED_VERSION,
    ContentError,
    Location,
    MessageError,
    Problem,
    Rejected,
)
from .grouping import GroupQueue
from .journal import Journal
from .maps import Mappings
from .merge import build_merge
from .transform import BUILDERS, Builder, Plan, SharedResources, lock_keys

log = logging.getLogger(__name__)
_ENTRY = re.compile(r"Bundle\.entry\[(\d+)\]")
MERGE_ATTEMPTS = 3


@dataclass
class Outcome:
    """What happened to one message (the ACK bytes are what the sender gets)."""

    ack: bytes
    code: str
    journal_id: int | None
    status: str
    problems: list[Problem] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def ack_text(self) -> str:
        return self.ack.decode("iso-8859-1")


class TransactionRefused(Exception):
    """The server refused a plan: its error and the plan, to place the error on a segment."""

    def __init__(self, error: FhirResponseError, plan: Plan) -> None:
        super().__init__(str(error))
        self.error = error
        self.plan = plan


@dataclass(eq=False)
class Pending:
    """A message between its arrival and its ACK: parsed, checked and planned on arrival (nothing of
    that reads the database), journaled and committed with its group."""

    raw: bytes
    transport: str
    peer: str
    header: ack.Header
    message: Message | None = None
    plan: Plan | None = None
    # Why the message is answered without writing anything (framing, type, content).
    error: Exception | None = None
    journal_id: int | None = None
    claims: Claims = field(default_factory=dict)
    # Planned against the database (a merge): commits alone, after what arrived before it.
    solo: bool = False

    def received(self) -> journal.Received:
        message = self.message
        return journal.Received(self.raw, self.transport, self.peer,
                                message.charset if message else self.header.charset,
                                message.control_id if message else self.header.control_id,
                                message.type_name if message else "?")


class Processor:
    def __init__(self, client: FhirClient, mappings: Mappings, journal_: Journal, *, default_charset: str = "",
                 provenance: bool = True, retries: int = 2, application: str = "ONCOLINK",
                 group_max_messages: int = 50, group_max_wait: float = 0.0) -> None:
        self.client = client
        self.mappings = mappings
        self.journal = journal_
        self.default_charset = default_charset
        self.provenance = provenance
        self.retries = retries
        self.application = application
        self.shared = SharedResources()
        self.queue: GroupQueue[Pending, Outcome] = GroupQueue(self._commit, max_size=group_max_messages,
                                                              max_wait=group_max_wait)

    @classmethod
    def create(cls, client: FhirClient, mappings_dir: Path, journal_: Journal, **options: Any) -> Processor:
        return cls(client, Mappings.load(mappings_dir), journal_, **options)

    # -- entry point --------------------------------------------------------------------------------

    async def process(self, raw: bytes, *, transport: str, peer: str, journal_id: int | None = None) -> Outcome:
        """Process one message. Never raises for anything the message or the server did."""
        return await self.queue.submit(self._prepare(raw, transport, peer, journal_id))

    async def replay(self, entry: journal.JournalEntry) -> Outcome:
        return await self.process(entry.raw, transport=entry.transport, peer=entry.peer, journal_id=entry.id)

    async def close(self) -> None:
        await self.queue.close()

    def _prepare(self, raw: bytes, transport: str, peer: str, journal_id: int | None) -> Pending:
        try:
            message = parse_bytes(raw, self.default_charset)
        except Rejected as exc:
            return Pending(raw, transport, peer, ack.Header.salvage(raw), error=exc, journal_id=journal_id)
        header = ack.Header.of(message)
        if not header.receiving_application:
            header = dataclasses.replace(header, receiving_application=self.application)
        item = Pending(raw, transport, peer, header, message, journal_id=journal_id)
        keys = lock_keys(message)
        try:
            spec_check(self.mappings, message)
            builder = self._builder(message)
            if builder.spec.kind == "merge":
                item.solo = True
            else:
                item.plan = BUILDERS[builder.spec.kind](builder)
        except MessageError as exc:
            item.error = exc
        except Exception as exc:  # a bug of ours: answer, journal, keep the listener alive
            log.exception("DPI: unexpected failure on message %s", message.control_id)
            item.error = exc
        item.claims = claims(item.plan, keys) if item.plan is not None else dict.fromkeys(keys)
        return item

    # -- a group ------------------------------------------------------------------------------------

    async def _commit(self, group: list[Pending]) -> list[Outcome]:
        """Journal the group's messages (one INSERT), commit their plans in one transaction, record the
        outcomes (one UPDATE), answer. A group the server refuses is run again one message at a time, so
        that each message gets its own ACK and one bad message does not fail the others."""
        fresh = [p for p in group if p.journal_id is None]
        if fresh:
            ids = await asyncio.to_thread(self.journal.received_many, [p.received() for p in fresh])
            for item, entry in zip(fresh, ids, strict=True):
                item.journal_id = entry
        planned = [p for p in group if p.plan is not None]
        outcomes: dict[Pending, Outcome] = {}
        if len(planned) > 1:
            together = await self._together(planned)
            if together:
                await asyncio.to_thread(self.journal.finish_many, [finished for _, finished in together.values()])
                outcomes = {item: outcome for item, (outcome, _) in together.items()}
        for item in group:
            if item not in outcomes:
                outcomes[item] = await (self._refuse(item, item.error) if item.error is not None
                                        else self._alone(item))
        return [outcomes[item] for item in group]

    async def _together(self, planned: list[Pending]) -> dict[Pending, tuple[Outcome, journal.Finished]]:
        """The plans of a group in one transaction; empty when the server refused it."""
        plans = [p.plan for p in planned if p.plan is not None]
        combined = combine(plans)
        try:
            response = await self.client.transaction(combined.bundle)
        except (FhirResponseError, FhirUnavailable) as exc:
            log.info("DPI: a group of %d messages was refused (%s); each goes alone", len(planned), exc)
            return {}
        except Exception:
            log.exception("DPI: a group of %d messages failed; each goes alone", len(planned))
            return {}
        entries = response.get("entry", [])
        for plan in plans:
            self.shared.remember(plan.shared_written)
        return {item: self._accepted(item, plan, [entries[i] for i in positions])
                for item, plan, positions in zip(planned, plans, combined.positions, strict=True)}

    async def _alone(self, item: Pending) -> Outcome:
        """One message in its own transaction (a merge, a group of one, or the fallback of a group)."""
        assert item.message is not None
        try:
            plan, response = await self._apply(item.message, item.plan)
        except (MessageError, TransactionRefused, FhirResponseError, FhirUnavailable) as exc:
            return await self._refuse(item, exc)
        except Exception as exc:  # a bug of ours: answer, journal, keep the listener alive
            log.exception("DPI: unexpected failure on message %s (journal %s)", item.message.control_id,
                          item.journal_id)
            return await self._refuse(item, exc)
        outcome, finished = self._accepted(item, plan, response.get("entry", []))
        await asyncio.to_thread(self.journal.finish_many, [finished])
        return outcome

    def _accepted(self, item: Pending, plan: Plan, entries: list[dict[str, Any]]) -> tuple[Outcome, journal.Finished]:
        assert item.message is not None and item.journal_id is not None
        resources = [location for e in entries if (location := e.get("response", {}).get("location", ""))]
        if plan.unmapped:
            log.warning("DPI: message %s (%s): segments not mapped and not listed as ignored: %s",
                        item.message.control_id, item.message.type_name, ", ".join(plan.unmapped))
        text = ack.build(item.header, "AA")
        outcome = Outcome(_encode(text, item.message.charset), "AA", item.journal_id, journal.ACCEPTED,
                          resources=resources, unmapped=plan.unmapped, summary=plan.summary)
        return outcome, journal.Finished(item.journal_id, journal.ACCEPTED, "AA", resources=resources,
                                         unmapped=plan.unmapped, summary=plan.summary)

    async def _audit_refusal(self, header: ack.Header, code: str, reason: str, message: Message | None,
                             message_type: str | None, origin: tuple[str, str]) -> None:
        """Record a message that wrote nothing; the ACK goes out even when the server cannot take it
        (the journal keeps the message and its error either way)."""
        event = audit.refused_message(
            control_id=header.control_id, message_type=message.type_name if message else (message_type or "?"),
            sender=header.sending_application, transport=origin[0], peer=origin[1], ack_code=code,
            reason=reason, observer=self.application)
        try:
            await self.client.create("AuditEvent", event)
        except (FhirResponseError, FhirUnavailable) as exc:
            log.warning("DPI: refusal of message %s not audited: %s", header.control_id, exc)

    # -- steps ------------------------------------------------------------------------------------------

    def _builder(self, message: Message) -> Builder:
        spec = self.mappings.messages[message.type_name]
        return Builder(message, self.mappings, spec, self.shared, self.provenance)

    async def _plan(self, message: Message) -> Plan:
        builder = self._builder(message)
        if builder.spec.kind == "merge":
            return await build_merge(builder, self.client)
        return BUILDERS[builder.spec.kind](builder)

    async def _apply(self, message: Message, plan: Plan | None = None) -> tuple[Plan, dict[str, Any]]:
        """Commit `plan` (planned afresh when None, and at every retry)."""
        attempts = 0
        stale_cache_retried = False
        while True:
            plan = plan or await self._plan(message)
            try:
                response = await self.client.transaction(plan.bundle)
            except FhirResponseError as exc:
                if exc.status == 412 and not stale_cache_retried and _mentions_shared(exc):
                    # A Practitioner/Medication we remembered is gone or changed: rewrite it in full.
                    self.shared.forget()
                    stale_cache_retried, plan = True, None
                    continue
                if exc.status in (409, 412) and attempts < MERGE_ATTEMPTS and plan.kind == "merge":
                    attempts, plan = attempts + 1, None
                    continue
                if exc.status >= 500 and attempts < self.retries:
                    attempts, plan = attempts + 1, None
                    await asyncio.sleep(0.2 * attempts)
                    continue
                raise TransactionRefused(exc, plan) from exc
            except FhirUnavailable:
                if attempts < self.retries:
                    attempts, plan = attempts + 1, None
                    await asyncio.sleep(0.5 * attempts)
                    continue
                raise
            self.shared.remember(plan.shared_written)
            return plan, response

    async def _refuse(self, item: Pending, exc: Exception) -> Outcome:
        """The ACK of a message that wrote nothing, journaled (dead-lettered) and audited."""
        assert item.journal_id is not None
        header, message = item.header, item.message
        message_type = None if message is not None else "?"
        if isinstance(exc, MessageError):
            code, problems = exc.ack_code, exc.problems
            status = journal.REJECTED if code == "AR" else journal.ERROR
        elif isinstance(exc, TransactionRefused):
            code, problems, status = server_problems(exc.error, exc.plan)
        elif isinstance(exc, FhirResponseError):
            code, problems, status = server_problems(exc, None)
        elif isinstance(exc, FhirUnavailable):
            code, status = "AE", journal.FAILED
            problems = [Problem(INTERNAL_ERROR, f"the FHIR server is unavailable ({exc}); resend later")]
        else:
            code, status = "AE", journal.FAILED
            problems = [Problem(INTERNAL_ERROR, f"internal error ({type(exc).__name__}); the message is kept "
                                "for replay")]
        reason = "; ".join(f"{p.location}: {p.text}" if p.location else p.text for p in problems)
        if status != journal.REJECTED:
            log.info("DPI: message %s answered %s: %s", header.control_id, code, reason)
        await asyncio.to_thread(self.journal.finish, item.journal_id, status=status, ack_code=code, error=reason,
                                message_type=message_type)
        await self._audit_refusal(header, code, reason, message, message_type, (item.transport, item.peer))
        text = ack.build(header, code, problems)
        charset = message.charset if message is not None else ""
        return Outcome(_encode(text, charset or header.charset), code, item.journal_id, status, problems)


def spec_check(mappings: Mappings, message: Message) -> None:
    """AR for what we do not take: unknown message types or events, non-2.x versions."""
    version = message.version
    if version and not version.startswith("2."):
        raise Rejected(Problem(UNSUPPORTED_VERSION, f"HL7 version {version!r} is not supported (2.x only)",
                               Location("MSH", 1, 12)))
    if message.type_name in mappings.messages:
        return
    accepted = ", ".join(sorted(mappings.messages))
    known_codes = {name.split("^")[0] for name in mappings.messages}
    if message.message_code in known_codes:
        raise Rejected(Problem(UNSUPPORTED_EVENT_CODE, f"event {message.trigger!r} of {message.message_code} is not "
                               f"processed here (accepted: {accepted})", Location("MSH", 1, 9, None, 2)))
    raise Rejected(Problem(UNSUPPORTED_MESSAGE_TYPE, f"message type {message.type_name!r} is not processed here "
                           f"(accepted: {accepted})", Location("MSH", 1, 9)))


def _mentions_shared(exc: FhirResponseError) -> bool:
    return any(word in exc.diagnostics for word in ("Practitioner?", "Medication?"))


def server_problems(exc: FhirResponseError, plan: Plan | None) -> tuple[str, list[Problem], str]:
    """Turn the server's OperationOutcome into ERR problems placed on the segment that caused them."""
    if exc.status >= 500:
        return "AE", [Problem(INTERNAL_ERROR, f"the FHIR server failed ({exc.status}): {exc.diagnostics}")], \
            journal.FAILED
    code = {404: UNKNOWN_KEY, 409: RECORD_LOCKED, 410: UNKNOWN_KEY}.get(exc.status, DATA_TYPE_ERROR)
    problems = []
    issues = exc.issues or [{"diagnostics": exc.diagnostics}]
    for issue in issues:
        if issue.get("severity") in ("information", "warning"):
            continue
        diagnostics = str(issue.get("diagnostics") or issue.get("code") or exc.diagnostics)
        location = _locate(issue, diagnostics, plan)
        issue_code = code
        if exc.status == 412 and ("matches 0" in diagnostics or "No " in diagnostics):
            issue_code = UNKNOWN_KEY
        elif exc.status == 412:
            issue_code = RECORD_LOCKED if "If-Match" in diagnostics else UNKNOWN_KEY
        problems.append(Problem(issue_code, _french_unknown(diagnostics, issue_code, location), location))
    if not problems:
        problems = [Problem(code, exc.diagnostics)]
    return "AE", problems, journal.ERROR


def _french_unknown(diagnostics: str, code: str, location: Location | None) -> str:
    if code == UNKNOWN_KEY and location is not None and location.segment == "ORC":
        return f"unknown order (no prescription with this number was received before): {diagnostics}"
    return diagnostics


def _locate(issue: dict[str, Any], diagnostics: str, plan: Plan | None) -> Location | None:
    if plan is None:
        return None
    for key, location in sorted(plan.origins.items(), key=lambda kv: -len(kv[0])):
        if key in diagnostics:
            return location
    for text in [*(issue.get("expression") or []), diagnostics]:
        match = _ENTRY.search(text)
        if match and int(match.group(1)) < len(plan.entry_origins):
            return plan.entry_origins[int(match.group(1))]
    return None


def _encode(text: str, charset: str) -> bytes:
    return encode(text, charset)


__all__ = ["ContentError", "Outcome", "Processor"]
