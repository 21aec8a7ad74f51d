"""The dispatch engine: pure functions from a problem snapshot to decisions and plans, with reasons.

It imports only the standard library, numpy and (in `solvers/`) the routing libraries; time, seed and
limits are arguments, so the same input gives the same output.
"""

ENGINE_VERSION = "1.0.0"
