"""Dispatch use cases: automatic and manual assignment with explanations, the grab pool, day plans, learning.

The engine (fieldops.engine) decides; this module builds its input from the database, stores every
decision with its explanation, and applies it through the work-orders service.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy.orm import Session

from fieldops.core.auth import Principal, Role, require_role, system_principal
from fieldops.core.errors import Forbidden, InvalidInput, NotFound, conflict
from fieldops.core.events import record_event
from fieldops.core.web import Ctx, check_if_match
from fieldops.dispatch import snapshot as snap
from fieldops.dispatch.models import DispatchDecision, DispatchPlan, DispatchPolicy, PoolOffer, TechnicianPerformance
from fieldops.dispatch.repository import (
    DispatchRepository,
    expired_offers,
    last_assigned,
    lock_org_dispatch,
    next_queued_plan,
    open_jobs_for_plan,
    performance,
    unstarted_jobs_of,
)
from fieldops.dispatch.schemas import CandidateRead, PlanApplyResult, PlanCreate, PolicyBody, PolicyRead
from fieldops.engine import ENGINE_VERSION
from fieldops.engine import model as em
from fieldops.engine.dispatch import dispatch_one, explain
from fieldops.engine.planning import plan_day
from fieldops.engine.travel import travel_seconds
from fieldops.organizations import service as organizations
from fieldops.service_types import service as service_types
from fieldops.technicians import service as technicians
from fieldops.work_orders import service as work_orders
from fieldops.work_orders.models import WorkOrder
from fieldops.work_orders.schemas import ReasonBody

MANAGERS = {Role.admin, Role.supervisor, Role.dispatcher}
POLICY_WRITERS = {Role.admin, Role.supervisor}
POLICY_READERS = MANAGERS | {Role.agent, Role.finance}
HARD_FOR_MANUAL = {em.Reason.SKILL, em.Reason.CERTIFICATE, em.Reason.BLOCKED, em.Reason.ON_LEAVE, em.Reason.INACTIVE}
CAPACITY_REASONS = {em.Reason.DAILY_CAP, em.Reason.UNREACHABLE}


def _repo(ctx: Ctx) -> DispatchRepository:
    return DispatchRepository(ctx.db, ctx.principal)


def _dt(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


# ---- policy -------------------------------------------------------------------------------------


def _policy_read(row: DispatchPolicy | None) -> PolicyRead:
    if row is None:
        defaults = PolicyBody()
        return PolicyRead(**{**defaults.model_dump(), "weights": defaults.weights.model_dump()})
    return PolicyRead.model_validate(row)


def _check_service_type(ctx: Ctx, service_type_id: uuid.UUID | None) -> None:
    if service_type_id is not None:
        service_types.get_service_type_in_org(ctx.db, ctx.principal.org_id, service_type_id)


def get_policy(ctx: Ctx, service_type_id: uuid.UUID | None = None) -> PolicyRead:
    """The organisation's dispatch policy (or a service type's override; defaults when none is saved)."""
    _check_service_type(ctx, service_type_id)
    require_role(ctx.principal, POLICY_READERS, "read the dispatch policy")
    return _policy_read(_repo(ctx).policy(service_type_id))


def put_policy(ctx: Ctx, body: PolicyBody, if_match: str | None) -> PolicyRead:
    """Save the policy; an existing one needs If-Match (its version)."""
    _check_service_type(ctx, body.service_type_id)
    require_role(ctx.principal, POLICY_WRITERS, "change the dispatch policy")
    row = _repo(ctx).policy(body.service_type_id)
    data = body.model_dump()
    data["weights"] = body.weights.model_dump()
    if row is None:
        row = DispatchPolicy(org_id=ctx.principal.org_id, **data)
        ctx.db.add(row)
    else:
        check_if_match(if_match, row.version)
        for key, value in data.items():
            setattr(row, key, value)
    ctx.db.flush()
    record_event(
        ctx.db,
        type="dispatch.policy_changed",
        aggregate_type="dispatch_policy",
        aggregate_id=row.id,
        org_id=row.org_id,
        payload={"service_type_id": str(body.service_type_id or "")},
        now=ctx.now,
    )
    return PolicyRead.model_validate(row)


# ---- the problem --------------------------------------------------------------------------------


def _problem(db: Session, wo: WorkOrder, now: datetime) -> tuple[em.Problem, em.Job, snap.OrgContext]:
    org = snap.org_context(db, wo.org_id, wo.service_type_id)
    job = snap.job_from(db, wo, now)
    until = wo.window_end or wo.due_at
    techs = snap.technicians_for(db, org, now, until, exclude_work_orders={wo.id})
    return (
        em.Problem(jobs=[job], technicians=techs, now=int(now.timestamp()), travel=org.travel, policy=org.policy),
        job,
        org,
    )


def _candidate_json(c: em.CandidateResult | None, names: dict[str, str]) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "technician_id": c.technician_id,
        "technician_name": names.get(c.technician_id, ""),
        "feasible": c.feasible,
        "reasons": [str(r) for r in c.reasons],
        "detail": c.detail,
        "score": c.score,
        "breakdown": dict(c.breakdown),
        "position": c.position,
        "start": _dt(c.start),
        "travel_added_min": round(c.travel_added_s / 60, 1) if c.travel_added_s is not None else None,
        "evicts": list(c.evicts),
    }


def _explanation(decision: em.Decision, names: dict[str, str]) -> dict[str, Any]:
    return jsonable_encoder(
        {
            "chosen": _candidate_json(decision.chosen, names),
            "alternatives": [_candidate_json(c, names) for c in decision.alternatives],
            "rejected": [_candidate_json(c, names) for c in decision.rejected],
            "evicted": list(decision.evicted),
            "reason": decision.reason,
            "mode": decision.mode,
        }
    )


def _snapshot_json(problem: em.Problem, job: em.Job) -> dict[str, Any]:
    """A compact record of what the engine saw (enough to reproduce the decision's inputs)."""
    return jsonable_encoder(
        {
            "now": problem.now,
            "job": job.__dict__,
            "policy": {"mode": problem.policy.mode, "weights": problem.policy.weights.__dict__},
            "travel": problem.travel.__dict__,
            "technicians": [
                {
                    "id": t.id,
                    "lat": t.lat,
                    "lng": t.lng,
                    "route": [v.job_id for v in t.route],
                    "jobs_today": t.jobs_today,
                    "on_duty": t.on_duty,
                }
                for t in problem.technicians
            ],
        }
    )


def _record(
    ctx: Ctx,
    wo: WorkOrder,
    mode: str,
    outcome: str,
    technician_id: str | None,
    decision: em.Decision | None,
    problem: em.Problem | None,
    job: em.Job | None,
    reason: str | None,
    elapsed_ms: float | None,
    engine_choice: str | None = None,
) -> DispatchDecision:
    names = {t.id: t.name for t in problem.technicians} if problem else {}
    row = DispatchDecision(
        org_id=wo.org_id,
        work_order_id=wo.id,
        at=ctx.now,
        mode=mode,
        outcome=outcome,
        technician_id=uuid.UUID(technician_id) if technician_id else None,
        engine_choice_id=uuid.UUID(engine_choice) if engine_choice else None,
        actor_user_id=None if ctx.principal.is_system else ctx.principal.user_id,
        engine_version=ENGINE_VERSION,
        policy=jsonable_encoder(problem.policy.__dict__) if problem else {},
        snapshot=_snapshot_json(problem, job) if problem and job else {},
        explanation=_explanation(decision, names) if decision else {},
        reason=reason,
        elapsed_ms=elapsed_ms,
    )
    ctx.db.add(row)
    ctx.db.flush()
    return row


# ---- automatic dispatch ---------------------------------------------------------------------------


def dispatch_now(
    ctx: Ctx, work_order_id: uuid.UUID, if_match: str | None = None, reason: str | None = None
) -> DispatchDecision:
    """Choose the best eligible technician for a new order and assign it (or offer it to the grab pool,
    or leave it in the dispatcher queue, with the reason)."""
    wo = work_orders.get(ctx, work_order_id)
    require_role(ctx.principal, MANAGERS, "dispatch work orders")
    if not ctx.principal.is_system:
        check_if_match(if_match, wo.version)
    lock_org_dispatch(ctx.db, wo.org_id)  # one decision at a time per org
    ctx.db.refresh(wo)
    if wo.status != "new":
        raise conflict(
            "Only new (unassigned) work orders are dispatched automatically; use assign to reassign.",
            "只有待派单的工单可以自动派单；改派请使用“派单”。",
        )
    t0 = time.perf_counter()
    problem, job, org = _problem(ctx.db, wo, ctx.now)
    rr = last_assigned(ctx.db, wo.org_id) if org.policy.mode == "round_robin" else None
    decision = dispatch_one(problem, job, seed=0, rr_state=rr)
    elapsed = (time.perf_counter() - t0) * 1000
    policy_row = snap.policy_for(ctx.db, wo.org_id, wo.service_type_id)
    if decision.technician_id is None:
        return _no_candidate(ctx, wo, decision, problem, job, elapsed, policy_row)
    if policy_row is not None and policy_row.use_pool:
        eligible = [decision.technician_id] + [c.technician_id for c in decision.alternatives]
        offer_to_pool(ctx, wo, eligible, "policy offers jobs to the grab pool first", policy_row.pool_timeout_min)
        return _record(ctx, wo, "auto", "pool", None, decision, problem, job, "offered to the grab pool", elapsed)
    system = Ctx(db=ctx.db, principal=system_principal(wo.org_id), now=ctx.now, settings=ctx.settings, lang=ctx.lang)
    for evicted in decision.evicted:
        _evict(system, uuid.UUID(evicted), wo)
    row = _record(
        ctx,
        wo,
        "auto",
        "assigned",
        decision.technician_id,
        decision,
        problem,
        job,
        reason,
        elapsed,
        decision.technician_id,
    )
    chosen = decision.chosen
    summary = f"auto-dispatch ({decision.mode})"
    if chosen and chosen.travel_added_s is not None:
        summary += f": +{chosen.travel_added_s / 60:.0f} min travel"
    assign_ctx = ctx if not ctx.principal.is_system else system
    work_orders.assign(
        assign_ctx,
        wo.id,
        uuid.UUID(decision.technician_id),
        reason or summary,
        None if assign_ctx.principal.is_system else f'"{wo.version}"',
        data={"mode": "auto", "decision_id": str(row.id)},
        schedule=_schedule(chosen, wo),
    )
    return row


def _schedule(c: em.CandidateResult | None, wo: WorkOrder) -> work_orders.Schedule | None:
    if c is None or c.start is None:
        return None
    start = _dt(c.start)
    return (start, start + timedelta(minutes=wo.duration_min) if start else None, c.position)


def _evict(system: Ctx, evicted_id: uuid.UUID, for_wo: WorkOrder) -> None:
    victim = work_orders.get(system, evicted_id)
    if victim.status not in ("assigned", "accepted"):
        return
    work_orders.perform(
        system, victim.id, "unassign", None, ReasonBody(reason=f"moved out for urgent work order {for_wo.number}")
    )
    _record(
        system,
        victim,
        "evict",
        "evicted",
        None,
        None,
        None,
        None,
        f"evicted to make room for {for_wo.number} ({for_wo.priority})",
        None,
    )


def _no_candidate(
    ctx: Ctx,
    wo: WorkOrder,
    decision: em.Decision,
    problem: em.Problem,
    job: em.Job,
    elapsed: float,
    policy_row: DispatchPolicy | None,
) -> DispatchDecision:
    maybe = [c.technician_id for c in decision.rejected if set(c.reasons) <= CAPACITY_REASONS]
    use_pool = policy_row.pool_when_unassignable if policy_row is not None else True
    if use_pool and maybe:
        offer_to_pool(
            ctx, wo, maybe, decision.reason or "no free slot", policy_row.pool_timeout_min if policy_row else 15
        )
        return _record(
            ctx,
            wo,
            "auto",
            "pool",
            None,
            decision,
            problem,
            job,
            f"nobody can fit it now ({decision.reason}); offered to {len(maybe)} technicians in the pool",
            elapsed,
        )
    record_event(
        ctx.db,
        type="work_order.dispatch_failed",
        aggregate_type="work_order",
        aggregate_id=wo.id,
        org_id=wo.org_id,
        payload={"number": wo.number, "reason": decision.reason},
        now=ctx.now,
    )
    return _record(
        ctx, wo, "auto", "queue", None, decision, problem, job, decision.reason or "no eligible technician", elapsed
    )


# ---- manual dispatch, explanations ----------------------------------------------------------------


def manual_assign(
    ctx: Ctx,
    work_order_id: uuid.UUID,
    technician_id: uuid.UUID,
    reason: str | None,
    if_match: str | None,
    force: bool = False,
) -> WorkOrder:
    """A dispatcher assigns or reassigns; the engine's own choice and this technician's check are recorded.
    Skill, certificate, block, leave and inactive failures need `force` (and are audited)."""
    wo = work_orders.get(ctx, work_order_id)
    require_role(ctx.principal, MANAGERS, "assign work orders")
    technicians.get_technician_in_org(ctx.db, ctx.principal.org_id, technician_id)
    lock_org_dispatch(ctx.db, wo.org_id)  # one decision at a time per org
    t0 = time.perf_counter()
    problem, job, _org = _problem(ctx.db, wo, ctx.now)
    check = explain(problem, job, str(technician_id))
    engine = dispatch_one(problem, job, seed=0)
    elapsed = (time.perf_counter() - t0) * 1000
    hard = [r for r in check.reasons if r in HARD_FOR_MANUAL]
    if hard and not force:
        failed = ", ".join(str(r) for r in hard)
        raise InvalidInput(
            f"This technician fails hard checks: {failed} ({check.detail}). Send force=true to override.",
            f"该技师不满足硬性条件：{failed}（{check.detail}）。如需强制派单请设置 force=true。",
            field="technician_id",
        )
    wo = work_orders.assign(
        ctx,
        wo.id,
        technician_id,
        reason,
        if_match,
        data={
            "mode": "manual",
            "forced": bool(hard),
            "warnings": [str(r) for r in check.reasons],
            "engine_choice": engine.technician_id,
        },
        schedule=_schedule(check, wo) if check.feasible else None,
    )
    names = {t.id: t.name for t in problem.technicians}
    row = _record(
        ctx,
        wo,
        "manual",
        "override" if engine.technician_id != str(technician_id) else "assigned",
        str(technician_id),
        engine,
        problem,
        job,
        reason,
        elapsed,
        engine.technician_id,
    )
    row.explanation = {**row.explanation, "manual_check": jsonable_encoder(_candidate_json(check, names))}
    _close_offer(ctx, wo.id, "withdrawn")
    return wo


def candidates(ctx: Ctx, work_order_id: uuid.UUID, technician_id: uuid.UUID | None = None) -> list[CandidateRead]:
    """Every technician's standing for this order now (or one: "why not X"), best first."""
    wo = work_orders.get(ctx, work_order_id)
    require_role(ctx.principal, MANAGERS | {Role.agent}, "see dispatch candidates")
    problem, job, _org = _problem(ctx.db, wo, ctx.now)
    names = {t.id: t.name for t in problem.technicians}
    if technician_id is not None:
        if str(technician_id) not in names:
            raise NotFound("technician")
        results = [explain(problem, job, str(technician_id))]
    else:
        results = [explain(problem, job, t.id) for t in problem.technicians]
    results.sort(key=lambda c: (not c.feasible, c.score if c.score is not None else 1e18, c.technician_id))
    out = []
    for c in results:
        data = _candidate_json(c, names) or {}
        data.pop("position", None)
        out.append(CandidateRead.model_validate(data))
    return out


def decisions(ctx: Ctx, work_order_id: uuid.UUID) -> list[DispatchDecision]:
    work_orders.get(ctx, work_order_id)  # visibility
    require_role(ctx.principal, MANAGERS | {Role.agent, Role.finance}, "see dispatch decisions")
    return _repo(ctx).decisions(work_order_id)


# ---- grab pool ------------------------------------------------------------------------------------


def offer_to_pool(ctx: Ctx, wo: WorkOrder, eligible: list[str], reason: str, timeout_min: int) -> PoolOffer:
    existing = _repo(ctx).open_offer_for(wo.id)
    if existing is not None:
        return existing
    offer = PoolOffer(
        org_id=wo.org_id,
        work_order_id=wo.id,
        status="open",
        eligible_technician_ids=eligible,
        reason=reason,
        offered_at=ctx.now,
        expires_at=ctx.now + timedelta(minutes=timeout_min),
    )
    ctx.db.add(offer)
    ctx.db.flush()
    record_event(
        ctx.db,
        type="dispatch.offered",
        aggregate_type="work_order",
        aggregate_id=wo.id,
        org_id=wo.org_id,
        payload={"offer_id": str(offer.id), "number": wo.number, "eligible": eligible},
        now=ctx.now,
    )
    return offer


def _close_offer(ctx: Ctx, work_order_id: uuid.UUID, status: str) -> None:
    offer = _repo(ctx).open_offer_for(work_order_id)
    if offer is not None:
        offer.status, offer.closed_at = status, ctx.now
        ctx.db.flush()


def list_pool(ctx: Ctx, status: str | None, limit: int, offset: int) -> tuple[list[tuple[PoolOffer, WorkOrder]], int]:
    """Managers see every offer; a technician sees the open offers they are eligible for."""
    p = ctx.principal
    if p.role == Role.technician:
        rows, _ = _repo(ctx).offers("open", 10_000, 0)
        mine = [
            r
            for r in rows
            if str(p.technician_id) in (r[0].eligible_technician_ids or []) and r[0].expires_at > ctx.now
        ]
        return mine[offset : offset + limit], len(mine)
    require_role(p, MANAGERS | {Role.agent}, "see the grab pool")
    return _repo(ctx).offers(status, limit, offset)


def grab(ctx: Ctx, offer_id: uuid.UUID) -> WorkOrder:
    """A technician takes an offered job; the first valid grab wins, exactly once."""
    p = ctx.principal
    offer = _repo(ctx).offer(offer_id)
    if p.role != Role.technician or p.technician_id is None:
        raise Forbidden(role=p.role.value, action="grab jobs")
    if str(p.technician_id) not in (offer.eligible_technician_ids or []):
        raise NotFound("resource")
    if offer.status != "open" or offer.expires_at <= ctx.now:
        raise conflict("This job was already taken or the offer expired.", "该工单已被抢走或抢单已过期。")
    if not _repo(ctx).claim_offer(offer.id, p.user_id, ctx.now):
        raise conflict("Someone else grabbed this job first.", "该工单已被其他技师抢走。")
    grabber = Principal(user_id=p.user_id, org_id=p.org_id, role=Role.system, name=p.name)
    system = Ctx(db=ctx.db, principal=grabber, now=ctx.now, settings=ctx.settings, lang=ctx.lang)
    wo = work_orders.get(system, offer.work_order_id)
    if wo.status != "new":
        raise conflict("This job is no longer open.", "该工单已不再开放抢单。")
    wo = work_orders.assign(
        system,
        wo.id,
        p.technician_id,
        "grabbed from the pool",
        None,
        data={"mode": "grab", "offer_id": str(offer.id), "grabbed_by": str(p.user_id)},
    )
    _record(system, wo, "grab", "assigned", str(p.technician_id), None, None, None, "grabbed from the pool", None)
    return wo


def expire_pool(db: Session, now: datetime, settings: Any) -> int:
    """Periodic: offers nobody grabbed fall back to auto-dispatch or escalate to the dispatcher queue."""
    done = 0
    for offer in expired_offers(db, now):
        offer.status, offer.closed_at = "expired", now
        ctx = Ctx(db=db, principal=system_principal(offer.org_id), now=now, settings=settings)
        wo = db.get(WorkOrder, offer.work_order_id)
        policy_row = snap.policy_for(db, offer.org_id, wo.service_type_id if wo else None)
        fallback = policy_row.pool_fallback if policy_row else "auto"
        if wo is not None and wo.status == "new":
            if fallback == "auto" and not (policy_row and policy_row.use_pool):
                with db.begin_nested():
                    decision = dispatch_now(ctx, wo.id, reason="pool offer expired: auto-dispatch")
                if decision.outcome == "assigned":
                    done += 1
                    continue
            record_event(
                db,
                type="work_order.pool_expired",
                aggregate_type="work_order",
                aggregate_id=wo.id,
                org_id=wo.org_id,
                payload={"number": wo.number, "offer_id": str(offer.id)},
                now=now,
            )
        done += 1
    db.flush()
    return done


# ---- plans ----------------------------------------------------------------------------------------


def create_plan(ctx: Ctx, body: PlanCreate) -> DispatchPlan:
    """Queue a day plan (the worker runs it and reports progress)."""
    if body.territory_id is not None:
        organizations.get_territory_in_org(ctx.db, ctx.principal.org_id, body.territory_id)
    require_role(ctx.principal, MANAGERS, "plan the day")
    if ctx.principal.role == Role.supervisor and body.territory_id not in ctx.principal.territory_ids:
        raise Forbidden(role="supervisor", action="plan outside your territories (name one of yours)")
    org = snap.org_context(ctx.db, ctx.principal.org_id)
    day = body.day or ctx.now.astimezone(org.tz).date()
    plan = DispatchPlan(
        org_id=ctx.principal.org_id,
        day=day,
        territory_id=body.territory_id,
        status="queued",
        params=jsonable_encoder(body.model_dump()),
        created_by=ctx.principal.user_id,
        created_at=ctx.now,
    )
    ctx.db.add(plan)
    ctx.db.flush()
    record_event(
        ctx.db,
        type="dispatch.plan_requested",
        aggregate_type="dispatch_plan",
        aggregate_id=plan.id,
        org_id=plan.org_id,
        payload={"plan_id": str(plan.id)},
        now=ctx.now,
    )
    return plan


def _visible_plan(ctx: Ctx, plan_id: uuid.UUID) -> DispatchPlan:
    """Plans are organisation-wide records, except that a supervisor sees those of their territories."""
    plan = _repo(ctx).plan(plan_id)
    if ctx.principal.role == Role.supervisor and plan.territory_id not in ctx.principal.territory_ids:
        raise NotFound("resource")
    return plan


def get_plan(ctx: Ctx, plan_id: uuid.UUID) -> DispatchPlan:
    plan = _visible_plan(ctx, plan_id)
    require_role(ctx.principal, MANAGERS | {Role.agent, Role.finance}, "see plans")
    return plan


def list_plans(ctx: Ctx, limit: int, offset: int) -> tuple[list[DispatchPlan], int]:
    require_role(ctx.principal, MANAGERS | {Role.agent, Role.finance}, "see plans")
    return _repo(ctx).plans(limit, offset)


def _route_metrics(techs: list[em.Technician], travel: em.TravelModel) -> dict[str, Any]:
    total, late, per_tech = 0, 0, {}
    for t in techs:
        here = (t.lat, t.lng)
        for v in t.route:
            total += travel_seconds(travel, here[0], here[1], v.lat, v.lng)
            here = (v.lat, v.lng)
            if v.windows and v.start > v.windows[0].end:
                late += 1
        per_tech[t.id] = len(t.route)
    return {"travel_min": round(total / 60, 1), "late_jobs": late, "jobs_per_technician": per_tech}


@dataclass
class PlanInput:
    """What a plan solves, loaded in one short transaction so the solver runs outside any transaction."""

    problem: em.Problem
    before: dict[str, Any]
    names: dict[str, str]
    numbers: dict[str, str]
    time_limit_s: float
    strategy: str


def claim_queued_plan(db: Session, now: datetime) -> DispatchPlan | None:
    """Take the oldest queued plan (several workers never take the same one)."""
    plan = next_queued_plan(db)
    if plan is not None:
        plan.status, plan.progress, plan.started_at = "running", 5, now
        db.flush()
    return plan


def plan_input(db: Session, plan_id: uuid.UUID, now: datetime) -> PlanInput:
    """The day's open jobs and the technicians with their pinned visits, as the engine's problem."""
    plan = db.get(DispatchPlan, plan_id)
    if plan is None:
        raise NotFound("resource")
    org = snap.org_context(db, plan.org_id)
    day_start = datetime.combine(plan.day, dtime(0), org.tz)
    day_end = day_start + timedelta(days=1)
    include_assigned = bool(plan.params.get("include_assigned", True))
    rows = open_jobs_for_plan(db, plan.org_id, plan.territory_id, include_assigned, day_end)
    at = max(now, day_start)
    before_techs = snap.technicians_for(db, org, at, day_end - timedelta(seconds=1))
    movable = {w.id for w in rows}
    techs = snap.technicians_for(db, org, at, day_end - timedelta(seconds=1), exclude_work_orders=movable)
    if plan.territory_id is not None:
        techs = [t for t in techs if not t.territory_ids or str(plan.territory_id) in t.territory_ids]
    jobs = []
    for w in rows:
        job = snap.job_from(db, w, at)
        if w.technician_id and w.status == "accepted":
            job = em.Job(**{**job.__dict__, "pinned_technician": str(w.technician_id)})
        jobs.append(job)
    problem = em.Problem(jobs=jobs, technicians=techs, now=int(at.timestamp()), travel=org.travel, policy=org.policy)
    return PlanInput(
        problem=problem,
        before=_route_metrics(before_techs, org.travel),
        names={t.id: t.name for t in techs},
        numbers={str(w.id): w.number for w in rows},
        time_limit_s=float(plan.params.get("time_limit_s", 10)),
        strategy=str(plan.params.get("strategy", "default")),
    )


def solve_plan(data: PlanInput) -> em.Plan:
    """Run the engine (no database access here)."""
    return plan_day(data.problem, data.time_limit_s, seed=0, strategy=data.strategy)


def store_plan_result(db: Session, plan_id: uuid.UUID, data: PlanInput, result: em.Plan, now: datetime) -> None:
    """Routes with ETAs per technician, the jobs left out with reasons, and the before/after comparison."""
    plan = db.get(DispatchPlan, plan_id)
    if plan is None:
        return
    where = {j.id: (j.lat, j.lng) for j in data.problem.jobs}
    for t in data.problem.technicians:
        where.update({v.job_id: (v.lat, v.lng) for v in t.route})
    start_at = {t.id: (t.lat, t.lng) for t in data.problem.technicians}
    routes = [
        {
            "technician_id": r.technician_id,
            "technician_name": data.names.get(r.technician_id, ""),
            "start_lat": start_at.get(r.technician_id, (None, None))[0],
            "start_lng": start_at.get(r.technician_id, (None, None))[1],
            "travel_min": round(r.travel_s / 60, 1),
            "late_s": r.late_s,
            "stops": [
                {
                    "work_order_id": st.job_id,
                    "number": data.numbers.get(st.job_id, ""),
                    "start": _dt(st.start),
                    "end": _dt(st.end),
                    "travel_min": round(st.travel_s / 60, 1),
                    "lat": where.get(st.job_id, (None, None))[0],
                    "lng": where.get(st.job_id, (None, None))[1],
                }
                for st in r.stops
            ],
        }
        for r in result.routes
    ]
    plan.result = jsonable_encoder(
        {
            "routes": routes,
            "unassigned": [
                {"work_order_id": j, "number": data.numbers.get(j, ""), "reason": why} for j, why in result.unassigned
            ],
        }
    )
    plan.summary = jsonable_encoder(
        {
            "before": data.before,
            "after": {
                "travel_min": round(result.travel_s / 60, 1),
                "late_jobs": result.late_jobs,
                "jobs_per_technician": {r.technician_id: len(r.stops) for r in result.routes},
                "served": result.served,
                "served_high": result.served_high,
                "unassigned": len(result.unassigned),
            },
            "jobs": len(data.problem.jobs),
            "technicians": len(data.problem.technicians),
            "solver": result.solver,
            "elapsed_s": round(result.elapsed_s, 2),
        }
    )
    plan.status, plan.progress, plan.finished_at = "done", 100, now
    db.flush()


def fail_plan(db: Session, plan_id: uuid.UUID, error: str, now: datetime) -> None:
    plan = db.get(DispatchPlan, plan_id)
    if plan is not None:
        plan.status, plan.error, plan.finished_at = "failed", error[:2000], now
        db.flush()


def set_plan_progress(db: Session, plan_id: uuid.UUID, pct: int) -> None:
    plan = db.get(DispatchPlan, plan_id)
    if plan is not None and plan.status == "running":
        plan.progress = pct
        db.flush()


def apply_plan(ctx: Ctx, plan_id: uuid.UUID, if_match: str | None) -> PlanApplyResult:
    """Assign and schedule every planned stop; orders that changed meanwhile are skipped with a reason."""
    plan = _visible_plan(ctx, plan_id)
    require_role(ctx.principal, MANAGERS, "apply plans")
    check_if_match(if_match, plan.version)
    if plan.status != "done":
        raise conflict(
            f"Only a finished plan can be applied (this one is {plan.status}).",
            f"只能应用已完成的计划（当前状态：{plan.status}）。",
        )
    assigned = rescheduled = unchanged = 0
    skipped: list[dict[str, str]] = []
    system = Ctx(db=ctx.db, principal=system_principal(ctx.principal.org_id), now=ctx.now, settings=ctx.settings)
    for route in plan.result.get("routes", []):
        tech_id = uuid.UUID(route["technician_id"])
        for seq, stop in enumerate(route["stops"]):
            wo_id = uuid.UUID(stop["work_order_id"])
            try:
                wo = work_orders.get(ctx, wo_id)
            except NotFound:
                skipped.append({"work_order_id": str(wo_id), "reason": "no longer visible"})
                continue
            start = datetime.fromisoformat(stop["start"]) if stop.get("start") else None
            end = datetime.fromisoformat(stop["end"]) if stop.get("end") else None
            if wo.technician_id == tech_id and wo.status in ("assigned", "accepted"):
                before = (wo.planned_start, wo.route_seq)
                work_orders.set_schedule(system, wo, start, end, seq)
                if before == (start, seq):
                    unchanged += 1
                else:
                    rescheduled += 1
                continue
            if wo.status not in ("new", "assigned", "accepted"):
                skipped.append({"work_order_id": str(wo_id), "reason": f"now {wo.status}"})
                continue
            with ctx.db.begin_nested():
                wo = work_orders.assign(
                    ctx,
                    wo.id,
                    tech_id,
                    f"day plan {plan.day.isoformat()}",
                    f'"{wo.version}"',
                    data={"mode": "plan", "plan_id": str(plan.id)},
                    schedule=(start, end, seq),
                )
            _record(ctx, wo, "plan", "assigned", str(tech_id), None, None, None, f"day plan {plan.id}", None)
            assigned += 1
    plan.status, plan.applied_at = "applied", ctx.now
    ctx.db.flush()
    return PlanApplyResult(
        plan_id=plan.id, assigned=assigned, rescheduled=rescheduled, unchanged=unchanged, skipped=skipped
    )


# ---- learning -------------------------------------------------------------------------------------


def learn_from_closed(db: Session, wo: WorkOrder, now: datetime) -> None:
    """Update the technician × service type record: speed (actual/planned), first-time fix, rework, rating."""
    if wo.technician_id is None:
        return
    row = performance(db, wo.technician_id, wo.service_type_id)
    if row is None:
        row = TechnicianPerformance(
            technician_id=wo.technician_id,
            service_type_id=wo.service_type_id,
            org_id=wo.org_id,
            jobs=0,
            duration_ratio=1.0,
            first_time_fix=1.0,
            rework_rate=0.0,
            rating=None,
            updated_at=now,
        )
        db.add(row)
    n = row.jobs
    alpha = 1 / (n + 1) if n < 20 else 0.05  # running mean, then an exponential average
    if wo.started_at and wo.work_completed_at and wo.duration_min:
        ratio = max(0.1, min(5.0, (wo.work_completed_at - wo.started_at).total_seconds() / 60 / wo.duration_min))
        row.duration_ratio = (1 - alpha) * row.duration_ratio + alpha * ratio
    fixed = 1.0 if wo.rework_count == 0 else 0.0
    row.first_time_fix = (1 - alpha) * row.first_time_fix + alpha * fixed
    row.rework_rate = (1 - alpha) * row.rework_rate + alpha * (1.0 if wo.rework_count else 0.0)
    ratings = [r for r in (wo.rating_attitude, wo.rating_quality, wo.rating_speed) if r]
    if ratings:
        value = sum(ratings) / len(ratings)
        row.rating = value if row.rating is None else (1 - alpha) * row.rating + alpha * value
    row.jobs = n + 1
    row.updated_at = now
    db.flush()


# ---- in-day re-planning: a technician drops out ----------------------------------------------------

def lock_dispatch(db: Session, org_id: uuid.UUID) -> None:
    """Serialize dispatch decisions of one organisation (PostgreSQL advisory lock until commit). Callers that
    will also lock a work order's row take this first, as every dispatch path does."""
    lock_org_dispatch(db, org_id)


def release_unavailable(db: Session, technician_id: uuid.UUID, start: datetime, end: datetime | None,
                        now: datetime, settings: Any, why: str) -> int:
    """A technician went off sick (leave) or off duty: their jobs that have not started and fall in the
    gap go back to dispatch, each re-dispatched at once (started visits stay pinned with them)."""
    rows = unstarted_jobs_of(db, technician_id)
    moved = 0
    for wo in rows:
        slot = wo.planned_start or wo.window_start or now
        if slot < start or (end is not None and slot >= end):
            continue
        system = Ctx(db=db, principal=system_principal(wo.org_id), now=now, settings=settings)
        # The org's dispatch lock before the order's row lock (unassign), the order every dispatch path uses:
        # taking them the other way round deadlocks against a concurrent assign.
        lock_org_dispatch(db, wo.org_id)
        with db.begin_nested():
            work_orders.perform(system, wo.id, "unassign", None, ReasonBody(reason=why))
            _record(system, wo, "replan", "evicted", None, None, None, None, why, None)
            dispatch_now(system, wo.id, reason=f"re-dispatched: {why}")
        moved += 1
    return moved
