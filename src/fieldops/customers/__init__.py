"""Customers, their sites (service addresses) and the assets installed there."""
