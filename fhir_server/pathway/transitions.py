"""Opening an episode, moving it from sequence to sequence, and ending it.

Every transition writes, in the caller's transaction: the CarePlan versions (closed sequence, new
sequence, episode with its current sequence), the forfaits of a sequence begun, a trigger Communication
for the MSSanté adapter (its outbox: `status=preparation`, docs/adr/0004) and one Provenance pinning all of
it. Enrolment, the `$next-sequence`/`$renew` operations, renewal prescriptions, stopped drugs and the tick
all come through here, so they cannot disagree on what a transition is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from ..errors import Conflict
from ..resources import instant, new_id
from . import forfaits
from .known import Known, create_once
from .plans import (
    EXT_SEQ3,
    EXT_SEQUENCE,
    EXT_TELEMONITORING,
    SD,
    Step,
    Team,
    coding,
    episode_end,
    extension,
    following,
    identifier,
    identifier_query,
    new_sequence,
    parcours_of,
    sequence_coding,
    sequence_end,
    set_extension,
    step_of,
    team_of,
)
from .rules import Rules, load

if TYPE_CHECKING:
    from ..repository import Repository
    from ..services import Services

MESSAGE_PROFILE = f"{SD}/oncolink-message"
TRIGGER_CS = "https://oncolink.example.org/fhir/CodeSystem/oncolink-mssante-trigger"
MESSAGE_CATEGORY_CS = "https://oncolink.example.org/fhir/CodeSystem/oncolink-message-category"
ENGINE = {"display": "Moteur de parcours Onco'Link"}


@dataclass
class Transition:
    """What one transition wrote: references, for the caller's answer and for Provenance."""

    episode: dict[str, Any]
    sequence: dict[str, Any] | None = None
    written: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Record:
    """A transition to record: what it wrote (`Type/id`), when, what it was, by whom, from what."""

    written: list[str]
    now: datetime
    activity: str
    who: dict[str, Any] | None = None
    source: str | None = None


