"""Reference predicates: `Type/id`, a bare id (typed by the parameter when it has one target type),
`:Type` with an id, absolute URLs (local when they start with the server's base) and canonicals
(`url|version`, version ignored). `:identifier` reads the token rows indexed from Reference.identifier.
Chains and `_has` are assembled by the engine from these same rows."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_, or_

from ...store.expressions import one_of
from .. import model
from ..extract.reference import IDENTIFIER
from ..parse import unescape
from ..references import parse_reference
from ..tables import idx_reference
from . import QueryContext, Target, invalid_value, token, unsupported_modifier

TABLE = idx_reference
# Repeats the WHERE of the partial index on `target_url`, so that SQLite knows it may use it.
_HAS_URL = TABLE.c.target_url != ""


def local_target(target: Target, modifier: str | None, value: str, ctx: QueryContext) -> tuple[str, str] | str:
    """(type, id) for a local reference, or the URL to compare with `target_url`."""
    text = unescape(value)
    if not text:
        raise invalid_value(target.code, value, "empty reference")
    if ctx.base_url and text.startswith(ctx.base_url.rstrip("/") + "/"):
        text = text[len(ctx.base_url.rstrip("/")) + 1 :]
    if modifier is not None:
        if "/" in text:
            parsed = parse_reference(text)
            if not parsed or parsed.type != modifier or parsed.base:
                raise invalid_value(target.code, value, f"expected an id or {modifier}/id with ':{modifier}'")
            return parsed.type, parsed.id
        return modifier, text
    if "/" not in text and ":" not in text:
        return (target.targets[0], text) if len(target.targets) == 1 else ("", text)
    parsed = parse_reference(text)
    if parsed is None:
        raise invalid_value(target.code, value, "not a reference")
    if parsed.type and not parsed.base:
        return parsed.type, parsed.id
    return parsed.url or text


def condition(target: Target, modifier: str | None, value: str, ctx: QueryContext) -> ColumnElement[bool]:
    if modifier == "identifier":
        return token.match(target.derived(IDENTIFIER), target.code, value)
    if modifier is not None and not model.is_resource_type(modifier):
        raise unsupported_modifier(target.code, modifier, "reference")
    found = local_target(target, modifier, value, ctx)
    if isinstance(found, str):
        return and_(TABLE.c.target_url == found.split("|", 1)[0], _HAS_URL, TABLE.c.hash_identity == target.identity)
    res_type, res_id = found
    identity = TABLE.c.hash_identity == target.identity
    if res_type:
        local = and_(TABLE.c.target_id == res_id, TABLE.c.target_type == res_type, identity)
    else:
        local = and_(TABLE.c.target_id == res_id, identity)
    types = [res_type] if res_type else list(target.targets)
    if not ctx.base_url or not types:
        return local
    # Written as an absolute URL on this server's base and indexed without knowing that base.
    base = ctx.base_url.rstrip("/")
    absolute = [f"{base}/{t}/{res_id}" for t in types]
    return or_(local, and_(TABLE.c.target_url.in_(absolute), _HAS_URL, identity))


def any_of(target: Target, modifier: str | None, values: list[str], ctx: QueryContext) -> ColumnElement[bool]:
    """The OR of several values. Local references of one type become one `IN` over the target index
    rather than one branch per value: a worklist asks for the Flags of hundreds of patients at once, and
    a branch per value made compiling and planning the query cost more than running it. On PostgreSQL
    the list is one array parameter (`store.expressions.one_of`): a worklist page bound 13,000 values one
    by one, and rendering and parsing them in Python took about 55 ms of its 250 (2026-12-08)."""
    if len(values) == 1 or modifier == "identifier" or (modifier is not None and not model.is_resource_type(modifier)):
        return or_(*(condition(target, modifier, v, ctx) for v in values))
    by_type: dict[str, list[str]] = {}
    others: list[ColumnElement[bool]] = []
    for value in values:
        found = local_target(target, modifier, value, ctx)
        if isinstance(found, tuple) and found[0]:
            by_type.setdefault(found[0], []).append(found[1])
        else:
            others.append(condition(target, modifier, value, ctx))
    identity = TABLE.c.hash_identity == target.identity
    branches = [and_(one_of(TABLE.c.target_id, ids, ctx.dialect), TABLE.c.target_type == t, identity)
                for t, ids in by_type.items()]
    if ctx.base_url and by_type:
        base = ctx.base_url.rstrip("/")
        absolute = [f"{base}/{t}/{i}" for t, ids in by_type.items() for i in ids]
        branches.append(and_(one_of(TABLE.c.target_url, absolute, ctx.dialect), _HAS_URL, identity))
    return or_(*branches, *others)


def table_for(modifier: str | None) -> Table:
    return token.TABLE if modifier == "identifier" else TABLE
