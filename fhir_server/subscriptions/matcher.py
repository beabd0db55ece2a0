"""The write listener that fills the delivery queue.

Runs inside each write transaction (repository listeners, `Database.before_commit`): for every version
written, the active Subscriptions on its type are matched by running their criteria through the search
engine restricted to the changed resource (`&_id=`), so a notification matches exactly what the same
search would return — no second, hand-written matcher to drift from it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import Connection

from ..errors import FhirError, Unprocessable, error
from ..resources import now_ms
from .criteria import split_criteria
from .tables import subscription_delivery

if TYPE_CHECKING:
    from ..repository import Repository, Stored
    from .rights import SubscriberRights


def _restricted(query: str, res_id: str) -> str:
    return f"{query}&_id={res_id}" if query else f"_id={res_id}"


class SubscriptionListener:
    def __init__(self, repository: Repository, rights: SubscriberRights) -> None:
        self.repository = repository
        self.rights = rights

    def __call__(self, conn: Connection, written: Sequence[Stored]) -> None:
        for stored in written:
            if stored.res_type == "Subscription" and stored.content is not None:
                self._check_criteria(conn, stored.content)
        self.rights.record(conn, written)
        changed = [s for s in written if s.res_type != "Subscription" and not s.deleted]
        if not changed:
            return
        subscriptions = self._active(conn, {s.res_type for s in changed})
        rows: list[dict[str, Any]] = []
        now = now_ms()
        for stored in changed:
            for subscription in subscriptions.get(stored.res_type, []):
                if self._matches(conn, subscription, stored):
                    rows.append({"subscription_id": subscription["id"], "res_type": stored.res_type,
                                 "res_id": stored.res_id, "version_id": stored.version_id, "created_at": now,
                                 "state": "pending", "attempts": 0, "next_attempt_at": now})
        if rows:
            conn.execute(sa.insert(subscription_delivery), rows)

    def _check_criteria(self, conn: Connection, subscription: dict[str, Any]) -> None:
        """Refuse criteria the search engine refuses (unknown or malformed parameters): run them once,
        restricted to an id no resource has."""
        res_type, query = split_criteria(subscription["criteria"])
        try:
            self.repository.find(conn, res_type, _restricted(query, "x"))
        except FhirError as exc:
            raise Unprocessable([error("value", f"criteria n'est pas une recherche valide : {exc}",
                                       "Subscription.criteria")]) from exc

    def _active(self, conn: Connection, res_types: set[str]) -> dict[str, list[dict[str, Any]]]:
        found = self.repository.find(conn, "Subscription", "status=active")
        by_type: dict[str, list[dict[str, Any]]] = {}
        for subscription in self.repository.contents(conn, found):
            res_type, _ = split_criteria(subscription.get("criteria", ""))
            if res_type in res_types:
                by_type.setdefault(res_type, []).append(subscription)
        return by_type

    def _matches(self, conn: Connection, subscription: dict[str, Any], stored: Stored) -> bool:
        _, query = split_criteria(subscription["criteria"])
        if not self.repository.find(conn, stored.res_type, _restricted(query, stored.res_id)):
            return False
        return self.rights.may_notify(conn, subscription["id"], stored)
