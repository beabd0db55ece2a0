"""The caller of the request being served, for code far from the route (write listeners, Bundle entries).

The authentication dependency sets it once per request; FastAPI runs the endpoint (and the threadpool
work it starts) in a copy of that context, so the repository's pre-commit listeners see the same caller
without every write method growing a parameter. Server jobs (the pathway tick, triage, deliveries) run
outside any request: no caller, and they act under the server's own rules.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from ..search.predicates import RowFilter
from .policy import Access


@dataclass
class Caller:
    """`interaction` is the route's FHIR interaction code; `audited` turns true once the request's writes
    were recorded in their own transaction, so the middleware does not record them twice."""

    access: Access
    address: str | None
    request_id: str
    interaction: str
    audited: bool = False


_CALLER: ContextVar[Caller | None] = ContextVar("oncolink_caller", default=None)


def current() -> Caller | None:
    return _CALLER.get()


def current_access() -> Access | None:
    caller = _CALLER.get()
    return caller.access if caller else None


def bind(caller: Caller | None) -> None:
    _CALLER.set(caller)


def current_filter() -> RowFilter | None:
    """The caller's row filter for queries (None outside a request: server jobs see everything)."""
    access = current_access()
    return access.condition if access else None


def current_members() -> tuple[str, ...] | None:
    """The care-team members the caller's reach is limited to (see `Access.members`)."""
    access = current_access()
    return access.members if access else None
