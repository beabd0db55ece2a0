"""Access checks on the repository's two doors: what a read hands out, and what a write leaves behind.

`ReadGuard` runs on every version the repository reads for a request, and on the version a write is about
to replace: a resource the caller may not see answers 404, exactly as if it did not exist, so its id
tells nothing. `WriteGuard` is the first pre-commit listener: the versions the request wrote must be
granted by its scopes and lie in the caller's reach (a pharmacist cannot file an Observation about a
patient outside its care teams); otherwise a 403 rolls the whole transaction back. Reactions the server
writes afterwards (a triage Flag, an episode) follow the server's rules and are not the caller's writes,
so only the first round of each transaction is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection

from ..errors import Forbidden, NotFound
from ..repository import Stored
from .context import Caller, current, current_access
from .scopes import Interaction

# `Connection.info` key: the transaction whose own writes were already checked.
_CHECKED = "oncolink.access_checked"


def interaction_of(stored: Stored) -> Interaction:
    if stored.deleted:
        return "delete"
    if stored.method == "POST" or stored.version_id == 1:
        return "create"
    return "update"


class ReadGuard:
    def __call__(self, conn: Connection, stored: Stored) -> None:
        access = current_access()
        if access is None:
            return
        if access.resource_condition_needed(stored.res_type) and stored.pk not in access.visible_pks(conn,
                                                                                                   [stored.pk]):
            raise NotFound(f"{stored.res_type}/{stored.res_id} is not known")


# Records the caller's accepted writes in their transaction (the audit trail, `audit.recorder`).
WriteRecorder = Callable[[Connection, Caller, Sequence[Stored]], None]


class WriteGuard:
    def __init__(self, recorder: WriteRecorder | None = None) -> None:
        self.recorder = recorder

    def __call__(self, conn: Connection, written: Sequence[Stored]) -> None:
        caller = current()
        transaction = conn.get_transaction()
        if caller is None or conn.info.get(_CHECKED) is transaction:
            return
        conn.info[_CHECKED] = transaction
        access = caller.access
        for stored in written:
            access.require(interaction_of(stored), stored.res_type)
        live = [s for s in written if not s.deleted and access.write_check_needed(s.res_type)]
        visible = access.visible_pks(conn, [s.pk for s in live])
        outside = [s for s in live if s.pk not in visible]
        if outside:
            first = outside[0]
            raise Forbidden(f"{first.res_type}/{first.res_id} concerne un patient hors de votre périmètre "
                            f"(rôle « {access.role} ») : écriture refusée", expression=(first.res_type,))
        if self.recorder is not None:
            self.recorder(conn, caller, written)
