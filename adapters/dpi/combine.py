"""Several messages' plans → one transaction Bundle (group commit, ADR 0015).

A transaction may act on a resource only once, so plans joined in one Bundle must not write the same
resource: `claims` lists what a plan acts on, and the group queue never puts two plans whose claims
clash in one group. The one exception is a shared resource (Practitioner, Medication) that two plans
write with the very same content: the later plan's entry is dropped and its references point at the
earlier one's `fullUrl`, as if one message had named that prescriber or drug twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .transform import Plan

# A claim's token: the content fingerprint of a shared resource (equal tokens may share a group), or
# None for what one message alone may act on in a transaction.
Claims = dict[str, str | None]


def entry_key(entry: dict[str, Any]) -> str | None:
    """The resource an entry acts on, as `Type?query` or `Type/id` (None for a plain create)."""
    request = entry["request"]
    if request["method"] == "POST":
        condition = request.get("ifNoneExist")
        return f"{request['url']}?{condition}" if condition else None
    return str(request["url"])


def claims(plan: Plan, keys: list[str]) -> Claims:
    """What a message acts on: its lock keys (the patients it is about) and every resource its plan
    writes; shared resources carry their fingerprint."""
    out: Claims = dict.fromkeys(keys)
    for entry in plan.bundle["entry"]:
        key = entry_key(entry)
        if key is not None:
            out[key] = plan.shared_written.get(key)
    return out


def clash(a: Claims, b: Claims) -> bool:
    return any(key in b and (token is None or b[key] != token) for key, token in a.items())


@dataclass
class Combined:
    bundle: dict[str, Any]
    # Per plan, the positions in `bundle` of its entries (a dropped shared entry: the position of the kept one).
    positions: list[list[int]]


def combine(plans: list[Plan]) -> Combined:
    """One Bundle holding every plan's entries, in plan order; plans must not clash (see `claims`)."""
    entries: list[dict[str, Any]] = []
    kept: dict[str, tuple[int, str]] = {}  # shared key → (position, fullUrl) of the entry that writes it
    positions = []
    for plan in plans:
        aliases: dict[str, str] = {}
        mine, own = [], []
        for entry in plan.bundle["entry"]:
            key = entry_key(entry)
            if key is not None and key in plan.shared_written and key in kept:
                position, full_url = kept[key]
                aliases[entry["fullUrl"]] = full_url
                mine.append(position)
                continue
            if key is not None and key in plan.shared_written:
                kept[key] = (len(entries), entry["fullUrl"])
            mine.append(len(entries))
            own.append(len(entries))
            entries.append(entry)
        if aliases:
            for position in own:
                entries[position] = _rewrite(entries[position], aliases)
        positions.append(mine)
    return Combined({"resourceType": "Bundle", "type": "transaction", "entry": entries}, positions)


def _rewrite(node: Any, aliases: dict[str, str]) -> Any:
    """A copy of `node` with references to dropped entries moved to the kept ones (the plan itself is
    left as it was: the group may fall back to sending it alone)."""
    if isinstance(node, dict):
        return {k: (aliases.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, aliases))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, aliases) for v in node]
    return node
