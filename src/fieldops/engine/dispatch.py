"""One dispatch decision for a new job, with its explanation; "why not technician X"; job ordering.

Steps of `dispatch_one`:
1. numpy over all technicians: distance from home (radius filter) and a reachability bound (the job
   cannot start before the technician gets there, nor end later than the drive home allows);
2. the hard filters per technician (all failures are kept for the explanation);
3. cheapest feasible insertion into every eligible technician's route, travel batched in numpy;
4. only when nobody has room and the policy allows it: insert-and-evict (one lower-priority visit out);
5. score, rank by the policy mode (ties: technician id), and explain.
Deterministic: no randomness is used (the seed is accepted for interface symmetry with the planner).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from fieldops.engine.filters import (
    FAR_FUTURE,
    Failure,
    hard_filters,
    hhmm,
    home_of,
    job_windows,
    shift_options,
    skills_text,
)
from fieldops.engine.insertion import Insertion, InsertionBatch
from fieldops.engine.model import CandidateResult, Decision, Job, Policy, Problem, Reason, Technician
from fieldops.engine.scoring import Scored, load_of, rank, score_candidates
from fieldops.engine.travel import HaversineMatrix, MatrixProvider, haversine_many_m

ROUNDING_MARGIN_S = 5  # the reachability bound tolerates whole-second rounding on each leg


@dataclass
class _Evaluation:
    ranked: list[Scored]
    rejected: list[CandidateResult]
    considered: int
    evicting: bool


def _provider(problem: Problem, provider: MatrixProvider | None) -> MatrixProvider:
    return provider if provider is not None else HaversineMatrix(problem.travel)


def _reach_bounds(problem: Problem, job: Job, techs: Sequence[Technician], provider: MatrixProvider,
                  wins: Sequence[tuple[int, int]]) -> tuple[list[float], list[str | None]]:
    """Distance from home (m) per technician, and a reason text where the job is provably out of reach.

    The bound holds for metric travel (a provider with `metric = True`, like the default haversine model):
    whatever the route, the technician drives at least the direct time from where the route starts (the
    live position, or the shift's start place before the shift) to the job, and from the job back to the
    shift's end place. Technicians with several open shifts, or with a visit in progress (the drive starts
    there), get no bound.
    """
    n = len(techs)
    now = problem.now
    cols: list[list[float]] = [[] for _ in range(8)]
    hlat, hlng, plat, plng, slat, slng, elat, elng = cols
    s_start: list[int] = []
    s_end: list[int] = []
    for t in techs:
        if t.home_lat is not None and t.home_lng is not None:
            hlat.append(t.home_lat)
            hlng.append(t.home_lng)
        else:
            h = home_of(t)
            hlat.append(h[0])
            hlng.append(h[1])
        plat.append(t.lat)
        plng.append(t.lng)
        sh = t.shifts[0] if len(t.shifts) == 1 else None
        if sh is None:
            opens = [x for x in t.shifts if x.end > now]
            sh = opens[0] if len(opens) == 1 else None
        if sh is None or sh.end <= now:
            slat.append(0.0)
            slng.append(0.0)
            elat.append(0.0)
            elng.append(0.0)
            s_start.append(0)
            s_end.append(-1)  # no bound
        else:
            slat.append(sh.start_lat)
            slng.append(sh.start_lng)
            elat.append(sh.end_lat)
            elng.append(sh.end_lng)
            s_start.append(sh.start)
            s_end.append(sh.end)
    home_m = haversine_many_m(np.asarray(hlat), np.asarray(hlng), job.lat, job.lng).tolist()
    notes: list[str | None] = [None] * n
    if not getattr(provider, "metric", False) or n == 0 or not wins:
        return home_m, notes
    jl, jg = np.array([job.lat]), np.array([job.lng])
    t_pos = provider.matrix(np.asarray(plat), np.asarray(plng), jl, jg)[:, 0]
    t_start = provider.matrix(np.asarray(slat), np.asarray(slng), jl, jg)[:, 0]
    t_end = provider.matrix(jl, jg, np.asarray(elat), np.asarray(elng))[0]
    start = np.asarray(s_start, dtype=np.int64)
    end = np.asarray(s_end, dtype=np.int64)
    dur = job.duration_s
    arrive = np.where(now < start, start + t_start, now + t_pos) - ROUNDING_MARGIN_S
    latest = np.minimum(wins[-1][1], end - dur)
    far = arrive > latest
    late = np.maximum(arrive, wins[0][0]) + dur + t_end - ROUNDING_MARGIN_S > end
    flagged = np.nonzero((end >= 0) & (far | late))[0].tolist()
    for i in flagged:
        t = techs[i]
        if now >= s_start[i] and any(v.start < now < v.start + v.duration_s for v in t.route):
            continue  # the drive starts where the visit in progress is, which may not be the live position
        if far[i]:
            notes[i] = f"{int(t_pos[i]) // 60} min away: cannot arrive before {hhmm(int(latest[i]))} UTC"
        else:
            notes[i] = f"could not finish and be back by the shift end {hhmm(s_end[i])} UTC"
    return home_m, notes


def _windows_text(job: Job) -> str:
    if not job.windows:
        return "its shift"
    return ", ".join(f"{hhmm(w.start)}–{hhmm(w.end)} UTC" for w in job.windows)


def _rejected(tech: Technician, failures: Sequence[Failure]) -> CandidateResult:
    return CandidateResult(technician_id=tech.id, feasible=False, reasons=tuple(r for r, _ in failures),
                           detail="; ".join(d for _, d in failures))


def _evaluate(problem: Problem, job: Job, rr_state: Mapping[str, int] | None,
              provider: MatrixProvider | None) -> _Evaluation:
    policy = problem.policy
    prov = _provider(problem, provider)
    techs = problem.technicians
    if job.pinned_technician is not None:
        techs = [t for t in techs if t.id == job.pinned_technician]
    now = problem.now
    wins = job_windows(job, now)
    earliest = wins[0][0] if wins else now
    home_list, notes = _reach_bounds(problem, job, techs, prov, wins)
    rejected: list[CandidateResult] = []
    eligible: list[tuple[Technician, list[int]]] = []
    # at the daily cap and otherwise eligible: may still swap a lower-priority visit out (insert-and-evict)
    capped: list[tuple[Technician, list[int], int, Failure]] = []
    may_evict = policy.allow_evict and job.rank < 3
    for i, tech in enumerate(techs):
        options = shift_options(tech, job, now, wins) if tech.on_duty else []
        failures = hard_filters(tech, job, now, home_distance_m=home_list[i], options=options, earliest=earliest)
        if notes[i] is not None and all(r == Reason.DAILY_CAP for r, _ in failures):
            failures = [*failures, (Reason.UNREACHABLE, notes[i] or "")]
        shifts = sorted({o[0] for o in options})
        if not failures:
            eligible.append((tech, shifts))
        elif may_evict and len(failures) == 1 and failures[0][0] == Reason.DAILY_CAP \
                and load_of(tech) <= tech.max_jobs_per_day:
            work = sum(v.duration_s for v in tech.route) + job.duration_s
            capped.append((tech, shifts, max(0, work - tech.max_work_s), failures[0]))
        else:
            rejected.append(_rejected(tech, failures))
    feasible: list[tuple[Technician, Insertion]] = []
    evicting = False
    found: list[Insertion | None] = []
    batch = InsertionBatch(job, now, eligible, prov) if eligible else None
    if batch is not None:
        found = batch.best()
    if may_evict and (eligible or capped) and all(f is None for f in found):
        evicting = True
        if batch is not None:
            found = batch.best_evicting()
        if capped:
            capped_batch = InsertionBatch(job, now, [(t, s) for t, s, _, _ in capped], prov)
            swaps = capped_batch.best_evicting(None, [m for _, _, m, _ in capped])
            for (tech, _, m, failure), ins in zip(capped, swaps, strict=True):
                if ins is not None:
                    feasible.append((tech, ins))
                else:
                    what = f" of at least {m // 60} min" if m else ""
                    rejected.append(_rejected(tech, [(failure[0], f"{failure[1]}; no lower-priority visit{what} "
                                                                  "whose removal makes room")]))
    else:
        rejected.extend(_rejected(tech, [failure]) for tech, _, _, failure in capped)
    if eligible:
        for (tech, _), ins in zip(eligible, found, strict=True):
            if ins is not None:
                feasible.append((tech, ins))
            else:
                n = len(tech.route)
                why = f"no feasible slot in the route ({n} visit{'s' if n != 1 else ''}) within {_windows_text(job)}"
                if evicting:
                    why += ", not even by evicting one lower-priority visit"
                elif policy.allow_evict and job.rank < 3:
                    why += " without evicting a visit (others have room)"
                rejected.append(_rejected(tech, [(Reason.UNREACHABLE, why)]))
    scored = score_candidates(job, now, policy.weights, feasible)
    ranked = rank(policy.mode, scored, rr_state)
    rejected.sort(key=lambda c: c.technician_id)
    return _Evaluation(ranked, rejected, len(techs), evicting)


def _result(c: Scored) -> CandidateResult:
    ins = c.insertion
    detail = f"evicts {ins.evicted} ({ins.evicted_priority}) to make room" if ins.evicted else ""
    return CandidateResult(technician_id=c.technician.id, feasible=True, detail=detail, score=c.score,
                           breakdown=c.breakdown, position=ins.position, start=ins.start,
                           travel_added_s=ins.travel_added_s, evicts=(ins.evicted,) if ins.evicted else (),
                           schedule=ins.schedule)


_PHRASES = {  # (one technician, several)
    Reason.CERTIFICATE: ("lacks a valid certificate ({certs})", "lack a valid certificate ({certs})"),
    Reason.OFF_SHIFT: ("is off shift", "are off shift"),
    Reason.ON_LEAVE: ("is on leave", "are on leave"),
    Reason.TERRITORY: ("works outside territory {territory}", "work outside territory {territory}"),
    Reason.RADIUS: ("is beyond their maximum radius", "are beyond their maximum radius"),
    Reason.DAILY_CAP: ("has reached their daily cap", "have reached their daily cap"),
    Reason.BLOCKED: ("is blocked by the customer", "are blocked by the customer"),
    Reason.REJECTED: ("already rejected the job", "already rejected the job"),
    Reason.UNREACHABLE: ("cannot fit it inside its window", "cannot fit it inside its window"),
    Reason.INACTIVE: ("is deactivated", "are deactivated"),
}


def nobody_reason(job: Job, rejected: Sequence[CandidateResult], considered: int) -> str:
    """One line on why no technician can take the job, e.g. "no technician has skill hvac level ≥ 3; 4 are off
    shift" (each technician counts once per reason it failed)."""
    if considered == 0:
        if job.pinned_technician is not None:
            return f"the pinned technician {job.pinned_technician} is not in the problem"
        return "no technicians to choose from"
    counts: Counter[Reason] = Counter(r for c in rejected for r in set(c.reasons))
    parts: list[str] = []
    if counts.get(Reason.SKILL):
        k = counts.pop(Reason.SKILL)
        parts.append(f"no technician has skill {skills_text(job)}" if k == considered
                     else f"{k} lack{'s' if k == 1 else ''} skill {skills_text(job)}")
    for reason, k in sorted(counts.items(), key=lambda kv: (-kv[1], list(Reason).index(kv[0]))):
        phrase = _PHRASES[reason][0 if k == 1 else 1].format(certs=", ".join(job.certificates),
                                                             territory=job.territory_id)
        parts.append(f"{'all ' if k == considered and k > 1 else ''}{k} {phrase}")
    return "; ".join(parts) if parts else "no technician can take the job"


