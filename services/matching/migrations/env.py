"""Alembic environment of the matching service."""

from services.matching.adapters.orm import metadata
from shared.db import shared_metadata
from shared.migrations import run_env

run_env([shared_metadata, metadata])
