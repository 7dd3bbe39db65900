"""Browser tests: Playwright for Python driving Debian's Chromium against registries served over
real HTTP; screenshots of each page go to tests/artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from services.registry.dashboard.accounts import create_account
from tests.support import infra
from tests.support.nodes import serving
from tests.support.registry import start_registry

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
PASSWORD = "mot de passe assez long"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield browser
        browser.close()


class Site:
    def __init__(self, node, url: str):  # noqa: ANN001
        self.node = node
        self.url = url
        self.agency = node.agency
        self.email = f"staff@{node.agency.lower()}.example"


@pytest.fixture
def site(pg_url) -> Iterator[Site]:
    node = start_registry("TG", pg_url)
    with node.runtime.sessions.begin() as session:
        create_account(session, "staff@tg.example", "Ama Staff", "staff", PASSWORD)
    with serving(node.app) as url:
        yield Site(node, url)
    node.runtime.shutdown()


@pytest.fixture
def ml_site() -> Iterator[Site]:
    database = infra.create_database()
    node = start_registry("ML", database)
    with node.runtime.sessions.begin() as session:
        create_account(session, "staff@ml.example", "Aminata Staff", "staff", PASSWORD)
    with serving(node.app) as url:
        yield Site(node, url)
    node.runtime.shutdown()
    infra.drop_database(database)


class Console:
    """Every console error and uncaught page error of a page: the tests require none."""

    def __init__(self, page: Page):
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    page = context.new_page()
    page.console = Console(page)  # type: ignore[attr-defined]
    yield page
    context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, site: Site, email: str | None = None, go: bool = True) -> None:
    """Fill the sign-in form (of the page already shown when `go` is False)."""
    if go:
        page.goto(f"{site.url}/login")
    page.get_by_label("Adresse e-mail").fill(email or site.email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
