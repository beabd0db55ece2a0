"""Type and system history: what this run wrote since it began must be listed."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..client import body, ensure
from ..run import Run, ids
from .fixture import SearchData, search_data


def run(run: Run) -> None:
    if run.capability.claims("Patient", "history-type"):
        run.check("history-type Patient", "history", lambda: listed(run, "Patient/_history", search_data(run)),
                  "Patient")
    if "history-system" in run.capability.system_interactions:
        run.check("history-system", "history", lambda: listed(run, "_history", search_data(run)))


def listed(run: Run, url: str, d: SearchData) -> None:
    stamp = str((d.a.get("meta") or {}).get("lastUpdated") or "")
    ensure(bool(stamp), "the created Patient has no meta.lastUpdated")
    since = (datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(seconds=5)).isoformat()
    seen: list[str] = []
    next_url: str | None = url
    params: dict[str, str] | None = {"_since": since}
    for _ in range(20):
        if not next_url:
            break
        bundle = body(run.client.expect("GET", next_url, (200,), params=params))
        ensure(bundle.get("resourceType") == "Bundle" and bundle.get("type") == "history",
               f"GET {url} answered a {bundle.get('resourceType')} of type {bundle.get('type')}, expected a history "
               "Bundle")
        seen += ids(e.get("resource") or {} for e in bundle.get("entry") or [])
        next_url = {link.get("relation"): link.get("url") for link in bundle.get("link") or []}.get("next")
        params = None
    for resource in (d.a, d.b):
        ref = f"Patient/{resource['id']}"
        ensure(ref in seen, f"GET {url}?_since={since} does not list {ref}, written after that instant")
