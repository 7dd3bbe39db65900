"""Outside the embedded demo, services refuse to start on an empty or example secret."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from services.notifications.bootstrap import bootstrap as notifications_bootstrap
from services.notifications.config import Options
from services.notifications.config import load_settings as notifications_settings
from shared.settings import MessagingSettings, SettingsError, load, require_secret
from vir.cli import main

BROKER = "amqp://vir:a-real-password@127.0.0.1:5672/vir"
EXAMPLES = ["", None, "change-me", "change-me-link-secret", "create-with-vir-tokens-create"]


@pytest.mark.parametrize("value", EXAMPLES)
def test_an_empty_or_example_secret_is_refused_with_the_variable_named(value):
    with pytest.raises(SettingsError, match="^NOTIFY_LINK_SECRET "):
        require_secret("NOTIFY_LINK_SECRET", value, MessagingSettings(amqp_url=BROKER))


@pytest.mark.parametrize("value", EXAMPLES)
def test_the_embedded_demo_needs_no_secret(value):
    require_secret("NOTIFY_LINK_SECRET", value, MessagingSettings(amqp_url="memory://"))


def test_a_secret_of_ones_own_is_accepted():
    require_secret("NOTIFY_LINK_SECRET", "kJ3v9-w2Qp", MessagingSettings(amqp_url=BROKER))


@pytest.mark.parametrize("variable", ["AMQP_URL", "DATABASE_URL"])
def test_urls_holding_an_example_password_are_refused(variable):
    url = {
        "AMQP_URL": "amqp://relay:change-me-tg-relay-registry-tg@rabbitmq-tg:5672/vir",
        "DATABASE_URL": "postgresql+psycopg://vir:change-me-postgres-password@postgres/registry",
    }[variable]
    with pytest.raises(SettingsError, match=f"^{variable} holds an example password"):
        load("registry", {"AGENCY_CODE": "TG", variable: url})


def test_notifications_bootstrap_refuses_the_default_link_secret(tmp_path):
    settings = notifications_settings(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}", "AMQP_URL": BROKER}
    )
    with pytest.raises(SettingsError, match="^NOTIFY_LINK_SECRET still holds the example value"):
        notifications_bootstrap(settings, options=Options(), channels={})


def test_the_registry_app_refuses_to_start_without_a_dashboard_secret(tmp_path):
    from services.registry.api import create_app
    from services.registry.bootstrap import bootstrap
    from services.registry.config import dashboard_options, load_settings
    from shared.migrations import upgrade

    database = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade("registry", database)
    env = {"AGENCY_CODE": "TG", "DATABASE_URL": database, "AMQP_URL": BROKER}
    runtime = bootstrap(load_settings(env))
    with pytest.raises(SettingsError, match="^DASHBOARD_SECRET_KEY is not set"):
        create_app(runtime=runtime, dashboard=dashboard_options({"VIR_VAR_DIR": str(tmp_path)}))
    runtime.engine.dispose()


@pytest.mark.parametrize(
    ("service", "variable", "extra"),
    [
        ("notifications", "NOTIFY_LINK_SECRET", {}),
        (
            "notifications",
            "NOTIFY_REGISTRY_TOKEN",
            {"NOTIFY_LINK_SECRET": "kJ3v9-w2Qp", "NOTIFY_REGISTRY_TOKEN": "create-with-x"},
        ),
        ("registry", "DASHBOARD_SECRET_KEY", {}),
    ],
)
def test_vir_serve_stops_at_once_naming_the_variable(
    service, variable, extra, tmp_path, monkeypatch
):
    for name in ("NOTIFY_LINK_SECRET", "DASHBOARD_SECRET_KEY", "NOTIFY_REGISTRY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AMQP_URL": BROKER,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "AGENCY_CODE": "TG",
        "NOTIFY_LINK_SECRET": "change-me-link-secret",
        **extra,
    }
    result = CliRunner().invoke(main, ["serve", service, "--port", "1"], env=env)
    assert result.exit_code == 2, result.output
    assert variable in result.output
