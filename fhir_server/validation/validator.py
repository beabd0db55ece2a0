"""One entry point for validation: structure, core definitions and profiles together.

`validate()` is the full check that `$validate` and `oncolink validate` run: R4 structure, then the
resource type's core StructureDefinition (invariants, bindings, references, extensions), then every
profile asked for and every profile the resource claims in `meta.profile`. `check_claimed()` is the
cheaper check the write path runs after its structural validation: only the claimed profiles.

A claimed profile the server does not hold is a warning by default (the resource may conform to a
guide we do not know); `unknown_profile="error"` turns it into an error. A profile explicitly asked
for and unknown is always an error: we cannot do what was asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import Issue
from .model import ProfileError
from .packages import PackageRegistry
from .primitives import SD_BASE
from .profile import ProfileValidator
from .structure import StructureValidator

BLOCKING = frozenset({"error", "fatal"})


def has_errors(issues: Iterable[Issue]) -> bool:
    return any(i.severity in BLOCKING for i in issues)


def _merge(first: list[Issue], more: Iterable[Issue]) -> list[Issue]:
    """`first` (structural issues) wins over a later issue of the same severity, code and place;
    later issues are kept once each, and one code problem per place is enough (a code outside its
    code system is also outside the value set)."""
    taken = {(i.severity, i.code, i.expression) for i in first}
    seen = set(first)
    out = list(first)
    for issue in more:
        place = (issue.severity, issue.code, issue.expression)
        if issue in seen or place in taken:
            continue
        seen.add(issue)
        if issue.code == "code-invalid":
            taken.add(place)
        out.append(issue)
    return out


class FhirValidator:
    """Structure + profiles over one package registry; thread-safe, caches everything it compiles."""

    def __init__(self, registry: PackageRegistry, structure: StructureValidator | None = None, *,
                 unknown_profile: str = "warning") -> None:
        if unknown_profile not in ("warning", "error"):
            raise ValueError("unknown_profile must be 'warning' or 'error'")
        self.registry = registry
        self.structure = structure or StructureValidator(registry)
        self.profiles = ProfileValidator(registry, value_sets=self.structure.compiler.value_sets)
        self.unknown_profile = unknown_profile

    def knows(self, url: str) -> bool:
        return self.profiles.compiler.knows(url)

    def validate(self, resource: Any, *, resource_type: str | None = None, profiles: Sequence[str] = (),
                 claimed: bool = True) -> list[Issue]:
        """Every issue of `resource`; `profiles` are checked in addition to the claimed ones."""
        issues = self.structure.validate(resource, resource_type)
        if not isinstance(resource, dict) or resource.get("resourceType") not in self.structure.resource_types:
            return issues
        if resource_type is not None and resource.get("resourceType") != resource_type:
            return issues
        more: list[Issue] = []
        core = SD_BASE + str(resource["resourceType"])
        for url in dict.fromkeys(profiles):
            if url != core:
                more.extend(self._against(resource, url, requested=True, where=None))
        if claimed:
            more.extend(self._claimed(resource, skip={core, *profiles}))
        # A profile's snapshot carries everything of the core definition: checking the core type
        # separately is only needed when no known profile was checked.
        claims = (resource.get("meta") or {}).get("profile") if claimed else None
        checked = [*profiles, *(claims if isinstance(claims, list) else [])]
        if not any(isinstance(u, str) and u != core and self.knows(u.split("|", 1)[0]) for u in checked):
            more = self._against(resource, core, requested=True, where=None) + more
        return _merge(issues, more)

    def check_claimed(self, resource: dict[str, Any]) -> list[Issue]:
        """The issues of the profiles `resource` claims; call after the structural check passed."""
        meta = resource.get("meta")
        if not isinstance(meta, dict) or not meta.get("profile"):
            return []
        return _merge([], self._claimed(resource, skip=set()))

    def _claimed(self, resource: dict[str, Any], skip: set[str]) -> list[Issue]:
        out: list[Issue] = []
        claimed = (resource.get("meta") or {}).get("profile") or []
        resource_type = resource.get("resourceType")
        for index, url in enumerate(claimed if isinstance(claimed, list) else []):
            if not isinstance(url, str) or url in skip:
                continue
            out.extend(self._against(resource, url, requested=False, where=f"{resource_type}.meta.profile[{index}]"))
        return out

    def _against(self, resource: dict[str, Any], url: str, *, requested: bool, where: str | None) -> list[Issue]:
        expression = (where,) if where else ()
        if not self.knows(url.split("|", 1)[0]):
            severity = "error" if requested else self.unknown_profile
            return [Issue(severity, "not-found", f"Profile {url} is not known to this server, so the resource was not "
                          "checked against it", expression)]
        try:
            return self.profiles.validate(resource, url.split("|", 1)[0])
        except ProfileError as exc:
            return [Issue("error" if requested else "warning", "not-supported",
                          f"Profile {url} cannot be used for validation: {exc}", expression)]


class WriteValidator:
    """What the repository calls on every create, update and patch (`validate(body, res_type)`):
    the structural check and, when the structure is sound and the resource claims profiles, those
    profiles. Resources without `meta.profile` cost exactly the structural check."""

    def __init__(self, validator: FhirValidator) -> None:
        self.fhir = validator
        self.structure = validator.structure

    @property
    def resource_types(self) -> frozenset[str]:
        return self.structure.resource_types

    def validate(self, resource: object, expected_type: str | None = None) -> list[Issue]:
        issues = self.structure.validate(resource, expected_type)
        if has_errors(issues) or not isinstance(resource, dict):
            return issues
        return _merge(issues, self.fhir.check_claimed(resource))
