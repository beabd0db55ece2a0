"""A conformance run: its context (client, claims, report, the data it made) and the order of the checks."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import capability as capability_mod
from .capability import Capability
from .client import CheckFailed, ServerClient, body, ensure
from .report import FAIL, PASS, SKIP, Report
from .samples import RunMarks

Resource = dict[str, Any]


class Skipped(Exception):
    """The check cannot run (a feature it needs was not claimed or failed earlier); the message says why."""


@dataclass
class Run:
    client: ServerClient
    capability: Capability
    report: Report
    marks: RunMarks
    only: set[str] = field(default_factory=set)
    created: list[tuple[str, str]] = field(default_factory=list)
    cache: dict[str, object] = field(default_factory=dict)  # data sets shared by several checks

    def wanted(self, family: str, res_type: str | None = None) -> bool:
        return not self.only or family in self.only or (res_type is not None and res_type in self.only)

    def check(self, feature: str, family: str, fn: Callable[[], None], res_type: str | None = None) -> bool:
        """Run one check and record it; True when it passed."""
        if not self.wanted(family, res_type):
            return False
        try:
            fn()
        except Skipped as exc:
            self.report.add(feature, SKIP, str(exc))
            return False
        except CheckFailed as exc:
            self.report.add(feature, FAIL, str(exc))
            return False
        self.report.add(feature, PASS)
        return True

    # --- data -------------------------------------------------------------------------------------------
    def remember(self, res_type: str, res_id: str) -> None:
        if (res_type, res_id) not in self.created:
            self.created.append((res_type, res_id))

    def create(self, resource: Resource) -> Resource:
        """POST and return the stored resource (read back when the server answers without a body)."""
        res_type = resource["resourceType"]
        response = self.client.expect("POST", res_type, (201,), json=resource,
                                      headers={"Prefer": "return=representation"})
        stored = body(response) if response.content else {}
        location = response.headers.get("location", "")
        if not stored.get("id"):
            res_id = location_id(location, res_type)
            ensure(bool(res_id), f"POST {res_type} answered 201 without a body or a Location naming the resource")
            stored = body(self.client.expect("GET", f"{res_type}/{res_id}", (200,)))
        self.remember(res_type, str(stored["id"]))
        return stored

    def search(self, res_type: str, params: list[tuple[str, str]], *, ours: bool = True) -> dict[str, Any]:
        """A search restricted to this run's data when the server claims `_tag`; returns the Bundle."""
        query = list(params)
        if ours and self.capability.param(res_type, "_tag") == "token":
            query.append(("_tag", self.marks.tag_query))
        bundle = body(self.client.expect("GET", res_type, (200,), params=query))
        ensure(bundle.get("resourceType") == "Bundle" and bundle.get("type") == "searchset",
               f"GET {res_type}?{_q(query)} answered a {bundle.get('resourceType')} of type {bundle.get('type')}, "
               "expected a searchset Bundle")
        return bundle


def location_id(location: str, res_type: str) -> str:
    """The id in a Location like `.../Patient/123/_history/1`."""
    parts = location.rstrip("/").split("/")
    if res_type in parts:
        at = len(parts) - 1 - parts[::-1].index(res_type)
        if at + 1 < len(parts):
            return parts[at + 1]
    return ""


def _q(query: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" for k, v in query)


def entries(bundle: dict[str, Any], mode: str | None = "match") -> list[Resource]:
    """Resources of a Bundle's entries (of one search mode; entries without a mode count as matches)."""
    found = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        entry_mode = (entry.get("search") or {}).get("mode", "match")
        if resource.get("resourceType") == "OperationOutcome" or (mode and entry_mode != mode):
            continue
        found.append(resource)
    return found


def ids(resources: Iterable[Resource]) -> list[str]:
    return [f"{r.get('resourceType')}/{r.get('id')}" for r in resources]


def execute(base_url: str, *, token: str | None = None, only: Iterable[str] = (), client: ServerClient | None = None
            ) -> Report:
    """The whole run. Every check family is independent; cleanup runs whatever happened."""
    from .checks import bundles, conditional, crud, formats, history, search

    report = Report(base_url)
    client = client or ServerClient(base_url, token=token)
    try:
        try:
            claims = capability_mod.fetch(client)
        except CheckFailed as exc:
            report.add("capabilities", FAIL, str(exc))
            return report
        fhir_ok = claims.fhir_version.startswith("4.0")
        report.add("capabilities", PASS if fhir_ok else FAIL,
                   "" if fhir_ok else f"fhirVersion is {claims.fhir_version!r}, expected 4.0.x (R4)")
        run = Run(client, claims, report, RunMarks(uuid.uuid4().hex[:12]), {o.strip() for o in only if o.strip()})
        try:
            for family in (crud, history, search, conditional, bundles, formats):
                family.run(run)
        finally:
            cleanup(run)
    finally:
        client.close()
    return report


def cleanup(run: Run) -> None:
    """Delete what the run made (newest first, so references go before their targets), then sweep by tag."""
    types = sorted({t for t, _ in run.created})
    if not run.created:
        return
    if not all(run.capability.claims(t, "delete") for t in types):
        run.report.add("cleanup", SKIP, f"the server claims no delete for every type used; data tagged "
                                         f"{run.marks.tag_query} stays")
        return
    problems: list[str] = []
    for res_type, res_id in reversed(run.created):
        response = run.client.request("DELETE", f"{res_type}/{res_id}")
        if response.status_code not in (200, 202, 204, 404, 410):
            problems.append(f"DELETE {res_type}/{res_id} answered {response.status_code}")
    for res_type in types:
        if run.capability.param(res_type, "_tag") != "token":
            continue
        left = ids(entries(run.search(res_type, [("_count", "100")])))
        for ref in left:
            response = run.client.request("DELETE", ref)
            if response.status_code not in (200, 202, 204, 404, 410):
                problems.append(f"DELETE {ref} answered {response.status_code}")
    run.report.add("cleanup", FAIL if problems else PASS, "; ".join(problems[:5]))
