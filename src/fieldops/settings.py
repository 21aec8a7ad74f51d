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
    rate_limit_per_minute: int = Field(
        default=600,
        description="Changing API requests (POST/PUT/PATCH/DELETE) allowed per user (or address) a minute; 0 = off",
    )
    trust_proxy_headers: bool = Field(
        default=False, description="Trust X-Forwarded-Proto from a reverse proxy (HSTS is sent on https requests)"
    )
    max_image_pixels: int = Field(
        default=50_000_000, description="Largest image accepted as an attachment, in pixels (decompression bombs)"
    )
    auto_confirm_hours: float = Field(
        default=72, description="Awaiting-acceptance orders are confirmed after this many hours"
    )
    auto_close_hours: float = Field(
        default=24, description="Completed orders are closed after this many hours"
    )
    reopen_window_days: float = Field(default=30, description="How long closed orders can be reopened")
    worker_poll_seconds: float = Field(default=0.25, description="Outbox poll interval of the worker (when idle)")
    worker_scan_seconds: float = Field(default=30, description="Interval of the worker's periodic scans")
    sla_scan_batch: int = Field(default=500, description="SLA clocks claimed per timer pass of the worker")
    sla_at_risk_minutes: int = Field(
        default=60, description="An SLA clock is at risk when its deadline is this close (or 75 % has elapsed)"
    )
    mailbox_file: Path | None = Field(
        default=None, description="Local mailbox (JSON lines) of the development notifier"
    )
    seed_demo: bool = Field(default=True, description="Seed the demo organisation on first run")
    log_level: str = Field(default="info", description="Log level")
    cors_origins: str = Field(default="", description="Comma-separated origins allowed by CORS")
    map_tile_url: str = Field(
        default="", description="Leaflet tile URL template; empty means a plain background"
    )
    live_poll_seconds: float = Field(
        default=0.15, description="How often each API process polls new live events for its SSE clients"
    )
    live_ping_seconds: float = Field(default=15, description="Keep-alive ping interval of live-update streams")
    live_queue_size: int = Field(
        default=1000, description="Events buffered per live-update client; a slower client is dropped and resumes"
    )
    live_retention_days: float = Field(default=7, description="How long live events are kept for resuming streams")
    live_retention_rows: int = Field(default=200_000, description="Most live events kept for resuming streams")
    live_backlog_max: int = Field(
        default=5000, description="A resume further behind than this many events gets a reset (refetch) instead"
    )

    public_base_url: str = Field(
        default="", description="Public address of the web app, used in links sent to people (tracking links)"
    )
    tracking_link_days: float = Field(default=7, description="Lifetime of a customer's signed tracking link")
    smtp_host: str = Field(default="", description="Default SMTP server for e-mail; empty means the local mailbox")
    smtp_port: int = Field(default=25, description="Default SMTP port")
    smtp_sender: str = Field(default="fieldops@localhost", description="Default From address of e-mail")
    smtp_username: str = Field(default="", description="Default SMTP login (empty: no login)")
    smtp_password: str = Field(default="", description="Default SMTP password")
    smtp_security: str = Field(default="insecure", description="Default SMTP security: insecure, starttls or ssl")
    sms_url: str = Field(
        default="", description="Default SMS provider URL (receives JSON or form posts); empty means the local mailbox"
    )
    sms_format: str = Field(default="json", description="Body format of SMS provider posts: json or form")
    sms_token: str = Field(default="", description="Bearer token sent to the SMS provider (empty: none)")
    notification_max_attempts: int = Field(default=6, description="Delivery attempts before a message is failed")
    notification_backoff_seconds: float = Field(
        default=30, description="First retry delay of a failed delivery; doubles per attempt (capped at 1 h)"
    )
    notification_timeout_seconds: float = Field(
        default=5, description="Connect/read timeout of one delivery to an external channel"
    )
    notification_channel_budget_seconds: float = Field(
        default=20, description="Time one worker pass spends on one channel before leaving the rest for later"
    )
    # ---- tracking (technician locations, geofences, timeout alerts) ----
    tracking_stale_minutes: float = Field(
        default=10, description="A technician's last position is shown as stale after this many minutes"
    )
    tracking_retention_days: int = Field(default=90, description="Location points are deleted after this many days")
    tracking_site_radius_m: float = Field(
        default=150, description="Radius of the geofence around a job site (org setting tracking_site_radius_m wins)"
    )
    tracking_position_event_seconds: float = Field(
        default=5, description="At most one live technician.position event per technician per this many seconds"
    )
    tracking_rate_per_minute: float = Field(
        default=30, description="Location batches a device may post per minute (token bucket refill)"
    )
    tracking_rate_burst: int = Field(default=10, description="Location batches a device may post in a burst")
    tracking_low_accuracy_m: float = Field(
        default=100, description="Points less accurate than this are kept but flagged and not used for geofences"
    )
    tracking_max_future_seconds: float = Field(
        default=120, description="How far in the future a point's timestamp may be (device clock skew)"
    )
    tracking_fence_hysteresis_m: float = Field(
        default=25, description="Extra metres before a technician inside a circular fence counts as having left"
    )
    tracking_stop_radius_m: float = Field(default=50, description="Trace stop detection: stay within this radius")
    tracking_stop_minutes: float = Field(default=5, description="Trace stop detection: for at least this long")
    tracking_simplify_m: float = Field(default=10, description="Trace playback simplification tolerance in metres")
    tracking_accept_timeout_minutes: float = Field(
        default=30, description="Alert when an assigned order is not accepted within this many minutes"
    )
    tracking_overstay_factor: float = Field(
        default=1.5, description="Alert when on site longer than this multiple of the planned duration"
    )
    tracking_travel_speed_kmh: float = Field(
        default=30, description="Average travel speed for the not-departed alert's travel estimate"
    )
    # ---- cluster mode (`make run-cluster`: a local PostgreSQL, N API processes, M workers) ----
    api_processes: int = Field(default=2, description="API processes `fieldops run-cluster` starts on one port (N)")
    worker_processes: int = Field(default=2, description="Worker processes `fieldops run-cluster` starts (M)")
    cluster_pg_port: int = Field(
        default=55432, description="Port of the local PostgreSQL server `fieldops run-cluster` starts (127.0.0.1)"
    )
    cluster_pg_dir: Path | None = Field(
        default=None, description="Data directory of the cluster's local PostgreSQL server (default <data_dir>/pg)"
    )
    live_notify: bool = Field(
        default=True, description="PostgreSQL: wake live-update broadcasters with LISTEN/NOTIFY (polling stays on)"
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
