"""Read side of search: one predicate builder per parameter type, over the same index tables the
extractors of `extract/` fill.

Every builder has the same shape: `condition(target, modifier, value, ctx)` returns the WHERE clause,
on its own table, that one OR-ed value stands for; the engine combines them into
`resource.pk IN (SELECT res_pk FROM table WHERE c1 OR c2 …)` and handles what is common to all types
(`:missing`, `:not`, chains, `_has`). Builders raise BadRequest with a precise message for malformed
values and unsupported modifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir_server.errors import BadRequest

from ..hashing import hash_parts, identity_hash


@dataclass(frozen=True)
class Target:
    """Which rows a clause reads: hash namespace (resource type, or "Resource") and parameter key."""

    hash_type: str
    key: str
    code: str
    targets: tuple[str, ...] = ()

    @property
    def identity(self) -> int:
        return identity_hash(self.hash_type, self.key)

    def hash(self, *parts: str) -> int:
        return hash_parts(self.hash_type, self.key, *parts)

    def derived(self, suffix: str) -> Target:
        return Target(self.hash_type, self.key + suffix, self.code, self.targets)


@dataclass(frozen=True)
class QueryContext:
    dialect: str
    # Absolute references starting with this base are local (`http://host/fhir/Patient/1`).
    base_url: str
    now_us: int


def unsupported_modifier(code: str, modifier: str, param_type: str) -> BadRequest:
    return BadRequest(
        f"Modifier ':{modifier}' is not supported on {param_type} parameter '{code}'", code="not-supported"
    )


def invalid_value(code: str, value: str, why: str) -> BadRequest:
    return BadRequest(f"Invalid value '{value}' for search parameter '{code}': {why}", code="invalid")
