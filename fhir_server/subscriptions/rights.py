"""A subscriber is told only about resources it may read (issue 9).

The verified claims of whoever creates or updates a Subscription through the API are recorded beside it
(`subscription_owner`, in the same transaction); each match is then checked with that owner's access,
exactly as a search of theirs would be (`security.policy`): the scopes must grant reading the type and
the resource must concern a patient they reach. A Subscription with no recorded owner (made before
this check existed, or by a server job) notifies nobody: failing closed is the only safe default for
health data leaving the server.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Connection, String, Table

from ..security.context import current
from ..security.policy import Access
from ..store.tables import metadata

if TYPE_CHECKING:
    from ..repository import Stored
    from ..services import Services

subscription_owner = Table(
    "subscription_owner",
    metadata,
    Column("subscription_id", String(64), primary_key=True),
    Column("claims", JSON, nullable=False),
)

# `Connection.info` key: (transaction, the owners' access built in it by subscription id). The info dict
# outlives the transaction on a pooled connection; an owner replaced since must not be served stale.
_CACHE = "oncolink.subscriber_access"


class SubscriberRights:
    def __init__(self, services: Services) -> None:
        self.services = services

    def record(self, conn: Connection, written: Sequence[Stored]) -> None:
        """Remember who wrote each Subscription (the API caller), replacing an earlier owner."""
        caller = current()
        ids = [s.res_id for s in written if s.res_type == "Subscription"]
        if caller is None or not ids:
            return
        claims = dict(caller.access.principal.claims)
        conn.execute(sa.delete(subscription_owner).where(subscription_owner.c.subscription_id.in_(ids)))
        conn.execute(sa.insert(subscription_owner), [{"subscription_id": i, "claims": claims} for i in ids])

    def may_notify(self, conn: Connection, subscription_id: str, stored: Stored) -> bool:
        access = self._access(conn, subscription_id)
        if access is None:
            return False
        if not access.principal.scopes.permits("read", stored.res_type, access.context):
            return False
        if access.resource_condition_needed(stored.res_type):
            return stored.pk in access.visible_pks(conn, [stored.pk])
        return True

    def _access(self, conn: Connection, subscription_id: str) -> Access | None:
        transaction = conn.get_transaction()
        held = conn.info.get(_CACHE)
        if held is None or held[0] is not transaction:
            held = conn.info[_CACHE] = (transaction, {})
        cache: dict[str, Access | None] = held[1]
        if subscription_id not in cache:
            claims = conn.execute(sa.select(subscription_owner.c.claims).where(
                subscription_owner.c.subscription_id == subscription_id)).scalar()
            cache[subscription_id] = self._build(conn, claims) if claims else None
        return cache[subscription_id]

    def _build(self, conn: Connection, claims: dict[str, Any]) -> Access | None:
        security = self.services.security
        if security is None or security.verifier is None:
            return None

        @contextmanager
        def same_connection() -> Iterator[Connection]:
            yield conn

        principal = security.verifier.principal(claims)
        return security.policy.access(principal, same_connection, self.services.repository)
