"""Agreement rules: canonical terms hash, approvals of one exact version, amendment, activation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date


class AgreementError(Exception):
    """An agreement rule refuses the change; `field` names the input at fault, if any."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class StaleTerms(AgreementError):
    """An approval named terms that are no longer the current ones."""


class NotAParty(AgreementError):
    pass


class AgreementClosed(AgreementError):
    pass


@dataclass(frozen=True)
class Quota:
    sending: str
    host: str
    volunteers: int


@dataclass(frozen=True)
class Terms:
    agreement_id: str
    parties: tuple[str, ...]
    start: date
    end: date
    quotas: tuple[Quota, ...]
    balance_tolerance: int
    fields_of_cooperation: tuple[str, ...]

    def canonical(self) -> dict:
        return {
            "agreement_id": self.agreement_id,
            "parties": sorted(self.parties),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "quotas": sorted(
                (
                    {"sending": q.sending, "host": q.host, "volunteers": q.volunteers}
                    for q in self.quotas
                ),
                key=lambda q: (q["sending"], q["host"]),
            ),
            "balance_tolerance": self.balance_tolerance,
            "fields_of_cooperation": sorted(set(self.fields_of_cooperation)),
        }

    def hash(self) -> str:
        """SHA-256 of the canonical JSON of the cooperation conditions: what a party approves."""
        text = json.dumps(
            self.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(text.encode()).hexdigest()


def check_terms(terms: Terms) -> None:
    """Rules across fields (the API schema checks each field alone)."""
    if len(set(terms.parties)) != len(terms.parties) or len(terms.parties) < 2:
        raise AgreementError("An agreement needs at least two different parties.", "parties")
    if terms.end < terms.start:
        raise AgreementError("The end must not be before the start.", "end")
    seen = set()
    for q in terms.quotas:
        if q.sending == q.host:
            raise AgreementError("A quota goes from one party to another.", "quotas")
        if q.sending not in terms.parties or q.host not in terms.parties:
            raise AgreementError("Quotas may only name parties of the agreement.", "quotas")
        if (q.sending, q.host) in seen:
            raise AgreementError(f"Two quotas for {q.sending}→{q.host}.", "quotas")
        seen.add((q.sending, q.host))


def status_of(
    parties: Sequence[str], approvals: Mapping[str, str], current_hash: str, revision: int
) -> str:
    if all(approvals.get(p) == current_hash for p in parties):
        return "active"
    return "proposed" if revision == 1 else "amended"


def approve(
    *,
    agency: str,
    parties: Sequence[str],
    approvals: Mapping[str, str],
    current_hash: str,
    approved_hash: str,
    revision: int,
    status: str,
) -> tuple[dict[str, str], str]:
    """Record `agency`'s approval of `approved_hash`; return the approvals and the new status."""
    if status == "terminated":
        raise AgreementClosed("The agreement was terminated.")
    if agency not in parties:
        raise NotAParty(f"{agency} is not a party to this agreement.")
    if approved_hash != current_hash:
        raise StaleTerms(
            "These terms are no longer current: review the latest version and approve its hash.",
            "terms_hash",
        )
    new = {**approvals, agency: approved_hash}
    return new, status_of(parties, new, current_hash, revision)
