"""The work-order lifecycle as pure rules: states, actions, who may act, and what follows.

No I/O here: the service loads the order, asks `decide`, applies the result and writes the audit row.
"""

from __future__ import annotations

import enum
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


class Status(enum.StrEnum):
    new = "new"
    assigned = "assigned"
    accepted = "accepted"
    en_route = "en_route"
    on_site = "on_site"
    in_progress = "in_progress"
    awaiting_acceptance = "awaiting_acceptance"
    completed = "completed"
    closed = "closed"
    on_hold = "on_hold"
    cancelled = "cancelled"


STATUS_ZH = {
    "new": "待派单", "assigned": "待接单", "accepted": "已接单", "en_route": "在途", "on_site": "已签到",
    "in_progress": "执行中", "awaiting_acceptance": "待验收", "completed": "已完成", "closed": "已关闭",
    "on_hold": "已挂起", "cancelled": "已取消",
}
PRIORITIES = ("P0", "P1", "P2", "P3")
PRIORITY_ZH = {"P0": "紧急", "P1": "高", "P2": "中", "P3": "低"}
CHANNELS = ("portal", "phone", "app", "api", "email", "wecom", "dingtalk", "qr", "iot", "import")
HOLD_REASONS = ("waiting_customer", "waiting_parts", "other")
TERMINAL = frozenset({Status.closed, Status.cancelled})
ACTIVE_WORK = frozenset({Status.assigned, Status.accepted, Status.en_route, Status.on_site, Status.in_progress})

MANAGERS = frozenset({"admin", "supervisor", "dispatcher"})
DESK = MANAGERS | {"agent"}


@dataclass(frozen=True)
class Action:
    name: str
    sources: frozenset[Status]
    target: Status | None  # None: stays (transfer requests) or computed (resume)
    roles: frozenset[str]
    needs_reason: bool = False
    assignee_only: bool = False  # technicians may only act on their own assignment
    event: str = ""
    zh: str = ""


def _a(name: str, sources: set[Status], target: Status | None, roles: set[str], *, reason: bool = False,
       assignee: bool = False, event: str, zh: str) -> Action:
    return Action(name, frozenset(sources), target, frozenset(roles | {"system"}), reason, assignee, event, zh)


S = Status
ACTIONS: dict[str, Action] = {a.name: a for a in [
    _a("assign", {S.new, S.assigned, S.accepted, S.en_route}, S.assigned, set(MANAGERS),
       event="work_order.assigned", zh="派单"),
    _a("unassign", {S.assigned, S.accepted}, S.new, set(MANAGERS), reason=True, event="work_order.unassigned",
       zh="撤回派单"),
    _a("accept", {S.assigned}, S.accepted, {"technician"}, assignee=True, event="work_order.accepted", zh="接单"),
    _a("reject", {S.assigned}, S.new, {"technician"}, reason=True, assignee=True,
       event="work_order.rejected", zh="拒单"),
    _a("depart", {S.accepted}, S.en_route, {"technician"}, assignee=True, event="work_order.departed", zh="出发"),
    _a("check-in", {S.accepted, S.en_route}, S.on_site, {"technician"}, assignee=True,
       event="work_order.checked_in", zh="签到"),
    _a("start", {S.on_site}, S.in_progress, {"technician"}, assignee=True, event="work_order.started", zh="开始"),
    _a("complete", {S.in_progress}, S.awaiting_acceptance, {"technician"}, assignee=True,
       event="work_order.work_completed", zh="完工"),
    _a("confirm", {S.awaiting_acceptance}, S.completed, {"customer"} | DESK, event="work_order.confirmed",
       zh="验收"),
    _a("refuse", {S.awaiting_acceptance}, S.accepted, {"customer"} | DESK, reason=True,
       event="work_order.refused", zh="验收不通过"),
    _a("close", {S.completed}, S.closed, set(MANAGERS), event="work_order.closed", zh="关闭"),
    _a("hold", set(ACTIVE_WORK), S.on_hold, {"technician"} | DESK, reason=True, assignee=True, event="work_order.held",
       zh="挂起"),
    _a("resume", {S.on_hold}, None, {"technician"} | DESK, assignee=True, event="work_order.resumed", zh="恢复"),
    _a("cancel", {S.new, S.assigned, S.accepted, S.en_route, S.on_site, S.in_progress, S.on_hold}, S.cancelled,
       {"customer"} | DESK, reason=True, event="work_order.cancelled", zh="取消"),
    _a("reopen", {S.closed, S.cancelled}, S.new, set(DESK), reason=True, event="work_order.reopened",
       zh="重新打开"),
    _a("request-transfer", {S.assigned, S.accepted, S.en_route}, None, {"technician"}, reason=True,
       assignee=True, event="work_order.transfer_requested", zh="申请转派"),
    _a("approve-transfer", {S.assigned, S.accepted, S.en_route}, None, set(MANAGERS),
       event="work_order.transfer_approved", zh="批准转派"),
    _a("decline-transfer", {S.assigned, S.accepted, S.en_route}, None, set(MANAGERS), reason=True,
       event="work_order.transfer_declined", zh="驳回转派"),
]}

