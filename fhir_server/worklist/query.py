"""Every read the worklist pages make, in one module: the place where a principal's filter (which teams
a user may see) is to be applied once authentication exists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection

from ..repository import Repository
from ..store.tables import resource
from ..telemonitoring import alerts, episodes
from ..telemonitoring.risk import Risk, age_on, assess, load_risk
from ..telemonitoring.tree import RANK

SEQUENCE_EXT = "https://oncolink.example.org/fhir/StructureDefinition/oncolink-sequence-number"
PARCOURS_EXT = "https://oncolink.example.org/fhir/StructureDefinition/oncolink-parcours"
OPEN_TASK = "requested,received,accepted,ready,in-progress,on-hold"


@dataclass
class Alert:
    flag_id: str
    alert: str
    colour: str
    since: str
    task_id: str | None = None
    task_version: int | None = None


@dataclass
class Row:
    patient_id: str
    name: str
    age: int | None
    episode_id: str
    parcours: str
    sequence: str
    sequence_end: str
    last_questionnaire: str
    colour: str
    alerts: list[Alert] = field(default_factory=list)
    interactions: list[str] = field(default_factory=list)
    risk: Risk = Risk(0, ())


def _ext(resource_: dict[str, Any], url: str) -> str:
    for ext in resource_.get("extension") or []:
        if ext.get("url") == url:
            return str((ext.get("valueCoding") or {}).get("code", ""))
    return ""


def name_of(patient: dict[str, Any]) -> str:
    for name in patient.get("name") or []:
        return " ".join([*(name.get("given") or []), str(name.get("family", "")).upper()]).strip()
    return patient.get("id", "")


JsonPath = tuple[str | int, ...]


def _members(repo: Repository, conn: Connection, found: list[tuple[int, str]], text: dict[str, JsonPath],
             json: dict[str, JsonPath] | None = None) -> list[dict[str, Any]]:
    """Only the named members of each found resource (plus `id` and `version`), extracted by the database.

    A team's open alerts and recent answers are thousands of documents; decoding them whole was most of
    the page's cost (4,000 QuestionnaireResponses: 90 ms decoded in Python, 20 ms extracted by SQLite)."""
    content = resource.c.content
    columns = [resource.c.res_id.label("id"), resource.c.version_id.label("version"),
               *(content[path].as_string().label(name) for name, path in text.items()),
               *(content[path].label(name) for name, path in (json or {}).items())]
    return [dict(row._mapping) for row in repo.columns(conn, found, columns)]


