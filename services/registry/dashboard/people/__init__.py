"""The agency's people: volunteers (search, register, detail, edit, withdraw) and their import."""

from services.registry.dashboard.people import imports, volunteers
from services.registry.dashboard.people.blueprint import bp

__all__ = ["bp", "imports", "volunteers"]
