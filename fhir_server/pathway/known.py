"""Writing a business-keyed resource once: by conditional create, or against identifiers read ahead.

Every sequence, forfait and trigger the engine writes carries a deterministic business identifier, so
a replay finds what the first run wrote. One conditional create (`If-None-Exist`) per write is one
search per write, and a search flushes the deferred index writes; the tick, which writes thousands,
instead reads the identifiers of a batch's episodes once (`Known.read`) and creates without a search.

That read is authoritative because of the locking rule of docs/adr/0016: every transaction that writes
an episode's sequences, forfaits or triggers first holds the episode's row lock (`FOR UPDATE` on
PostgreSQL; SQLite has one writer), and the read comes after the batch's episodes are locked. A
writer that would add one of these identifiers either committed before the lock was granted (and is
read) or waits until the batch commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from ..errors import PreconditionFailed
from ..repository import Repository
from ..store.tables import resource
from .plans import SID


@dataclass
class Known:
    """The engine's business identifiers (`(system, value)`) present for a set of locked episodes, with
    the resource holding each (whole for sequences, only its type and id for forfaits and messages); what
    this transaction writes is added as it goes."""

    found: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Identifiers several resources hold: a conditional create would answer 412, and so does this.
    ambiguous: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def read(cls, repo: Repository, conn: Connection, episodes: list[dict[str, Any]]) -> Known:
        """Three searches for a whole batch: its episodes' sequences, and their patients' forfaits and
        trigger messages (a superset: identifiers name the episode)."""
        known = cls()
        if not episodes:
            return known
        parents = ",".join(f"CarePlan/{e['id']}" for e in episodes)
        patients = ",".join(sorted({str(e["subject"]["reference"]) for e in episodes}))
        sequences = repo.find(conn, "CarePlan", f"part-of={parents}&identifier={SID}/sequence|")
        for content in repo.contents(conn, sequences):
            known._add(content.get("identifier"), content)
        # Forfaits and messages found are only skipped, never read: their identifiers alone, extracted by the
        # database (a catch-up reads tens of thousands of them).
        columns = [resource.c.res_id, resource.c.content[("identifier",)].label("identifier")]
        for res_type, query in (("ChargeItem", f"subject={patients}&identifier={SID}/forfait|"),
                                ("Communication", f"subject={patients}&identifier={SID}/trigger|")):
            for row in repo.columns(conn, repo.find(conn, res_type, query), columns):
                known._add(row.identifier, {"resourceType": res_type, "id": row.res_id})
        return known

    def _add(self, identifiers: Any, holder: dict[str, Any]) -> None:
        for ident in identifiers if isinstance(identifiers, list) else []:
            key = (str(ident.get("system")), str(ident.get("value")))
            if self.found.setdefault(key, holder) is not holder:
                self.ambiguous.add(key)


def create_once(repo: Repository, conn: Connection, res_type: str, body: dict[str, Any],
                known: Known | None) -> tuple[dict[str, Any], bool]:
    """The resource holding `body`'s (first) business identifier, and whether this call created it:
    against `known` when the caller read the identifiers ahead, by conditional create otherwise."""
    ident = body["identifier"][0]
    key = (str(ident["system"]), str(ident["value"]))
    if known is None:
        result = repo.create(conn, res_type, body, if_none_exist=f"identifier={key[0]}|{key[1]}")
        return dict(result.stored.content or {}), result.created
    if key in known.ambiguous:
        raise PreconditionFailed(f"identifier={key[0]}|{key[1]} matches several {res_type} resources; it must "
                                 "match at most one", code="multiple-matches")
    existing = known.found.get(key)
    if existing is not None:
        return existing, False
    created = dict(repo.create(conn, res_type, body).stored.content or {})
    known.found[key] = created
    return created, True