# Customers may cancel only before work has started on site.
CUSTOMER_CANCEL_FROM = frozenset({S.new, S.assigned, S.accepted})


class RuleError(Exception):
    """Why an action is not allowed: kind is 'forbidden' (403) or 'state' (409) or 'invalid' (422)."""

    def __init__(self, kind: str, en: str, zh: str) -> None:
        super().__init__(en)
        self.kind, self.en, self.zh = kind, en, zh


@dataclass(frozen=True)
class Facts:
    """What the rule needs to know about the order and the caller."""

    status: Status
    role: str
    is_assignee: bool = False
    transfer_pending: bool = False
    status_before_hold: Status | None = None
    terminal_since: datetime | None = None
    now: datetime | None = None
    reopen_window: timedelta | None = None


def decide(action_name: str, facts: Facts, *, reason: str | None = None) -> Status:
    """The status an action leads to, or RuleError saying why it may not happen."""
    action = ACTIONS.get(action_name)
    if action is None:
        raise RuleError("invalid", f"Unknown action {action_name}.", f"未知操作 {action_name}。")
    if facts.role not in action.roles:
        raise RuleError("forbidden", f"Your role ({facts.role}) may not {action_name} a work order.",
                        f"您的角色（{facts.role}）无权执行“{action.zh}”。")
    if action.assignee_only and facts.role == "technician" and not facts.is_assignee:
        raise RuleError("forbidden", "Only the assigned technician may do this.", "只有被指派的技师可以执行此操作。")
    if facts.status not in action.sources:
        raise RuleError("state", f"A work order that is {facts.status.value} cannot be {_past(action_name)}.",
                        f"处于“{STATUS_ZH[facts.status.value]}”状态的工单不能执行“{action.zh}”。")
    if action_name == "cancel" and facts.role == "customer" and facts.status not in CUSTOMER_CANCEL_FROM:
        raise RuleError("state", "Work has started; ask the service desk to cancel this order.",
                        "服务已开始，请联系客服取消。")
    if action.needs_reason and not (reason and reason.strip()):
        raise RuleError("invalid", f"A reason is required to {action_name}.", f"执行“{action.zh}”需要填写原因。")
    if action_name in ("approve-transfer", "decline-transfer") and not facts.transfer_pending:
        raise RuleError("state", "There is no pending transfer request.", "没有待处理的转派申请。")
    if action_name == "request-transfer" and facts.transfer_pending:
        raise RuleError("state", "A transfer request is already pending.", "已有待处理的转派申请。")
    if (action_name == "reopen" and facts.reopen_window is not None and facts.terminal_since and facts.now
            and facts.now - facts.terminal_since > facts.reopen_window):
        days = facts.reopen_window.total_seconds() / 86400
        raise RuleError("state", f"Orders can be reopened only within {days:g} days.",
                        f"工单只能在 {days:g} 天内重新打开。")
    if action_name == "resume":
        return facts.status_before_hold or Status.assigned
    if action.target is None:
        return facts.status
    return action.target


