"""The matcher remembers the active Subscriptions between writes: whatever changes them must be seen by
the very next write, and a state that was rolled back must never be remembered."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from fhir_server.services import Services

from .conftest import Receiver
from .test_delivery import care_plan, run, subscribe, subscription


def test_a_new_subscription_is_matched_by_the_next_write(client: TestClient, services: Services,
                                                         receiver: Receiver) -> None:
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))  # no Subscription yet: remembered as none
    subscribe(client, subscription(receiver.url, "CarePlan?subject=Patient/p1"))
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    assert run(services) == "1 delivered, 0 to retry, 0 abandoned"


def test_a_deactivated_or_deleted_subscription_is_not_matched_by_the_next_write(
        client: TestClient, services: Services, receiver: Receiver) -> None:
    first = subscribe(client, subscription(receiver.url + "/first", "CarePlan?subject=Patient/p1"))
    second = subscribe(client, subscription(receiver.url + "/second", "CarePlan?subject=Patient/p1"))
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    assert run(services) == "2 delivered, 0 to retry, 0 abandoned"
    assert client.put(f"/fhir/Subscription/{first['id']}", json={**first, "status": "off"}).status_code == 200
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    assert run(services) == "1 delivered, 0 to retry, 0 abandoned"
    assert receiver.requests[-1].path == "/hook/second"
    assert client.delete(f"/fhir/Subscription/{second['id']}").status_code in (200, 204)
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    assert run(services) == "0 delivered, 0 to retry, 0 abandoned"
    assert len(receiver.requests) == 3


def test_a_subscription_created_in_the_same_transaction_is_matched(client: TestClient, services: Services,
                                                                   receiver: Receiver) -> None:
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": subscription(receiver.url, "CarePlan?subject=Patient/p1"),
         "request": {"method": "POST", "url": "Subscription"}},
        {"resource": care_plan("Patient/p1"), "request": {"method": "POST", "url": "CarePlan"}},
    ]}
    assert client.post("/fhir", json=bundle).status_code == 200
    assert run(services) == "1 delivered, 0 to retry, 0 abandoned"


def test_a_rolled_back_subscription_is_not_remembered(client: TestClient, services: Services,
                                                      receiver: Receiver) -> None:
    """On SQLite the next Subscription reuses the rolled-back one's row number, so the Subscription rows
    look the same as what the rolled-back transaction saw: only not remembering it keeps them apart."""
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    repository = services.repository
    rolled_back = subscription(receiver.url + "/rolled-back", "CarePlan?subject=Patient/p1")
    with pytest.raises(RuntimeError), services.db.write() as conn:
        repository.create(conn, "Subscription", rolled_back)
        repository.create(conn, "CarePlan", care_plan("Patient/p1"))
        repository.react(conn)  # the matcher runs and sees the uncommitted Subscription
        raise RuntimeError("the transaction fails after the matcher ran")
    assert run(services) == "0 delivered, 0 to retry, 0 abandoned"
    subscribe(client, subscription(receiver.url + "/kept", "CarePlan?subject=Patient/p1"))
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    assert run(services) == "1 delivered, 0 to retry, 0 abandoned"
    assert [r.path for r in receiver.requests] == ["/hook/kept"]


@contextmanager
def _statements(services: Services) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(services.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(services.db.engine, "before_cursor_execute", record)


def test_writes_do_not_search_subscriptions_again_while_they_are_unchanged(
        client: TestClient, services: Services, receiver: Receiver) -> None:
    subscribe(client, subscription(receiver.url, "CarePlan?subject=Patient/p1"))
    with _statements(services) as first:
        client.post("/fhir/CarePlan", json=care_plan("Patient/p2"))
    with _statements(services) as second:
        client.post("/fhir/CarePlan", json=care_plan("Patient/p2"))
    # The second write runs the same statements but the search of the active Subscriptions and the read
    # of their contents.
    assert len(second) == len(first) - 2, (first, second)
