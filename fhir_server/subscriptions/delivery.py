"""The delivery worker: sends what the queue holds, retries with exponential backoff, and after
`subscription_max_attempts` failures puts the Subscription in `status = error` with the reason.

Rows are claimed in a short write transaction (pushed `next_attempt_at` past the sending time, with
`SKIP LOCKED` on PostgreSQL) so two server processes never send the same notification, and sent outside
any transaction so a slow receiver never holds database locks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import sqlalchemy as sa

from ..store.tables import resource_version
from .tables import subscription_delivery as q

if TYPE_CHECKING:
    from ..services import Services

_BATCH = 200
FHIR_JSON = "application/fhir+json"


@dataclass
class PassReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    errored: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        errored = f", subscriptions in error: {', '.join(self.errored)}" if self.errored else ""
        return f"{self.delivered} delivered, {self.retried} to retry, {self.failed} abandoned{errored}"


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None


def request_for(subscription: dict[str, Any], version: dict[str, Any] | None, res_type: str, res_id: str
                ) -> Request:
    """R4 rest-hook: an empty POST to the endpoint for `payload` empty, else the resource PUT to
    `{endpoint}/{type}/{id}`; `channel.header` entries are sent as they are written."""
    channel = subscription["channel"]
    headers = {}
    for header in channel.get("header") or []:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    endpoint = channel["endpoint"].rstrip("/")
    if not channel.get("payload") or version is None:
        return Request("POST", channel["endpoint"], headers, None)
    headers["Content-Type"] = FHIR_JSON
    return Request("PUT", f"{endpoint}/{res_type}/{res_id}", headers, orjson.dumps(version))


def _send(http: httpx.Client, request: Request) -> str | None:
    """None when the receiver accepted it (2xx), else the reason, in words for the Subscription's `error`."""
    try:
        response = http.request(request.method, request.url, headers=request.headers, content=request.content)
    except httpx.HTTPError as exc:
        return f"{request.method} {request.url} a échoué : {exc.__class__.__name__} {exc}".strip()
    if 200 <= response.status_code < 300:
        return None
    return f"{request.method} {request.url} a répondu {response.status_code}"


class Deliverer:
    def __init__(self, services: Services) -> None:
        self.services = services
        settings = services.settings
        self.max_attempts = settings.subscription_max_attempts
        self.base = settings.subscription_retry_base_seconds
        self.timeout = settings.subscription_http_timeout_seconds

    def run_once(self, now: datetime) -> PassReport:
        report = PassReport()
        rows = self._claim(now)
        if not rows:
            return report
        subscriptions, versions = self._load(rows)
        delivered: list[int] = []
        abandoned: list[int] = []
        blocked: set[str] = set()  # a failed subscription's later rows wait, so order is kept
        with httpx.Client(timeout=self.timeout) as http:
            for row in rows:
                subscription = subscriptions.get(row.subscription_id)
                if subscription is None or subscription.get("status") != "active":
                    abandoned.append(row.pk)
                    report.failed += 1
                    continue
                if row.subscription_id in blocked:  # `_retry` already moved it behind the failed one
                    continue
                version = versions.get((row.res_type, row.res_id, row.version_id))
                reason = _send(http, request_for(subscription, version, row.res_type, row.res_id))
                if reason is None:
                    delivered.append(row.pk)
                    report.delivered += 1
                elif row.attempts + 1 >= self.max_attempts:
                    self._give_up(row, subscription, reason)
                    report.failed += 1
                    report.errored.append(row.subscription_id)
                    subscriptions.pop(row.subscription_id)
                else:
                    self._retry(row, reason, now)
                    report.retried += 1
                    blocked.add(row.subscription_id)
        self._finish(delivered, abandoned, now)
        return report

    # -- queue -------------------------------------------------------------------------------

    def _claim(self, now: datetime) -> list[Any]:
        db = self.services.db
        lease = now + timedelta(seconds=self.timeout * (_BATCH + 1))
        with db.write() as conn:
            select = (sa.select(q).where(q.c.state == "pending", q.c.next_attempt_at <= now)
                      .order_by(q.c.pk).limit(_BATCH))
            if db.dialect == "postgresql":
                select = select.with_for_update(skip_locked=True)
            rows = conn.execute(select).all()
            if rows:
                conn.execute(sa.update(q).where(q.c.pk.in_([r.pk for r in rows])).values(next_attempt_at=lease))
        return rows

    def _load(self, rows: list[Any]) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str, int], Any]]:
        """The current Subscriptions and the notified versions' content, in one read transaction. A
        version that is gone (purged) maps to nothing: the empty notification still says "look"."""
        v = resource_version.c
        with self.services.db.read() as conn:
            current = [self.services.repository.current(conn, "Subscription", i)
                       for i in {r.subscription_id for r in rows}]
            keys = [(r.res_type, r.res_id, r.version_id) for r in rows]
            found = conn.execute(sa.select(v.res_type, v.res_id, v.version_id, v.content).where(
                sa.tuple_(v.res_type, v.res_id, v.version_id).in_(keys))).all()
        subscriptions = {s.res_id: s.content for s in current if s is not None and s.content is not None}
        return subscriptions, {(f.res_type, f.res_id, f.version_id): f.content for f in found}

    def _finish(self, delivered: list[int], abandoned: list[int], now: datetime) -> None:
        if not delivered and not abandoned:
            return
        with self.services.db.write() as conn:
            if delivered:
                conn.execute(sa.update(q).where(q.c.pk.in_(delivered)).values(state="delivered", delivered_at=now,
                                                                               last_error=None))
            if abandoned:
                conn.execute(sa.update(q).where(q.c.pk.in_(abandoned)).values(
                    state="failed", last_error="abonnement inactif ou supprimé"))

    def _retry(self, row: Any, reason: str, now: datetime) -> None:
        due = now + timedelta(seconds=self.base * 2 ** row.attempts)
        with self.services.db.write() as conn:
            conn.execute(sa.update(q).where(q.c.pk == row.pk).values(
                attempts=row.attempts + 1, next_attempt_at=due, last_error=reason))
            # Later notifications of the same subscription wait behind it, so they arrive in order.
            conn.execute(sa.update(q).where(q.c.subscription_id == row.subscription_id, q.c.state == "pending",
                                            q.c.pk > row.pk).values(next_attempt_at=due))

    def _give_up(self, row: Any, subscription: dict[str, Any], reason: str) -> None:
        message = f"Échec après {row.attempts + 1} tentatives : {reason}"
        with self.services.db.write() as conn:
            conn.execute(sa.update(q).where(q.c.subscription_id == row.subscription_id, q.c.state == "pending")
                         .values(state="failed", last_error=reason))
            conn.execute(sa.update(q).where(q.c.pk == row.pk).values(attempts=row.attempts + 1))
            self.services.repository.update(conn, "Subscription", row.subscription_id,
                                            {**subscription, "status": "error", "error": message})


def deliver(services: Services, now: datetime) -> PassReport:
    """One pass of the worker (the periodic job of `oncolink serve`, `oncolink subscriptions deliver`)."""
    return Deliverer(services).run_once(now)
