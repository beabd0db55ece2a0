"""`oncolink demo` against a real `oncolink serve` (HTTP and MLLP on loopback, the MSSanté worker writing
.eml files), on SQLite and PostgreSQL: what the demo says it did is what the server holds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import CliRunner

from fhir_server.cli import app
from fhir_server.demo.cli import dev_token, prepare
from fhir_server.pathway.rules import load as load_rules
from fhir_server.security.dev_issuer import DevIssuer
from fhir_server.settings import Settings
from tests.adapters.dpi.conftest import _reset_journal
from tests.adapters.mssante.conftest import reset_outbox
from tests.live_server import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
IPP_SYSTEM = "urn:oid:1.2.250.1.999.1.1"  # mappings/demo/hospital.toml [hospital] authority_oid
SEED = 7
PATIENTS = 4


@dataclass
class Live:
    base: str
    mllp: int
    outbox: Path
    token: str


@pytest.fixture
def live(db_url: str, tmp_path: Path, dev_issuer: DevIssuer) -> Iterator[Live]:
    """`oncolink serve` as `make run` starts it, with a fast MSSanté worker and no relay (.eml files)."""
    _reset_journal(db_url)
    reset_outbox(db_url)
    port, mllp, outbox = free_port(), free_port(), tmp_path / "outbox"
    env = {**os.environ, "ONCOLINK_DATABASE_URL": db_url, "ONCOLINK_PORT": str(port), "ONCOLINK_MLLP_PORT": str(mllp),
           "ONCOLINK_MSSANTE_OUTBOX_DIR": str(outbox), "ONCOLINK_MSSANTE_POLL_SECONDS": "0.5",
           "ONCOLINK_MSSANTE_SMTP_HOST": "", "ONCOLINK_PATHWAY_TICK_SECONDS": "0",
           "ONCOLINK_MISSING_CHECK_SECONDS": "0", "ONCOLINK_LOG_LEVEL": "warning",
           **dev_issuer.settings_env(), **dev_issuer.client_env()}
    proc = subprocess.Popen([sys.executable, "-m", "fhir_server", "serve"], env=env, cwd=ROOT)
    try:
        wait_until_serving(proc, port)
        yield Live(f"http://127.0.0.1:{port}", mllp, outbox, dev_issuer.tokens()["administrator"])
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _demo(live: Live, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["demo", "--patients", str(PATIENTS), "--seed", str(SEED), "--base-url",
                                      f"{live.base}/fhir", "--mllp-host", "127.0.0.1", "--mllp-port", str(live.mllp),
                                      "--wait", "40", "--token", live.token, *extra])
    return result.exit_code, result.stdout, result.stderr


def _figure(label: str, text: str) -> int:
    found = re.search(rf"{label} : (\d+)", text)
    assert found, text
    return int(found.group(1))


def _all(http: httpx.Client, res_type: str, **params: str) -> list[dict]:
    bundle = http.get(f"/fhir/{res_type}", params={"_count": "500", **params}).json()
    return [e["resource"] for e in bundle.get("entry") or [] if e.get("search", {}).get("mode") == "match"]


def test_demo_fills_the_server_through_mllp_fhir_and_mssante(live: Live) -> None:
    code, out, err = _demo(live)
    assert code == 0, out + err
    expected = prepare(Settings(), seed=SEED, count=PATIENTS,
                       today=datetime.now(ZoneInfo("Europe/Paris")).date()).patients

    # Every HL7 v2 message was acknowledged AA, and the summary says so.
    sent = int(re.search(r"HL7 v2 par MLLP : (\d+) message", out).group(1))  # type: ignore[union-attr]
    assert sent >= 2 * PATIENTS and f"ACK AA {sent}" in out

    with httpx.Client(base_url=live.base, timeout=30, headers={"Authorization": f"Bearer {live.token}"}) as http:
        # The identities the seed gives, created by the DPI adapter from the ADT and order messages.
        patients = _all(http, "Patient")
        by_ipp = {i["value"]: p for p in patients for i in p.get("identifier") or [] if i.get("system") == IPP_SYSTEM}
        assert sorted(by_ipp) == sorted(p.ipp for p in expected) and len(patients) == PATIENTS
        for p in expected:
            name = by_ipp[p.ipp]["name"][0]
            assert (name["family"], name["given"][0], by_ipp[p.ipp]["birthDate"]) == (
                p.family.upper(), p.given, p.birth.isoformat())

        # One MedicationRequest per order sent; the first prescription of each patient carries its drugs.
        requests = _all(http, "MedicationRequest")
        assert len(requests) == _figure("prescriptions", out) >= sum(len(p.drugs) for p in expected)
        episodes = _all(http, "CarePlan", category="https://oncolink.example.org/fhir/CodeSystem/"
                                                   "oncolink-careplan-category|episode")
        assert len(episodes) == _figure("épisodes", out) == PATIENTS

        # At least one alert is open on the worklist of the demo's hospital team.
        team = re.search(r"worklist\?team=(Organization/[\w-]+)", out).group(1)  # type: ignore[union-attr]
        page = http.get("/worklist", params={"team": team, "ouvertes": "1"})
        assert page.status_code == 200
        shown = int(re.search(r": (\d+) patient\(s\) affiché\(s\)", page.text).group(1))  # type: ignore[union-attr]
        assert shown >= 1
        # (R4 defines no `status` search parameter on Flag: filtered here.)
        flags = Counter(f["status"] for f in _all(http, "Flag"))
        assert flags["active"] >= 1
        # Older alerts were handled through the worklist's form: each closed its Flag.
        assert flags["inactive"] == _figure("traitées dans la worklist", out) > 0

        # The pathway's messages went out through the server's MSSanté worker, as .eml files (no relay).
        messages = _all(http, "Communication", **{"part-of:missing": "false"})
        assert messages and all(m["status"] == "completed" for m in messages)
        emails = sorted(live.outbox.glob("*.eml"))
        assert len(emails) == len(messages) >= 2 * PATIENTS  # sequence 1 to the pharmacy and the GP of each
        assert all(b"@mssante-demo.invalid" in e.read_bytes() for e in emails)

        # Same seed again: nothing new (every write is keyed on a business identifier).
        counts = {t: len(_all(http, t)) for t in ("Patient", "MedicationRequest", "QuestionnaireResponse", "CarePlan",
                                                  "Flag", "Consent", "Communication", "DetectedIssue")}
        statuses = sorted(r["status"] for r in _all(http, "MedicationRequest"))
        code, out, err = _demo(live)
        assert code == 0, out + err
        assert f"dont {PATIENTS} déjà envoyés" in out
        assert {t: len(_all(http, t)) for t in counts} == counts
        assert sorted(r["status"] for r in _all(http, "MedicationRequest")) == statuses
        assert len(list(live.outbox.glob("*.eml"))) == len(emails)

    # The MLLP port wrong: one sentence, exit 1, nothing half-done.
    result = CliRunner().invoke(app, ["demo", "--patients", "1", "--base-url", f"{live.base}/fhir", "--token",
                                      live.token, "--mllp-host", "127.0.0.1", "--mllp-port", str(free_port())])
    assert result.exit_code == 1
    assert result.stderr.startswith("oncolink: the MLLP listener at 127.0.0.1:") and "--mllp-port" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_an_unreachable_server_is_one_sentence() -> None:
    result = CliRunner().invoke(app, ["demo", "--base-url", f"http://127.0.0.1:{free_port()}/fhir",
                                      "--mllp-port", str(free_port())])
    assert result.exit_code == 1
    assert result.stderr.startswith("oncolink: the FHIR server at http://127.0.0.1:") and "make run" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_the_same_seed_gives_the_same_hospital() -> None:
    settings, day = Settings(), date(2026, 6, 15)
    first = prepare(settings, seed=3, count=12, today=day).patients
    assert first == prepare(settings, seed=3, count=12, today=day).patients
    # Identities do not depend on the size of the demo nor on its day; another seed gives other people.
    small = prepare(settings, seed=3, count=5, today=date(2027, 1, 2)).patients
    assert [(p.ipp, p.ins, p.family, p.given, p.birth) for p in small] == \
        [(p.ipp, p.ins, p.family, p.given, p.birth) for p in first[:5]]
    other = prepare(settings, seed=4, count=12, today=day).patients
    assert {(p.family, p.given, p.birth) for p in other} != {(p.family, p.given, p.birth) for p in first}
    # Every flow shows even in a small demo: a proton-pump inhibitor, a hospital-reserve drug, an alert.
    rules = load_rules(settings.pathway_dir)
    assert any(p.ppi for p in small) and any(rules.drug(p.regimen.drug.atc).hospital_reserve for p in small)
    assert any(w.alert for p in small for w in p.weeks)
    # INS keys are those of a NIR (97 - number mod 97).
    for p in first:
        if p.ins:
            assert int(p.ins[13:]) == 97 - int(p.ins[:13]) % 97


def test_demo_has_help() -> None:
    result = CliRunner().invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    assert "--patients" in result.stdout and "--seed" in result.stdout and "ONCOLINK_TOKEN" in result.stdout


def test_the_token_defaults_to_the_dev_administrator(tmp_path: Path) -> None:
    """What `oncolink serve --dev` writes is what `oncolink demo` reads when given no token."""
    tokens = tmp_path / "dev-tokens.json"
    assert dev_token(tokens) is None
    tokens.write_text('{"issuer": "http://127.0.0.1:1", "tokens": {"idec": "i", "administrator": "a"}}')
    assert dev_token(tokens) == "a"
    tokens.write_text("not json")
    assert dev_token(tokens) is None
