"""The AuditEvent of a request's writes, inserted in the transaction that makes them.

Either both the change and its record commit, or neither: an auditor never meets a change nobody
recorded. The record is inserted directly (`create_many`): it is built here, from the verified caller,
and is no client input to validate.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from ..repository import Repository, Stored
from ..resources import now_ms
from ..security.context import Caller
from .events import rest_event


class AuditRecorder:
    def __init__(self, repository: Repository, observer: str) -> None:
        self.repository = repository
        self.observer = observer

    def __call__(self, conn: Connection, caller: Caller, written: Sequence[Stored]) -> None:
        caller.audited = True
        if all(s.res_type == "AuditEvent" for s in written):
            return  # an adapter recording its own channel's event: the record is the event itself
        event = rest_event(interaction=caller.interaction, status=200, recorded=now_ms(),
                           principal=caller.access.principal, address=caller.address,
                           request_id=caller.request_id, observer=self.observer,
                           entities=[f"{s.res_type}/{s.res_id}/_history/{s.version_id}" for s in written])
        self.repository.create_many(conn, [("AuditEvent", event["id"], event)])
