"""The authorization world (two organisations, every role, records of each kind) is built once for the package
and shared by the matrix, the channel, field, mass-assignment and audit tests; `env` resets it when dirty."""

from tests.authz.test_matrix import authz_world, env, matrix

__all__ = ["authz_world", "env", "matrix"]
