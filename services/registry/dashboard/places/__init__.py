"""The agency's places: host organisations and their placements."""

from services.registry.dashboard.places import views
from services.registry.dashboard.places.blueprint import bp

__all__ = ["bp", "views"]
