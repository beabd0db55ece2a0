"""Instance interactions per resource type: create, read, vread, update, update-as-create, patch
(JSON Patch, FHIRPath Patch), If-Match versioning, instance history, search-type, delete."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from ..client import FHIR_JSON, CheckFailed, body, ensure
from ..run import Run, Skipped, entries
from ..samples import LIFECYCLE

JSON_PATCH = "application/json-patch+json"


def run(run: Run) -> None:
    for res_type, build in LIFECYCLE.items():
        if res_type in run.capability.types:
            Lifecycle(run, res_type, build(run.marks)).run()
    others = sorted(set(run.capability.types) - set(LIFECYCLE))
    if others and run.wanted("types"):
        run.report.add("other resource types", "skip",
                       f"{len(others)} claimed types have no built-in test data, their interactions are not exercised")


def etag_version(etag: str | None) -> str | None:
    """`W/"3"` → `3`."""
    if not etag:
        return None
    return etag.removeprefix("W/").strip('"')


class Lifecycle:
    """One resource through every interaction its type claims; each step needs the ones before it."""

    def __init__(self, run: Run, res_type: str, resource: dict[str, Any]) -> None:
        self.run_ = run
        self.client = run.client
        self.type = res_type
        self.resource = resource
        self.current: dict[str, Any] | None = None
        self.versions: list[str] = []

    def step(self, interaction: str, fn: Any, label: str | None = None) -> None:
        name = f"{label or interaction} {self.type}"
        if not self.run_.capability.claims(self.type, interaction):
            return
        if interaction == "create" and not self.run_.wanted("create", self.type):
            # Later steps need the resource even when only they were asked for.
            with contextlib.suppress(CheckFailed):
                self.create()
            return
        self.run_.check(name, interaction.split("-")[0], fn, self.type)

    def need(self) -> dict[str, Any]:
        if self.current is None:
            raise Skipped("needs a created resource (create failed or is not claimed)")
        return self.current

    def run(self) -> None:
        self.step("create", self.create)
        self.step("read", self.read)
        self.step("vread", self.vread)
        self.step("update", self.update)
        if self.run_.capability.types[self.type].update_create:
            self.step("update", self.update_create, "update-as-create")
        if self.run_.capability.claims(self.type, "patch"):
            formats = self.run_.capability.patch_formats or [JSON_PATCH]
            if JSON_PATCH in formats:
                self.step("patch", self.json_patch, "patch (JSON Patch)")
            if FHIR_JSON in formats or "application/fhir+xml" in formats:
                self.step("patch", self.fhirpath_patch, "patch (FHIRPath Patch)")
        if self.run_.capability.types[self.type].versioning == "versioned-update":
            self.step("update", self.if_match, "versioning If-Match")
        self.step("history-instance", self.history_instance)
        self.step("search-type", self.search_type)
        self.step("delete", self.delete)

    def _accept(self, stored: dict[str, Any], action: str) -> None:
        ensure(stored.get("resourceType") == self.type and bool(stored.get("id")),
               f"{action} did not give back a {self.type} with an id")
        version = (stored.get("meta") or {}).get("versionId")
        ensure(bool(version), f"{action}: the stored {self.type} has no meta.versionId")
        self.current = stored
        self.versions.append(str(version))

    def create(self) -> None:
        stored = self.run_.create(self.resource)
        self._accept(stored, f"POST {self.type}")
        tags = [(t.get("system"), t.get("code")) for t in (stored.get("meta") or {}).get("tag") or []]
        ensure((self.run_.marks.tag["system"], self.run_.marks.tag["code"]) in tags,
               f"POST {self.type}: the stored resource lost its meta.tag")

    def read(self) -> None:
        current = self.need()
        response = self.client.expect("GET", f"{self.type}/{current['id']}", (200,))
        got = body(response)
        ensure(got.get("id") == current["id"], f"GET {self.type}/{current['id']} answered id {got.get('id')!r}")
        version = etag_version(response.headers.get("etag"))
        ensure(version == self.versions[-1],
               f"GET {self.type}/{current['id']}: ETag {response.headers.get('etag')!r}, expected "
               f"W/\"{self.versions[-1]}\"")

    def vread(self) -> None:
        current = self.need()
        first = self.versions[0]
        url = f"{self.type}/{current['id']}/_history/{first}"
        got = body(self.client.expect("GET", url, (200,)))
        ensure(got.get("id") == current["id"] and (got.get("meta") or {}).get("versionId") == first,
               f"GET {url} answered version {(got.get('meta') or {}).get('versionId')!r} of {got.get('id')!r}")

    def update(self) -> None:
        current = self.need()
        changed = {**current, "language": "fr-FR"}
        url = f"{self.type}/{current['id']}"
        response = self.client.expect("PUT", url, (200,), json=changed, headers={"Prefer": "return=representation"})
        stored = body(response) if response.content else body(self.client.expect("GET", url, (200,)))
        ensure(stored.get("language") == "fr-FR", f"PUT {url}: the change (language fr-FR) is not in the result")
        before = self.versions[-1]
        self._accept(stored, f"PUT {url}")
        ensure(self.versions[-1] != before, f"PUT {url} kept versionId {before}: an update must make a new version")

    def update_create(self) -> None:
        new_id = f"cf-{uuid.uuid4().hex[:16]}"
        resource = {**self.resource, "id": new_id}
        url = f"{self.type}/{new_id}"
        response = self.client.request("PUT", url, json=resource)
        if response.status_code in (200, 201):
            self.run_.remember(self.type, new_id)
        ensure(response.status_code == 201, f"PUT {url} on a new id answered {response.status_code}, expected 201 "
                                            "(updateCreate is claimed)")
        got = body(self.client.expect("GET", url, (200,)))
        ensure(got.get("id") == new_id, f"GET {url} after update-as-create answered id {got.get('id')!r}")

    def _patched(self, url: str, response: Any, language: str, kind: str) -> None:
        stored = body(response) if response.content else body(self.client.expect("GET", url, (200,)))
        if stored.get("resourceType") != self.type:
            stored = body(self.client.expect("GET", url, (200,)))
        ensure(stored.get("language") == language, f"{kind} on {url}: language is {stored.get('language')!r}, "
                                                    f"expected {language!r}")
        self._accept(stored, f"PATCH {url}")

    def json_patch(self) -> None:
        current = self.need()
        url = f"{self.type}/{current['id']}"
        response = self.client.expect("PATCH", url, (200,), json=[{"op": "add", "path": "/language", "value": "en"}],
                                      content_type=JSON_PATCH, headers={"Prefer": "return=representation"})
        self._patched(url, response, "en", "JSON Patch")

    def fhirpath_patch(self) -> None:
        current = self.need()
        url = f"{self.type}/{current['id']}"
        if current.get("language"):
            part = [{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": f"{self.type}.language"}]
        else:
            part = [{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": self.type},
                    {"name": "name", "valueString": "language"}]
        parameters = {"resourceType": "Parameters",
                      "parameter": [{"name": "operation", "part": [*part, {"name": "value", "valueCode": "de"}]}]}
        response = self.client.expect("PATCH", url, (200,), json=parameters,
                                      headers={"Prefer": "return=representation"})
        self._patched(url, response, "de", "FHIRPath Patch")

    def if_match(self) -> None:
        current = self.need()
        url = f"{self.type}/{current['id']}"
        stale = self.client.request("PUT", url, json={**current, "language": "it"},
                                    headers={"If-Match": 'W/"999999"'})
        ensure(stale.status_code in (409, 412),
               f"PUT {url} with If-Match W/\"999999\" (not the current version) answered {stale.status_code}, "
               "expected 412")
        fresh = self.client.expect("PUT", url, (200,), json={**current, "language": "it"},
                                   headers={"If-Match": f'W/"{self.versions[-1]}"', "Prefer": "return=representation"})
        stored = body(fresh) if fresh.content else body(self.client.expect("GET", url, (200,)))
        self._accept(stored, f"PUT {url} with If-Match")

    def history_instance(self) -> None:
        current = self.need()
        url = f"{self.type}/{current['id']}/_history"
        bundle = body(self.client.expect("GET", url, (200,)))
        ensure(bundle.get("resourceType") == "Bundle" and bundle.get("type") == "history",
               f"GET {url} answered a {bundle.get('resourceType')} of type {bundle.get('type')}, expected a history "
               "Bundle")
        listed = [str(((e.get("resource") or {}).get("meta") or {}).get("versionId"))
                  for e in bundle.get("entry") or []]
        expected = list(reversed(self.versions))
        ensure(listed[:len(expected)] == expected,
               f"GET {url} listed versions {listed}, expected {expected} (newest first)")

    def search_type(self) -> None:
        current = self.need()
        params = [("_id", current["id"])] if self.run_.capability.param(self.type, "_id") else []
        found = [r.get("id") for r in entries(self.run_.search(self.type, params))]
        ensure(current["id"] in found, f"GET {self.type}?_id={current['id']} did not find the resource just written")

    def delete(self) -> None:
        current = self.need()
        url = f"{self.type}/{current['id']}"
        self.client.expect("DELETE", url, (200, 202, 204))
        after = self.client.request("GET", url)
        ensure(after.status_code in (404, 410), f"GET {url} after DELETE answered {after.status_code}, expected 410 "
                                                "(or 404)")
        self.current = None

