"""Table mapping of the registry service's own data (the shared outbox and inbox live in shared.db)."""

from sqlalchemy import MetaData

from shared.db import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)
