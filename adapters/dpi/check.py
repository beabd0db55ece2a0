"""Dry run of the adapter for interface teams: what a message would do, without doing it.

The check runs the very parser, maps and builders the listener runs, then asks the server — through
the same FhirClient, so a remote server works too — what it thinks: `$validate` for each resource
(base R4, then the profiles the server's CapabilityStatement lists for the type) and a count search for
each conditional URL, to tell a create from an update. Only reads and `$validate`: no journal row,
no transaction. Server issues are placed back on the segment and field whose map rule wrote the
offending element, so a team fixes the feed, not the FHIR.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from adapters.fhir_client import FhirClient, FhirResponseError, FhirUnavailable

from .datatypes import Rule
from .er7 import Message, Segment, normalise_segments, parse_bytes
from .errors import (
    DATA_TYPE_ERROR,
    DUPLICATE_KEY,
    INTERNAL_ERROR,
    UNKNOWN_KEY,
    Location,
    MessageError,
    Problem,
)
from .maps import Mappings
from .merge import build_merge
from .processor import spec_check
from .transform import BUILDERS, Builder, Plan

# Fields the builders read themselves (control, keys, delimiters), besides those with map rules.
STRUCTURAL_FIELDS: dict[str, frozenset[int]] = {
    "MSH": frozenset({1, 2, 3, 4, 9, 10, 12, 18}),
    "PID": frozenset({3}),
    "ORC": frozenset({1, 2, 3, 5, 16}),
    "MRG": frozenset({1}),
    "ZBE": frozenset({4}),
    "RXD": frozenset({1}),
}
_INDEX = re.compile(r"\[[^\]]*\]")
_ERROR = ("error", "fatal")


@dataclass
class Finding:
    """One error or warning, where it comes from and where in the message it points."""

    severity: str  # error | warning
    source: str  # message (parse, maps), server (what the server would refuse), profile (our profiles)
    text: str
    location: Location | None = None
    code: str = ""
    expression: str = ""

    def as_dict(self) -> dict[str, Any]:
        where = self.location
        return {
            "severity": self.severity, "source": self.source, "code": self.code, "text": self.text,
            "position": str(where) if where else None,
            "segment": where.segment if where else None, "sequence": where.sequence if where else None,
            "field": where.field if where else None, "component": where.component if where else None,
            "expression": self.expression or None,
        }


@dataclass
class Action:
    """One entry of the transaction the message would submit."""

    action: str  # create, update, create-if-absent, unchanged, patch, refused
    method: str
    url: str
    resource_type: str
    matches: int | None
    position: str | None
    resource: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "method": self.method, "url": self.url, "resourceType": self.resource_type,
                "matches": self.matches, "position": self.position, "resource": self.resource}


@dataclass
class SegmentUse:
    position: str
    status: str  # used, ignored, unmapped
    fields_used: list[int] = field(default_factory=list)
    fields_ignored: list[int] = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"segment": self.position, "status": self.status, "fields_used": self.fields_used,
                "fields_ignored": self.fields_ignored, "reason": self.reason or None}


@dataclass
class MessageReport:
    source: str
    index: int
    control_id: str = ""
    message_type: str = ""
    predicted_ack: str = "AA"
    summary: str = ""
    actions: list[Action] = field(default_factory=list)
    segments: list[SegmentUse] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "index": self.index, "control_id": self.control_id, "type": self.message_type,
            "ack": self.predicted_ack, "summary": self.summary, "valid": not self.errors,
            "actions": [a.as_dict() for a in self.actions], "segments": [s.as_dict() for s in self.segments],
            "errors": [f.as_dict() for f in self.errors], "warnings": [f.as_dict() for f in self.warnings],
        }


def report_dict(reports: list[MessageReport]) -> dict[str, Any]:
    errors = sum(len(r.errors) for r in reports)
    return {"valid": errors == 0, "messages": len(reports), "errors": errors,
            "warnings": sum(len(r.warnings) for r in reports), "results": [r.as_dict() for r in reports]}


def split_messages(raw: bytes) -> list[bytes]:
    """A file may hold several messages (interface exports): cut before each MSH, drop MLLP framing."""
    cleaned = normalise_segments(raw.replace(b"\x0b", b"").replace(b"\x1c", b""))
    parts = re.split(rb"\r(?=MSH)", cleaned)
    return [p.strip(b"\r") + b"\r" for p in parts if p.strip(b"\r \t")]


class _RecordingBuilder(Builder):
    """A Builder that remembers which segment filled which resource type, to list used fields and to
    trace a server issue back to the rule that wrote the element."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.applied: list[tuple[Segment, str]] = []

    def apply(self, segment: Segment, res_type: str, resource: dict[str, Any], occurrence: int = 0) -> None:
        self.applied.append((segment, res_type))
        super().apply(segment, res_type, resource, occurrence)


