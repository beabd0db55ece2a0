"""Query strings → typed search requests, before any SQL.

Separates what the client asked (`Clause`s: parameter, modifier, chain, OR-values) from how it is
answered, and checks the syntax of everything that is not value-specific: names, modifiers, chains,
`_has`, result parameters. Values are split on unescaped commas here; each predicate module parses
its own value syntax (prefixes, `system|code`, `value|system|code`…).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from fhir_server.errors import BadRequest

RESULT_PARAMS = frozenset({
    "_sort", "_count", "_total", "_summary", "_elements", "_include", "_revinclude", "_contained",
    "_containedType", "_format", "_pretty", "_cursor", "_type",
})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
SUMMARY_VALUES = frozenset({"true", "false", "text", "data", "count"})
TOTAL_VALUES = frozenset({"none", "estimate", "accurate"})


@dataclass(frozen=True)
class Link:
    """One step of a chain: `subject:Patient` → code 'subject', type 'Patient'."""

    code: str
    type: str | None = None


@dataclass(frozen=True)
class Has:
    """`_has:Observation:patient:…`: resources of `type` whose `param` references the current one."""

    type: str
    param: str


@dataclass
class Clause:
    """One `name=value` pair of the query: an AND term whose `values` are OR-ed."""

    name: str
    raw_value: str
    code: str
    modifier: str | None
    chain: list[Link]
    has: list[Has]
    values: list[str]


@dataclass
class Include:
    source: str  # resource type the references are read from, or "*"
    param: str  # search parameter code, or "*"
    target: str | None
    iterate: bool
    reverse: bool
    raw: str


@dataclass
class SearchRequest:
    clauses: list[Clause] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (code, descending)
    count: int | None = None
    total: str | None = None
    summary: str | None = None
    elements: list[str] | None = None
    includes: list[Include] = field(default_factory=list)
    types: list[str] | None = None
    cursor: str | None = None
    # Result parameters as given, for the self link.
    result_pairs: list[tuple[str, str]] = field(default_factory=list)


def split_unescaped(value: str, separator: str) -> list[str]:
    """Split on `separator` not preceded by a backslash; escapes are kept for the next level."""
    if "\\" not in value:  # the common case, and long OR lists (a worklist's hundreds of patients) stay cheap
        return value.split(separator)
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            current.append(value[i : i + 2])
            i += 2
            continue
        if ch == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return re.sub(r"\\([\\,$|])", r"\1", value)


def parse_pairs(query: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(query, keep_blank_values=True, strict_parsing=False, max_num_fields=1000)
    except ValueError as exc:
        raise BadRequest(f"Malformed query string: {exc}", code="invalid") from exc


def _split_name(name: str) -> tuple[str, str | None]:
    code, _, modifier = name.partition(":")
    if not _NAME.match(code):
        raise BadRequest(f"Invalid search parameter name '{name}'", code="invalid")
    return code, (modifier or None)


def parse_clause(name: str, value: str) -> Clause:
    has: list[Has] = []
    rest = name
    while rest.startswith("_has:"):
        parts = rest.split(":", 3)
        if len(parts) < 4 or not all(parts[1:4]):
            raise BadRequest(
                f"Invalid _has parameter '{name}': expected _has:Type:reference-parameter:parameter",
                code="invalid",
            )
        has.append(Has(parts[1], parts[2]))
        rest = parts[3]
    segments = rest.split(".")
    links: list[Link] = []
    for segment in segments[:-1]:
        code, modifier = _split_name(segment)
        links.append(Link(code, modifier))
    code, modifier = _split_name(segments[-1])
    return Clause(name, value, code, modifier, links, has, split_unescaped(value, ","))


def _int(name: str, value: str, minimum: int) -> int:
    if not re.fullmatch(r"\d+", value) or int(value) < minimum:
        raise BadRequest(f"Invalid {name} value '{value}': expected an integer >= {minimum}", code="invalid")
    return int(value)


def _include(name: str, value: str) -> Include:
    base, _, modifier = name.partition(":")
    if modifier not in ("", "iterate", "recurse"):
        raise BadRequest(f"Unknown modifier '{modifier}' on {base}", code="invalid")
    if value == "*":
        return Include("*", "*", None, bool(modifier), base == "_revinclude", f"{name}={value}")
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise BadRequest(
            f"Invalid {base} value '{value}': expected ResourceType:search-parameter[:targetType]",
            code="invalid",
        )
    target = parts[2] if len(parts) == 3 else None
    return Include(parts[0], parts[1], target, bool(modifier), base == "_revinclude", f"{name}={value}")


def parse_request(pairs: list[tuple[str, str]]) -> SearchRequest:
    """Sort the pairs into clauses and result parameters, checking result parameters' syntax."""
    request = SearchRequest()
    for name, value in pairs:
        base = name.split(":", 1)[0]
        if base not in RESULT_PARAMS:
            if value == "" or name == "":
                continue  # an empty parameter means no constraint
            request.clauses.append(parse_clause(name, value))
            continue
        if base in ("_format", "_pretty"):
            continue
        if base in ("_include", "_revinclude"):
            request.includes.append(_include(name, value))
        elif base == "_sort":
            for key in value.split(","):
                key = key.strip()
                descending = key.startswith("-")
                code = key[1:] if descending else key
                if not _NAME.match(code):
                    raise BadRequest(f"Invalid _sort key '{key}'", code="invalid")
                request.sort.append((code, descending))
        elif base == "_count":
            request.count = _int("_count", value, 0)
        elif base == "_total":
            if value not in TOTAL_VALUES:
                raise BadRequest(f"Invalid _total value '{value}': expected none, estimate or accurate")
            request.total = value
        elif base == "_summary":
            if value not in SUMMARY_VALUES:
                raise BadRequest(f"Invalid _summary value '{value}': expected true, false, text, data or count")
            request.summary = value
        elif base == "_elements":
            request.elements = [e.strip() for e in value.split(",") if e.strip()]
        elif base == "_type":
            request.types = [t.strip() for t in value.split(",") if t.strip()]
        elif base == "_cursor":
            request.cursor = value
            continue  # never repeated in links: each link carries its own cursor
        elif base in ("_contained", "_containedType") and value not in ("false", "container"):
            raise BadRequest(f"{base}={value} is not supported: contained resources are not searched",
                             code="not-supported")
        request.result_pairs.append((name, value))
    return request
