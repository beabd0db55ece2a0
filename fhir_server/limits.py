"""What a read answers when it asks for more than the server's limits allow (ADR 0012).

Under the default lenient handling the server serves what the limit allows and says so in a warning;
with `Prefer: handling=strict` the same issue is an error (400): the client asked not to be given a
silently degraded answer. Search and history share these so that a `_count` over the maximum reads
the same wherever it is sent.
"""

from __future__ import annotations

from .errors import BadRequest, Issue


def over_limit(diagnostics: str, served: str, expression: tuple[str, ...], strict: bool) -> Issue:
    """The warning to report (`diagnostics`, then what was `served` instead), or BadRequest
    (`too-costly`) under strict handling."""
    if strict:
        raise BadRequest([Issue("error", "too-costly", diagnostics, expression)])
    return Issue("warning", "too-costly", f"{diagnostics}; {served}", expression)


def page_size(requested: int, maximum: int, strict: bool) -> tuple[int, Issue | None]:
    """The page size to serve for `_count=requested`, and the warning when it was cut down."""
    if requested <= maximum:
        return requested, None
    issue = over_limit(f"_count={requested} is over the maximum page size of {maximum} (ONCOLINK_MAX_PAGE_SIZE)",
                       f"pages of {maximum} are returned", ("_count",), strict)
    return maximum, issue
