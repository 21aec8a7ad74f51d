"""`python -m tests.faults.worker_main`: the real worker (fieldops.worker.runner.run_forever) with the counting
receiver added to its task modules."""

from __future__ import annotations

import signal
import threading

from fieldops.settings import get_settings
from fieldops.worker import registry
from fieldops.worker.runner import run_forever


def main() -> None:
    registry.TASK_MODULES.append("tests.faults.receiver")
    stop = threading.Event()

    def request_stop(*_: object) -> None:
        threading.Thread(target=stop.set, daemon=True).start()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    run_forever(get_settings(), stop)


if __name__ == "__main__":
    main()
