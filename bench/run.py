"""`make bench`: run every benchmark section (or the ones named on the command line)."""

from __future__ import annotations

import importlib
import sys

SECTIONS = {
    "foundation": "bench.foundation",
    "dispatch_one": "bench.dispatch_one",
    "dispatch_service": "bench.dispatch_service",
    "day_plan": "bench.day_plan",
    "web": "bench.web",
    "live": "bench.live",
    "notifications": "bench.notifications",
    "tracking": "bench.tracking",
    "sla": "bench.sla",
    "load": "bench.load",
    "security": "bench.security",
}
# `make bench-faults` (full-size fault injection) is not part of `make bench`.
EXTRA_SECTIONS = {"faults": "bench.faults"}


def main(argv: list[str]) -> None:
    names = argv or list(SECTIONS)
    for name in names:
        module = importlib.import_module({**SECTIONS, **EXTRA_SECTIONS}[name])
        print(f"==> bench {name}", flush=True)
        module.main()
    print("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main(sys.argv[1:])
