"""Delivery of composed messages: SMTP submission over TLS with a client certificate, or .eml files.

One `SmtpSession` is one TLS connection used for many messages (MAIL/RCPT/DATA, RSET after a refusal).
What a failure means for the message is decided here, from where it happened:
- before the end of DATA was written (connection refused, TLS refused, MAIL/RCPT refused with 4xx,
  connection lost), the relay cannot hold the message: retry later (5xx: never);
- after the end of DATA was written and before the relay's answer (connection lost, timeout), the relay
  may have taken it: `unknown`, never resent automatically (at-most-once per Message-ID).
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import aiosmtplib
from aiosmtplib import SMTPResponseException, SMTPServerDisconnected, SMTPTimeoutError

from .settings import MssanteSettings

Verdict = Literal["sent", "retry", "failed", "unknown"]


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reply: str = ""
    error: str = ""


class ConnectionFailed(Exception):
    """No session could be opened (refused, TLS handshake or certificate refused, greeting refused)."""


class Session(Protocol):
    @property
    def alive(self) -> bool: ...

    async def send(self, *, sender: str, recipient: str, raw: bytes, envelope_id: str) -> Outcome: ...

    async def close(self) -> None: ...


class Transport(Protocol):
    description: str

    async def open(self) -> Session: ...


def tls_context(settings: MssanteSettings) -> ssl.SSLContext:
    """Verify the relay against the configured CA (IGC-Santé in production) and present our certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                         cafile=str(settings.mssante_ca_file) if settings.mssante_ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.mssante_client_cert and settings.mssante_client_key:
        context.load_cert_chain(settings.mssante_client_cert, settings.mssante_client_key)
    return context


def _xtext(value: str) -> str:
    """RFC 3461 xtext for ENVID/ORCPT: '+', '=' and non-printables as +HH."""
    return "".join(c if 33 <= ord(c) <= 126 and c not in "+=" else f"+{ord(c):02X}" for c in value)


def _reply(response: object) -> str:
    code = getattr(response, "code", "")
    message = getattr(response, "message", "")
    return f"{code} {message}".strip()


class SmtpSession:
    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client

    @property
    def alive(self) -> bool:
        return self.client.is_connected

    async def send(self, *, sender: str, recipient: str, raw: bytes, envelope_id: str) -> Outcome:
        dsn = self.client.supports_extension("dsn")
        mail_options = ["RET=HDRS", f"ENVID={_xtext(envelope_id)}"] if dsn else []
        rcpt_options = ["NOTIFY=SUCCESS,FAILURE", f"ORCPT=rfc822;{_xtext(recipient)}"] if dsn else []
        stage = "MAIL FROM"
        try:
            await self.client.mail(sender, options=mail_options)
            stage = "RCPT TO"
            await self.client.rcpt(recipient, options=rcpt_options)
            stage = "DATA"
            response = await self.client.data(raw)
        except SMTPResponseException as exc:
            await self._reset()
            text = f"{exc.code} {exc.message}".strip()
            if 400 <= exc.code < 500:
                return Outcome("retry", text, f"refus temporaire du relais à l'étape {stage} : {text}")
            return Outcome("failed", text, f"refus définitif du relais à l'étape {stage} : {text}")
        except (SMTPServerDisconnected, SMTPTimeoutError, OSError) as exc:
            self.client.close()
            if stage == "DATA":
                return Outcome("unknown", "", "connexion perdue après l'envoi du contenu, avant la réponse du relais : "
                                              f"remise incertaine ({exc})")
            return Outcome("retry", "", f"connexion perdue à l'étape {stage} ({exc})")
        return Outcome("sent", _reply(response))

    async def _reset(self) -> None:
        if not self.client.is_connected:
            return
        try:
            await self.client.rset()
        except (aiosmtplib.SMTPException, OSError):
            self.client.close()

    async def close(self) -> None:
        if self.client.is_connected:
            try:
                await self.client.quit()
            except (aiosmtplib.SMTPException, OSError):
                self.client.close()


class SmtpTransport:
    def __init__(self, settings: MssanteSettings) -> None:
        self.settings = settings
        self.context = tls_context(settings)
        mode = settings.mssante_smtp_tls
        self.description = f"smtp://{settings.mssante_smtp_host}:{settings.mssante_smtp_port} ({mode})"

    async def open(self) -> SmtpSession:
        settings = self.settings
        implicit = settings.mssante_smtp_tls == "implicit"
        client = aiosmtplib.SMTP(hostname=settings.mssante_smtp_host, port=settings.mssante_smtp_port,
                                 use_tls=implicit, start_tls=not implicit, tls_context=self.context,
                                 timeout=settings.mssante_smtp_timeout,
                                 local_hostname=settings.mssante_smtp_helo or None)
        try:
            await client.connect()
            # With TLS 1.3 a refused client certificate only shows on the first read after the handshake:
            # one EHLO round trip now makes it a connection failure instead of a failed message.
            await client.ehlo()
        except ssl.SSLCertVerificationError as exc:
            raise ConnectionFailed(f"certificat du relais refusé : {exc.verify_message}") from exc
        except ssl.SSLError as exc:
            raise ConnectionFailed(f"négociation TLS refusée par le relais (certificat client ?) : {exc}") from exc
        except SMTPResponseException as exc:
            client.close()
            raise ConnectionFailed(f"le relais refuse la session : {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ssl.SSLError):
                raise ConnectionFailed(f"négociation TLS refusée (certificat client ?) : {cause}") from exc
            raise ConnectionFailed(f"connexion au relais {self.description} impossible ou session TLS refusée "
                                   f"(certificat client ?) : {exc}") from exc
        return SmtpSession(client)


_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]+")


class FileSession:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def alive(self) -> bool:
        return True

    async def send(self, *, sender: str, recipient: str, raw: bytes, envelope_id: str) -> Outcome:
        name = f"{_UNSAFE.sub('_', envelope_id)}-{_UNSAFE.sub('_', recipient)}.eml"
        target = self.folder / name
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(handle, "wb") as out:
                out.write(f"X-Envelope-From: <{sender}>\r\nX-Envelope-To: <{recipient}>\r\n".encode())
                out.write(raw)
            os.replace(temp, target)  # atomic: a reader never sees half a message
        except OSError as exc:
            return Outcome("retry", "", f"écriture de {target} impossible : {exc}")
        return Outcome("sent", f"écrit dans {target}")

    async def close(self) -> None:
        return None


class FileTransport:
    """No relay configured (`make run`): each message becomes a .eml file a user can open."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.description = f"fichiers .eml dans {folder}"

    async def open(self) -> FileSession:
        return FileSession(self.folder)


def transport_for(settings: MssanteSettings) -> Transport:
    if settings.mssante_smtp_host:
        return SmtpTransport(settings)
    return FileTransport(settings.mssante_outbox_dir)
