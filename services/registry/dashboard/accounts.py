"""Staff accounts of the dashboard: passwords hashed with Argon2 (argon2-cffi), never stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registry.adapters.orm import StaffAccount
from services.registry.domain.accounts import after_failure, is_locked

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
        account.failed_logins, account.locked_until = after_failure(account.failed_logins, now)
        return None, "locked" if account.locked_until else "invalid"
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    account.failed_logins, account.locked_until, account.last_login_at = 0, None, now
    return account, "ok"