class Checker:
    """Checks messages against one server; profiles per type are read once from its CapabilityStatement."""

    def __init__(self, client: FhirClient, mappings: Mappings, *, default_charset: str = "",
                 profiles: bool = True) -> None:
        self.client = client
        self.mappings = mappings
        self.default_charset = default_charset
        self.use_profiles = profiles
        self._profiles: dict[str, list[str]] | None = None

    async def check_bytes(self, raw: bytes, source: str) -> list[MessageReport]:
        return [await self.check_one(part, source, n) for n, part in enumerate(split_messages(raw), 1)]

    async def check_one(self, raw: bytes, source: str, index: int = 1) -> MessageReport:
        report = MessageReport(source, index)
        try:
            message = parse_bytes(raw, self.default_charset)
        except MessageError as exc:
            return _refused(report, exc)
        report.control_id, report.message_type = message.control_id, message.type_name
        try:
            spec_check(self.mappings, message)
            builder = _RecordingBuilder(message, self.mappings, self.mappings.messages[message.type_name])
            plan = await self._plan(builder)
        except MessageError as exc:
            report.segments = _segment_uses(message, self.mappings, None)
            return _refused(report, exc)
        except (FhirResponseError, FhirUnavailable) as exc:
            report.findings.append(Finding("error", "server", f"the FHIR server could not be read: {exc}",
                                           code=INTERNAL_ERROR))
            report.predicted_ack = "AE"
            return report
        report.summary = plan.summary
        report.segments = _segment_uses(message, self.mappings, builder)
        try:
            await self._entries(report, plan, builder)
        except (FhirResponseError, FhirUnavailable) as exc:
            report.findings.append(Finding("error", "server", f"the FHIR server could not answer: {exc}",
                                           code=INTERNAL_ERROR))
        if any(f.source in ("server", "message") for f in report.errors):
            report.predicted_ack = "AE"
        return report

    async def _plan(self, builder: Builder) -> Plan:
        if builder.spec.kind == "merge":
            return await build_merge(builder, self.client)
        return BUILDERS[builder.spec.kind](builder)

    async def profiles(self) -> dict[str, list[str]]:
        if self._profiles is None:
            found: dict[str, list[str]] = {}
            if self.use_profiles:
                statement = await self.client.metadata()
                for rest in statement.get("rest") or []:
                    for entry in rest.get("resource") or []:
                        found.setdefault(entry.get("type", ""), []).extend(entry.get("supportedProfile") or [])
            self._profiles = found
        return self._profiles

    async def _entries(self, report: MessageReport, plan: Plan, builder: _RecordingBuilder) -> None:
        entries = plan.bundle.get("entry") or []
        types = {e["fullUrl"]: (e.get("resource") or {}).get("resourceType", "") for e in entries}
        for position, entry in enumerate(entries):
            request, resource = entry["request"], entry.get("resource") or {}
            origin = plan.entry_origins[position] if position < len(plan.entry_origins) else None
            method, url = request["method"], request["url"]
            res_type = url.split("?", 1)[0].split("/", 1)[0]
            query = request.get("ifNoneExist") or (url.split("?", 1)[1] if "?" in url else None)
            if query:
                matches: int | None = await self._count(res_type, query)
            elif method == "PUT":
                matches = await self._exists(res_type, url.split("/", 1)[1])
            else:
                matches = None
            action = _action(method, query, matches)
            if method == "POST" and query:
                url = f"{res_type}?{query}"
            if action == "refused":
                code = UNKNOWN_KEY if not matches else DUPLICATE_KEY
                text = (f"no {res_type} matches {query}: the server would refuse this change"
                        if not matches else f"{matches} {res_type} resources match {query}; one is expected")
                if res_type == "MedicationRequest" and not matches:
                    text = f"unknown order (no prescription with this number was received before): {query}"
                report.findings.append(Finding("error", "server", text, origin, code))
            body = None if method == "PATCH" else resource
            report.actions.append(Action(action, method, url, res_type, matches, str(origin) if origin else None, body))
            if method != "PATCH" and resource:
                await self._validate(report, resource, types, builder, origin)

    async def _count(self, res_type: str, query: str) -> int:
        params = dict(parse_qsl(query, keep_blank_values=True))
        params["_summary"] = "count"
        found = await self.client.search(res_type, params)
        return int(found.get("total") or 0)

    async def _exists(self, res_type: str, res_id: str) -> int:
        try:
            await self.client.read(res_type, res_id)
        except FhirResponseError as exc:
            if exc.status in (404, 410):
                return 0
            raise
        return 1

    async def _validate(self, report: MessageReport, resource: dict[str, Any], types: dict[str, str],
                        builder: _RecordingBuilder, origin: Location | None) -> None:
        res_type = resource["resourceType"]
        body = _resolvable(resource, types)
        runs: list[tuple[str, str | None]] = [("server", None)]
        runs += [("profile", url) for url in (await self.profiles()).get(res_type, [])]
        seen: set[tuple[str, str]] = set()
        for source, profile in runs:
            for issue in await self._validate_once(res_type, body, profile):
                severity = "error" if issue.get("severity") in _ERROR else issue.get("severity")
                if severity not in ("error", "warning"):
                    continue
                expression = ", ".join(issue.get("expression") or issue.get("location") or [])
                text = str(issue.get("diagnostics") or issue.get("details", {}).get("text") or issue.get("code"))
                if (severity, text) in seen:  # base issues come again with each profile
                    continue
                seen.add((severity, text))
                where = _locate(expression, res_type, builder, origin)
                if profile:
                    text = f"{text} [{profile.rsplit('/', 1)[-1]}]"
                report.findings.append(Finding(severity, source, text, where, DATA_TYPE_ERROR, expression))

    async def _validate_once(self, res_type: str, resource: dict[str, Any], profile: str | None
                             ) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = [{"name": "resource", "resource": resource}]
        if profile:
            parameters.append({"name": "profile", "valueUri": profile})
        body = {"resourceType": "Parameters", "parameter": parameters}
        outcome = await self.client.validate(res_type, body)
        return list(outcome.get("issue") or [])


