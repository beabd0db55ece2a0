"""The adapter as users run it: `oncolink mssante send-pending` (here without relay: .eml files, as
`make run` does), `outbox`, `retry`, and the worker loop inside the server's lifespan."""

from __future__ import annotations

import asyncio
import email
from email import policy
from pathlib import Path

import pytest
import respx
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adapters.fhir_client import FhirClient
from adapters.mssante.cli import register
from adapters.mssante.service import attached
from adapters.mssante.settings import MssanteSettings
from adapters.oauth import BearerToken

from .conftest import reset_outbox
from .helpers import GP_ADDRESS, PHARMACY_ADDRESS, example, seed, trigger
from .relay import RelayServer
from .test_mssante_delivery import directory_routes


def test_send_pending_writes_eml_files_without_a_relay(client: TestClient, app: FastAPI, db_url: str,
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       tokens: dict[str, str]) -> None:
    reset_outbox(db_url)
    for name, address in (("Organization-org-pharmacie-lilas.json", PHARMACY_ADDRESS),
                          ("Practitioner-gp-paul-petit.json", "paul.petit@gmail.com")):
        resource = example(name)
        resource["telecom"] = [{"system": "email", "value": address}]
        assert client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource).status_code in (200, 201)
    for name in ("Patient-patient-jeanne-martin.json", "Practitioner-prescriber-claire-roux.json",
                 "Organization-org-oncologie-lyon.json", "Condition-condition-cancer-sein.json",
                 "MedicationRequest-mr-capecitabine.json", "CarePlan-episode-jeanne-martin.json",
                 "CarePlan-sequence-jeanne-martin-1.json"):
        resource = example(name)
        assert client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource).status_code in (200, 201)
    assert client.put("/fhir/Communication/trig-cli", json=trigger("cli", comm_id="trig-cli")).status_code == 201
    outbox = tmp_path / "outbox-mail"
    for key, value in {"DATABASE_URL": db_url, "MSSANTE_OUTBOX_DIR": str(outbox), "MSSANTE_SMTP_HOST": "",
                       "MSSANTE_DIRECTORY_URL": "", "MSSANTE_SENDER": "oncologie@ch-lyon.mssante.fr",
                       "MSSANTE_DATABASE_URL": ""}.items():
        monkeypatch.setenv(f"ONCOLINK_{key}", value)
    cli = typer.Typer()
    register(cli, client_factory=lambda settings: FhirClient.for_app(app, run_lifespan=True,
                                                                     auth=BearerToken(tokens["mssante-worker"])))
    runner = CliRunner()

    result = runner.invoke(cli, ["mssante", "send-pending"])
    assert result.exit_code == 0, result.output
    assert "envoyés : 1" in result.output and "en échec : 1" in result.output
    [written] = list(outbox.glob("*.eml"))
    message = email.message_from_bytes(written.read_bytes(), policy=policy.default)
    assert message["To"].addresses[0].addr_spec == PHARMACY_ADDRESS  # the GP's gmail address is never used
    assert message["X-Envelope-To"] == f"<{PHARMACY_ADDRESS}>"
    assert client.get("/fhir/Communication/trig-cli").json()["status"] == "entered-in-error"

    again = runner.invoke(cli, ["mssante", "send-pending"])
    assert again.exit_code == 0 and "envoyés : 0" in again.output
    assert len(list(outbox.glob("*.eml"))) == 1

    listing = runner.invoke(cli, ["mssante", "outbox"])
    assert listing.exit_code == 0 and "sent" in listing.output and "failed" in listing.output
    assert "aucune adresse MSSanté" in listing.output
    sent_id = next(line.split()[0] for line in listing.output.splitlines() if " sent " in line)
    refused = runner.invoke(cli, ["mssante", "retry", sent_id])
    assert refused.exit_code == 1 and "only failed or unknown" in refused.output
    assert runner.invoke(cli, ["mssante", "--help"]).exit_code == 0


async def test_worker_loop_inside_the_server_sends_what_is_posted(
        app: FastAPI, fhir: FhirClient, mss_settings: MssanteSettings, relay_server: RelayServer) -> None:
    await seed(fhir)
    settings = mss_settings.model_copy(update={"mssante_poll_seconds": 0.05})
    with respx.mock(assert_all_called=False) as mock:
        directory_routes(mock)
        async with attached(app, settings) as service:
            assert app.state.mssante is service
            await fhir.update("Communication", "trig-loop", trigger("loop", "episode-end", comm_id="trig-loop"))
            for _ in range(200):
                if (await fhir.read("Communication", "trig-loop"))["status"] == "completed":
                    break
                await asyncio.sleep(0.05)
    assert (await fhir.read("Communication", "trig-loop"))["status"] == "completed"
    assert len(relay_server.relay.to(PHARMACY_ADDRESS)) == 1 and len(relay_server.relay.to(GP_ADDRESS)) == 1
    assert "fin du parcours" in relay_server.relay.to(GP_ADDRESS)[0].data.decode("utf-8", "replace")
