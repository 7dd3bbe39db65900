"""Table mapping of the notifications service's own data (outbox and inbox: shared.db)."""

from sqlalchemy import MetaData

from shared.db import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)
