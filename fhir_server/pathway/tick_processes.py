"""The tick's batches written by several processes (PostgreSQL).

One Python process gives the engine's work one core at most (the interpreter lock): with two threads, a
month's catch-up over 15,000 episodes took 34 s, of which 29 s were the engine's CPU in one process while
the database server used 14 s of the other core. Worker processes build their own services and take
batches from a shared counter. They are spawned, never forked: `oncolink serve` runs the tick in a thread
beside the event loop and the MLLP listener, and a fork would copy locks that other threads hold.

The calling process takes batches from the start too, so a small tick (a day's few moves) is over before a
worker has finished starting, and a worker that holds no batch when every batch is taken is stopped. A
batch is taken under the counter's lock and reported once committed; a batch that a worker took and never
reported (the worker died) is written again by the caller. Every write of the tick is keyed on a business
identifier, so writing a batch again writes only what is missing.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings
    from .tick import TickReport

log = logging.getLogger(__name__)
CALLER = 0  # the worker number of the calling process; spawned workers are 1, 2, …
Move = Callable[[list[str]], "TickReport"]


@dataclass(frozen=True)
class Job:
    """What every worker moves the batches on with: the tick's day, its moment, the months billed."""

    batches: list[list[str]]
    today: date
    now: datetime
    billed: set[str]


class Claims:
    """Which batch goes to whom: a counter of the batches taken and, per batch, the worker that took it,
    both changed under one lock shared by every process."""

    def __init__(self, context: SpawnContext, total: int) -> None:
        self.total = total
        self.next: Synchronized[int] = context.Value("i", 0)
        self.owner: SynchronizedArray[int] = context.Array("i", [-1] * total, lock=False)

    def take(self, worker: int) -> int | None:
        with self.next.get_lock():
            index = self.next.value
            if index >= self.total:
                return None
            self.next.value = index + 1
            self.owner[index] = worker
            return index

    def held_by(self, worker: int) -> set[int]:
        with self.next.get_lock():
            return {index for index in range(self.total) if self.owner[index] == worker}


def _work(settings: Settings, job: Job, claims: Claims, worker: int, reports: Connection) -> None:
    """A spawned worker: its own services, then batches until none is left, each reported once committed."""
    from ..heap import freeze_long_lived
    from ..services import build_services
    from .tick import move_batch
    from .transitions import engine

    services = build_services(settings)
    freeze_long_lived()
    try:
        pathway = engine(services)
        while (index := claims.take(worker)) is not None:
            reports.send((index, move_batch(pathway, job, job.batches[index])))
    finally:
        reports.close()
        services.close()


@dataclass
class Worker:
    number: int
    process: SpawnProcess
    reports: Connection

    @classmethod
    def start(cls, context: SpawnContext, settings: Settings, job: Job, claims: Claims, number: int) -> Worker:
        receiving, sending = context.Pipe(duplex=False)
        process = context.Process(target=_work, args=(settings, job, claims, number, sending), daemon=True,
                                  name=f"pathway-tick-{number}")
        process.start()
        sending.close()  # the worker's end only: its reports channel ends when the worker does
        return cls(number, process, receiving)


def run(settings: Settings, job: Job, workers: int, move: Move) -> list[TickReport]:
    """Every batch of `job` moved on once by this process (`move`) and up to `workers - 1` spawned ones
    (none for a single batch); the reports in the order of the batches. Without a worker to start, no
    shared counter or lock is made: SQLite's ticks and one-batch ticks never touch multiprocessing."""
    spawned = min(workers, len(job.batches)) - 1
    if spawned < 1:
        return [move(batch) for batch in job.batches]
    context = multiprocessing.get_context("spawn")
    claims = Claims(context, len(job.batches))
    started = [Worker.start(context, settings, job, claims, number) for number in range(1, spawned + 1)]
    done: dict[int, TickReport] = {}
    try:
        while (index := claims.take(CALLER)) is not None:
            done[index] = move(job.batches[index])
        _collect(started, claims, done)
    finally:
        for worker in started:
            if worker.process.is_alive():
                worker.process.terminate()
            worker.process.join()
    for index in sorted(set(range(claims.total)) - done.keys()):
        log.warning("pathway tick: a worker ended before reporting batch %s; moved again here", index)
        done[index] = move(job.batches[index])
    return [done[index] for index in range(claims.total)]


def _collect(workers: list[Worker], claims: Claims, done: dict[int, TickReport]) -> None:
    """Once every batch is taken: the workers' reports until each holds none unreported. A worker that
    holds none is idle (still starting, or done) and is stopped; one that ended holding some leaves them
    to the caller."""
    running = workers
    while running:
        still = []
        for worker in running:
            _drain(worker, done)
            if worker.process.is_alive() and claims.held_by(worker.number) - done.keys():
                still.append(worker)
                continue
            worker.process.terminate()
            worker.process.join()
            _drain(worker, done)
        running = still
        if running:
            wait([w.reports for w in running] + [w.process.sentinel for w in running])


def _drain(worker: Worker, done: dict[int, TickReport]) -> None:
    try:
        while worker.reports.poll():
            index, report = worker.reports.recv()
            done[index] = report
    except (EOFError, OSError):
        return
