"""Score of a feasible candidate (lower is better) and the ranking of candidates under each policy mode.

score = Σ weight × normalised term. Terms (each ~0..1 for an ordinary case; negative = a bonus):
  travel      travel the insertion adds, per 30 minutes
  load        (jobs of the day − mean over the feasible candidates) ÷ max(mean, 1)
  sla_slack   0 with ≥ 2 h of slack before job.due, rising to 1 at the due time; late: 5 + 1 per 15 min late
  priority    P0: hours between the planned start and the job's earliest possible start (P1: half of that)
  quality     0.5 − quality for the job's service type (unknown: 0.5 → 0)
  speed       actual/planned duration ratio − 1 for the job's service type (unknown: 1.0 → 0)
  preference  −1 when the customer prefers this technician
  evict       (insert-and-evict only) 1 + 0.5 per priority level the evicted visit is above P3
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fieldops.engine.filters import earliest_job_start
from fieldops.engine.insertion import LATE_WEIGHT, Insertion
from fieldops.engine.model import PRIORITY_RANK, Job, Technician, Weights

MODES = ("nearest", "least_loaded", "round_robin", "best_score", "optimized")
TRAVEL_NORM_S = 30 * 60
SLACK_NORM_S = 2 * 3600
LATE_BASE = 5.0
LATE_STEP_S = 15 * 60
URGENCY = {0: 1.0, 1: 0.5}
EVICT_WEIGHT = 1.0


@dataclass(frozen=True)
class Scored:
    """A feasible candidate with its score."""

    technician: Technician
    insertion: Insertion
    load: int
    score: float
    breakdown: tuple[tuple[str, float], ...]


def load_of(tech: Technician) -> int:
    """Jobs of the day: finished ones plus the route."""
    return tech.jobs_today + len(tech.route)


def score_terms(tech: Technician, job: Job, ins: Insertion, now: int, weights: Weights,
                mean_load: float, earliest: int | None = None) -> tuple[tuple[str, float], ...]:
    """The weighted terms of the score, in a fixed order; the score is their sum. `earliest`: the job's
    earliest possible start (`filters.earliest_job_start`), derived when omitted."""
    terms: list[tuple[str, float]] = [("travel", weights.travel * ins.travel_added_s / TRAVEL_NORM_S)]
    terms.append(("load", weights.load * (load_of(tech) - mean_load) / max(mean_load, 1.0)))
    if job.due is not None:
        end = ins.start + job.duration_s
        if end > job.due:
            sla = LATE_BASE + (end - job.due) / LATE_STEP_S
        else:
            sla = max(0.0, 1.0 - (job.due - end) / SLACK_NORM_S)
        terms.append(("sla_slack", weights.sla_slack * sla))
    else:
        terms.append(("sla_slack", 0.0))
    urgency = URGENCY.get(job.rank, 0.0)
    if urgency:
        first = earliest_job_start(job, now) if earliest is None else earliest
        terms.append(("priority", weights.priority * urgency * max(0, ins.start - first) / 3600))
    else:
        terms.append(("priority", 0.0))
    quality = dict(tech.quality).get(job.service_type, 0.5) if tech.quality else 0.5
    speed = dict(tech.speed).get(job.service_type, 1.0) if tech.speed else 1.0
    terms.append(("quality", weights.quality * (0.5 - quality)))
    terms.append(("speed", weights.speed * (speed - 1.0)))
    terms.append(("preference", -weights.preference if tech.id in job.preferred_technicians else 0.0))
    if ins.evicted is not None:
        evicted_rank = PRIORITY_RANK.get(ins.evicted_priority or "P2", 2)
        terms.append(("evict", EVICT_WEIGHT * (1.0 + 0.5 * (3 - evicted_rank))))
    return tuple((name, round(value, 6)) for name, value in terms)


def score_candidates(job: Job, now: int, weights: Weights,
                     feasible: Sequence[tuple[Technician, Insertion]]) -> list[Scored]:
    """Score every feasible candidate (the load term compares with the mean over these candidates)."""
    if not feasible:
        return []
    mean_load = sum(load_of(t) for t, _ in feasible) / len(feasible)
    earliest = earliest_job_start(job, now)
    out = []
    for tech, ins in feasible:
        breakdown = score_terms(tech, job, ins, now, weights, mean_load, earliest)
        out.append(Scored(tech, ins, load_of(tech), round(sum(v for _, v in breakdown), 6), breakdown))
    return out


def rank(mode: str, scored: Sequence[Scored], rr_state: Mapping[str, int] | None = None) -> list[Scored]:
    """Candidates best first under the policy mode; ties always end on the technician id.

    nearest       least travel added
    least_loaded  fewest jobs of the day, then least travel
    round_robin   the one assigned longest ago per `rr_state` (technician id → last-assigned counter or time;
                  absent = never), then least travel
    best_score    lowest score
    optimized     least insertion cost (travel added + lateness × LATE_WEIGHT), then score
    """
    rr = rr_state or {}
    if mode == "nearest":
        return sorted(scored, key=lambda c: (c.insertion.travel_added_s, c.score, c.technician.id))
    if mode == "least_loaded":
        return sorted(scored, key=lambda c: (c.load, c.insertion.travel_added_s, c.technician.id))
    if mode == "round_robin":
        return sorted(scored, key=lambda c: (rr.get(c.technician.id, -(2**62)), c.insertion.travel_added_s,
                                             c.technician.id))
    if mode == "optimized":
        return sorted(scored, key=lambda c: (c.insertion.travel_added_s + LATE_WEIGHT * c.insertion.late_s,
                                             c.score, c.technician.id))
    if mode == "best_score":
        return sorted(scored, key=lambda c: (c.score, c.technician.id))
    raise ValueError(f"unknown dispatch mode {mode!r}; one of {', '.join(MODES)}")
