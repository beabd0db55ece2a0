"""ChargeItems of the forfaits: one per actor share for each sequence begun, one per telemonitoring month.

Each is written once per identifier (episode, sequence, renewal and actor; or episode and month), by
conditional create or against the identifiers the tick read ahead (pathway.known), so nothing is billed
twice whatever replays, repeated ticks or concurrent writers do.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import Connection

from ..repository import Repository
from .known import Known, create_once
from .plans import (
    CS,
    EXT_PARCOURS,
    EXT_SEQUENCE,
    SD,
    Step,
    Team,
    coding,
    identifier,
    sequence_coding,
)
from .rules import Rules

PROFILE = f"{SD}/oncolink-forfait"
FORFAIT_CS = f"{CS}/oncolink-forfait"
SHARE_CS = f"{CS}/oncolink-actor-share"
SHARE_LABEL = {"hospital": "Établissement de santé", "community-pharmacist": "Pharmacien d'officine",
               "gp": "Médecin traitant", "telemonitoring-operator": "Opérateur de télésurveillance"}
FORFAIT_LABEL = {"sequence": "Forfait de séquence", "telemonitoring": "Forfait de télésurveillance"}


def _charge(*, key: str, kind: str, patient: str, period: tuple[date, date], actor_share: str, actor: str,
            amount: Any, currency: str, entered: str, supporting: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "ChargeItem", "meta": {"profile": [PROFILE]},
        "identifier": [identifier("forfait", key)],
        "status": "billable",
        "code": {"coding": [coding(FORFAIT_CS, kind, FORFAIT_LABEL[kind])]},
        "subject": {"reference": patient},
        "occurrencePeriod": {"start": period[0].isoformat(), "end": period[1].isoformat()},
        "performer": [{"function": {"coding": [coding(SHARE_CS, actor_share, SHARE_LABEL[actor_share])]},
                       "actor": {"reference": actor}}],
        "enteredDate": entered,
        "priceOverride": {"value": float(amount) if amount % 1 else int(amount), "currency": currency},
        "supportingInformation": [{"reference": ref} for ref in supporting],
    }


def _write(repo: Repository, conn: Connection, body: dict[str, Any], known: Known | None) -> str | None:
    """The ChargeItem's reference when this call wrote it, None when it was already there."""
    written, created = create_once(repo, conn, "ChargeItem", body, known)
    return f"ChargeItem/{written['id']}" if created else None


def bill_sequence(repo: Repository, conn: Connection, rules: Rules, *, episode_id: str, patient: str,
                  parcours: str, team: Team, step: Step, sequence_ref: str, entered: str,
                  known: Known | None = None) -> list[str]:
    """The actor shares of a sequence begun. A share whose actor the care team lacks (no declared GP) is
    not billed: nobody could claim it."""
    actors = {"hospital": team.hospital, "community-pharmacist": team.pharmacy, "gp": team.gp}
    written = []
    for share, amount in rules.shares[(parcours, step.number)].items():
        actor = actors.get(share)
        if not actor:
            continue
        body = _charge(key=f"{episode_id}/{step.number}/{step.renewal}/{share}", kind="sequence", patient=patient,
                       period=(step.start, step.end), actor_share=share, actor=actor, amount=amount,
                       currency=rules.currency, entered=entered,
                       supporting=[sequence_ref, f"CarePlan/{episode_id}"])
        body["extension"] = [
            {"url": EXT_PARCOURS, "valueCoding": coding(f"{CS}/oncolink-parcours", parcours, f"Parcours {parcours}")},
            {"url": EXT_SEQUENCE, "valueCoding": sequence_coding(step.number)}]
        if (ref := _write(repo, conn, body, known)) is not None:
            written.append(ref)
    return written


def telemonitoring_months(rules: Rules, start: date, end: date, today: date) -> list[tuple[date, date]]:
    """The calendar months of telemonitoring begun by `today`: from the month of `start`, at most the
    tariff's consecutive months, each clipped to [start, end]."""
    months = []
    first = start.replace(day=1)
    for n in range(rules.telemonitoring_max_months):
        month_start = first + relativedelta(months=n)
        begin = max(month_start, start)
        if begin > min(end, today):
            break
        months.append((begin, min(month_start + relativedelta(months=1) - timedelta(days=1), end)))
    return months


def bill_telemonitoring(repo: Repository, conn: Connection, rules: Rules, *, episode_id: str, patient: str,
                        operator: str, months: list[tuple[date, date]], entered: str,
                        known: Known | None = None) -> list[str]:
    written = []
    for begin, finish in months:
        body = _charge(key=f"{episode_id}/telesurveillance/{begin:%Y-%m}", kind="telemonitoring", patient=patient,
                       period=(begin, finish), actor_share="telemonitoring-operator", actor=operator,
                       amount=rules.telemonitoring_amount, currency=rules.currency, entered=entered,
                       supporting=[f"CarePlan/{episode_id}"])
        if (ref := _write(repo, conn, body, known)) is not None:
            written.append(ref)
    return written
