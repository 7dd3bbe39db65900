"""The overview: each agreement's ledger as a chart."""

from services.registry.dashboard.overview import views
from services.registry.dashboard.overview.blueprint import bp

__all__ = ["bp", "views"]
