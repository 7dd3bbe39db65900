"""Calls from the dashboard to other services."""
