"""Hard filters: can this technician take this job at all? One `Reason` code and a human detail per failure.

`hard_filters` runs every filter, cheapest first, and returns all failures (the explanation shows them
all). Reachability inside the job's windows given the route (`Reason.UNREACHABLE`) is decided by
insertion, not here.
"""

from __future__ import annotations

import time as _time
from collections.abc import Sequence

from fieldops.engine.model import Job, Reason, Technician
from fieldops.engine.timeline import Interval, merge_blocks, merge_windows, skip_blocks
from fieldops.engine.travel import haversine_m

Failure = tuple[Reason, str]
FAR_FUTURE = 2**62


def hhmm(t: int) -> str:
    """UTC clock time for details (the service layer renders local times; the engine only knows POSIX seconds)."""
    return _time.strftime("%H:%M", _time.gmtime(t))


def skills_text(job: Job) -> str:
    return ", ".join(f"{code} level ≥ {level}" for code, level in job.skills)


def job_windows(job: Job, now: int) -> list[Interval]:
    """The job's allowed service starts from `now` on, sorted; no windows → unbounded."""
    if not job.windows:
        return [(now, FAR_FUTURE)]
    return merge_windows((max(w.start, now), w.end) for w in job.windows)


def earliest_job_start(job: Job, now: int) -> int:
    wins = job_windows(job, now)
    return wins[0][0] if wins else now


def certificate_deadline(tech: Technician, job: Job) -> int | None:
    """Latest allowed service start given the expiry of the certificates the job needs (None: no limit)."""
    if not job.certificates:
        return None
    held = dict(tech.certificates)
    deadline: int | None = None
    for code in job.certificates:
        exp = held.get(code)
        if exp is not None and (deadline is None or exp < deadline):
            deadline = exp
    return deadline


def home_of(tech: Technician) -> tuple[float, float]:
    if tech.home_lat is not None and tech.home_lng is not None:
        return tech.home_lat, tech.home_lng
    if tech.shifts:
        return tech.shifts[0].start_lat, tech.shifts[0].start_lng
    return tech.lat, tech.lng


def shift_options(tech: Technician, job: Job, now: int, wins: Sequence[Interval] | None = None
                  ) -> list[tuple[int, int, int]]:
    """(shift index, earliest start, latest start) for every (shift, window) pair in which the job's service fits
    inside the window and the shift, starting no earlier than `now`; travel, breaks and leave are ignored.
    `wins`: `job_windows(job, now)` when already known."""
    out: list[tuple[int, int, int]] = []
    if wins is None:
        wins = job_windows(job, now)
    for i, sh in enumerate(tech.shifts):
        if sh.end <= now:
            continue
        lo_shift = max(sh.start, now)
        hi_shift = sh.end - job.duration_s
        for ws, we in wins:
            lo, hi = max(ws, lo_shift), min(we, hi_shift)
            if lo <= hi:
                out.append((i, lo, hi))
    return out


def leave_blocks(tech: Technician) -> tuple[Interval, ...]:
    return merge_blocks((w.start, w.end) for w in tech.leave) if tech.leave else ()


# --- the filters, each None when passed ------------------------------------------------------------------


def check_active(tech: Technician) -> Failure | None:
    return None if tech.active else (Reason.INACTIVE, f"{tech.id} is deactivated")


def check_rejected(tech: Technician, job: Job) -> Failure | None:
    return (Reason.REJECTED, f"{tech.id} already rejected this job") if tech.id in job.rejected_by else None


def check_blocked(tech: Technician, job: Job) -> Failure | None:
    if tech.id in job.blocked_technicians:
        return Reason.BLOCKED, f"customer {job.customer_id or '?'} blocked {tech.id}"
    return None


def check_skills(tech: Technician, job: Job) -> Failure | None:
    if not job.skills:
        return None
    held = dict(tech.skills)
    missing = []
    for code, level in job.skills:
        have = held.get(code)
        if have is None:
            missing.append(f"lacks {code}")
        elif have < level:
            missing.append(f"{code} level {have} < {level}")
    return (Reason.SKILL, "; ".join(missing)) if missing else None


