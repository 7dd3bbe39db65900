"""The services the `vir` command runs, their default ports and their settings."""

from __future__ import annotations

import importlib

import click

from shared.settings import Settings, SettingsError

SERVICES = ("registry", "matching", "notifications")
DEFAULT_PORTS = {"registry": 8001, "matching": 8010, "notifications": 8020}


def settings_of(service: str) -> Settings:
    """SERVICE's settings from the environment (its config.py); a usage error if incomplete."""
    config = importlib.import_module(f"services.{service}.config")
    try:
        return config.load_settings()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
