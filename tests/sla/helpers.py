"""Shortcuts for SLA tests: a 24/7 policy and a business-hours policy made through the API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

API = "/api/v1"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")

LADDER_24_7 = [
    {"name": "50%", "color": "yellow", "percent": 50, "recipients": {"dispatchers": True}, "channels": ["in_app"]},
    {"name": "breach", "color": "red", "percent": 100, "recipients": {"dispatchers": True, "assignee": True},
     "channels": ["in_app", "email"]},
    {"name": "+5", "color": "black", "offset_minutes": 5, "recipients": {"supervisors": True},
     "channels": ["in_app"]},
    {"name": "+30", "color": "black", "offset_minutes": 30, "recipients": {"roles": ["admin"]},
     "channels": ["in_app"]},
]


def make_calendar(client: TestClient, admin: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {"name": "Office", "timezone": "America/New_York", "hours": {d: [["08:00", "18:00"]] for d in WEEKDAYS},
            "holiday_country": "US", "holiday_subdiv": "MA", **extra}
    r = client.post(f"{API}/sla/calendars", json=body, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


def make_policy(client: TestClient, admin: dict[str, str], calendar_id: str, **extra: Any) -> dict[str, Any]:
    body = {"name": "Policy", "calendar_id": calendar_id,
            "targets": {"response": {"minutes": 60}, "arrival": {"hours": 4}, "resolution": {"hours": 8}},
            "ladder": LADDER_24_7, **extra}
    r = client.post(f"{API}/sla/policies", json=body, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


def always_open(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    return make_calendar(client, admin, name="24/7", always_open=True, hours={}, holiday_country=None,
                         holiday_subdiv=None)
