"""Technician tracking: location ingest, live positions, traces, geofences, timeout alerts."""
