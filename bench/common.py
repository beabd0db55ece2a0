"""What every benchmark needs: a server subprocess per database, percentiles, and RESULTS.md sections."""

from __future__ import annotations

import os
import platform
import pstats
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psutil
import sqlalchemy as sa

from fhir_server.security.dev_issuer import DevIssuer
from tests.live_server import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
PG_ADMIN_URL = os.environ.get("ONCOLINK_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass
class Target:
    """One database the benchmark runs against; PostgreSQL gets a throw-away schema."""

    name: str
    url: str
    cleanup: object = None


@contextmanager
def targets(work: Path) -> Iterator[list[Target]]:
    work.mkdir(parents=True, exist_ok=True)
    sqlite_file = work / f"bench-{uuid.uuid4().hex[:8]}.db"
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield [
            Target("SQLite", f"sqlite:///{sqlite_file}"),
            Target("PostgreSQL", f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"),
        ]
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)


_ISSUER: list[DevIssuer] = []


def issuer() -> DevIssuer:
    """The local token issuer every benchmark server trusts (started once per benchmark process): the
    servers verify real signatures, as in production, so the figures include authentication."""
    if not _ISSUER:
        _ISSUER.append(DevIssuer().start())
    return _ISSUER[0]


def issuer_settings() -> dict[str, str]:
    """`Settings` keyword arguments for an in-process server trusting `issuer()`."""
    return {k.removeprefix("ONCOLINK_").lower(): v for k, v in issuer().settings_env().items()}


def auth(role: str = "administrator", **headers: str) -> dict[str, str]:
    """Request headers carrying a token of `role` (the establishment's service account by default)."""
    return {"Authorization": f"Bearer {issuer().mint(role, lifetime_seconds=12 * 3600)}", **headers}


@contextmanager
def server(database_url: str, *command: str, port: int | None = None, startup_seconds: float = 90,
           **extra_env: str) -> Iterator[tuple[str, psutil.Process]]:
    """A server in its own process — `oncolink serve` as users run it unless `command` names another
    module's entry (`bench.search_server`…); yields the FHIR base and the process once `metadata` answers."""
    port = port or free_port()
    env = {**os.environ, "ONCOLINK_DATABASE_URL": database_url, "ONCOLINK_PORT": str(port),
           "ONCOLINK_MLLP_PORT": "0", "ONCOLINK_LOG_LEVEL": "warning", **issuer().settings_env(),
           **issuer().client_env(), **extra_env}
    proc = subprocess.Popen([sys.executable, "-m", *(command or ("fhir_server", "serve"))], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        wait_until_serving(proc, port, startup_seconds)
        yield base, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {date.today()}"


def record(section: str, body: str) -> None:
    """Replace (or append) the `## section` of bench/RESULTS.md, leaving other benchmarks' sections alone."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nRecorded by `make bench`.\n"
    block = f"## {section}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _m: block + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    RESULTS.write_text(text.rstrip() + "\n")


# Where profiled time is spent, by layer: own time attributed by file, or by name for C functions (the
# database drivers have no file). Benchmarks add layers of their own (the adapters, the HTTP stack).
WRITE_PATH_LAYERS: dict[str, tuple[str, ...]] = {
    "validation": ("fhir_server/validation/",),
    "search index extraction": ("fhir_server/search/",),
    "database driver (sqlite3 / psycopg: inserts, COPY, commit)": ("sqlite3.", "psycopg", "'commit'"),
    "SQLAlchemy": ("sqlalchemy/",),
    "bundle processing": ("fhir_server/bundle.py",),
    "repository": ("fhir_server/repository.py",),
    "JSON (orjson)": ("orjson",),
}


def time_by_layer(stats: pstats.Stats, layers: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """Own time per layer, the rest under "other"."""
    per_layer = dict.fromkeys([*layers, "other"], 0.0)
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename} {name}"
        layer = next((layer for layer, markers in layers.items() if any(m in where for m in markers)), "other")
        per_layer[layer] += tottime
    return per_layer

