"""Follow-up of missions: incidents and the agreement's evaluation."""

from services.registry.dashboard.follow_up import views
from services.registry.dashboard.follow_up.blueprint import bp

__all__ = ["bp", "views"]
