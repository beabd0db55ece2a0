"""What every adapter reads from the `ONCOLINK_*` environment (and `.env`), as the server does.

Adapters have settings classes of their own rather than the server's: they are FHIR clients and can
run against a remote server without importing anything from `fhir_server`.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .oauth import BearerToken, ClientCredentials


def postgres_driver(value: str) -> str:
    """Accept the libpq-style URL users copy from psql and select the psycopg 3 driver for it."""
    for prefix in ("postgresql://", "postgres://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix):]
    return value


def default_mappings(kind: str) -> Path:
    """The repository's mappings/<kind> (editable install, tests), else ./mappings/<kind> (an installed
    package run from a checkout or the Docker image's /app)."""
    beside_code = Path(__file__).resolve().parents[1] / "mappings" / kind
    return beside_code if beside_code.is_dir() else Path.cwd() / "mappings" / kind


class AdapterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONCOLINK_", env_file=".env", extra="ignore")

    # An adapter's own tables live in the server's database unless its own URL says otherwise.
    database_url: str = "sqlite:///./var/oncolink.db"
    # Where the adapter sends FHIR requests when run alone; empty means http://HOST:PORT/fhir.
    fhir_base_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    fhir_timeout: float = Field(60.0, gt=0)
    # How the adapter authenticates to the server: a fixed bearer token, else the client-credentials grant
    # at the issuer's token endpoint with the adapter's own client (`client_credentials`).
    fhir_token: str = ""
    auth_token_url: str = ""

    def client_credentials(self) -> tuple[str, str]:
        """The adapter's OAuth client id and secret; each adapter has its own client."""
        return "", ""

    def fhir_auth(self) -> httpx.Auth | None:
        """The credential the adapter's FhirClient sends; None when nothing is configured (the server
        then answers 401, and the adapter reports it)."""
        if self.fhir_token:
            return BearerToken(self.fhir_token)
        client_id, secret = self.client_credentials()
        if self.auth_token_url and client_id:
            return ClientCredentials(self.auth_token_url, client_id, secret, timeout=self.fhir_timeout)
        return None

    @field_validator("database_url")
    @classmethod
    def _normalise_driver(cls, value: str) -> str:
        return postgres_driver(value)

    @property
    def remote_fhir_base(self) -> str:
        return (self.fhir_base_url or f"http://{self.host}:{self.port}/fhir").rstrip("/")
