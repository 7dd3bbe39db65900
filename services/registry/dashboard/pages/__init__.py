"""The dashboard's pages, one module per part of the agency's work."""

from services.registry.dashboard.pages import (  # noqa: F401
    exchanges,
    follow_up,
    overview,
    people,
    places,
)
