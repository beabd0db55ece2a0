"""Recipients: the national directory (respx: paging, errors, cache), and a recipient with no MSSanté
address (clear reason on the Communication, a Task for the coordinating nurse, nothing sent)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import respx

from adapters.fhir_client import FhirClient
from adapters.mssante.directory import Directory, DirectoryError, DirectoryUnavailable
from adapters.mssante.settings import MssanteSettings
from adapters.mssante.store import Store

from .helpers import (
    DIRECTORY,
    GP_ADDRESS,
    PHARMACY_ADDRESS,
    directory_gp,
    directory_pharmacy,
    example,
    mailbox,
    parse,
    searchset,
    seed,
    trigger,
)
from .relay import RelayServer
from .test_mssante_delivery import children, run_pass


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'cache.db'}")
    store.upgrade()
    yield store
    store.dispose()


def directory(store: Store, **kwargs: object) -> Directory:
    return Directory(base_url=DIRECTORY, store=store, api_key="cle-de-test", **kwargs)  # type: ignore[arg-type]


async def test_person_by_rpps_with_api_key_and_cache(store: Store) -> None:
    gp = example("Practitioner-gp-paul-petit.json")
    with respx.mock() as mock:
        route = mock.get(f"{DIRECTORY}/Practitioner").respond(json=searchset(directory_gp()))
        first = await directory(store).resolve(gp)
        again = await directory(store).resolve(gp)
    assert (first.address, first.source) == (GP_ADDRESS, "annuaire")
    assert (again.address, again.source) == (GP_ADDRESS, "cache")
    assert route.call_count == 1
    request = route.calls[0].request
    assert request.headers["ESANTE-API-KEY"] == "cle-de-test"
    assert request.url.params["identifier"] == ("urn:oid:1.2.250.1.71.4.2.1|810007654321,"
                                                "https://rpps.esante.gouv.fr|10007654321")


async def test_pharmacy_by_finess_prefers_the_organisation_mailbox(store: Store) -> None:
    pharmacy = example("Organization-org-pharmacie-lilas.json")
    org = directory_pharmacy()
    org["telecom"] = [mailbox("robot@pharmacien.mssante.fr", "APP"),
                      mailbox("secret@pharmacien.mssante.fr", "ORG", red=True), mailbox(PHARMACY_ADDRESS, "ORG")]
    with respx.mock() as mock:
        route = mock.get(f"{DIRECTORY}/Organization").respond(json=searchset(org))
        found = await directory(store).resolve(pharmacy)
    assert found.address == PHARMACY_ADDRESS  # ORG before APP, listed before unlisted (liste rouge)
    assert "https://finess.esante.gouv.fr|690000002" in route.calls[0].request.url.params["identifier"]


async def test_practitioner_roles_are_paged_until_a_mailbox_is_found(store: Store) -> None:
    gp = example("Practitioner-gp-paul-petit.json")
    role_1 = {"resourceType": "PractitionerRole", "id": "r1", "telecom": [{"system": "phone", "value": "0400"}]}
    role_2 = {"resourceType": "PractitionerRole", "id": "r2", "telecom": [mailbox(GP_ADDRESS)]}
    with respx.mock() as mock:
        mock.get(f"{DIRECTORY}/Practitioner").respond(json=searchset(directory_gp(address=None)))
        page_two = f"{DIRECTORY}/PractitionerRole?_page=2"
        mock.get(page_two).respond(json=searchset(role_2))
        first = mock.get(f"{DIRECTORY}/PractitionerRole", params={"practitioner": "Practitioner/pra-810007654321"}
                         ).respond(json=searchset(role_1, next_url=page_two))
        found = await directory(store).resolve(gp)
    assert found.address == GP_ADDRESS and found.detail["via"] == "role"
    assert first.call_count == 1


async def test_directory_errors(store: Store) -> None:
    gp = example("Practitioner-gp-paul-petit.json")
    with respx.mock() as mock:
        route = mock.get(f"{DIRECTORY}/Practitioner")
        route.respond(503)
        with pytest.raises(DirectoryUnavailable):
            await directory(store).resolve(gp)
        route.side_effect = httpx.ConnectTimeout("lent")
        with pytest.raises(DirectoryUnavailable):
            await directory(store).resolve(gp)
        route.side_effect = None
        route.respond(400, json={"resourceType": "OperationOutcome"})
        with pytest.raises(DirectoryError):
            await directory(store).resolve(gp)
        route.respond(200, json=searchset())  # unknown person: a clear reason, cached for a shorter time
        missing = await directory(store, negative_ttl=timedelta(0)).resolve(gp)
        assert missing.address is None and "inconnu de l'annuaire" in missing.reason
        route.respond(200, json=searchset(directory_gp()))
        assert (await directory(store).resolve(gp)).address == GP_ADDRESS  # negative entry had expired


async def test_without_directory_the_recipients_own_mssante_telecom_is_used(store: Store) -> None:
    gp = example("Practitioner-gp-paul-petit.json")
    no_directory = Directory(base_url="", store=store)
    assert (await no_directory.resolve(gp)).address is None
    gp["telecom"] = [{"system": "email", "value": "paul.petit@gmail.com"}, {"system": "email", "value": GP_ADDRESS}]
    found = await no_directory.resolve(gp)
    assert (found.address, found.source) == (GP_ADDRESS, "fhir")  # never a non-MSSanté address


async def test_recipient_without_address_gets_a_reason_and_a_task_for_the_nurse(
        fhir: FhirClient, mss_settings: MssanteSettings, relay_server: RelayServer) -> None:
    await seed(fhir)
    await fhir.update("Communication", "trig-ppi", trigger(
        "ppi-1", "alert", reason="interaction", flag="flag-jeanne-martin-diarrhee", comm_id="trig-ppi",
        text="Oméprazole 20 mg actif depuis le 10/11 : diminue l'absorption de la capécitabine."))
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{DIRECTORY}/Organization").respond(json=searchset(directory_pharmacy()))
        mock.get(f"{DIRECTORY}/Practitioner").respond(json=searchset(directory_gp(address=None)))
        mock.get(f"{DIRECTORY}/PractitionerRole").respond(json=searchset())
        first = await run_pass(mss_settings, fhir)
        second = await run_pass(mss_settings, fhir)
    assert (first.sent, first.failed, second.sent) == (1, 1, 0)
    assert relay_server.relay.to(GP_ADDRESS) == []
    [to_pharmacy] = relay_server.relay.to(PHARMACY_ADDRESS)
    got = parse(to_pharmacy.data)
    assert "Oméprazole 20 mg actif" in got.text and "Motif : Interaction médicamenteuse" in got.text
    assert got.message["Subject"].startswith("XDM/1.0/DDM+Onco'Link : alerte à traiter")
    assert "Alerte rouge : Diarrhée" in "".join(got.cda.itertext())
    gp = next(m for m in await children(fhir, "trig-ppi")
              if m["recipient"][0]["reference"].startswith("Practitioner"))
    assert gp["status"] == "entered-in-error"
    assert gp["statusReason"]["coding"][0]["code"] == "no-mssante-address"
    assert "aucune adresse MSSanté" in gp["statusReason"]["text"]
    tasks = [t async for t in fhir.search_all("Task", {"focus": "Communication/trig-ppi"})]
    assert len(tasks) == 1  # and not one more on the second pass
    task = tasks[0]
    assert task["status"] == "requested" and task["for"]["reference"] == "Patient/patient-jeanne-martin"
    assert task["owner"]["reference"] == "Organization/org-oncologie-lyon"
    assert "Paul PETIT" in task["description"]
    parent = await fhir.read("Communication", "trig-ppi")
    assert parent["status"] == "entered-in-error" and parent["statusReason"]["text"] == "1 message(s) sur 2 non remis"