def dispatch_one(problem: Problem, job: Job, seed: int = 0, rr_state: Mapping[str, int] | None = None, *,
                 provider: MatrixProvider | None = None) -> Decision:
    """Choose the technician for one new job at `problem.now`, and say why.

    Returns the chosen technician with start, position and the chosen CandidateResult (score breakdown
    and the technician's new route in `schedule`), the next `policy.top_alternatives` candidates, every
    rejected candidate with all its failed filters, the evicted job id when the day was full and a
    lower-priority visit had to make room, and `reason` when nobody can take it. `rr_state`
    (technician id → last-assigned counter or time) drives round_robin; it is read, never changed.
    `provider` replaces the problem's haversine travel model (e.g. a road-network matrix).
    Pure and deterministic: the same input gives the same decision; ties go to the lowest technician id.
    """
    _ = seed
    ev = _evaluate(problem, job, rr_state, provider)
    policy = problem.policy
    if not ev.ranked:
        return Decision(job_id=job.id, technician_id=None, start=None, position=None, mode=policy.mode, chosen=None,
                        alternatives=(), rejected=tuple(ev.rejected),
                        reason=nobody_reason(job, ev.rejected, ev.considered))
    best = _result(ev.ranked[0])
    alternatives = tuple(_result(c) for c in ev.ranked[1:1 + max(0, policy.top_alternatives)])
    return Decision(job_id=job.id, technician_id=best.technician_id, start=best.start, position=best.position,
                    mode=policy.mode, chosen=best, alternatives=alternatives, rejected=tuple(ev.rejected),
                    evicted=best.evicts)


