"""Worker jobs of tracking: timeout alerts and the retention limit (both periodic, all organisations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from fieldops.settings import Settings
from fieldops.tracking import service


def tracking_timeouts(db: Session, now: datetime, settings: Settings) -> int:
    """Not accepted / not departed / not arrived / overstay / far check-in: each alert once."""
    return service.scan_timeouts(db, now, settings)


def tracking_retention(db: Session, now: datetime, settings: Settings) -> int:
    """Delete location data older than FIELDOPS_TRACKING_RETENTION_DAYS."""
    return service.purge_expired(db, now, settings)


HANDLERS: dict[str, list[object]] = {}
PERIODIC = [tracking_timeouts, tracking_retention]
