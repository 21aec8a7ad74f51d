"""Shared kernel: database, errors, auth tokens, events, idempotency. Imports no domain module."""