def explain(problem: Problem, job: Job, technician_id: str, rr_state: Mapping[str, int] | None = None, *,
            provider: MatrixProvider | None = None) -> CandidateResult:
    """Why (not) technician X: their CandidateResult exactly as `dispatch_one` sees it (failed filters, or
    the score breakdown and insertion). Raises KeyError for a technician who is not in the problem."""
    ev = _evaluate(problem, job, rr_state, provider)
    for c in ev.ranked:
        if c.technician.id == technician_id:
            return _result(c)
    for r in ev.rejected:
        if r.technician_id == technician_id:
            return r
    if any(t.id == technician_id for t in problem.technicians):
        return CandidateResult(technician_id=technician_id, feasible=False,
                               detail=f"the job is pinned to {job.pinned_technician}")
    raise KeyError(technician_id)


def order_jobs(jobs: Iterable[Job], policy: Policy) -> list[Job]:
    """The order in which to dispatch several jobs: P0 first (policy.urgent_first), then VIP customers
    (policy.vip_first), then by priority, due time (none last), creation time and id."""
    def key(j: Job) -> tuple[int, int, int, int, int, str]:
        return (0 if (policy.urgent_first and j.rank == 0) else 1, 0 if (policy.vip_first and j.vip) else 1,
                j.rank, j.due if j.due is not None else FAR_FUTURE, j.created, j.id)
    return sorted(jobs, key=key)


