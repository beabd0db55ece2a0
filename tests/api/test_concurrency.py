"""Parallel writers over real HTTP never lose a version, and If-Match lets exactly one win."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from fhir_server.app import create_app
from fhir_server.services import Services
from tests.fhir_data import INS_OID, patient
from tests.live_server import serve

WRITERS = 8
UPDATES_EACH = 5



@pytest.fixture
def http(admin_headers: dict[str, str]) -> Iterator[httpx.Client]:
    """One client for the test's threads (httpx clients are thread-safe), carrying the admin token."""
    with httpx.Client(timeout=60, headers=admin_headers) as client:
        yield client


def test_parallel_updates_keep_every_version(services: Services, http: httpx.Client) -> None:
    with serve(create_app(services=services)) as url:
        base = f"{url}/fhir"
        http.put(f"{base}/Patient/shared", json={**patient(), "id": "shared"}).raise_for_status()

        def writer(n: int) -> list[int]:
            codes = []
            for i in range(UPDATES_EACH):
                body = {**patient(family=f"W{n}-{i}"), "id": "shared"}
                codes.append(http.put(f"{base}/Patient/shared", json=body).status_code)
            return codes

        with ThreadPoolExecutor(WRITERS) as pool:
            results = [code for codes in pool.map(writer, range(WRITERS)) for code in codes]
        assert results == [200] * (WRITERS * UPDATES_EACH)
        final = http.get(f"{base}/Patient/shared").json()
        assert final["meta"]["versionId"] == str(1 + WRITERS * UPDATES_EACH)
        history = http.get(f"{base}/Patient/shared/_history", params={"_count": 100}).json()
        versions = sorted(int(e["response"]["etag"][3:-1]) for e in history["entry"])
        assert versions == list(range(1, 2 + WRITERS * UPDATES_EACH))


def test_if_match_race_has_one_winner(services: Services, http: httpx.Client) -> None:
    with serve(create_app(services=services)) as url:
        base = f"{url}/fhir"
        created = http.put(f"{base}/Patient/race", json={**patient(), "id": "race"}).json()

        def attempt(n: int) -> int:
            body = {**created, "gender": "male" if n % 2 else "other"}
            return http.put(f"{base}/Patient/race", json=body, headers={"If-Match": 'W/"1"'}, timeout=60).status_code

        with ThreadPoolExecutor(WRITERS) as pool:
            codes = sorted(pool.map(attempt, range(WRITERS)))
        assert codes == [200] + [412] * (WRITERS - 1)
        assert http.get(f"{base}/Patient/race").json()["meta"]["versionId"] == "2"


def test_parallel_creates_with_one_client_id_make_one_resource(services: Services, http: httpx.Client) -> None:
    with serve(create_app(services=services)) as url:
        base = f"{url}/fhir"

        def put(n: int) -> int:
            return http.put(f"{base}/Patient/same-id", json={**patient(family=f"C{n}"), "id": "same-id"},
                             timeout=60).status_code

        with ThreadPoolExecutor(WRITERS) as pool:
            codes = sorted(pool.map(put, range(WRITERS)))
        assert codes == [200] * (WRITERS - 1) + [201]
        assert http.get(f"{base}/Patient/same-id").json()["meta"]["versionId"] == str(WRITERS)


def test_parallel_conditional_creates_make_one_resource(services: Services, http: httpx.Client) -> None:
    """Two DPI messages for one new patient arriving at once must not create the patient twice."""
    with serve(create_app(services=services)) as url:
        base = f"{url}/fhir"
        criteria = f"identifier={INS_OID}|2750375123456"

        def create(n: int) -> int:
            return http.post(f"{base}/Patient", json=patient(ins="2750375123456", family=f"R{n}"),
                              headers={"If-None-Exist": criteria}, timeout=60).status_code

        with ThreadPoolExecutor(WRITERS) as pool:
            codes = sorted(pool.map(create, range(WRITERS)))
        assert codes == [200] * (WRITERS - 1) + [201]
        assert http.get(f"{base}/Patient/_history").json()["total"] == 1
