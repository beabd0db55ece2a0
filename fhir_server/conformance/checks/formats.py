"""`_format`: each format the CapabilityStatement lists must be served on a read."""

from __future__ import annotations

from ..client import ensure
from ..run import Run
from .fixture import search_data


def run(run: Run) -> None:
    if not run.capability.claims("Patient", "read"):
        return
    for fmt in run.capability.formats:
        run.check(f"_format {fmt}", "format", lambda f=fmt: served(run, f), "Patient")


def served(run: Run, fmt: str) -> None:
    patient_id = search_data(run).a["id"]
    url = f"Patient/{patient_id}"
    response = run.client.expect("GET", url, (200,), params={"_format": fmt}, headers={"Accept": "*/*"})
    content_type = response.headers.get("content-type", "")
    want = "xml" if "xml" in fmt else "json"
    ensure(want in content_type, f"GET {url}?_format={fmt} answered content type {content_type!r}, expected {want}")
    if want == "json":
        ensure(response.json().get("id") == patient_id, f"GET {url}?_format={fmt} did not answer the Patient")
    else:
        ensure(response.text.lstrip().startswith("<"), f"GET {url}?_format={fmt} did not answer XML")
