"""The code system implied by a `code` element's required binding (`Patient.gender` →
http://hl7.org/fhir/administrative-gender), so that `gender=http://hl7.org/fhir/administrative-gender|male`
finds what was written as `"gender": "male"`, as FHIR token search expects.

Read once per (type, parameter) from the StructureDefinition snapshots and ValueSets of the loaded
packages; only bindings whose value set draws from exactly one code system give a system.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from fhir_server.validation.packages import PackageRegistry

_PLAIN_PATH = re.compile(r"^[A-Z][A-Za-z]*(\.[a-z][A-Za-z0-9]*)+$")


class ImpliedSystems:
    def __init__(self, packages: PackageRegistry) -> None:
        self.packages = packages
        self._elements: dict[str, dict[str, dict[str, Any]]] = {}
        self.system = lru_cache(maxsize=None)(self._system)

    def _snapshot(self, res_type: str) -> dict[str, dict[str, Any]]:
        found = self._elements.get(res_type)
        if found is None:
            definition = self.packages.resolve(f"http://hl7.org/fhir/StructureDefinition/{res_type}") or {}
            found = {e["path"]: e for e in (definition.get("snapshot") or {}).get("element", []) if "path" in e}
            self._elements[res_type] = found
        return found

    def _system(self, res_type: str, branches: tuple[str, ...]) -> str:
        """The single code system every branch's element is bound to ('' when there is none)."""
        systems = set()
        for branch in branches:
            if not _PLAIN_PATH.match(branch) or branch.split(".", 1)[0] != res_type:
                return ""
            element = self._snapshot(res_type).get(branch)
            if element is None or [t.get("code") for t in element.get("type") or []] != ["code"]:
                return ""
            binding = element.get("binding") or {}
            if binding.get("strength") != "required" or not binding.get("valueSet"):
                return ""
            value_set = self.packages.resolve(binding["valueSet"]) or {}
            includes = (value_set.get("compose") or {}).get("include") or []
            found = {i.get("system") for i in includes}
            if len(found) != 1 or None in found:
                return ""
            systems.update(found)
        return systems.pop() if len(systems) == 1 else ""
