"""Request and response bodies of the notifications API."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, field_validator

from fieldops.core.schemas import InModel, OutModel

ChannelName = Literal["in_app", "email", "sms", "wecom", "dingtalk", "webhook"]
PersonalChannel = Literal["in_app", "email", "sms"]
Group = Literal["work_order", "sla", "comment", "account"]
HHMM = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Url = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^https?://[^\s]+$")]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=500)]
EventFilter = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z_*]+(\.[a-z_*]+)*$")]


# ---- inbox ------------------------------------------------------------------------------------------

class NotificationRead(OutModel):
    id: uuid.UUID
    template: str | None
    subject: str
    body: str
    work_order_id: uuid.UUID | None
    created_at: AwareDatetime
    read_at: AwareDatetime | None
    read: bool = False


class InboxPage(OutModel):
    items: list[NotificationRead]
    total: int
    unread: int
    limit: int
    offset: int


class UnreadCount(OutModel):
    unread: int


class ReadAllResult(OutModel):
    marked: int
    unread: int


# ---- preferences ------------------------------------------------------------------------------------

class PreferencesRead(OutModel):
    lang: str | None
    channels: dict[str, bool]  # effective per-channel switches (defaults filled in)
    groups: dict[str, dict[str, bool]]
    quiet_start: str | None
    quiet_end: str | None
    defaults: list[str]
    version: int


class PreferencesUpdate(InModel):
    lang: Literal["en", "zh-CN"] | None = None
    channels: dict[PersonalChannel, bool] = Field(default_factory=dict)
    groups: dict[Group, dict[PersonalChannel, bool]] = Field(default_factory=dict)
    quiet_start: HHMM | None = None
    quiet_end: HHMM | None = None

    @field_validator("quiet_end")
    @classmethod
    def _both(cls, v: str | None, info: Any) -> str | None:
        if (v is None) != (info.data.get("quiet_start") is None):
            raise ValueError("set both quiet_start and quiet_end, or neither")
        return v


# ---- organisation channel configuration ------------------------------------------------------------

class EmailConfig(InModel):
    enabled: bool = True
    host: Annotated[str, StringConstraints(max_length=255)] | None = None
    port: int = Field(25, ge=1, le=65535)
    sender: Annotated[str, StringConstraints(max_length=254)] | None = None
    username: Annotated[str, StringConstraints(max_length=254)] | None = None
    security: Literal["insecure", "starttls", "ssl"] = "insecure"
    password: Secret | None = None  # write-only


class SmsConfig(InModel):
    enabled: bool = True
    url: Url | None = None
    format: Literal["json", "form"] = "json"
    token: Secret | None = None  # write-only


class RobotConfig(InModel):
    enabled: bool = True
    webhook_url: Url | None = None  # write-only (the robot key is in it)
    secret: Secret | None = None  # write-only; DingTalk "加签" secret


class WebhookChannelConfig(InModel):
    enabled: bool = True


class ChannelsUpdate(InModel):
    """Only the channels named are changed; a secret left out keeps its stored value, "" clears it."""

    email: EmailConfig | None = None
    sms: SmsConfig | None = None
    wecom: RobotConfig | None = None
    dingtalk: RobotConfig | None = None
    webhook: WebhookChannelConfig | None = None
    clear_secrets: list[Annotated[str, StringConstraints(pattern=r"^[a-z]+\.[a-z_]+$")]] = Field(
        default_factory=list, max_length=20, description="e.g. [\"dingtalk.secret\"]")


class ChannelState(OutModel):
    enabled: bool
    mode: Literal["configured", "settings", "local"]  # where messages go now
    settings: dict[str, Any]
    secrets_set: list[str]  # names of the secrets that are set (never their values)


class ChannelsRead(OutModel):
    channels: dict[str, ChannelState]
    version: int


# ---- webhooks ---------------------------------------------------------------------------------------

class WebhookCreate(InModel):
    url: Url
    description: Annotated[str, StringConstraints(max_length=200)] = ""
    event_types: list[EventFilter] = Field(default_factory=list, max_length=100)
    secret: Annotated[str, StringConstraints(min_length=24, max_length=200)] | None = None
    active: bool = True


class WebhookUpdate(InModel):
    url: Url | None = None
    description: Annotated[str, StringConstraints(max_length=200)] | None = None
    event_types: list[EventFilter] | None = Field(None, max_length=100)
    active: bool | None = None
    rotate_secret: bool = False


class WebhookRead(OutModel):
    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    active: bool
    created_at: AwareDatetime
    version: int


class WebhookCreated(WebhookRead):
    secret: str  # shown once, at creation / rotation


class WebhookTestResult(OutModel):
    notification_id: uuid.UUID
    ok: bool
    response_code: int | None
    error: str | None


# ---- delivery log -----------------------------------------------------------------------------------

class AttemptRead(OutModel):
    attempt: int
    started_at: AwareDatetime
    finished_at: AwareDatetime
    ok: bool
    error: str | None
    response_code: int | None
    duration_ms: int


class DeliveryRead(OutModel):
    id: uuid.UUID
    channel: str
    recipient: str
    template: str | None
    subject: str
    status: str
    attempts: int
    last_error: str | None
    work_order_id: uuid.UUID | None
    created_at: AwareDatetime
    sent_at: AwareDatetime | None
    next_attempt_at: AwareDatetime | None
    attempt_log: list[AttemptRead]


# ---- public tracking --------------------------------------------------------------------------------

class Milestone(OutModel):
    key: str
    label: dict[str, str]
    at: AwareDatetime


class TechnicianPosition(OutModel):
    lat: float
    lng: float
    at: AwareDatetime


class TrackingRead(OutModel):
    number: str
    status: str
    status_label: dict[str, str]
    service_type: dict[str, str]
    technician: str | None
    eta: AwareDatetime | None
    window_start: AwareDatetime | None
    window_end: AwareDatetime | None
    milestones: list[Milestone]
    expires_at: AwareDatetime | None = None
    technician_position: TechnicianPosition | None = Field(
        None, description="Only while the technician is on the way to this order, from a fix under 15 minutes old")
