"""The IG pages in a real headless Chromium against a real uvicorn: index, a profile's element table,
keyboard access, an example, the terminology and capability pages, and the package download."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.live_server import serve

if TYPE_CHECKING:
    from fhir_server.services import Services

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def _browser_or_skip() -> Any:
    """Playwright's sync API, or a skip with its reason, only on CI without Chromium: elsewhere a missing
    browser is a failure, since the pages must be proven in a real one."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = missing or "the playwright package is not installed (pip install -e '.[dev]')"
        sync_playwright = None
    if missing:
        if os.environ.get("CI") == "true":
            pytest.skip(f"IG pages browser test skipped: {missing}")
        pytest.fail(f"IG pages browser test cannot run: {missing}")
    return sync_playwright


@pytest.fixture
def base_url(services: Services) -> Iterator[str]:
    from fhir_server.app import create_app
    from fhir_server.ig_pages import router

    with serve(create_app(services=services, routers=[router])) as base:
        yield base


@pytest.fixture
def page(base_url: str) -> Iterator[Any]:
    sync_playwright = _browser_or_skip()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            context = browser.new_context(accept_downloads=True, locale="fr-FR")
            yield context.new_page()
        finally:
            browser.close()


def _cells(row: Any) -> list[str]:
    return [" ".join(c.split()) for c in row.locator("th, td").all_inner_texts()]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_index_profile_table_example_and_download(page: Any, base_url: str, tmp_path: Path) -> None:
    page.goto(f"{base_url}/ig/")
    guide = page.locator("h1").inner_text()
    assert page.title() == guide and guide.startswith("Onco'Link")
    assert page.locator("html").get_attribute("lang") == "fr"
    profiles = page.locator("table.list").first.locator("tbody tr")
    names = [_cells(profiles.nth(i))[0] for i in range(profiles.count())]
    assert "Patient Onco'Link" in names and len(names) == 11

    # Keyboard: the first Tab lands on the skip link, which moves focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Aller au contenu"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "contenu"

    page.get_by_role("link", name="Patient Onco'Link", exact=True).click()
    page.wait_for_url(f"{base_url}/ig/StructureDefinition/oncolink-patient")
    assert page.locator("h1").inner_text() == "Patient Onco'Link"
    assert page.title() == f"Patient Onco'Link — {guide}"
    table = page.locator("table#elements")
    assert _cells(table.locator("thead tr")) == ["Chemin", "Card.", "Type", "Liaison", "Contraintes",
                                                 "Description (fr)", "Description (en)"]
    rows = {(cells := _cells(r))[0]: cells for r in table.locator("tbody tr").all()}
    assert rows["Patient.gender contraint"] == [
        "Patient.gender contraint", "1..1", "code", "required : administrative-gender|4.0.1", "",
        "Sexe administratif", "male | female | other | unknown"]
    assert rows["Patient.birthDate contraint"] == [
        "Patient.birthDate contraint", "1..1", "date", "", "", "Date de naissance",
        "The date of birth for the individual"]
    ins = rows["Patient.identifier:INS-NIR contraint"]
    assert ins[1:3] == ["0..1", "Identifier"]
    assert ins[4].startswith("oncolink-ins-1 : Un matricule INS compte 15 caractères")
    assert rows["Patient.identifier:INS-NIR.system contraint"][4] == \
        "valeur fixée : urn:oid:1.2.250.1.213.1.4.8"
    assert rows["Patient.identifier:INS-NIR.value contraint"][4] == "longueur maximale : 15"
    assert rows["Patient.extension:identityStatus contraint"][5] == "Statut de l'identité"

    page.get_by_role("link", name="Patient/patient-jeanne-martin").click()
    page.wait_for_url(f"{base_url}/ig/example/Patient/patient-jeanne-martin")
    shown = json.loads(page.locator("pre.json").inner_text())
    assert (shown["resourceType"], shown["id"]) == ("Patient", "patient-jeanne-martin")

    page.goto(f"{base_url}/ig/")
    with page.expect_download() as info:
        page.locator("#download").click()
    saved = tmp_path / "ig.tgz"
    info.value.save_as(saved)
    with tarfile.open(fileobj=io.BytesIO(saved.read_bytes()), mode="r:gz") as tar:
        manifest = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
        assert "package/StructureDefinition-oncolink-patient.json" in tar.getnames()
    assert (manifest["name"], manifest["version"]) == ("onco-link.fhir", "0.1.0")
    assert info.value.suggested_filename == "onco-link.fhir-0.1.0.tgz"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_terminology_capabilities_and_unknown_pages(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/ig/ValueSet/oncolink-parcours")
    codes = [_cells(r) for r in page.locator("table#codes tbody tr").all()]
    assert codes == [["A", "Parcours A", "https://oncolink.example.org/fhir/CodeSystem/oncolink-parcours"],
                     ["B", "Parcours B", "https://oncolink.example.org/fhir/CodeSystem/oncolink-parcours"]]
    page.get_by_role("link", name="https://oncolink.example.org/fhir/CodeSystem/oncolink-parcours").click()
    page.wait_for_url(f"{base_url}/ig/CodeSystem/oncolink-parcours")
    assert _cells(page.locator("table#concepts tbody tr").first)[:2] == ["A", "Parcours A"]

    page.goto(f"{base_url}/ig/CapabilityStatement/oncolink-server")
    patient = page.locator("table#capabilities tbody tr", has=page.locator("th", has_text="Patient")).first
    cells = _cells(patient)
    assert cells[0] == "Patient" and "read" in cells[1] and cells[2] == "oncolink-patient"
    patient.get_by_role("link", name="oncolink-patient").click()
    page.wait_for_url(f"{base_url}/ig/StructureDefinition/oncolink-patient")

    missing = page.goto(f"{base_url}/ig/StructureDefinition/absent")
    assert missing is not None and missing.status == 404
    assert "StructureDefinition/absent ne fait pas partie de ce guide" in page.locator("main").inner_text()