def check_certificates(tech: Technician, job: Job, now: int, earliest: int | None = None) -> Failure | None:
    if not job.certificates:
        return None
    held = dict(tech.certificates)
    start = earliest_job_start(job, now) if earliest is None else earliest
    bad = []
    for code in job.certificates:
        if code not in held:
            bad.append(f"lacks certificate {code}")
        else:
            exp = held[code]
            if exp is not None and exp < start:
                bad.append(f"certificate {code} expired {hhmm(exp)} (before the job can start)")
    return (Reason.CERTIFICATE, "; ".join(bad)) if bad else None


def check_territory(tech: Technician, job: Job) -> Failure | None:
    if tech.territory_ids and job.territory_id is not None and job.territory_id not in tech.territory_ids:
        return Reason.TERRITORY, f"territory {job.territory_id} is not one of {', '.join(tech.territory_ids)}"
    return None


def check_daily_cap(tech: Technician, job: Job) -> Failure | None:
    count = tech.jobs_today + len(tech.route)
    if count >= tech.max_jobs_per_day:
        return Reason.DAILY_CAP, f"already has {count} of {tech.max_jobs_per_day} jobs today"
    work = sum(v.duration_s for v in tech.route) + job.duration_s
    if work > tech.max_work_s:
        return Reason.DAILY_CAP, f"{work // 60} min of work would exceed the {tech.max_work_s // 60} min daily limit"
    return None


def check_radius(tech: Technician, job: Job, home_distance_m: float | None = None) -> Failure | None:
    if tech.max_radius_km is None:
        return None
    if home_distance_m is None:
        hlat, hlng = home_of(tech)
        home_distance_m = haversine_m(hlat, hlng, job.lat, job.lng)
    if home_distance_m > tech.max_radius_km * 1000.0:
        return Reason.RADIUS, f"{home_distance_m / 1000:.1f} km from home, limit {tech.max_radius_km:g} km"
    return None


def check_shift_and_leave(tech: Technician, job: Job, now: int,
                          options: Sequence[tuple[int, int, int]] | None = None) -> list[Failure]:
    """OFF_SHIFT when not on duty or no shift fits the job's windows; ON_LEAVE when leave covers every fit."""
    if not tech.on_duty:
        return [(Reason.OFF_SHIFT, f"{tech.id} is not on duty")]
    opts = shift_options(tech, job, now) if options is None else options
    if not opts:
        if job.windows and not job_windows(job, now):
            return [(Reason.OFF_SHIFT, "every window of the job has passed")]
        return [(Reason.OFF_SHIFT, "no shift covers the job's window" if job.windows else "no shift left")]
    leave = leave_blocks(tech)
    if leave and all(skip_blocks(lo, job.duration_s, leave) > hi for _, lo, hi in opts):
        return [(Reason.ON_LEAVE, "on leave during the job's window")]
    return []


def hard_filters(tech: Technician, job: Job, now: int, *, home_distance_m: float | None = None,
                 options: Sequence[tuple[int, int, int]] | None = None,
                 earliest: int | None = None) -> list[Failure]:
    """Every failed hard filter of `tech` for `job` at `now`, cheapest first (empty: eligible).

    `home_distance_m` (pre-computed, e.g. vectorised over all technicians), `options` (from `shift_options`)
    and `earliest` (`earliest_job_start`) save recomputation; they are derived when omitted.
    """
    out: list[Failure] = []
    for f in (check_active(tech), check_rejected(tech, job), check_blocked(tech, job), check_skills(tech, job),
              check_certificates(tech, job, now, earliest), check_territory(tech, job), check_daily_cap(tech, job),
              check_radius(tech, job, home_distance_m)):
        if f is not None:
            out.append(f)
    out.extend(check_shift_and_leave(tech, job, now, options))
    return out
