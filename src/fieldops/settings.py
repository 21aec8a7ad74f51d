"""Runtime settings, read from FIELDOPS_* environment variables (and an optional .env file)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of a deployment. The README's configuration table documents each field."""

    model_config = SettingsConfigDict(env_prefix="FIELDOPS_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/fieldops.db",
        description="SQLAlchemy URL; sqlite:///path or postgresql+psycopg://user:pass@host/db",
    )
    host: str = Field(default="127.0.0.1", description="Address the API listens on")
    port: int = Field(default=8000, description="Port the API listens on")
    data_dir: Path = Field(default=Path("./var"), description="Where local state lives")
    secret_key: str = Field(default="", description="JWT signing key; generated into var/ when empty")
    access_token_minutes: int = Field(default=30, description="Lifetime of an access token")
    refresh_token_days: int = Field(default=14, description="Lifetime of a refresh token")
    password_hash_profile: str = Field(
        default="standard", description="argon2id cost profile: standard, or fast (tests only)"
    )
    login_max_failures: int = Field(default=5, description="Failed logins allowed per window")
    login_window_minutes: int = Field(default=15, description="Window for counting failed logins")
    login_lockout_seconds: int = Field(default=60, description="First throttle period; doubles after")
    reset_code_minutes: int = Field(default=15, description="Lifetime of a password-reset code")
    attachments_dir: Path | None = Field(default=None, description="Attachment storage root")
    max_attachment_mb: int = Field(default=20, description="Largest attachment accepted")
    max_body_kb: int = Field(default=1024, description="Largest JSON request body accepted")
    auto_confirm_hours: float = Field(
        default=72, description="Awaiting-acceptance orders are confirmed after this many hours"
    )
    auto_close_hours: float = Field(
        default=24, description="Completed orders are closed after this many hours"
    )
    reopen_window_days: float = Field(default=30, description="How long closed orders can be reopened")
    worker_poll_seconds: float = Field(default=0.5, description="Outbox poll interval of the worker")
    worker_scan_seconds: float = Field(default=30, description="Interval of the worker's periodic scans")
    mailbox_file: Path | None = Field(
        default=None, description="Local mailbox (JSON lines) of the development notifier"
    )
    seed_demo: bool = Field(default=True, description="Seed the demo organisation on first run")
    log_level: str = Field(default="info", description="Log level")
    cors_origins: str = Field(default="", description="Comma-separated origins allowed by CORS")
    map_tile_url: str = Field(
        default="", description="Leaflet tile URL template; empty means a plain background"
    )

    @property
    def attachments_root(self) -> Path:
        return self.attachments_dir or (self.data_dir / "attachments")

    @property
    def mailbox_path(self) -> Path:
        return self.mailbox_file or (self.data_dir / "mailbox.jsonl")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def signing_key(self) -> str:
        """The JWT key: the configured one, else one generated once and kept in data_dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        self.secret_key = path.read_text().strip()
        return self.secret_key


@lru_cache
def get_settings() -> Settings:
    return Settings()
