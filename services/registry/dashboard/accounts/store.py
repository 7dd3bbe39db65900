"""Staff accounts of the dashboard: passwords hashed with Argon2 (argon2-cffi), never stored."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.registry.adapters.orm import DashboardSession, StaffAccount
from services.registry.domain.accounts import LOCKOUT, MAX_FAILURES, is_locked

_hasher = PasswordHasher()
# Verifying against this hash when the e-mail is unknown keeps the answer time the same.
_DUMMY = _hasher.hash("an account that does not exist")
MIN_PASSWORD = 10


class AccountError(ValueError):
    pass


def create_account(
    session: Session, email: str, name: str, role: str, password: str, language: str = "fr"
) -> StaffAccount:
    if role not in ("admin", "staff"):
        raise AccountError("role must be admin or staff")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    email = email.strip().lower()
    if session.scalar(select(StaffAccount.id).where(StaffAccount.email == email)):
        raise AccountError(f"an account already uses {email}")
    account = StaffAccount(
        id=f"acc-{uuid.uuid4().hex[:12]}",
        email=email,
        name=name,
        role=role,
        password_hash=_hasher.hash(password),
        language=language,
        failed_logins=0,
        created_at=datetime.now(UTC),
    )
    session.add(account)
    return account


def authenticate(
    session: Session, email: str, password: str, now: datetime | None = None
) -> tuple[StaffAccount | None, str]:
    """(account, "ok") or (None, reason): reason is "invalid" or "locked"."""
    now = now or datetime.now(UTC)
    account = session.scalar(
        select(StaffAccount).where(StaffAccount.email == email.strip().lower())
    )
    if account is None:
        try:
            _hasher.verify(_DUMMY, password)
        except VerificationError:
            pass
        return None, "invalid"
    locked = account.locked_until
    if locked is not None and locked.tzinfo is None:
        locked = locked.replace(tzinfo=UTC)
    if is_locked(locked, now):
        return None, "locked"
    try:
        _hasher.verify(account.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None, "locked" if _count_failure(session, account.id, now) else "invalid"
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    account.failed_logins, account.locked_until, account.last_login_at = 0, None, now
    return account, "ok"


def _count_failure(session: Session, account_id: str, now: datetime) -> bool:
    """Count one failure in the database itself (concurrent failures cannot overwrite each
    other's count); the MAX_FAILURES-th locks the account for LOCKOUT. True when locked."""
    failures = session.execute(
        update(StaffAccount)
        .where(StaffAccount.id == account_id)
        .values(failed_logins=StaffAccount.failed_logins + 1)
        .returning(StaffAccount.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    if failures < MAX_FAILURES:
        return False
    session.execute(
        update(StaffAccount)
        .where(StaffAccount.id == account_id)
        .values(failed_logins=0, locked_until=now + LOCKOUT)
        .execution_options(synchronize_session=False)
    )
    return True


# -- server-side sessions -------------------------------------------------------------------------


def open_session(session: Session, account: StaffAccount, now: datetime | None = None) -> str:
    """A new signed-in session; its id goes into the (signed) cookie."""
    sid = secrets.token_urlsafe(32)
    session.add(
        DashboardSession(id=sid, account_id=account.id, created_at=now or datetime.now(UTC))
    )
    return sid


def session_account(session: Session, sid: str | None) -> StaffAccount | None:
    """The account of a session still open, or None (unknown, ended)."""
    if not sid:
        return None
    found = session.get(DashboardSession, sid)
    if found is None or found.ended_at is not None:
        return None
    return session.get(StaffAccount, found.account_id)


def end_session(session: Session, sid: str | None, now: datetime | None = None) -> None:
    found = session.get(DashboardSession, sid) if sid else None
    if found is not None and found.ended_at is None:
        found.ended_at = now or datetime.now(UTC)


# -- throttling by client address ----------------------------------------------------------------


class Throttle:
    """At most `limit` failed sign-ins per client address within `window` seconds, per process.

    With the 15-minute lockout this bounds what one address can do: it cannot try passwords
    quickly, nor lock staff out again and again, without being refused first.
    """

    def __init__(self, limit: int = 10, window: float = 600.0, clock=time.monotonic):  # noqa: ANN001
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str) -> deque[float]:
        now = self.clock()
        seen = self._failures.setdefault(address, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        return seen

    def blocked(self, address: str) -> bool:
        with self._lock:
            return len(self._recent(address)) >= self.limit

    def failed(self, address: str) -> None:
        with self._lock:
            self._recent(address).append(self.clock())
            if len(self._failures) > 100_000:  # never grow without bound
                self._failures.clear()