def _grouped(items: list[dict[str, Any]], key: Callable[[dict[str, Any]], str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        out.setdefault(key(item), []).append(item)
    return out


def _by_patient(items: list[dict[str, Any]], field_: str) -> dict[str, list[dict[str, Any]]]:
    """Whole resources grouped by the reference in `field_`."""
    return _grouped(items, lambda item: str((item.get(field_) or {}).get("reference", "")))


def _by_member(items: list[dict[str, Any]], name: str) -> dict[str, list[dict[str, Any]]]:
    """`_members` rows grouped by one extracted member."""
    return _grouped(items, lambda item: str(item[name]))


# What the page shows of alerts and answers; the colour extension is read whole (alerts.colour_of).
_FLAG_MEMBERS: dict[str, JsonPath] = {"status": ("status",), "subject": ("subject", "reference"),
                                      "code": ("code", "coding", 0, "code"), "since": ("period", "start")}
_RESPONSE_MEMBERS: dict[str, JsonPath] = {"subject": ("subject", "reference"), "authored": ("authored",)}
_COLOUR_MEMBER: dict[str, JsonPath] = {"extension": ("extension",)}

# Weekly answers: two weeks back finds the last one of nearly every patient, and reading fewer responses
# is most of the page's cost; only patients without one are looked up over the whole lookback.
_RECENT_DAYS = 14


def _recent_responses(repo: Repository, conn: Connection, patients: list[str], today: date,
                      lookback_days: int) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for days in sorted({min(_RECENT_DAYS, lookback_days), lookback_days}):
        wanted = [p for p in patients if p not in found]
        if not wanted:
            break
        since = (today - timedelta(days=days)).isoformat()
        answered = repo.find(conn, "QuestionnaireResponse", f"subject={','.join(wanted)}&authored=ge{since}")
        found.update(_by_member(_members(repo, conn, answered, _RESPONSE_MEMBERS, _COLOUR_MEMBER), "subject"))
    return found


def file_active(repo: Repository, conn: Connection, team: str, today: date, *, lookback_days: int,
                interactions_file: Any) -> list[Row]:
    """The active episodes of `team`, one row each, sorted by alert colour (red first) then risk."""
    plans = repo.contents(conn, repo.find(conn, "CarePlan", f"care-team={team}&category={episodes.CATEGORY}|episode"
                                                   "&status=active"))
    if not plans:
        return []
    patients = {f"Patient/{p['id']}": p for p in repo.contents(conn, repo.find(
        conn, "Patient", "_id=" + ",".join(str(p["subject"]["reference"]).split("/", 1)[1] for p in plans)))}
    refs = ",".join(patients)
    sequences = repo.contents(conn, repo.find(
        conn, "CarePlan", "part-of=" + ",".join(f"CarePlan/{p['id']}" for p in plans) + "&status=active"))
    by_episode = {str(s["partOf"][0]["reference"]): s for s in sequences}
    flagged = _members(repo, conn, repo.find(conn, "Flag", f"subject={refs}"), _FLAG_MEMBERS, _COLOUR_MEMBER)
    flags = _by_member([f for f in flagged if f["status"] == "active"], "subject")
    open_tasks = repo.find(conn, "Task", f"patient={refs}&status={OPEN_TASK}")
    tasks = {str(t["focus"]): t for t in _members(repo, conn, open_tasks, {"focus": ("focus", "reference")})}
    responses = _recent_responses(repo, conn, list(patients), today, lookback_days)
    requests = _by_patient(repo.contents(conn, repo.find(conn, "MedicationRequest", f"subject={refs}&status=active")),
                           "subject")
    issues = _by_patient(repo.contents(conn, repo.find(conn, "DetectedIssue", f"patient={refs}")), "patient")
    rules = load_risk(interactions_file)
    frail = {str(c["subject"]["reference"]) for c in repo.contents(conn, repo.find(
        conn, "Condition", f"subject={refs}&code={rules.frailty_system}|{rules.frailty_code}"
                           "&clinical-status=active"))}
    rows = []
    for plan in plans:
        ref = str(plan["subject"]["reference"])
        patient = patients.get(ref, {})
        sequence = by_episode.get(f"CarePlan/{plan['id']}", {})
        last = max(responses.get(ref, []), key=lambda r: str(r["authored"] or ""), default=None)
        active_ids = {f"MedicationRequest/{m['id']}" for m in requests.get(ref, [])}
        row_alerts = []
        for flag in flags.get(ref, []):
            task = tasks.get(f"Flag/{flag['id']}")
            row_alerts.append(Alert(flag["id"], str(flag["code"] or ""), alerts.colour_of(flag) or "orange",
                                    str(flag["since"] or "")[:10], task["id"] if task else None,
                                    int(task["version"]) if task else None))
        colours = [a.colour for a in row_alerts] or ([alerts.colour_of(last) or "green"] if last else [])
        rows.append(Row(
            ref.split("/", 1)[1], name_of(patient), age_on(patient.get("birthDate"), today), plan["id"],
            _ext(plan, PARCOURS_EXT), _ext(sequence, SEQUENCE_EXT) or _ext(plan, SEQUENCE_EXT),
            str((sequence.get("period") or {}).get("end", "")), str(last["authored"] or "")[:10] if last else "",
            max(colours, key=RANK.__getitem__) if colours else "",
            row_alerts,
            [str(i.get("code", {}).get("text", "")) for i in issues.get(ref, [])
             if all(x["reference"] in active_ids for x in i.get("implicated", []))],
            assess(rules, age=age_on(patient.get("birthDate"), today), active_drugs=len(active_ids),
                   frail=ref in frail)))
    rows.sort(key=lambda r: (-RANK.get(r.colour, -1), -r.risk.score, r.name))
    return rows


def timeline(repo: Repository, conn: Connection, patient_id: str) -> tuple[dict[str, Any] | None,
                                                                             list[tuple[str, str, dict[str, Any]]]]:
    """The patient and the dated events of the patient view (newest first): (date, kind, resource)."""
    current = repo.current(conn, "Patient", patient_id)
    if current is None or current.deleted:
        return None, []
    ref = f"Patient/{patient_id}"
    events: list[tuple[str, str, dict[str, Any]]] = []
    for plan in repo.contents(conn, repo.find(conn, "CarePlan", f"subject={ref}")):
        events.append((str((plan.get("period") or {}).get("start", "")), "plan", plan))
    for qr in repo.contents(conn, repo.find(conn, "QuestionnaireResponse", f"subject={ref}")):
        events.append((str(qr.get("authored", "")), "questionnaire", qr))
    for flag in repo.contents(conn, repo.find(conn, "Flag", f"subject={ref}")):
        events.append((str((flag.get("period") or {}).get("start", "")), "alert", flag))
    for message in repo.contents(conn, repo.find(conn, "Communication", f"subject={ref}")):
        events.append((str(message.get("sent", "")), "message", message))
    events.sort(key=lambda e: e[0], reverse=True)
    return current.content, events


def open_tasks(repo: Repository, conn: Connection, patient_id: str) -> dict[str, dict[str, Any]]:
    """Open alert-handling Tasks of the patient by the Flag they focus on."""
    found = repo.contents(conn, repo.find(conn, "Task", f"patient=Patient/{patient_id}&status={OPEN_TASK}"))
    return {str(t["focus"]["reference"]): t for t in found}
