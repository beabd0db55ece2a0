"""The DPI adapter's knobs (see `adapters.settings` for what all adapters share)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from ..settings import AdapterSettings, default_mappings, postgres_driver

DEFAULT_MAPPINGS = default_mappings("dpi")


class DpiSettings(AdapterSettings):
    # The journal's database, when not the server's.
    dpi_journal_url: str = ""
    # The DPI interface's OAuth client (system/ scopes) at ONCOLINK_AUTH_TOKEN_URL.
    dpi_client_id: str = "dpi-interface"
    dpi_client_secret: str = ""

    mllp_host: str = ""  # empty: same as ONCOLINK_HOST
    mllp_port: int = Field(2575, ge=0, le=65535)  # 0 disables the listener
    mllp_tls_cert: Path | None = None
    mllp_tls_key: Path | None = None
    mllp_tls_client_ca: Path | None = None  # when set, senders must present a certificate signed by it
    mllp_max_message_bytes: int = Field(1 << 20, gt=0)
    mllp_idle_timeout: float = Field(300.0, ge=0)  # seconds; 0 = never close idle connections
    mllp_max_connections: int = Field(200, ge=1)  # beyond it, new connections are closed at once (ADR 0012)

    # Charset of messages without MSH-18 ('' = UTF-8 when valid, else ISO 8859-1).
    hl7_default_charset: str = ""
    # Identifies this receiver in ACKs (MSH-3/MSH-4 when the sender left MSH-5/MSH-6 empty).
    hl7_application: str = "ONCOLINK"
    # Data read by the map engine.
    dpi_mappings: Path = DEFAULT_MAPPINGS
    # A Provenance per message (DESIGN §3.1); off only for measurements.
    dpi_provenance: bool = True
    # Server failures (5xx, unreachable) are retried this many times before the message is dead-lettered.
    dpi_retries: int = Field(2, ge=0)
    # Group commit (ADR 0015): messages that queued while a transaction was committing go together, in one
    # transaction, up to this many (1 = one transaction per message).
    dpi_group_max_messages: int = Field(50, ge=1)
    # After a group of n messages, how long (ms) the next group may wait for n messages to have queued (the
    # senders just answered sending their next one). A group of one never makes the next one wait, so a
    # lone sender never waits. 0: take what has queued, never wait.
    dpi_group_max_wait_ms: float = Field(5.0, ge=0)

    @field_validator("dpi_journal_url")
    @classmethod
    def _journal_driver(cls, value: str) -> str:
        return postgres_driver(value)

    @model_validator(mode="after")
    def _tls_pair(self) -> DpiSettings:
        if (self.mllp_tls_cert is None) != (self.mllp_tls_key is None):
            raise ValueError("ONCOLINK_MLLP_TLS_CERT and ONCOLINK_MLLP_TLS_KEY go together")
        return self

    def client_credentials(self) -> tuple[str, str]:
        return self.dpi_client_id, self.dpi_client_secret

    @property
    def journal_url(self) -> str:
        return self.dpi_journal_url or self.database_url

    @property
    def listen_host(self) -> str:
        return self.mllp_host or self.host
