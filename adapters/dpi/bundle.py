"""One FHIR transaction Bundle per message, keyed on business identifiers.

Every resource is written with a conditional interaction on its identifier (PUT `Type?identifier=…`,
POST with `ifNoneExist`, PATCH `Type?…`), so resending a message finds the same resources instead of
creating new ones. Entries get `urn:uuid:` fullUrls and reference each other through them; a resource
the message does not write is referenced conditionally (`Patient?identifier=…`), which the server
resolves against the database.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote


def _escape_token(value: str) -> str:
    """FHIR search escaping for one side of a token (`\\`, `,`, `|`, `$`)."""
    for char in ("\\", ",", "|", "$"):
        value = value.replace(char, "\\" + char)
    return value


def token_value(system: str | None, value: str) -> str:
    """A token search value, escaped but not URL-encoded (for httpx `params`)."""
    return f"{_escape_token(system)}|{_escape_token(value)}" if system else _escape_token(value)


def token_query(param: str, system: str | None, value: str) -> str:
    # ":" is encoded so that no "scheme://" appears in a conditional reference (servers take those for absolute URLs).
    return f"{param}={quote(token_value(system, value), safe='/|')}"


def identifier_query(identifier: dict[str, Any], param: str = "identifier") -> str:
    return token_query(param, identifier.get("system"), identifier["value"])


class Transaction:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._by_key: dict[str, str] = {}
        self._resources: dict[str, dict[str, Any]] = {}
        self.targets: list[str] = []

    def __len__(self) -> int:
        return len(self.entries)

    def _add(self, key: str | None, resource: dict[str, Any] | None, request: dict[str, Any],
             target: bool = True) -> str:
        full_url = f"urn:uuid:{uuid.uuid4()}"
        entry: dict[str, Any] = {"fullUrl": full_url}
        if resource is not None:
            entry["resource"] = resource
            self._resources[full_url] = resource
        entry["request"] = request
        self.entries.append(entry)
        if key:
            self._by_key[key] = full_url
        if target:
            self.targets.append(full_url)
        return full_url

    def known(self, res_type: str, query: str) -> str | None:
        return self._by_key.get(f"{res_type}?{query}")

    def resource(self, full_url: str) -> dict[str, Any] | None:
        return self._resources.get(full_url)

    def upsert(self, resource: dict[str, Any], query: str) -> str:
        """Conditional update: create, or replace the one resource matching `query`. A second upsert of
        the same key in one message keeps the first (a transaction touches a resource once)."""
        res_type = resource["resourceType"]
        existing = self.known(res_type, query)
        if existing:
            return existing
        return self._add(f"{res_type}?{query}", resource, {"method": "PUT", "url": f"{res_type}?{query}"})

    def create_if_absent(self, resource: dict[str, Any], query: str) -> str:
        """Conditional create: leaves an existing match untouched (orders must not rewrite identities)."""
        res_type = resource["resourceType"]
        existing = self.known(res_type, query)
        if existing:
            return existing
        return self._add(f"{res_type}?{query}", resource,
                         {"method": "POST", "url": res_type, "ifNoneExist": query}, target=False)

    def put(self, resource: dict[str, Any], *, if_match: str | None = None, target: bool = True) -> str:
        res_type, res_id = resource["resourceType"], resource["id"]
        request: dict[str, Any] = {"method": "PUT", "url": f"{res_type}/{res_id}"}
        if if_match:
            request["ifMatch"] = if_match
        return self._add(f"{res_type}/{res_id}", resource, request, target)

    def patch(self, res_type: str, query: str, operations: list[dict[str, Any]]) -> None:
        parameters = {"resourceType": "Parameters", "parameter": operations}
        self._add(None, parameters, {"method": "PATCH", "url": f"{res_type}?{query}"}, target=False)
        self.targets.append(f"{res_type}?{query}")

    def reference(self, res_type: str, query: str) -> str:
        """The entry's fullUrl when this message writes it, else a conditional reference."""
        return self.known(res_type, query) or f"{res_type}?{query}"

    def bundle(self) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "transaction", "entry": self.entries}


def patch_operation(kind: str, path: str, value_key: str | None = None, value: Any = None,
                    name: str | None = None) -> dict[str, Any]:
    """One FHIRPath Patch `operation` parameter."""
    parts: list[dict[str, Any]] = [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path}]
    if name is not None:
        parts.append({"name": "name", "valueString": name})
    if value_key is not None:
        parts.append({"name": "value", value_key: value})
    return {"name": "operation", "part": parts}