class Pathway:
    """The engine of one server process: its rules, loaded once, and the repository it writes through."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.repo: Repository = services.repository
        self.rules: Rules = load(services.settings.pathway_dir)
        self.zone = ZoneInfo(services.settings.pathway_timezone)

    def today(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    # -- reading ---------------------------------------------------------------------------------

    def current_sequence(self, conn: Connection, episode_id: str) -> dict[str, Any] | None:
        found = self.repo.find(conn, "CarePlan", f"part-of=CarePlan/{episode_id}&status=active")
        return self.repo.read(conn, "CarePlan", found[0][1]).content if found else None

    # -- writing ---------------------------------------------------------------------------------

    def _save(self, conn: Connection, resource: dict[str, Any]) -> dict[str, Any]:
        return dict(self.repo.update(conn, resource["resourceType"], resource["id"], resource).stored.content or {})

    def _trigger(self, conn: Connection, episode: dict[str, Any], kind: str, key: str, text: str,
                 known: Known | None) -> str | None:
        """The MSSanté message to the community side of the care team (pharmacy and GP)."""
        team = team_of(episode)
        recipients = [r for r in (team.pharmacy, team.gp) if r] if team else []
        if not recipients:
            return None
        body = {
            "resourceType": "Communication", "meta": {"profile": [MESSAGE_PROFILE]},
            "identifier": [identifier("trigger", f"{episode['id']}/{key}")],
            "status": "preparation",
            "category": [{"coding": [coding(MESSAGE_CATEGORY_CS, "coordination")]}],
            "subject": episode["subject"],
            "about": [{"reference": f"CarePlan/{episode['id']}"}],
            "recipient": [{"reference": r} for r in recipients],
            "topic": {"coding": [coding(TRIGGER_CS, kind)]},
            "payload": [{"contentString": text}],
        }
        written, created = create_once(self.repo, conn, "Communication", body, known)
        return f"Communication/{written['id']}" if created else None

    def record(self, conn: Connection, written: list[str], now: datetime, activity: str,
               who: dict[str, Any] | None = None, source: str | None = None) -> None:
        """One Provenance for a transition, its targets pinned to the versions just written."""
        self.record_many(conn, [Record(written, now, activity, who, source)])

    def record_many(self, conn: Connection, records: list[Record]) -> None:
        """`record` for several transitions at once (a transaction's inclusion proposals): their versions
        read by one statement and their Provenances written by one."""
        records = [r for r in records if r.written]
        if not records:
            return
        refs = list(dict.fromkeys(ref for r in records for ref in r.written))
        versions = self.repo.version_ids(conn, refs)
        provenances = []
        for r in records:
            targets = [{"reference": f"{ref}/_history/{versions[ref]}"} for ref in dict.fromkeys(r.written)]
            provenance: dict[str, Any] = {"resourceType": "Provenance", "target": targets,
                                          "recorded": instant(r.now), "activity": {"text": r.activity},
                                          "agent": [{"who": r.who or ENGINE}]}
            if r.source:
                provenance["entity"] = [{"role": "source", "what": {"reference": r.source}}]
            provenances.append(("Provenance", new_id(), self.repo.check("Provenance", provenance)))
        self.repo.create_many(conn, provenances)

    def begin(self, conn: Connection, episode: dict[str, Any], step: Step, now: datetime,
              known: Known | None = None) -> Transition:
        """Open `step` of the episode (idempotent on the sequence identifier) and bill it; `known`: the
        identifiers read ahead for the episode, which the caller holds locked (pathway.known)."""
        sequence, created = create_once(self.repo, conn, "CarePlan", new_sequence(episode, step), known)
        done = Transition(episode, sequence)
        if not created:
            return done
        sequence_ref = f"CarePlan/{sequence['id']}"
        done.written.append(sequence_ref)
        if (extension(episode, EXT_SEQUENCE) or {}).get("code") != str(step.number):
            set_extension(episode, EXT_SEQUENCE, "valueCoding", sequence_coding(step.number))
            episode = done.episode = self._save(conn, episode)
        done.written.append(f"CarePlan/{episode['id']}")
        team = team_of(episode)
        if team is not None:
            done.written += forfaits.bill_sequence(
                self.repo, conn, self.rules, episode_id=episode["id"], patient=episode["subject"]["reference"],
                parcours=parcours_of(episode), team=team, step=step, sequence_ref=sequence_ref, entered=instant(now),
                known=known)
        kind = "sequence-renewal" if step.renewal else "sequence-start"
        label = f"La séquence {step.number}" + (f" (renouvellement {step.renewal})" if step.renewal else "")
        trigger = self._trigger(conn, episode, kind, f"{kind}/{step.number}/{step.renewal}",
                                f"{label} du parcours Onco'Link commence le {step.start:%d/%m/%Y} "
                                f"et se termine le {step.end:%d/%m/%Y}.", known)
        done.written += [trigger] if trigger else []
        return done

    def close(self, conn: Connection, sequence: dict[str, Any], end: date, status: str) -> str:
        sequence = dict(sequence)
        sequence["status"] = status
        sequence["period"] = {**sequence["period"], "end": min(step_of(sequence).end, end).isoformat()}
        return "CarePlan/" + self._save(conn, sequence)["id"]

    def advance(self, conn: Connection, episode: dict[str, Any], current: dict[str, Any], on: date, now: datetime,
                target: tuple[int, int] | None = None, known: Known | None = None) -> Transition:
        """Close `current` (the sequence in progress, which every caller has already read to decide on the
        move) the day before `on` and open the next one (the default step unless `target` names it); past
        the episode's end, the episode is completed instead."""
        step = step_of(current)
        number, renewal = target or self._default_next(episode, step)
        start = max(on, step.start + timedelta(days=1))
        last = date.fromisoformat(str(episode["period"]["end"])[:10])
        if start > last:
            return self.end(conn, episode, current, last, now, "completed", "L'épisode de dix mois est terminé.",
                            known)
        closed = self.close(conn, current, start - timedelta(days=1), "completed")
        done = self.begin(conn, episode, Step(number, renewal, start, sequence_end(self.rules, number, start, last)),
                          now, known)
        done.written.insert(0, closed)
        return done

    def _default_next(self, episode: dict[str, Any], step: Step) -> tuple[int, int]:
        return following(self.rules, step, bool(extension(episode, EXT_SEQ3)))

    def end(self, conn: Connection, episode: dict[str, Any], current: dict[str, Any] | None, on: date,
            now: datetime, status: str, reason: str, known: Known | None = None) -> Transition:
        """End the episode (`completed` at its term, `revoked` when the drug is stopped) with `current`, its
        sequence in progress if it has one."""
        written = []
        if current is not None:
            written.append(self.close(conn, current, on, status))
        episode = dict(episode)
        episode["status"] = status
        start = str(episode["period"]["start"])[:10]
        episode["period"] = {**episode["period"], "end": max(on.isoformat(), start)}
        episode = self._save(conn, episode)
        written.append(f"CarePlan/{episode['id']}")
        trigger = self._trigger(conn, episode, "episode-end", "episode-end", f"L'épisode Onco'Link prend fin le "
                                f"{on:%d/%m/%Y} : {reason}", known)
        written += [trigger] if trigger else []
        return Transition(episode, None, written)

    def bill_telemonitoring(self, conn: Connection, episode: dict[str, Any], today: date, now: datetime,
                            billed: set[str] | None = None, known: Known | None = None) -> list[str]:
        """The monthly forfaits of an episode under telemonitoring, for the months begun by `today`;
        `billed` (keys already written) lets the tick skip the lookups of months already there."""
        if extension(episode, EXT_TELEMONITORING) is not True:
            return []
        team = team_of(episode)
        operator = self.services.settings.telemonitoring_operator or (team.hospital if team else "")
        if not operator:
            return []
        start = date.fromisoformat(str(episode["period"]["start"])[:10])
        end = date.fromisoformat(str(episode["period"]["end"])[:10])
        months = [m for m in forfaits.telemonitoring_months(self.rules, start, end, today)
                  if billed is None or f"{episode['id']}/telesurveillance/{m[0]:%Y-%m}" not in billed]
        return forfaits.bill_telemonitoring(self.repo, conn, self.rules, episode_id=episode["id"],
                                            patient=episode["subject"]["reference"], operator=operator,
                                            months=months, entered=instant(now), known=known)

    def open(self, conn: Connection, episode_body: dict[str, Any], team: Team, now: datetime) -> Transition:
        """Create the episode and its sequence 1 (and first telemonitoring month); an episode already
        opened for the same patient and prescription is answered as it is."""
        key = episode_body["identifier"][0]["value"]
        result = self.repo.create(conn, "CarePlan", episode_body, if_none_exist=identifier_query("episode", key))
        episode = dict(result.stored.content or {})
        if not result.created:
            return Transition(episode, self.current_sequence(conn, episode["id"]))
        start = date.fromisoformat(episode["period"]["start"])
        last = episode_end(self.rules, start)
        done = self.begin(conn, episode, Step(1, 0, start, sequence_end(self.rules, 1, start, last)), now)
        done.written.insert(0, f"CarePlan/{episode['id']}")
        # The month enrolment begins is billed now; later months (and a start in the past) are the tick's.
        done.written += self.bill_telemonitoring(conn, done.episode, start, now)
        return done


def engine(services: Services) -> Pathway:
    """The process's engine, built on first use (rules are read and checked once)."""
    found = services.pathway
    if found is None:
        found = services.pathway = Pathway(services)
    return found


def explicit_target(operation: str, episode: dict[str, Any], step: Step) -> tuple[int, int]:
    """The sequence `$next-sequence` or `$renew` asks for, or 409 when the pathway does not allow it."""
    if operation == "renew":
        if step.number == 1:
            raise Conflict("La séquence 1 n'est pas renouvelable : utilisez $next-sequence")
        return step.number, step.renewal + 1
    if step.number >= 3:
        raise Conflict("L'épisode est déjà en séquence 3 : utilisez $renew")
    if step.number == 2 and extension(episode, EXT_SEQ3) is not True:
        raise Conflict("Le traitement ne permet pas la séquence 3 (extension oncolink-sequence3-allowed) : "
                       "utilisez $renew pour renouveler la séquence 2")
    return step.number + 1, 0
