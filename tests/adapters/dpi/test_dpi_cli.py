"""`oncolink hl7 log` and `oncolink hl7 replay`, registered on a typer app as the `oncolink` CLI does."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import typer
from typer.testing import CliRunner

from adapters.dpi import cli
from adapters.dpi.journal import Journal
from adapters.dpi.settings import DpiSettings
from adapters.fhir_client import FhirClient
from adapters.oauth import BearerToken
from tests.adapters.dpi.conftest import _reset_journal
from tests.adapters.dpi.dpi_helpers import message

if TYPE_CHECKING:
    from fhir_server.services import Services


@pytest.fixture
def oncolink(services: Services, db_url: str, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
             ) -> typer.Typer:
    from fhir_server.app import create_app

    monkeypatch.setenv("ONCOLINK_DATABASE_URL", db_url)
    _reset_journal(db_url)
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """The test's stand-in for `oncolink`."""

    def in_process(settings: DpiSettings) -> FhirClient:
        return FhirClient.for_app(create_app(services=services), run_lifespan=True,
                                  auth=BearerToken(tokens["dpi-interface"]))

    cli.register(app, in_process)
    return app


def _dead_letter(url: str, name: str, status: str) -> int:
    journal = Journal(url)
    journal.upgrade()
    entry = journal.received(message(name), transport="mllp", peer="test", charset="", control_id=name,
                             message_type="RDE^O11")
    journal.finish(entry, status=status, ack_code="AE", error="FHIR server unavailable")
    journal.dispose()
    return entry


def test_replay_failed_then_log(oncolink: typer.Typer, db_url: str) -> None:
    orders = _dead_letter(db_url, "rde_o11_three_orders.hl7", "failed")
    cancel = _dead_letter(db_url, "rde_o11_ca.hl7", "error")
    runner = CliRunner()
    result = runner.invoke(oncolink, ["hl7", "replay", "--failed"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"{orders}: AA accepted")
    assert lines[1].startswith(f"{cancel}: AA accepted")

    log = runner.invoke(oncolink, ["hl7", "log", "--limit", "5"])
    assert log.exit_code == 0
    assert [line.split()[0] for line in log.output.strip().splitlines()] == [str(cancel), str(orders)]
    assert "AA accepted" in log.output

    again = runner.invoke(oncolink, ["hl7", "replay", "--failed"])
    assert again.exit_code == 0 and "no dead-lettered message" in again.output


def test_replay_errors(oncolink: typer.Typer, db_url: str) -> None:
    runner = CliRunner()
    missing = runner.invoke(oncolink, ["hl7", "replay", "424242"])
    assert missing.exit_code == 2
    assert "no message 424242" in missing.output
    both = runner.invoke(oncolink, ["hl7", "replay", "1", "--failed"])
    assert both.exit_code == 1 and "not both" in both.output
    bad = _dead_letter(db_url, "rde_o11_ca_unknown_order.hl7", "error")
    still = runner.invoke(oncolink, ["hl7", "replay", str(bad)])
    assert still.exit_code == 2
    assert f"{bad}: AE error" in still.output
    assert runner.invoke(oncolink, ["hl7", "log", "--status", "dead"]).output.split()[0] == str(bad)
    assert runner.invoke(oncolink, ["mllp", "--help"]).exit_code == 0
