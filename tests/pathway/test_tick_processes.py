"""The tick's batches written by a spawned worker process beside the caller (docs/adr/0018 addendum):
a worker moves what the caller leaves, and a worker killed in the middle loses no episode."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from fhir_server.pathway.tick import TickReport, due_work, move_batch
from fhir_server.pathway.tick_processes import run
from fhir_server.pathway.transitions import engine
from fhir_server.services import Services
from tests.pathway.data import FORFAIT, episode_sequences, new_episode, search

MONTH_LATER = datetime(2026, 2, 10, 8, tzinfo=UTC)  # sequence 1 of an episode of 2026-01-05 has ended


def _numbers(client: TestClient, episode_id: str) -> list[tuple[str, str]]:
    return [sequence[:2] for sequence in episode_sequences(client, episode_id)]


def _forfait_identifiers(client: TestClient) -> list[str]:
    """Whole identifiers, episode included (`forfait_keys` drops it: keys repeat across episodes)."""
    return [c["identifier"][0]["value"] for c in search(client, f"ChargeItem?code={FORFAIT}|sequence&_count=200")]


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 180  # a worker builds its services first: seconds on a busy machine
    while not condition():
        assert time.monotonic() < deadline, "the worker process moved nothing"
        time.sleep(0.02)


def test_a_worker_process_moves_the_batches_the_caller_leaves(client: TestClient, services: Services) -> None:
    services.settings = services.settings.model_copy(update={"pathway_tick_batch": 1})
    episodes = [new_episode(client)[2]["id"] for _ in range(4)]
    job, active = due_work(services, MONTH_LATER)
    pathway, taken = engine(services), []

    def caller(batch: list[str]) -> TickReport:
        """Holds its first batch until the worker has moved every other one."""
        taken.append(batch)
        others = [e for e in episodes if e not in batch]
        _wait_for(lambda: all(_numbers(client, e)[-1] == ("2", "active") for e in others))
        return move_batch(pathway, job, batch)

    reports = run(services.settings, job, 2, caller)

    assert (active, len(job.batches), len(taken)) == (4, 4, 1)
    assert [(r.transitions, r.failed) for r in reports] == [(1, [])] * 4
    for episode in episodes:
        assert _numbers(client, episode) == [("1", "completed"), ("2", "active")]
    provenances = [p for p in search(client, "Provenance?_count=100") if "oncolink pathway tick" in
                   p["activity"]["text"]]
    assert len(provenances) == 4
    keys = _forfait_identifiers(client)
    assert len(keys) == len(set(keys)) == 4 * 6  # three shares for sequences 1 and 2 of each


def test_a_worker_killed_during_the_tick_loses_no_episode(client: TestClient, services: Services) -> None:
    """Whatever the worker held when it was killed (a batch begun, committed or not) is moved by the
    caller; nothing is moved or billed twice."""
    services.settings = services.settings.model_copy(update={"pathway_tick_batch": 1})
    episodes = [new_episode(client)[2]["id"] for _ in range(12)]
    job, _ = due_work(services, MONTH_LATER)
    pathway, killed = engine(services), []

    def caller(batch: list[str]) -> TickReport:
        """Kills the worker as soon as it has committed its first batch, with ten more to go."""
        if not killed:
            _wait_for(lambda: client.get("/fhir/CarePlan?status=completed&_summary=count").json()["total"] > 0)
            worker = next(p for p in multiprocessing.active_children() if p.name == "pathway-tick-1")
            os.kill(worker.pid or 0, signal.SIGKILL)
            killed.append(worker.pid)
        return move_batch(pathway, job, batch)

    reports = run(services.settings, job, 2, caller)

    assert killed and sum(len(r.failed) for r in reports) == 0
    assert len(reports) == 12
    for episode in episodes:
        assert _numbers(client, episode) == [("1", "completed"), ("2", "active")]
    keys = _forfait_identifiers(client)
    assert len(keys) == len(set(keys)) == 12 * 6
    again = run(services.settings, due_work(services, MONTH_LATER)[0], 2, lambda b: move_batch(pathway, job, b))
    assert again == []  # nothing left due