def apply_decision(problem: Problem, decision: Decision) -> Problem:
    """A new Problem with the chosen technician's route replaced by the decision's schedule (the job
    inserted, an evicted visit removed). `problem.jobs` is left as it is."""
    if decision.chosen is None or decision.technician_id is None:
        return problem
    techs = [replace(t, route=decision.chosen.schedule) if t.id == decision.technician_id else t
             for t in problem.technicians]
    return replace(problem, technicians=techs)


def dispatch_many(problem: Problem, jobs: Iterable[Job], seed: int = 0, rr_state: Mapping[str, int] | None = None,
                  *, provider: MatrixProvider | None = None) -> tuple[list[Decision], Problem, dict[str, int]]:
    """Dispatch jobs one after another in `order_jobs` order, each into the routes the previous ones left.

    Returns the decisions (in dispatch order), the final problem and the updated round-robin state
    (a copy: the argument is not changed). Evicted jobs are reported, not re-dispatched.
    """
    rr = dict(rr_state or {})
    counter = max(rr.values(), default=0)
    decisions = []
    for job in order_jobs(jobs, problem.policy):
        d = dispatch_one(problem, job, seed, rr, provider=provider)
        decisions.append(d)
        if d.technician_id is not None:
            problem = apply_decision(problem, d)
            counter += 1
            rr[d.technician_id] = counter
    return decisions, problem, rr
