"""A real HTTP receiver on loopback for notifications, and a server whose retries are immediate."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fhir_server.settings import Settings


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every request; answers with the statuses queued in `responses`, then 200."""

    url: str
    requests: list[Received] = field(default_factory=list)
    responses: list[int] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests.append(Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                           body))
            status = state.responses.pop(0) if state.responses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            state.arrived.set()

        do_POST = do_PUT = _record  # noqa: N815 - the names http.server dispatches to

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base class signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def settings(db_url: str, package_cache: Path, auth_settings: dict[str, str]) -> Settings:
    return Settings(database_url=db_url, package_cache=package_cache, base_url="http://testserver", **auth_settings,
                    subscription_max_attempts=3, subscription_retry_base_seconds=0,
                    subscription_http_timeout_seconds=2)