def _refused(report: MessageReport, exc: MessageError) -> MessageReport:
    report.predicted_ack = exc.ack_code
    report.findings.extend(_from_problem(p) for p in exc.problems)
    return report


def _from_problem(problem: Problem) -> Finding:
    severity = {"W": "warning", "I": "information"}.get(problem.severity, "error")
    return Finding(severity, "message", problem.text, problem.location, problem.code)


def _action(method: str, query: str | None, matches: int | None) -> str:
    if method == "PATCH":
        return "patch" if matches == 1 else "refused"
    if method == "POST" and query:
        return "create" if not matches else "unchanged" if matches == 1 else "refused"
    if method == "PUT" and query:
        return "create" if not matches else "update" if matches == 1 else "refused"
    if method == "PUT":
        return "update" if matches else "create"
    return "create"


def _resolvable(resource: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """References as the server will see them after the transaction: `urn:uuid:` entries and
    conditional references become literal ones, so `$validate` checks their target types."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "reference" and isinstance(value, str):
                    if value in types:
                        value = f"{types[value]}/dry-run"
                    elif "?" in value and "/" not in value.split("?", 1)[0]:
                        value = value.split("?", 1)[0] + "/dry-run"
                out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(copy.deepcopy(resource))


def _rule_path(rule: Rule) -> str:
    return ".".join(_INDEX.sub("", step) for step in rule.path.split("."))


def _locate(expression: str, res_type: str, builder: _RecordingBuilder, origin: Location | None) -> Location | None:
    """The segment field whose rule wrote the element an issue names; else the entry's segment."""
    first = expression.split(",", 1)[0].strip()
    if not first.startswith(res_type + "."):
        return origin
    element = _INDEX.sub("", first[len(res_type) + 1:])
    anchor = _segment_index(builder.message, origin)
    best: tuple[int, int, Location] | None = None
    for segment, applied_type in builder.applied:
        if applied_type != res_type:
            continue
        for rule in builder.mappings.rules.get((segment.name, res_type), ()):
            path = _rule_path(rule)
            if element != path and not element.startswith(path + ".") and not path.startswith(element + "."):
                continue
            if not segment.has(rule.field):
                continue
            distance = segment.index - anchor if segment.index >= anchor else 1000 + anchor - segment.index
            score = (-len(path), distance)
            if best is None or score < best[:2]:
                best = (*score, segment.location(rule.field, rule.component))
    return best[2] if best else origin


def _segment_index(message: Message, location: Location | None) -> int:
    if location is None:
        return 0
    found = message.all(location.segment)
    return found[location.sequence - 1].index if len(found) >= location.sequence else 0


def _present(segment: Segment) -> list[int]:
    return [n for n in range(1, len(segment.fields)) if segment.has(n)]


def _segment_uses(message: Message, mappings: Mappings, builder: _RecordingBuilder | None) -> list[SegmentUse]:
    ignored = dict(mappings.ignored)
    spec = mappings.messages.get(message.type_name)
    if spec is not None:
        ignored.update(spec.options.get("ignored_segments", {}))
    applied: dict[int, set[str]] = {}
    for segment, res_type in builder.applied if builder else []:
        applied.setdefault(segment.index, set()).add(res_type)
    uses = []
    for segment in message.segments:
        position = f"{segment.name}[{segment.sequence}]"
        present = _present(segment)
        if builder is not None and segment.index in builder.consumed:
            mapped = {rule.field for res_type in applied.get(segment.index, ())
                      for rule in mappings.rules.get((segment.name, res_type), ())}
            used = set(STRUCTURAL_FIELDS.get(segment.name, ())) | mapped
            uses.append(SegmentUse(position, "used", [n for n in present if n in used],
                                   [n for n in present if n not in used]))
        elif segment.name in ignored:
            uses.append(SegmentUse(position, "ignored", [], present, ignored[segment.name]))
        else:
            reason = "neither mapped nor listed in ignored-segments.toml" if builder is not None else \
                "not reached: the message was refused"
            uses.append(SegmentUse(position, "unmapped" if builder is not None else "not-reached", [], present,
                                   reason))
    return uses


def render_text(reports: list[MessageReport]) -> str:
    """The report for people: one block per message, one line per action, segment and finding."""
    lines: list[str] = []
    for r in reports:
        title = f"{r.source}" + (f" #{r.index}" if r.index > 1 else "")
        head = f"{title}: {r.message_type or '?'} {r.control_id or ''}".rstrip()
        verdict = "OK" if not r.errors else f"{len(r.errors)} erreur(s)"
        lines.append(f"{head} — ACK prévu {r.predicted_ack} — {verdict}")
        if r.summary:
            lines.append(f"  résumé : {r.summary}")
        for a in r.actions:
            count = "" if a.matches is None else f" ({a.matches} existant(s))"
            lines.append(f"  {a.action:<16} {a.method:<5} {a.url}{count}")
        for s in r.segments:
            used = ",".join(str(n) for n in s.fields_used) or "-"
            unused = ",".join(str(n) for n in s.fields_ignored) or "-"
            reason = f" ({s.reason})" if s.reason else ""
            lines.append(f"  segment {s.position:<8} {s.status:<11} champs lus: {used}  ignorés: {unused}{reason}")
        for f in r.findings:
            where = f" {f.location}" if f.location else ""
            expression = f" [{f.expression}]" if f.expression else ""
            lines.append(f"  {f.severity.upper()} {f.source}{where}: {f.text}{expression}")
    errors = sum(len(r.errors) for r in reports)
    lines.append(f"{len(reports)} message(s), {errors} erreur(s), {sum(len(r.warnings) for r in reports)} "
                 "avertissement(s); rien n'a été enregistré")
    return "\n".join(lines)


__all__ = ["Checker", "MessageReport", "render_text", "report_dict", "split_messages"]
