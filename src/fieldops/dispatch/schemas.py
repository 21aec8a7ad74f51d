"""Bodies of the dispatch endpoints."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from fieldops.core.schemas import InModel, OutModel, Reason

Mode = Literal["nearest", "least_loaded", "round_robin", "best_score", "optimized"]


class WeightsBody(InModel):
    travel: float = Field(1.0, ge=0, le=100)
    load: float = Field(0.3, ge=0, le=100)
    sla_slack: float = Field(0.5, ge=0, le=100)
    priority: float = Field(0.5, ge=0, le=100)
    quality: float = Field(0.3, ge=0, le=100)
    speed: float = Field(0.2, ge=0, le=100)
    preference: float = Field(0.4, ge=0, le=100)


class PolicyBody(InModel):
    service_type_id: uuid.UUID | None = Field(None, description="Empty: the organisation's default policy")
    mode: Mode = "best_score"
    weights: WeightsBody = Field(default_factory=WeightsBody)
    urgent_first: bool = True
    vip_first: bool = True
    allow_evict: bool = True
    auto_dispatch: bool = True
    use_pool: bool = False
    pool_when_unassignable: bool = True
    pool_timeout_min: int = Field(15, ge=1, le=24 * 60)
    pool_fallback: Literal["auto", "escalate"] = "auto"
    stability_gain_min: int = Field(10, ge=0, le=600)
    speed_kmh: float = Field(30.0, gt=1, le=200)
    detour_factor: float = Field(1.3, ge=1, le=5)


class PolicyRead(OutModel):
    id: uuid.UUID | None = None
    service_type_id: uuid.UUID | None = None
    mode: str
    weights: dict[str, float]
    urgent_first: bool
    vip_first: bool
    allow_evict: bool
    auto_dispatch: bool
    use_pool: bool
    pool_when_unassignable: bool
    pool_timeout_min: int
    pool_fallback: str
    stability_gain_min: int
    speed_kmh: float
    detour_factor: float
    version: int = 0


class DispatchBody(InModel):
    reason: Reason | None = None


class DecisionRead(OutModel):
    id: uuid.UUID
    work_order_id: uuid.UUID
    at: datetime
    mode: str
    outcome: str
    technician_id: uuid.UUID | None
    engine_choice_id: uuid.UUID | None
    actor_user_id: uuid.UUID | None
    engine_version: str
    policy: dict[str, Any]
    snapshot: dict[str, Any]
    explanation: dict[str, Any]
    reason: str | None
    elapsed_ms: float | None


class CandidateRead(OutModel):
    technician_id: str
    technician_name: str = ""
    feasible: bool
    reasons: list[str]
    detail: str
    score: float | None
    breakdown: dict[str, float]
    start: datetime | None
    travel_added_min: float | None
    evicts: list[str]


class PoolOfferRead(OutModel):
    id: uuid.UUID
    work_order_id: uuid.UUID
    work_order_number: str = ""
    title: str = ""
    priority: str = ""
    site_address: str = ""
    site_lat: float | None = None
    site_lng: float | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    status: str
    reason: str | None
    offered_at: datetime
    expires_at: datetime
    grabbed_by: uuid.UUID | None
    grabbed_at: datetime | None
    eligible_count: int = 0


class PlanCreate(InModel):
    day: date | None = Field(None, description="Local day to plan; today by default")
    territory_id: uuid.UUID | None = None
    time_limit_s: float = Field(10, ge=0.5, le=120)
    strategy: Literal["default", "vroom", "pyvrp", "greedy"] = "default"
    include_assigned: bool = Field(True, description="Re-plan jobs already assigned but not started")


class PlanRead(OutModel):
    id: uuid.UUID
    day: date
    territory_id: uuid.UUID | None
    status: str
    progress: int
    params: dict[str, Any]
    result: dict[str, Any]
    summary: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    applied_at: datetime | None
    version: int


class PlanApplyResult(OutModel):
    plan_id: uuid.UUID
    assigned: int
    rescheduled: int
    unchanged: int
    skipped: list[dict[str, str]]
