"""The MSSanté adapter's knobs (see `adapters.settings` for what all adapters share)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..settings import AdapterSettings, default_mappings, postgres_driver

DEFAULT_MAPPINGS = default_mappings("mssante")


class MssanteSettings(AdapterSettings):
    # The outbox's and directory cache's database, when not the server's.
    mssante_database_url: str = ""
    # The MSSanté worker's OAuth client (system/ scopes) at ONCOLINK_AUTH_TOKEN_URL.
    mssante_oauth_client_id: str = "mssante-worker"
    mssante_oauth_client_secret: str = ""

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

    @field_validator("mssante_database_url")
    @classmethod
    def _store_driver(cls, value: str) -> str:
        return postgres_driver(value)

    @model_validator(mode="after")
    def _cert_pair(self) -> MssanteSettings:
        if (self.mssante_client_cert is None) != (self.mssante_client_key is None):
            raise ValueError("ONCOLINK_MSSANTE_CLIENT_CERT and ONCOLINK_MSSANTE_CLIENT_KEY go together")
        return self

    def client_credentials(self) -> tuple[str, str]:
        return self.mssante_oauth_client_id, self.mssante_oauth_client_secret

    @property
    def store_url(self) -> str:
        return self.mssante_database_url or self.database_url

    @property
    def notification_address(self) -> str:
        return self.mssante_notification_to or self.mssante_sender
