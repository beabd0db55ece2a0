"""The MSSanté adapter's knobs, read from the same `ONCOLINK_*` environment (and `.env`) as the server.

A class of its own, like the DPI adapter's: the adapter is a FHIR client and can run against a remote
server (`oncolink mssante send-pending` with ONCOLINK_FHIR_BASE_URL) without importing `fhir_server`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_mappings() -> Path:
    """The repository's mappings/mssante (editable install, tests), else ./mappings/mssante."""
    beside_code = Path(__file__).resolve().parents[2] / "mappings" / "mssante"
    return beside_code if beside_code.is_dir() else Path.cwd() / "mappings" / "mssante"


DEFAULT_MAPPINGS = _default_mappings()


class MssanteSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONCOLINK_", env_file=".env", extra="ignore")

    # Outbox and directory cache live in the server's database unless told otherwise (own tables and migrations).
    database_url: str = "sqlite:///./var/oncolink.db"
    mssante_database_url: str = ""
    # Where `oncolink mssante send-pending` reads and writes FHIR; empty means http://HOST:PORT/fhir.
    fhir_base_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    fhir_timeout: float = Field(60.0, gt=0)

    # SMTP submission to the MSSanté operator. No host: messages are written as .eml files instead.
    mssante_smtp_host: str = ""
    mssante_smtp_port: int = Field(587, ge=1, le=65535)
    mssante_smtp_tls: Literal["starttls", "implicit"] = "starttls"
    mssante_client_cert: Path | None = None
    mssante_client_key: Path | None = None
    mssante_ca_file: Path | None = None  # the operator's CA (IGC-Santé in production); system CAs when empty
    mssante_smtp_timeout: float = Field(30.0, gt=0)
    mssante_smtp_helo: str = ""  # EHLO name; the local FQDN when empty
    # The sending mailbox (an applicative MSSanté address of the hospital team in production).
    mssante_sender: str = "oncolink@oncolink.invalid"
    mssante_sender_name: str = "Onco'Link"
    # Messages asking for a read notification (MDN, RFC 8098) go back to this address (the sender when empty).
    mssante_notification_to: str = ""
    mssante_outbox_dir: Path = Path("./var/outbox-mail")
    # Messages sent per SMTP connection before it is renewed (one TLS handshake for many messages).
    mssante_batch_size: int = Field(100, ge=1)

    # Annuaire Santé FHIR API (empty: recipients' own FHIR telecom, MSSanté domains only).
    mssante_directory_url: str = ""
    mssante_directory_api_key: str = ""
    mssante_directory_timeout: float = Field(15.0, gt=0)
    mssante_directory_cache_seconds: int = Field(86_400, ge=0)
    mssante_directory_negative_cache_seconds: int = Field(3_600, ge=0)
    mssante_directory_max_pages: int = Field(20, ge=1)

    # Retries of temporary failures (SMTP 4xx, connection and TLS errors, directory unavailable).
    mssante_max_attempts: int = Field(8, ge=1)
    mssante_backoff_seconds: float = Field(30.0, ge=0)
    mssante_backoff_max_seconds: float = Field(3_600.0, ge=0)
    # A message left "sending" longer than this by a crashed worker is marked unknown, never resent blindly.
    mssante_sending_lease_seconds: float = Field(600.0, gt=0)
    # A trigger claimed (in-progress) without outbox rows for this long is taken up again after a crash.
    mssante_claim_lease_seconds: float = Field(300.0, gt=0)
    # Worker inside `oncolink serve`: seconds between passes (0 disables the worker).
    mssante_poll_seconds: float = Field(10.0, ge=0)

    # Wording and code tables (data, not code).
    mssante_mappings: Path = DEFAULT_MAPPINGS
    # OID of this installation, root of the documents' and submission sets' unique ids (XDS sourceId).
    mssante_source_oid: str = "1.2.250.1.999.8.1"

    @field_validator("database_url", "mssante_database_url")
    @classmethod
    def _normalise_driver(cls, value: str) -> str:
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix):]
        return value

    @model_validator(mode="after")
    def _cert_pair(self) -> MssanteSettings:
        if (self.mssante_client_cert is None) != (self.mssante_client_key is None):
            raise ValueError("ONCOLINK_MSSANTE_CLIENT_CERT and ONCOLINK_MSSANTE_CLIENT_KEY go together")
        return self

    @property
    def store_url(self) -> str:
        return self.mssante_database_url or self.database_url

    @property
    def remote_fhir_base(self) -> str:
        return (self.fhir_base_url or f"http://{self.host}:{self.port}/fhir").rstrip("/")

    @property
    def notification_address(self) -> str:
        return self.mssante_notification_to or self.mssante_sender
