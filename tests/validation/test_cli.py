"""`oncolink validate` and `oncolink ig build` as integrators run them: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fhir_server.validation.cli import register
from tests.validation.support import example


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def version() -> None:
        """A second command, so that typer keeps sub-command names."""

    register(app)
    return app


@pytest.fixture
def env(package_cache: Path) -> dict[str, str]:
    return {"ONCOLINK_PACKAGE_CACHE": str(package_cache)}


def _write(tmp_path: Path, name: str, resource: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(resource), encoding="utf-8")
    return path


def test_valid_files_exit_0(cli: typer.Typer, env: dict[str, str], tmp_path: Path, examples: Any) -> None:
    plan = _write(tmp_path, "plan.json", example(examples, "episode-jeanne-martin"))
    result = CliRunner().invoke(cli, ["validate", str(plan)], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{plan}: valid (0 error(s), 0 warning(s))"


def test_errors_exit_1_with_path_severity_and_message(cli: typer.Typer, env: dict[str, str], tmp_path: Path,
                                                      examples: Any) -> None:
    bad = example(examples, "mr-capecitabine")
    bad["medicationCodeableConcept"]["coding"][0]["code"] = "L04AX03"
    good = _write(tmp_path, "good.json", example(examples, "condition-cancer-sein"))
    path = _write(tmp_path, "bad.json", bad)
    result = CliRunner().invoke(cli, ["validate", str(good), str(path)], env=env)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [
        f"{good}: valid (0 error(s), 0 warning(s))",
        f"{path}: ERROR MedicationRequest.medicationCodeableConcept.coding[0]: oncolink-mr-1: Un anticancéreux "
        "oral appartient aux classes ATC L01 "
        "(antinéoplasiques) ou L02 (thérapeutique endocrine).",
        f"{path}: INVALID (1 error(s), 0 warning(s))",
    ]


def test_json_output_and_extra_profile(cli: typer.Typer, env: dict[str, str], tmp_path: Path, examples: Any) -> None:
    patient = example(examples, "patient-jeanne-martin")
    del patient["meta"]
    del patient["birthDate"]
    path = _write(tmp_path, "patient.json", patient)
    profile = "https://oncolink.example.org/fhir/StructureDefinition/oncolink-patient"
    result = CliRunner().invoke(cli, ["validate", str(path), "--profile", profile, "--format", "json"], env=env)
    assert result.exit_code == 1
    (report,) = json.loads(result.output)
    assert report["file"] == str(path) and report["valid"] is False
    assert [(i["severity"], i["code"], i.get("expression")) for i in report["outcome"]["issue"]] == [
        ("error", "required", ["Patient.birthDate"]),
        ("warning", "code-invalid", ["Patient.identifier[1].type"]),
    ]


def test_unreadable_file_and_strict_unknown_profile(cli: typer.Typer, env: dict[str, str], tmp_path: Path,
                                                    examples: Any) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(broken)], env=env)
    assert result.exit_code == 1
    assert f"{broken}: FATAL -: cannot be read as FHIR JSON or XML" in result.output
    condition = example(examples, "condition-cancer-sein")
    condition["meta"] = {"profile": ["https://example.org/unknown"]}
    path = _write(tmp_path, "condition.json", condition)
    assert CliRunner().invoke(cli, ["validate", str(path)], env=env).exit_code == 0
    result = CliRunner().invoke(cli, ["validate", str(path), "--unknown-profile", "error"], env=env)
    assert result.exit_code == 1
    assert "ERROR Condition.meta.profile[0]: Profile https://example.org/unknown is not known" in result.output


def test_missing_package_cache_is_a_clear_failure(cli: typer.Typer, tmp_path: Path, examples: Any) -> None:
    path = _write(tmp_path, "c.json", example(examples, "condition-cancer-sein"))
    result = CliRunner().invoke(cli, ["validate", str(path)], env={"ONCOLINK_PACKAGE_CACHE": str(tmp_path / "none")})
    assert result.exit_code == 2
    assert "hl7.fhir.r4.core#4.0.1 is not in the package cache" in result.output


def test_ig_build_writes_the_package(cli: typer.Typer, env: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["ig", "build", "--out", str(tmp_path)], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "onco-link.fhir-0.1.0.tgz").stat().st_size > 10_000
    assert "59 conformance resources (19 with snapshots), 16 examples" in result.output
