"""Dashboard sign-in: Argon2 hashes, lockout after repeated failures, logout, safe redirects."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from services.registry.adapters.orm import StaffAccount
from services.registry.dashboard.accounts import AccountError, authenticate, create_account

pytestmark = pytest.mark.integration
PASSWORD = "mot de passe assez long"


def _csrf(client, path="/login"):
    return re.search(
        r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)
    ).group(1)


def _login(client, email, password):
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": _csrf(client)}
    )


@pytest.fixture
def account(tg):
    with tg.runtime.sessions.begin() as session:
        create_account(session, "ama@anvt.example", "Ama", "staff", PASSWORD)
    return tg


def test_passwords_are_stored_as_argon2_hashes_and_short_ones_refused(account):
    with account.runtime.sessions() as session:
        stored = session.query(StaffAccount).one()
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    with pytest.raises(AccountError), account.runtime.sessions.begin() as session:
        create_account(session, "x@anvt.example", "X", "staff", "short")


def test_five_failures_lock_the_account_even_for_the_right_password(account):
    client = account.app.test_client()
    for _ in range(4):
        assert "incorrect" in _login(client, "ama@anvt.example", "wrong").get_data(as_text=True)
    locked = _login(client, "ama@anvt.example", "wrong again").get_data(as_text=True)
    assert "bloqué pendant 15 minutes" in locked
    still = _login(client, "ama@anvt.example", PASSWORD)
    assert still.status_code == 200 and "bloqué" in still.get_data(as_text=True)
    with account.runtime.sessions.begin() as session:
        later = datetime.now(UTC) + timedelta(minutes=16)
        found, outcome = authenticate(session, "ama@anvt.example", PASSWORD, now=later)
    assert outcome == "ok" and found is not None


def test_sign_out_ends_the_session_and_next_never_leaves_the_site(account):
    client = account.app.test_client()
    token = _csrf(client, "/login?next=https://evil.example/")
    answer = client.post(
        "/login?next=https://evil.example/",
        data={"email": "ama@anvt.example", "password": PASSWORD, "csrf_token": token},
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/volunteers").status_code == 302


def test_forty_parallel_wrong_passwords_lock_the_account(account):
    from concurrent.futures import ThreadPoolExecutor

    def attempt(_: int) -> str:
        with account.runtime.sessions.begin() as session:
            return authenticate(session, "ama@anvt.example", "wrong")[1]

    with ThreadPoolExecutor(max_workers=40) as pool:
        outcomes = list(pool.map(attempt, range(40)))
    assert outcomes.count("locked") >= 1
    with account.runtime.sessions.begin() as session:
        stored = session.query(StaffAccount).one()
        assert stored.locked_until is not None and stored.locked_until > datetime.now(UTC)
        assert authenticate(session, "ama@anvt.example", PASSWORD)[1] == "locked"


def test_a_cookie_copied_before_sign_out_stops_working(account):
    client = account.app.test_client()
    assert _login(client, "ama@anvt.example", PASSWORD).status_code == 302
    assert client.get("/volunteers").status_code == 200
    cookie_name = account.app.config["SESSION_COOKIE_NAME"]
    copied = client.get_cookie(cookie_name).value
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302

    thief = account.app.test_client()
    thief.set_cookie(cookie_name, copied)
    answer = thief.get("/volunteers")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_sign_in_is_throttled_per_address_and_the_lockout_ends(account):
    with account.runtime.sessions.begin() as session:
        create_account(session, "kofi@anvt.example", "Kofi", "staff", PASSWORD)
    client = account.app.test_client()
    answers = [
        _login(client, "kofi@anvt.example" if n % 2 else "nobody@anvt.example", "wrong")
        for n in range(10)
    ]
    assert all(a.status_code == 200 for a in answers)
    throttled = _login(client, "ama@anvt.example", PASSWORD)
    assert throttled.status_code == 429
    assert "depuis votre adresse" in throttled.get_data(as_text=True)
    # Another address still signs in: the throttle holds one address back, not the account.
    other = account.app.test_client()
    ok = other.post(
        "/login",
        data={"email": "ama@anvt.example", "password": PASSWORD, "csrf_token": _csrf(other)},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert ok.status_code == 302
    # Kofi's account, locked by those failures, opens again after 15 minutes.
    with account.runtime.sessions.begin() as session:
        assert authenticate(session, "kofi@anvt.example", PASSWORD)[1] == "locked"
        later = datetime.now(UTC) + timedelta(minutes=16)
        assert authenticate(session, "kofi@anvt.example", PASSWORD, now=later)[1] == "ok"
