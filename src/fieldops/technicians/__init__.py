"""Technicians with their skills, certificates, weekly shifts and leave."""
