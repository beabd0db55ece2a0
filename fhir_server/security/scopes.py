"""SMART App Launch scopes: parsing and the permission question.

A token's `scope` claim says which FHIR interactions the client may attempt; our role and care-team rules
narrow that further (issue 9), they never widen it. This module only answers "does the scope set allow
interaction X on resource type T in context C", so it stays a pure function of the scope text, cheap
enough to run on every request.

Grammar (SMART App Launch 2.x, with the 1.x forms it still accepts):

    scope    = context "/" type "." perms [ "?" query ]
    context  = "patient" | "user" | "system"
    type     = "*" | a FHIR resource type name
    perms    = v2 letters, a non-empty subsequence of "cruds" in that order
             | v1 "read" (= "rs") | "write" (= "cud") | "*" (= "cruds")
    query    = name=value pairs joined by "&" (v2 letters only), e.g. `?category=laboratory`

Anything that does not start with a context and a slash (`openid`, `fhirUser`, `launch/patient`,
`offline_access`, …) is not a resource scope: it is kept as-is in `ScopeSet.other`. Text that does start
with a context but breaks the grammar is an invalid scope: `parse_scope` raises, `ScopeSet.parse` keeps
it aside in `ScopeSet.invalid` and it grants nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl

Context = Literal["patient", "user", "system"]
Interaction = Literal["create", "read", "update", "delete", "search"]

CONTEXTS: tuple[Context, ...] = ("patient", "user", "system")
# The v2 permission letter each interaction needs.
INTERACTION_LETTERS: dict[Interaction, str] = {
    "create": "c",
    "read": "r",
    "update": "u",
    "delete": "d",
    "search": "s",
}
# FHIR interaction codes (CapabilityStatement.rest.resource.interaction, plus the operations of a batch) to
# the SMART interaction that governs them, following the SMART 2.x table: vread and instance history are
# reads, type history is a search, patch is an update.
FHIR_INTERACTIONS: dict[str, Interaction] = {
    "read": "read",
    "vread": "read",
    "history-instance": "read",
    "history-type": "search",
    "search-type": "search",
    "search": "search",
    "create": "create",
    "update": "update",
    "patch": "update",
    "delete": "delete",
}
_V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_ORDER = "cruds"
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_SCOPE = re.compile(r"(?P<context>patient|user|system)/(?P<type>[^.?/]+)\.(?P<perms>[^?]+)(?:\?(?P<query>.*))?",
                    re.DOTALL)


class ScopeError(ValueError):
    """A resource scope that breaks the SMART grammar; the message says what is wrong with it."""


@dataclass(frozen=True)
class Scope:
    """One parsed resource scope.

    `permissions` holds v2 letters whatever the original form, so v1 and v2 scopes are compared alike;
    `query` keeps a v2 restriction as (name, value) pairs in their order, for the caller to turn into search
    filters. `text` is the scope as the token carried it (for audit and error messages).
    """

    context: Context
    resource_type: str
    permissions: frozenset[str]
    query: tuple[tuple[str, str], ...] = ()
    text: str = field(default="", compare=False)
    version: Literal[1, 2] = field(default=2, compare=False)

    def covers(self, interaction: Interaction, resource_type: str, context: Context | None = None) -> bool:
        """True when this scope names the interaction, the type (or `*`) and the context (or any context),
        regardless of its query restriction."""
        if context is not None and self.context != context:
            return False
        if self.resource_type not in ("*", resource_type):
            return False
        return INTERACTION_LETTERS[interaction] in self.permissions


def parse_scope(text: str) -> Scope:
    """Parse one resource scope (`patient/Observation.rs`, `user/*.read`, `system/Task.cu?status=ready`).

    Raises ScopeError when the text is not a valid resource scope, including non-resource scopes such as
    `openid`; callers that receive a whole `scope` claim should use `ScopeSet.parse` instead.
    """
    match = _SCOPE.fullmatch(text)
    if match is None:
        raise ScopeError(f"not a SMART resource scope: {text!r}")
    context: Context = match["context"]  # type: ignore[assignment]
    resource_type, perms, query_text = match["type"], match["perms"], match["query"]
    if resource_type != "*" and not _RESOURCE_TYPE.fullmatch(resource_type):
        raise ScopeError(f"invalid resource type in scope {text!r}")
    version: Literal[1, 2]
    if perms in _V1_PERMISSIONS:
        if query_text is not None:
            raise ScopeError(f"SMART v1 scope {text!r} cannot carry a query restriction")
        letters, version = _V1_PERMISSIONS[perms], 1
    else:
        letters, version = perms, 2
        if not letters or any(ch not in _ORDER for ch in letters):
            raise ScopeError(f"invalid permissions {perms!r} in scope {text!r} (expected a subset of cruds)")
        positions = [_ORDER.index(ch) for ch in letters]
        if positions != sorted(set(positions)):
            raise ScopeError(f"permissions {perms!r} in scope {text!r} must be in the order c, r, u, d, s, once each")
    query: tuple[tuple[str, str], ...] = ()
    if query_text is not None:
        try:
            pairs = parse_qsl(query_text, keep_blank_values=False, strict_parsing=True)
        except ValueError:
            raise ScopeError(f"invalid query restriction in scope {text!r}") from None
        if not pairs:
            raise ScopeError(f"empty query restriction in scope {text!r}")
        query = tuple(pairs)
    return Scope(context, resource_type, frozenset(letters), query, text, version)


@dataclass(frozen=True)
class Access:
    """What a scope set grants for one interaction on one type.

    `allowed` is False when no scope names it; `unrestricted` is True when at least one scope names it
    without a query. Otherwise `filters` lists the query restrictions of the scopes that name it: the
    client may act on what matches ANY of them (each one being AND-ed search parameters).
    """

    allowed: bool
    unrestricted: bool
    filters: tuple[tuple[tuple[str, str], ...], ...] = ()


@dataclass(frozen=True)
class ScopeSet:
    """All the scopes of a token: resource scopes, other scopes, and invalid ones (which grant nothing)."""

    scopes: tuple[Scope, ...] = ()
    other: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str | Iterable[str] | None) -> ScopeSet:
        """Parse a space-separated `scope` claim (or a list of scopes, as some issuers send in `scp`).

        Never raises: one malformed scope must not void the others, so it lands in `invalid`.
        """
        if value is None:
            items: list[str] = []
        elif isinstance(value, str):
            items = value.split()
        else:
            items = [part for item in value for part in str(item).split()]
        scopes: list[Scope] = []
        other: list[str] = []
        invalid: list[str] = []
        for item in dict.fromkeys(items):  # de-duplicated, order kept
            if item.split("/", 1)[0] in CONTEXTS and "/" in item:
                try:
                    scopes.append(parse_scope(item))
                except ScopeError:
                    invalid.append(item)
            else:
                other.append(item)
        return cls(tuple(scopes), tuple(other), tuple(invalid))

    def access(self, interaction: Interaction, resource_type: str, context: Context | None = None) -> Access:
        """What the scopes grant for `interaction` on `resource_type` in `context` (None: any context)."""
        if interaction not in INTERACTION_LETTERS:
            raise ValueError(f"unknown interaction {interaction!r}")
        filters: list[tuple[tuple[str, str], ...]] = []
        for scope in self.scopes:
            if scope.covers(interaction, resource_type, context):
                if not scope.query:
                    return Access(True, True)
                filters.append(scope.query)
        return Access(bool(filters), False, tuple(dict.fromkeys(filters)))

    def permits(self, interaction: Interaction, resource_type: str, context: Context | None = None) -> bool:
        """True only when some scope grants the interaction WITHOUT a query restriction.

        A scope with `?param=value` grants access to part of the type only; answering True for it would let
        a caller that forgets the filter read everything, so such grants are only visible through `access`.
        """
        return self.access(interaction, resource_type, context).unrestricted

    def contexts(self) -> frozenset[Context]:
        """The contexts the token has resource scopes in (e.g. a patient app has only `patient`)."""
        return frozenset(scope.context for scope in self.scopes)

    def __str__(self) -> str:
        return " ".join([*(s.text for s in self.scopes), *self.other])


def permits(scopes: ScopeSet | str | Iterable[str], interaction: Interaction, resource_type: str,
            context: Context | None = None) -> bool:
    """Convenience form of `ScopeSet.permits` accepting the raw `scope` claim."""
    scope_set = scopes if isinstance(scopes, ScopeSet) else ScopeSet.parse(scopes)
    return scope_set.permits(interaction, resource_type, context)


def interaction_for(fhir_interaction: str) -> Interaction:
    """The SMART interaction governing a FHIR interaction code (`vread` → read, `patch` → update, …)."""
    try:
        return FHIR_INTERACTIONS[fhir_interaction]
    except KeyError:
        raise ValueError(f"no SMART interaction for FHIR interaction {fhir_interaction!r}") from None
