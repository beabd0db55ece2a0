"""The DPI adapter's knobs, read from the same `ONCOLINK_*` environment (and `.env`) as the server.

A class of its own rather than the server's settings: the adapter is a FHIR client and must run
against a remote server (`oncolink mllp`) without importing anything from `fhir_server`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_mappings() -> Path:
    """The repository's mappings/dpi (editable install, tests), else ./mappings/dpi (an installed package
    run from a checkout or the Docker image's /app)."""
    beside_code = Path(__file__).resolve().parents[2] / "mappings" / "dpi"
    return beside_code if beside_code.is_dir() else Path.cwd() / "mappings" / "dpi"


DEFAULT_MAPPINGS = _default_mappings()


class DpiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONCOLINK_", env_file=".env", extra="ignore")

    # The journal lives in the server's database unless told otherwise (its own tables and migrations).
    database_url: str = "sqlite:///./var/oncolink.db"
    dpi_journal_url: str = ""
    # Where `oncolink mllp` sends FHIR transactions; empty means http://HOST:PORT/fhir of the local server.
    fhir_base_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080

    mllp_host: str = ""  # empty: same as ONCOLINK_HOST
    mllp_port: int = Field(2575, ge=0, le=65535)  # 0 disables the listener
    mllp_tls_cert: Path | None = None
    mllp_tls_key: Path | None = None
    mllp_tls_client_ca: Path | None = None  # when set, senders must present a certificate signed by it
    mllp_max_message_bytes: int = Field(1 << 20, gt=0)
    mllp_idle_timeout: float = Field(300.0, ge=0)  # seconds; 0 = never close idle connections

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
    fhir_timeout: float = Field(60.0, gt=0)

    @field_validator("database_url", "dpi_journal_url")
    @classmethod
    def _normalise_driver(cls, value: str) -> str:
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix):]
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> DpiSettings:
        if (self.mllp_tls_cert is None) != (self.mllp_tls_key is None):
            raise ValueError("ONCOLINK_MLLP_TLS_CERT and ONCOLINK_MLLP_TLS_KEY go together")
        return self

    @property
    def journal_url(self) -> str:
        return self.dpi_journal_url or self.database_url

    @property
    def listen_host(self) -> str:
        return self.mllp_host or self.host

    @property
    def remote_fhir_base(self) -> str:
        return (self.fhir_base_url or f"http://{self.host}:{self.port}/fhir").rstrip("/")