def _past(action: str) -> str:
    return {"assign": "assigned", "accept": "accepted", "reject": "rejected", "depart": "departed",
            "check-in": "checked in", "start": "started", "complete": "completed", "confirm": "confirmed",
            "refuse": "refused", "close": "closed", "hold": "put on hold", "resume": "resumed",
            "cancel": "cancelled", "reopen": "reopened", "request-transfer": "transferred",
            "approve-transfer": "transferred", "decline-transfer": "transferred"}.get(action, action)


def allowed_actions(facts: Facts) -> list[str]:
    """The actions this caller may take now (the UI shows exactly these)."""
    out = []
    for name, action in ACTIONS.items():
        if facts.role not in action.roles or facts.status not in action.sources:
            continue
        if action.assignee_only and facts.role == "technician" and not facts.is_assignee:
            continue
        if name == "cancel" and facts.role == "customer" and facts.status not in CUSTOMER_CANCEL_FROM:
            continue
        if name in ("approve-transfer", "decline-transfer") and not facts.transfer_pending:
            continue
        if name == "request-transfer" and facts.transfer_pending:
            continue
        if name == "reopen" and facts.reopen_window is not None and facts.terminal_since and facts.now and (
                facts.now - facts.terminal_since > facts.reopen_window):
            continue
        out.append(name)
    return out


DEFAULT_DUE = {"P0": timedelta(hours=4), "P1": timedelta(hours=24), "P2": timedelta(hours=72),
               "P3": timedelta(days=7)}


def due_at(priority: str, created: datetime, window_end: datetime | None) -> datetime:
    """When the order is due: the end of the requested window, else a default per priority."""
    if window_end is not None:
        return window_end
    return created + DEFAULT_DUE.get(priority, DEFAULT_DUE["P2"])


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


def format_number(day: str, seq: int) -> str:
    """WO-YYYYMMDD-NNNN (more digits past 9,999 a day)."""
    return f"WO-{day}-{seq:04d}"


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralize_cell(value: object) -> object:
    """Spreadsheet formula injection guard: prefix risky text cells with an apostrophe."""
    # Spreadsheets skip leading blanks before reading a formula, so " =1+1" is as risky as "=1+1".
    if isinstance(value, str) and value.lstrip(" \u00a0\u3000").startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def missing_checklist(template: list[dict[str, object]], results: dict[str, object]) -> list[str]:
    """Keys of required checklist items without an answer."""
    missing = []
    for item in template:
        key = str(item.get("key"))
        if item.get("required") and results.get(key) in (None, "", []):
            missing.append(key)
    return missing


# ---- visibility (the one rule; WorkOrderRepository.scoped is its SQL twin) ------------------------

ORG_WIDE_ROLES = frozenset({"admin", "dispatcher", "agent", "finance", "system"})


class Viewer(Protocol):
    """Anything shaped like a Principal: role, organisation and the links that scope what it sees."""

    @property
    def role(self) -> str: ...
    @property
    def org_id(self) -> uuid.UUID: ...
    @property
    def technician_id(self) -> uuid.UUID | None: ...
    @property
    def customer_id(self) -> uuid.UUID | None: ...
    @property
    def territory_ids(self) -> frozenset[uuid.UUID]: ...


def visible_to(viewer: Viewer, org_id: uuid.UUID, technician_id: uuid.UUID | None, customer_id: uuid.UUID | None,
               territory_id: uuid.UUID | None) -> bool:
    """May `viewer` see a work order with these keys? The desk and finance see their organisation's, a
    supervisor those of their territories, a technician those assigned to them, a customer their own.
    Must agree with WorkOrderRepository.scoped (a property test checks it)."""
    if viewer.org_id != org_id:
        return False
    role = str(viewer.role)
    if role in ORG_WIDE_ROLES:
        return True
    if role == "technician":
        return viewer.technician_id is not None and viewer.technician_id == technician_id
    if role == "customer":
        return viewer.customer_id is not None and viewer.customer_id == customer_id
    if role == "supervisor":
        return territory_id is not None and territory_id in viewer.territory_ids
    return False
