"""A real SMTP relay on loopback (aiosmtpd in its own thread) that demands TLS and a client certificate
signed by the test CA, records every message it accepts, and misbehaves on request."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller

from tests.live_server import free_port

from .pki import Pki

logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd warns about CERT_REQUIRED, which we want


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    client_cn: str | None
    tls_version: str | None
    mail_options: list[str]


@dataclass
class Relay:
    """The aiosmtpd handler. Failure plans are consumed once each, keyed by recipient address."""

    messages: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, list[str]] = field(default_factory=dict)
    vanish_on_rcpt: set[str] = field(default_factory=set)
    vanish_after_data: set[str] = field(default_factory=set)
    sessions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
                          ) -> list[str]:
        session.host_name = hostname
        if session.ssl is not None:
            with self.lock:
                self.sessions += 1
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
                          ) -> str:
        with self.lock:
            if address in self.vanish_on_rcpt:
                self.vanish_on_rcpt.discard(address)
                server.transport.abort()
                return "421 4.3.2 arrêt du service"
            queue = self.rcpt_replies.get(address)
            if queue:
                return queue.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        peer = (session.ssl or {}).get("peercert") or {}
        cn = next((value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"), None)
        ssl_object = (session.ssl or {}).get("ssl_object")
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content or
                            envelope.content), cn, ssl_object.version() if ssl_object else None,
                            list(envelope.mail_options or []))
        with self.lock:
            self.messages.append(received)
            if envelope.rcpt_tos[0] in self.vanish_after_data:
                self.vanish_after_data.discard(envelope.rcpt_tos[0])
                server.transport.abort()  # took the message, never says so
        return "250 2.0.0 Ok: queued"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if address in m.rcpt_tos]


def server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.verify_mode = ssl.CERT_REQUIRED  # no certificate signed by our CA, no session
    return context


class RelayServer:
    """Can be stopped and started again on the same port, keeping what it received (a relay that
    disappears and comes back)."""

    def __init__(self, pki: Pki, *, implicit: bool = False) -> None:
        self.relay = Relay()
        self.port = free_port()
        self.pki = pki
        self.implicit = implicit
        self.controller: Controller | None = None

    def start(self) -> RelayServer:
        context = server_context(self.pki)
        if self.implicit:
            self.controller = _ImplicitController(self.relay, hostname="127.0.0.1", port=self.port,
                                                  ssl_context=context)
        else:
            self.controller = Controller(self.relay, hostname="127.0.0.1", port=self.port, tls_context=context,
                                         require_starttls=True, server_hostname="relais.mssante.test")
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class _ImplicitController(Controller):
    def _trigger_server(self) -> None:
        # The stock trigger opens a TLS connection without a client certificate, which our relay refuses:
        # a bare TCP connection is enough to make the server build its protocol.
        with socket.create_connection((self.hostname, self.port), 1.0):
            pass
