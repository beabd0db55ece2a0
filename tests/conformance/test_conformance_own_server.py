"""`oncolink conformance` against our own server, on SQLite and PostgreSQL: every claimed feature passes,
and the run leaves none of its data behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from fhir_server.conformance.run import execute
from fhir_server.conformance.samples import TAG_SYSTEM

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = [
    "capabilities",
    *(f"{step} {t}" for t in ("Patient", "Observation", "Practitioner", "Organization", "Questionnaire")
      for step in ("create", "read", "vread", "update", "update-as-create", "patch (JSON Patch)",
                   "patch (FHIRPath Patch)", "versioning If-Match", "history-instance", "search-type", "delete")),
    "history-type Patient", "history-system",
    "search string Patient?family", "search token Patient?identifier", "search token Patient?gender",
    "search date Patient?birthdate", "search reference Observation?subject",
    "search number RiskAssessment?probability", "search quantity Observation?value-quantity",
    "search uri Questionnaire?url", "search _id Patient", "search _lastUpdated Patient",
    "search _sort Patient?birthdate", "search _count Patient",
    "search _include Observation:subject", "search _revinclude Observation:subject",
    "conditional-create Patient", "conditional-update Patient", "conditional-delete Patient",
    "batch", "transaction", "transaction rollback", "_format json", "_format application/fhir+json",
    "cleanup",
]


def tagged_left(base: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    total = 0
    for res_type in ("Patient", "Observation", "RiskAssessment", "Questionnaire", "Practitioner", "Organization"):
        bundle = httpx.get(f"{base}/{res_type}", params={"_tag": f"{TAG_SYSTEM}|", "_summary": "count"},
                           headers=headers).json()
        total += int(bundle.get("total") or 0)
    return total


def test_every_claimed_feature_passes_and_the_data_is_cleaned_up(live_base: str, fhir_token: str | None) -> None:
    report = execute(live_base, token=fhir_token)
    failures = {r.feature: r.reason for r in report.failed}
    assert failures == {}
    passed = {r.feature for r in report.results if r.status == "pass"}
    assert [f for f in EXPECTED if f not in passed] == []
    assert report.exit_code == 0
    # Nothing tagged by the run is still there (search by tag system, any code).
    assert tagged_left(live_base, fhir_token) == 0


def test_cli_json_report_for_ci(live_base: str, fhir_token: str | None) -> None:
    env = {**os.environ}
    if fhir_token:
        env["ONCOLINK_TOKEN"] = fhir_token
    done = subprocess.run([sys.executable, "-m", "fhir_server", "conformance", live_base, "--json",
                           "--only", "search", "--only", "batch"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    features = {r["feature"]: r["status"] for r in report["results"]}
    assert features["search _count Patient"] == "pass"
    assert features["batch"] == "pass"
    assert "transaction" not in features and "create Patient" not in features
    assert report["summary"]["fail"] == 0
