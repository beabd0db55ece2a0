"""A nurse handles an alert: the Task is completed with its outcome, the Flag closed, both recorded.

Kept apart from any page or route so the worklist, an API operation or a script share one behaviour."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ..errors import BadRequest, Conflict
from ..repository import Repository
from ..resources import instant, now_ms
from . import alerts
from .tree import Tree

OPEN = ("draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold")


def handle_alert(repo: Repository, conn: Connection, tree: Tree, task_id: str, *, outcome: str, note: str = "",
                 who: dict[str, Any] | None = None, if_match: str | None = None) -> dict[str, Any]:
    """Complete Task/{task_id} with `outcome` (a code of the tree's outcomes); answer the new Task."""
    if outcome not in tree.outcomes:
        raise BadRequest(f"Unknown outcome {outcome!r}; expected one of {', '.join(tree.outcomes)}",
                         expression=("outcome",))
    task = dict(repo.current_or_404(conn, "Task", task_id).content or {})
    if task.get("status") not in OPEN:
        raise Conflict(f"Task/{task_id} is already {task.get('status')}; the alert was handled")
    when = instant(now_ms())
    label = tree.outcomes[outcome]
    task["status"] = "completed"
    task["statusReason"] = {"text": label}
    task["output"] = [{"type": {"text": "Conduite tenue"}, "valueString": label}]
    task["lastModified"] = when
    if note.strip():
        task["note"] = [*(task.get("note") or []), {"text": note.strip(), "time": when}]
    repo.update(conn, "Task", task_id, task, if_match=if_match)
    targets = [f"Task/{task_id}"]
    focus = str((task.get("focus") or {}).get("reference", ""))
    if focus.startswith("Flag/"):
        flag = dict(repo.read(conn, "Flag", focus[5:]).content or {})
        if flag.get("status") == "active":
            flag["status"] = "inactive"
            flag["period"] = {**(flag.get("period") or {}), "end": when}
            repo.update(conn, "Flag", focus[5:], flag)
        targets.append(focus)
    alerts.record(repo, conn, targets, when, who or {"display": "Infirmière de coordination"},
                  f"Alerte traitée : {label}")
    return dict(repo.read(conn, "Task", task_id).content or {})
