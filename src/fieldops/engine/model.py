"""Plain data the engine works on. Times are integer POSIX seconds (UTC); distances in metres."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

PRIORITY_RANK = {"P0": 0, "P1": 1, "P2": 2, "P3": 3}


class Reason(StrEnum):
    """Why a technician cannot take a job (hard filters), one code each."""

    SKILL = "skill"                  # lacks a required skill or its minimum level
    CERTIFICATE = "certificate"      # lacks a required certificate, or it is not valid on the job date
    OFF_SHIFT = "off_shift"          # no shift covers the job's window (or not on duty)
    ON_LEAVE = "on_leave"            # on leave during the job's window
    TERRITORY = "territory"          # the job is outside the technician's territories
    RADIUS = "radius"                # the job is farther from home than the technician's maximum radius
    DAILY_CAP = "daily_cap"          # already has the maximum number of jobs (or minutes) that day
    BLOCKED = "blocked"              # the customer blocked this technician
    REJECTED = "rejected"            # the technician already rejected this job
    UNREACHABLE = "unreachable"      # cannot arrive inside any of the job's windows given the route
    INACTIVE = "inactive"            # deactivated technician


@dataclass(frozen=True)
class Window:
    start: int
    end: int  # latest service start


@dataclass(frozen=True)
class Job:
    id: str
    lat: float
    lng: float
    duration_s: int
    windows: tuple[Window, ...] = ()           # empty: any time inside the technician's shift
    skills: tuple[tuple[str, int], ...] = ()   # (skill code, minimum level)
    certificates: tuple[str, ...] = ()
    priority: str = "P2"                       # P0..P3
    due: int | None = None                     # SLA due time (latest completion)
    service_type: str = ""
    customer_id: str = ""
    territory_id: str | None = None
    vip: bool = False
    preferred_technicians: tuple[str, ...] = ()
    blocked_technicians: tuple[str, ...] = ()
    rejected_by: tuple[str, ...] = ()
    pinned_technician: str | None = None       # assignment that must not move (started / locked)
    created: int = 0

    @property
    def rank(self) -> int:
        return PRIORITY_RANK.get(self.priority, 2)


@dataclass(frozen=True)
class Visit:
    """A job already on a technician's route."""

    job_id: str
    lat: float
    lng: float
    duration_s: int
    start: int          # planned (or actual) service start
    windows: tuple[Window, ...] = ()
    priority: str = "P2"
    pinned: bool = False  # started / en route / on site: never moved or evicted


@dataclass(frozen=True)
class Shift:
    start: int
    end: int
    start_lat: float
    start_lng: float
    end_lat: float
    end_lng: float
    breaks: tuple[Window, ...] = ()   # fixed breaks (start, end)


@dataclass(frozen=True)
class Technician:
    id: str
    name: str
    lat: float                 # where the technician is now (live position or home)
    lng: float
    shifts: tuple[Shift, ...]  # shifts within the planning horizon, in order
    skills: tuple[tuple[str, int], ...] = ()
    certificates: tuple[tuple[str, int | None], ...] = ()  # (code, expires at: POSIX s of the end of validity)
    leave: tuple[Window, ...] = ()
    territory_ids: tuple[str, ...] = ()          # empty: anywhere
    home_lat: float | None = None
    home_lng: float | None = None
    max_radius_km: float | None = None
    max_jobs_per_day: int = 8
    max_work_s: int = 8 * 3600
    route: tuple[Visit, ...] = ()                # today's committed visits, in order
    jobs_today: int = 0                          # counts closed/finished jobs of the day too
    quality: tuple[tuple[str, float], ...] = ()  # (service type, 0..1) learned from history
    speed: tuple[tuple[str, float], ...] = ()    # (service type, actual/planned duration ratio)
    active: bool = True
    on_duty: bool = True


@dataclass(frozen=True)
class Weights:
    """The organisation's dispatch policy weights (score = sum of weight × normalised term; lower is better)."""

    travel: float = 1.0
    load: float = 0.3
    sla_slack: float = 0.5
    priority: float = 0.5
    quality: float = 0.3
    speed: float = 0.2
    preference: float = 0.4


@dataclass(frozen=True)
class Policy:
    mode: str = "best_score"   # nearest | least_loaded | round_robin | best_score | optimized
    weights: Weights = field(default_factory=Weights)
    urgent_first: bool = True
    vip_first: bool = True
    allow_evict: bool = True          # a full day may evict a lower-priority job for an urgent one
    stability_gain_s: int = 600       # re-planning moves a committed job only when it saves this much travel
    top_alternatives: int = 3


@dataclass(frozen=True)
class TravelModel:
    """Default travel: great-circle distance × detour factor at a constant speed."""

    speed_kmh: float = 30.0
    detour: float = 1.3


@dataclass
class Problem:
    jobs: list[Job]
    technicians: list[Technician]
    now: int
    travel: TravelModel = field(default_factory=TravelModel)
    policy: Policy = field(default_factory=Policy)


@dataclass(frozen=True)
class CandidateResult:
    technician_id: str
    feasible: bool
    reasons: tuple[Reason, ...] = ()         # failed hard filters (empty when feasible)
    detail: str = ""                         # human detail of the first failure
    score: float | None = None               # lower is better
    breakdown: tuple[tuple[str, float], ...] = ()
    position: int | None = None              # insertion index in the route
    start: int | None = None                 # planned service start
    travel_added_s: int | None = None
    evicts: tuple[str, ...] = ()             # job ids this insertion pushes out (insert-and-evict)
    schedule: tuple[Visit, ...] = ()         # the technician's route with the job inserted (feasible only)


@dataclass(frozen=True)
class Decision:
    job_id: str
    technician_id: str | None
    start: int | None
    position: int | None
    mode: str
    chosen: CandidateResult | None
    alternatives: tuple[CandidateResult, ...]
    rejected: tuple[CandidateResult, ...]
    evicted: tuple[str, ...] = ()
    reason: str = ""                        # why nobody, when technician_id is None


@dataclass(frozen=True)
class RouteStop:
    job_id: str
    start: int
    end: int
    travel_s: int


@dataclass(frozen=True)
class Route:
    technician_id: str
    stops: tuple[RouteStop, ...]
    travel_s: int
    late_s: int = 0


@dataclass(frozen=True)
class Plan:
    routes: tuple[Route, ...]
    unassigned: tuple[tuple[str, str], ...]   # (job id, reason)
    travel_s: int
    served: int
    served_high: int
    late_jobs: int
    solver: str
    elapsed_s: float
    stats: tuple[tuple[str, float], ...] = ()
