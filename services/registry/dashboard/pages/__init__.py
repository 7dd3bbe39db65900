"""The dashboard's pages, one module per part of the agency's work."""

from services.registry.dashboard.pages import exchanges, overview, people, places  # noqa: F401
