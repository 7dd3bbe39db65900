"""Agreement rules: canonical terms hash, approvals of one exact version, amendment, activation,
termination; the `Agreement` aggregate applies them alike to this node's decisions and to peers'.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from services.registry.domain.errors import DomainError, DomainEvent, InvalidInput, Pending
from services.registry.domain.messages import msg
from shared import codes
from shared.events import payloads


class AgreementStatus(StrEnum):
    PROPOSED = "proposed"
    AMENDED = "amended"
    ACTIVE = "active"
    TERMINATED = "terminated"


class AgreementError(DomainError):
    """An agreement rule refuses the change."""


class InvalidTerms(AgreementError, InvalidInput):
    pass


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
        raise InvalidTerms(msg("agreement.two_parties"), "parties")
    if terms.end < terms.start:
        raise InvalidTerms(msg("agreement.end_before_start"), "end")
    seen = set()
    for q in terms.quotas:
        if q.sending == q.host:
            raise InvalidTerms(msg("agreement.quota_same_party"), "quotas")
        if q.sending not in terms.parties or q.host not in terms.parties:
            raise InvalidTerms(msg("agreement.quota_not_party"), "quotas")
        if (q.sending, q.host) in seen:
            raise InvalidTerms(
                msg("agreement.quota_twice", sending=q.sending, host=q.host), "quotas"
            )
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
        raise AgreementClosed(msg("agreement.terminated"))
    if agency not in parties:
        raise NotAParty(msg("agreement.not_a_party", agency=agency))
    if approved_hash != current_hash:
        raise StaleTerms(msg("agreement.stale_terms"), "terms_hash")
    new = {**approvals, agency: approved_hash}
    return new, status_of(parties, new, current_hash, revision)


def terms_from_data(data: payloads.AgreementTerms) -> Terms:
    """The terms an `agreement.proposed|amended|activated` event carries."""
    return Terms(
        agreement_id=data.agreement_id,
        parties=tuple(data.parties),
        start=data.start,
        end=data.end,
        quotas=tuple(Quota(q.sending, q.host, q.volunteers) for q in data.quotas),
        balance_tolerance=data.balance_tolerance,
        fields_of_cooperation=tuple(data.fields_of_cooperation),
    )


@dataclass
class Agreement:
    """One node's copy of an agreement. Every change, whoever asks for it, goes through here:
    a party acts only in its own name, approves only the current hash, and a terminated
    agreement changes no more."""

    terms: Terms
    proposer: str
    revision: int
    terms_hash: str
    approvals: dict[str, str] = field(default_factory=dict)
    status: AgreementStatus = AgreementStatus.PROPOSED
    terminated_by: str | None = None
    termination_reason: str | None = None
    terminated_on: date | None = None

    @property
    def id(self) -> str:
        return self.terms.agreement_id

    @property
    def parties(self) -> tuple[str, ...]:
        return self.terms.parties

    def terms_data(self) -> dict[str, Any]:
        canonical = self.terms.canonical()
        return {
            **canonical,
            "parties": list(self.terms.parties),
            "quotas": [
                {"sending": q.sending, "host": q.host, "volunteers": q.volunteers}
                for q in self.terms.quotas
            ],
            "fields_of_cooperation": list(self.terms.fields_of_cooperation),
            "terms_hash": self.terms_hash,
            "revision": self.revision,
        }

    # -- proposal --------------------------------------------------------------------------------

    @classmethod
    def propose(cls, terms: Terms, proposer: str) -> tuple[Agreement, DomainEvent]:
        """A party proposes terms; proposing is approving one's own terms."""
        check_terms(terms)
        if proposer not in terms.parties:
            raise NotAParty(msg("agreement.proposer_not_party", agency=proposer), "parties")
        digest = terms.hash()
        agreement = cls(terms, proposer, 1, digest, {proposer: digest})
        return agreement, DomainEvent("agreement.proposed", agreement.terms_data())

    @classmethod
    def received(cls, data: payloads.AgreementTerms, proposer: str) -> Agreement:
        """A party's proposal as another party's node receives it: only the proposer approved."""
        terms = terms_from_data(data)
        cls._check_copy(terms, data)
        if data.revision != 1:
            raise AgreementError(msg("agreement.proposal_revision"), "revision")
        if proposer not in terms.parties:
            raise NotAParty(msg("agreement.proposer_not_in_proposal", agency=proposer))
        return cls(terms, proposer, 1, data.terms_hash, {proposer: data.terms_hash})

    @staticmethod
    def _check_copy(terms: Terms, data: payloads.AgreementTerms) -> None:
        check_terms(terms)
        if terms.hash() != data.terms_hash:
            raise AgreementError(msg("agreement.hash_mismatch"), "terms_hash")

    # -- approval --------------------------------------------------------------------------------

    def approve(self, agency: str, approved_hash: str) -> list[DomainEvent]:
        """`agency` approves the terms whose hash it reviewed; approving them again is a no-op."""
        already = self.approvals.get(agency) == approved_hash
        approvals, status = approve(
            agency=agency,
            parties=self.parties,
            approvals=self.approvals,
            current_hash=self.terms_hash,
            approved_hash=approved_hash,
            revision=self.revision,
            status=self.status,
        )
        if already:
            return []
        self.approvals, self.status = approvals, AgreementStatus(status)
        events = [
            DomainEvent(
                "agreement.approved",
                {
                    "agreement_id": self.id,
                    "agency": agency,
                    "terms_hash": approved_hash,
                    "revision": self.revision,
                },
            )
        ]
        if self.status == AgreementStatus.ACTIVE:
            # The approval that completes the set announces the activation; peers compute it too.
            events.append(DomainEvent("agreement.activated", self.terms_data()))
        return events

    def apply_approval(self, agency: str, approved_hash: str, revision: int) -> bool:
        """A peer's approval. One of an older revision (crossed by an amendment) or of a
        terminated agreement is moot; one of the current revision must name the current hash."""
        if agency not in self.parties:
            raise NotAParty(msg("agreement.not_a_party", agency=agency))
        if revision > self.revision:
            raise Pending(
                msg("agreement.revision_pending", revision=revision, id=self.id), "revision"
            )
        if revision < self.revision or self.status == AgreementStatus.TERMINATED:
            return False
        return bool(self.approve(agency, approved_hash))

    def confirm_activation(self, data: payloads.AgreementTerms) -> None:
        """A peer announces activation: this node computes it from the approvals it applied, so
        the announcement changes nothing; it must describe the current terms, though."""
        if data.revision > self.revision:
            raise Pending(msg("agreement.revision_pending", revision=data.revision, id=self.id))
        if data.revision == self.revision and data.terms_hash != self.terms_hash:
            raise StaleTerms(msg("agreement.activation_other_terms"))

    # -- amendment -------------------------------------------------------------------------------

    def amend(self, terms: Terms, by: str) -> DomainEvent:
        if by not in self.parties:
            raise NotAParty(msg("agreement.not_a_party", agency=by))
        if self.status == AgreementStatus.TERMINATED:
            raise AgreementClosed(msg("agreement.terminated_unamendable"), "status")
        if tuple(sorted(terms.parties)) != tuple(sorted(self.parties)):
            raise InvalidTerms(msg("agreement.parties_unchangeable"), "parties")
        check_terms(terms)
        digest = terms.hash()
        if digest == self.terms_hash:
            raise AgreementError(msg("agreement.nothing_to_amend"), "quotas")
        self._amended(terms, self.revision + 1, digest, by)
        return DomainEvent("agreement.amended", self.terms_data())

    def apply_amendment(self, data: payloads.AgreementTerms, by: str) -> bool:
        """A party's amendment: a later revision than this copy's, of the same parties."""
        if by not in self.parties:
            raise NotAParty(msg("agreement.not_a_party", agency=by))
        terms = terms_from_data(data)
        self._check_copy(terms, data)
        if tuple(sorted(terms.parties)) != tuple(sorted(self.parties)):
            raise InvalidTerms(msg("agreement.parties_unchangeable"), "parties")
        if data.revision <= self.revision:
            return False  # an older amendment arriving late
        if self.status == AgreementStatus.TERMINATED:
            raise AgreementClosed(msg("agreement.terminated_unamendable"), "status")
        self._amended(terms, data.revision, data.terms_hash, by)
        return True

    def _amended(self, terms: Terms, revision: int, digest: str, by: str) -> None:
        self.terms, self.revision, self.terms_hash = terms, revision, digest
        self.approvals = {by: digest}  # every other party must approve again
        self.status = AgreementStatus(status_of(self.parties, self.approvals, digest, revision))

    # -- termination -----------------------------------------------------------------------------

    def terminate(self, by: str, reason: str, effective: date) -> DomainEvent:
        if by not in self.parties:
            raise NotAParty(msg("agreement.not_a_party", agency=by))
        if reason not in codes.TERMINATION_REASONS:
            raise InvalidInput(msg("agreement.unknown_termination_reason", reason=reason), "reason")
        if self.status == AgreementStatus.TERMINATED:
            raise AgreementClosed(msg("agreement.already_terminated"), "status")
        self.status = AgreementStatus.TERMINATED
        self.terminated_by, self.termination_reason, self.terminated_on = by, reason, effective
        return DomainEvent(
            "agreement.terminated",
            {
                "agreement_id": self.id,
                "agency": by,
                "reason": reason,
                "effective": effective.isoformat(),
            },
        )

    def apply_termination(self, by: str, reason: str, effective: date) -> bool:
        if self.status == AgreementStatus.TERMINATED and by in self.parties:
            return False  # both parties ended it at once: the first termination stands
        self.terminate(by, reason, effective)
        return True
