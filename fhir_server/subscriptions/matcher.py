"""The write listener that fills the delivery queue.

Runs inside each write transaction (repository listeners, `Database.before_commit`): for every version
written, the active Subscriptions on its type are matched by running their criteria through the search
engine restricted to the changed resource (`&_id=`), so a notification matches exactly what the same
search would return — no second, hand-written matcher to drift from it.

The active set is read through the search engine only when the Subscription rows have changed: every
write transaction asks for a one-row marker instead (see `_MARKER`), so a server without Subscriptions,
or whose Subscriptions did not change, pays one indexed aggregate per write transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import Connection

from ..errors import FhirError, Unprocessable, error
from ..resources import now_ms
from ..store.tables import resource
from .criteria import split_criteria
from .tables import subscription_delivery

if TYPE_CHECKING:
    from ..repository import Repository, Stored
    from .rights import SubscriberRights


# What identifies the state of the Subscription rows this transaction sees. No resource row is ever
# removed and every write of a Subscription (create, update, status change, delete) adds 1 to its row's
# `version_id`, so two different committed states never have the same (count, sum): the sum grows.
_MARKER = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(resource.c.version_id), 0)).where(
    resource.c.res_type == "Subscription")

# Key in `Connection.info` (which outlives transactions): the transaction that wrote a Subscription. What
# it then sees may be rolled back, so it is not remembered for others (a rolled-back state could share a
# later one's marker).
_WROTE_SUBSCRIPTION = "oncolink.wrote_subscription"

ActiveSet = dict[str, list[dict[str, Any]]]  # resource type → active Subscriptions on it


def _restricted(query: str, res_id: str) -> str:
    return f"{query}&_id={res_id}" if query else f"_id={res_id}"


class SubscriptionListener:
    def __init__(self, repository: Repository, rights: SubscriberRights) -> None:
        self.repository = repository
        self.rights = rights
        # The last committed active set read, with its marker; replaced as a whole (threads share it).
        self._cached: tuple[tuple[int, int], ActiveSet] | None = None

    def __call__(self, conn: Connection, written: Sequence[Stored]) -> None:
        for stored in written:
            if stored.res_type == "Subscription":
                conn.info[_WROTE_SUBSCRIPTION] = conn.get_transaction()
                if stored.content is not None:
                    self._check_criteria(conn, stored.content)
        self.rights.record(conn, written)
        changed = [s for s in written if s.res_type != "Subscription" and not s.deleted]
        if not changed:
            return
        active = self._active(conn)
        subscriptions = {s.res_type: active[s.res_type] for s in changed if s.res_type in active}
        if not subscriptions:
            return
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

    def _active(self, conn: Connection) -> ActiveSet:
        """The active Subscriptions by the type they watch, as this transaction sees them."""
        row = conn.execute(_MARKER).one()
        marker = (int(row[0]), int(row[1]))
        own_writes = conn.info.get(_WROTE_SUBSCRIPTION, False) is conn.get_transaction()
        cached = self._cached
        if cached is not None and cached[0] == marker and not own_writes:
            return cached[1]
        found = self.repository.find(conn, "Subscription", "status=active")
        by_type: ActiveSet = {}
        for subscription in self.repository.contents(conn, found):
            res_type, _ = split_criteria(subscription.get("criteria", ""))
            by_type.setdefault(res_type, []).append(subscription)
        if not own_writes:
            self._cached = (marker, by_type)
        return by_type

    def _matches(self, conn: Connection, subscription: dict[str, Any], stored: Stored) -> bool:
        _, query = split_criteria(subscription["criteria"])
        if not self.repository.find(conn, stored.res_type, _restricted(query, stored.res_id)):
            return False
        return self.rights.may_notify(conn, subscription["id"], stored)
