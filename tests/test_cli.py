"""`oncolink` as users run it: a real process, its output and its exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fhir_server", *args], env={**os.environ, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_serve_dev_prints_base_and_tokens_that_work(db_url: str, package_cache: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "ONCOLINK_DATABASE_URL": db_url, "ONCOLINK_PORT": str(port), "ONCOLINK_MLLP_PORT": "0",
           "ONCOLINK_PACKAGE_CACHE": str(package_cache)}
    env["ONCOLINK_DEV_TOKENS_FILE"] = str(tmp_path / "tokens.json")
    proc = subprocess.Popen([sys.executable, "-m", "fhir_server", "serve", "--dev"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert response.status_code == 200
        statement = response.json()
        assert statement["resourceType"] == "CapabilityStatement"
        assert statement["fhirVersion"] == "4.0.1"
        issued = json.loads((tmp_path / "tokens.json").read_text())["tokens"]
        assert set(issued) >= {"oncologist", "idec", "community-pharmacist", "gp", "patient", "dpi-interface"}
        base = f"http://127.0.0.1:{port}/fhir"
        assert httpx.get(f"{base}/Patient", timeout=10).status_code == 401
        answer = httpx.get(f"{base}/Patient", headers={"Authorization": f"Bearer {issued['oncologist']}"}, timeout=10)
        assert answer.status_code == 200 and answer.json()["type"] == "searchset"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/fhir" in out
    assert f"  oncologist: {issued['oncologist']}" in out


def test_serve_without_an_issuer_refuses_to_start(tmp_path: Path, package_cache: Path) -> None:
    result = run_cli("serve", env={"ONCOLINK_PORT": str(free_port()), "ONCOLINK_PACKAGE_CACHE": str(package_cache),
                                   "ONCOLINK_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                                   "ONCOLINK_AUTH_ISSUER": ""})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "oncolink: no token issuer is configured: set ONCOLINK_AUTH_ISSUER and ONCOLINK_AUTH_AUDIENCE (Pro Santé "
        "Connect in production), or run `oncolink serve --dev` for a local development issuer")


def test_port_taken_is_one_clear_sentence(tmp_path: Path, package_cache: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("serve", "--dev", env={"ONCOLINK_PORT": str(port),
                                                "ONCOLINK_PACKAGE_CACHE": str(package_cache),
                                                "ONCOLINK_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"oncolink: port {port} on 127.0.0.1 is already in use; stop the other process or set ONCOLINK_PORT"
    )


def test_empty_package_cache_says_what_to_do(tmp_path: Path) -> None:
    result = run_cli("serve", "--dev", env={"ONCOLINK_PORT": str(free_port()),
                                            "ONCOLINK_PACKAGE_CACHE": str(tmp_path / "empty"),
                                   "ONCOLINK_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "hl7.fhir.r4.core#4.0.1 is not in the package cache" in result.stderr
    assert "make run" in result.stderr


def test_bad_settings_and_unreachable_database(tmp_path: Path, package_cache: Path) -> None:
    bad_port = run_cli("serve", env={"ONCOLINK_PORT": "eighty"})
    assert bad_port.returncode == 1
    assert bad_port.stderr.startswith("oncolink: invalid settings (ONCOLINK_PORT:")
    assert "Traceback" not in bad_port.stderr
    unreachable = run_cli("serve", "--dev", env={
        "ONCOLINK_PORT": str(free_port()), "ONCOLINK_PACKAGE_CACHE": str(package_cache),
        "ONCOLINK_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"})
    assert unreachable.returncode == 1
    # Start-up log lines may come first; the last line is the one sentence for the user.
    last = unreachable.stderr.strip().splitlines()[-1]
    assert last.startswith("oncolink: cannot open the database postgresql+psycopg://postgres@127.0.0.1:1/")
    assert "Traceback" not in unreachable.stderr


@pytest.mark.parametrize("command", [[], ["serve"], ["packages", "install"], ["db", "upgrade"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = run_cli(*command, "--help", env={})
    assert result.returncode == 0
    assert "Usage" in result.stdout


def test_packages_install_from_folder(tmp_path: Path) -> None:
    shared = ROOT.parent / "shared" / "fhir" / "packages"
    result = run_cli("packages", "install", "hl7.fhir.r4.core#4.0.1", "--source", str(shared),
                     env={"ONCOLINK_PACKAGE_CACHE": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "hl7.fhir.r4.core#4.0.1" / "package" / "StructureDefinition-Patient.json").exists()
    missing = run_cli("packages", "install", "no.such.package#1.0.0", "--source", str(shared),
                      env={"ONCOLINK_PACKAGE_CACHE": str(tmp_path),
                           "ONCOLINK_PACKAGE_REGISTRY_URL": "http://127.0.0.1:9/registry"})
    assert missing.returncode == 1
    assert "cannot download no.such.package#1.0.0" in missing.stderr
