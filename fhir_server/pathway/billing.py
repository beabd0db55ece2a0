"""What each establishment, pharmacy, GP and telemonitoring operator bills for one month.

A forfait belongs to the month in which its occurrence period starts (the sequence begun, the month of
telemonitoring), the rule the `due` search parameter of our guide also follows, so the export and
`GET /fhir/ChargeItem?due=YYYY-MM&performer-actor=…` always agree. Amounts are summed as decimals.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dateutil.relativedelta import relativedelta

from .forfaits import SHARE_LABEL

if TYPE_CHECKING:
    from ..services import Services

IDENTIFIER_SYSTEMS = {"urn:oid:1.2.250.1.71.4.2.2": "FINESS/IDNST", "urn:oid:1.2.250.1.71.4.2.1": "RPPS/IDNPS",
                      "https://finess.esante.gouv.fr": "FINESS"}


# A ChargeItem "billed" was exported and sent; it still belongs to its month's bill.
BILLED = ("billable", "billed")


@dataclass
class ActorTotal:
    actor: str
    name: str
    identifier: str
    share: str
    items: int = 0
    amount: Decimal = Decimal(0)


@dataclass
class Export:
    month: str
    currency: str
    actors: list[ActorTotal] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"month": self.month, "currency": self.currency,
                "total": str(sum((a.amount for a in self.actors), Decimal(0))),
                "actors": [{"actor": a.actor, "name": a.name, "identifier": a.identifier, "share": a.share,
                            "shareLabel": SHARE_LABEL.get(a.share, a.share), "items": a.items,
                            "amount": str(a.amount)} for a in self.actors],
                "items": self.items}

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(["mois", "acteur", "nom", "identifiant", "part", "forfaits", "montant", "devise"])
        for a in self.actors:
            writer.writerow([self.month, a.actor, a.name, a.identifier, SHARE_LABEL.get(a.share, a.share), a.items,
                             str(a.amount), self.currency])
        return out.getvalue()


def month_range(month: str) -> tuple[date, date]:
    """First day of `YYYY-MM` and first day of the next month; ValueError for anything else."""
    year, _, number = month.partition("-")
    if len(year) != 4 or len(number) != 2:
        raise ValueError(f"{month!r} is not a month in the form YYYY-MM")
    first = date(int(year), int(number), 1)
    return first, first + relativedelta(months=1)


def _label(resource: dict[str, Any] | None) -> tuple[str, str]:
    if not resource:
        return "", ""
    name = resource.get("name")
    if isinstance(name, list):
        name = " ".join([*(name[0].get("prefix") or []), *(name[0].get("given") or []),
                         str(name[0].get("family", ""))]).strip() if name else ""
    identifier = next((f"{IDENTIFIER_SYSTEMS.get(i.get('system'), i.get('system'))} {i.get('value')}"
                       for i in resource.get("identifier") or [] if i.get("value")), "")
    return str(name or ""), identifier


def export(services: Services, month: str) -> Export:
    first, _ = month_range(month)
    repo = services.repository
    rules_currency = "EUR"
    totals: dict[tuple[str, str], ActorTotal] = {}
    items = []
    with services.db.read() as conn:
        # R4 defines no ChargeItem status parameter: the status is checked here.
        charges = [c for c in repo.contents(conn, repo.find(conn, "ChargeItem", f"due={first:%Y-%m}"))
                   if c.get("status") in BILLED]
        for charge in sorted(charges, key=lambda c: str(c["identifier"][0]["value"])):
            performer = (charge.get("performer") or [{}])[0]
            actor = str((performer.get("actor") or {}).get("reference", ""))
            share = str(((performer.get("function") or {}).get("coding") or [{}])[0].get("code", ""))
            price = charge.get("priceOverride") or {}
            amount = Decimal(str(price.get("value", 0)))
            rules_currency = str(price.get("currency", rules_currency))
            total = totals.get((actor, share))
            if total is None:
                res_type, _, res_id = actor.partition("/")
                found = repo.current(conn, res_type, res_id) if res_id else None
                name, identifier = _label(found.content if found and not found.deleted else None)
                total = totals[(actor, share)] = ActorTotal(actor, name, identifier, share)
            total.items += 1
            total.amount += amount
            items.append({"chargeItem": f"ChargeItem/{charge['id']}", "identifier": charge["identifier"][0]["value"],
                          "patient": charge["subject"]["reference"], "actor": actor, "share": share,
                          "forfait": charge["code"]["coding"][0]["code"],
                          "start": charge["occurrencePeriod"]["start"], "end": charge["occurrencePeriod"]["end"],
                          "amount": str(amount)})
    actors = sorted(totals.values(), key=lambda a: (a.share, a.name, a.actor))
    return Export(month, rules_currency, actors, items)
