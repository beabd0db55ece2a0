"""Runtime configuration.

Every knob of the server lives here and is read from `ONCOLINK_*` environment variables (or `.env`),
so scripts and integrators can rely on the names of DESIGN.md §5. Settings are built by `get_settings()`
rather than at import time, because tests run the same process against SQLite and PostgreSQL.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .store.database import SQLITE_WAL_AUTOCHECKPOINT


def default_ig_dir() -> Path:
    """`profiles/` beside the source tree (editable installs, tests), else in the working directory (an
    installed wheel run from the repository, or the Docker image's /app)."""
    beside = Path(__file__).resolve().parents[1] / "profiles"
    if (beside / "sushi-config.yaml").exists():
        return beside
    return Path.cwd() / "profiles"


def default_mappings_dir() -> Path:
    """`mappings/` beside the source tree, else in the working directory (as `default_ig_dir`)."""
    beside = Path(__file__).resolve().parents[1] / "mappings"
    return beside if beside.is_dir() else Path.cwd() / "mappings"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONCOLINK_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./var/oncolink.db"
    host: str = "127.0.0.1"
    port: int = 8080
    package_cache: Path = Field(default_factory=lambda: Path.home() / ".fhir" / "packages")
    package_registry_url: str = "https://packages.fhir.org"
    # Public base URL written into Location headers and Bundle links; derived from host/port when empty.
    base_url: str = ""
    log_level: str = "info"
    # Paging and limits (ADR 0012). A `_count` over max_page_size and includes past their caps are cut
    # down with a warning (400 under `Prefer: handling=strict`); a body over max_body_bytes gets 413 before
    # more than that is read, a Bundle over max_bundle_entries 413, JSON nested deeper than max_json_depth 400.
    default_page_size: int = 20
    max_page_size: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_bundle_entries: int = Field(default=10_000, ge=1)
    max_json_depth: int = Field(default=64, ge=2, le=500)  # checked by recursion (`http._depth_exceeds`)
    max_included_resources: int = Field(default=1000, ge=0)
    max_include_rounds: int = Field(default=5, ge=1)
    db_pool_size: int = 10
    # SQLite: WAL pages after which a commit copies the log back into the database file (SQLite's default
    # is 1,000). Each checkpoint syncs and rewrites every page changed since the last one; index writes
    # touch pages all over the value-ordered indexes, and a longer log lets a page changed by several
    # transactions be copied once, with ten times fewer syncs under the write lock (in-process, 10,000
    # Patients in transactions of 100: 300-450 µs per Patient under the lock at 1,000, 150-230 µs at
    # 10,000, 2026-12-07). The log grows to about this many 4 KiB pages before it is reused.
    sqlite_wal_autocheckpoint: int = Field(default=SQLITE_WAL_AUTOCHECKPOINT, ge=0)
    # What a write claiming an unknown profile in meta.profile gets: a warning (accepted) or an error (422).
    unknown_profile: Literal["warning", "error"] = "warning"
    # The implementation guide folder (FSH sources, SUSHI output, built package).
    ig_dir: Path = Field(default_factory=default_ig_dir)
    # Telemonitoring: the triage trees (default.yaml + establishments/<FINESS>.yaml) and the interaction table.
    triage_dir: Path = Field(default_factory=lambda: default_mappings_dir() / "triage")
    interactions_file: Path = Field(default_factory=lambda: default_mappings_dir() / "interactions.yaml")
    # How far back the worklist looks for the last weekly questionnaire of each patient.
    worklist_lookback_days: int = 60
    # How often `oncolink serve` looks for missing weekly questionnaires; 0 leaves it to
    # `oncolink telemonitoring check-missing` run by the site's scheduler.
    missing_check_seconds: float = 3600
    # Pathway engine: the rules, tariffs and drug table (mappings/pathway), how often `oncolink serve` runs
    # the pathway tick (sequence ends, monthly telemonitoring forfaits; 0 leaves it to `oncolink pathway
    # tick` run by the site's scheduler), and the time zone whose calendar dates sequences and months follow.
    pathway_dir: Path = Field(default_factory=lambda: default_mappings_dir() / "pathway")
    pathway_tick_seconds: float = 3600
    # Episodes the tick moves on in one write transaction: a commit (and the reactions run before it) per
    # batch instead of per episode. A batch holds the database's write lock (SQLite) or its episodes' row
    # locks (PostgreSQL) until it commits, about 8 ms per episode moved.
    pathway_tick_batch: int = Field(default=50, ge=1)
    # Processes writing the tick's batches side by side: this one and `n - 1` spawned workers, each with its
    # own services and connection (PostgreSQL only: SQLite has one writer). A month's catch-up is the
    # engine's Python work, which one process runs on one core only (docs/adr/0018 addendum).
    pathway_tick_workers: int = Field(default=2, ge=1)
    pathway_timezone: str = "Europe/Paris"
    # Who bills the monthly telemonitoring forfait (an Organization reference); empty means the episode's
    # hospital team, which operates telemonitoring in the experiment's centres.
    telemonitoring_operator: str = ""
    # `oncolink demo`: the synthetic hospital's tables (people, drugs, shares of the file active).
    demo_file: Path = Field(default_factory=lambda: default_mappings_dir() / "demo" / "hospital.toml")
    # Authentication (fhir_server/security, ADR 0009). An empty issuer means no token checking is configured.
    # The issuer and audience must equal the token's `iss` and `aud`; the JWKS URL is discovered from
    # `{issuer}/.well-known/openid-configuration` when empty. Keys are cached for `auth_jwks_cache_seconds`;
    # a token with an unknown `kid` triggers one refetch, never sooner than `auth_jwks_min_refetch_seconds`
    # after the previous fetch. `exp`/`nbf` accept `auth_leeway_seconds` of clock skew.
    auth_issuer: str = ""
    auth_audience: str = ""
    auth_jwks_url: str = ""
    # Published in /fhir/.well-known/smart-configuration for clients to get tokens (empty: not published).
    auth_token_url: str = ""
    auth_authorization_url: str = ""
    # AuditEvents of reads and refusals are written in batches of at most `audit_batch_size`, within
    # `audit_flush_seconds` of the request; `audit_observer` names this server in them.
    audit_batch_size: int = Field(default=200, ge=1)
    audit_flush_seconds: float = Field(default=0.2, gt=0)
    audit_observer: str = "Onco'Link FHIR"
    # Where `oncolink serve --dev` writes the tokens it mints, for scripts (`oncolink demo`, README flows).
    dev_tokens_file: Path = Path("var/dev-tokens.json")
    auth_jwks_cache_seconds: float = 300
    auth_jwks_min_refetch_seconds: float = 30
    auth_http_timeout_seconds: float = 5
    auth_leeway_seconds: float = 30
    # A verified token is remembered this long (never past its expiry); a key the issuer withdraws stops
    # being trusted within that delay. 0 verifies every request.
    auth_token_cache_seconds: float = Field(default=30, ge=0)
    # Subscriptions (fhir_server/subscriptions, ADR 0011): how often `oncolink serve` sends due notifications
    # (0 leaves it to `oncolink subscriptions deliver`), failures before the Subscription goes to
    # status=error, the first retry delay (doubled at each failure) and the receiver's HTTP timeout.
    subscription_poll_seconds: float = 0.5
    subscription_max_attempts: int = Field(default=5, ge=1)
    subscription_retry_base_seconds: float = Field(default=2, ge=0)
    subscription_http_timeout_seconds: float = Field(default=10, gt=0)
    # The claim naming the user's Onco'Link role (oncologist, idec, …); Pro Santé Connect needs a mapping.
    auth_role_claim: str = "role"
    # Which patients each role reaches (mappings/access/roles.yaml, ADR 0013), and how long the
    # Organization ids of a token's FINESS identifiers are remembered.
    access_roles_file: Path = Field(default_factory=lambda: default_mappings_dir() / "access" / "roles.yaml")
    auth_organization_cache_seconds: float = Field(default=60, ge=0)

    @field_validator("database_url")
    @classmethod
    def _normalise_driver(cls, value: str) -> str:
        """Accept the libpq-style URL users copy from psql and select the psycopg 3 driver for it."""
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix):]
        return value

    @property
    def fhir_base(self) -> str:
        base = self.base_url or f"http://{self.host}:{self.port}"
        return base.rstrip("/") + "/fhir"


@lru_cache
def get_settings() -> Settings:
    return Settings()
