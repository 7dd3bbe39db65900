"""Agreement rules: the canonical hash, approval of one exact version, activation."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.registry.domain.agreements import (
    AgreementClosed,
    AgreementError,
    NotAParty,
    Quota,
    StaleTerms,
    Terms,
    approve,
    check_terms,
    status_of,
)

TERMS = Terms(
    agreement_id="agr-1",
    parties=("TG", "ML"),
    start=date(2017, 9, 1),
    end=date(2018, 12, 31),
    quotas=(Quota("TG", "ML", 4), Quota("ML", "TG", 2)),
    balance_tolerance=2,
    fields_of_cooperation=("health", "education"),
)


def test_the_hash_ignores_the_order_in_which_parties_quotas_and_fields_are_listed():
    shuffled = replace(
        TERMS,
        parties=("ML", "TG"),
        quotas=tuple(reversed(TERMS.quotas)),
        fields_of_cooperation=("education", "health", "health"),
    )
    assert shuffled.hash() == TERMS.hash()
    assert len(TERMS.hash()) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"quotas": (Quota("TG", "ML", 3), Quota("ML", "TG", 2))},
        {"balance_tolerance": 1},
        {"end": date(2019, 1, 1)},
        {"fields_of_cooperation": ("health",)},
        {"agreement_id": "agr-2"},
    ],
)
def test_any_change_of_the_conditions_changes_the_hash(change):
    assert replace(TERMS, **change).hash() != TERMS.hash()


def test_agreement_is_active_only_when_every_party_approved_the_same_hash():
    h = TERMS.hash()
    approvals, status = approve(
        agency="ML",
        parties=TERMS.parties,
        approvals={"TG": h},
        current_hash=h,
        approved_hash=h,
        revision=1,
        status="proposed",
    )
    assert approvals == {"TG": h, "ML": h} and status == "active"
    assert status_of(TERMS.parties, {"TG": h, "ML": "0" * 64}, h, 2) == "amended"
    assert status_of(TERMS.parties, {"TG": h}, h, 1) == "proposed"


def test_approving_a_stale_hash_or_for_a_non_party_or_after_termination_is_refused():
    h = TERMS.hash()
    common = {"parties": TERMS.parties, "approvals": {"TG": h}, "current_hash": h, "revision": 2}
    with pytest.raises(StaleTerms):
        approve(agency="ML", approved_hash="f" * 64, status="amended", **common)
    with pytest.raises(NotAParty):
        approve(agency="NE", approved_hash=h, status="amended", **common)
    with pytest.raises(AgreementClosed):
        approve(agency="ML", approved_hash=h, status="terminated", **common)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"parties": ("TG", "TG")}, "parties"),
        ({"end": date(2017, 1, 1)}, "end"),
        ({"quotas": (Quota("TG", "TG", 1),)}, "quotas"),
        ({"quotas": (Quota("TG", "NE", 1),)}, "quotas"),
        ({"quotas": (Quota("TG", "ML", 1), Quota("TG", "ML", 2))}, "quotas"),
    ],
)
def test_terms_that_break_a_rule_across_fields_are_refused_with_the_field(change, field):
    with pytest.raises(AgreementError) as info:
        check_terms(replace(TERMS, **change))
    assert info.value.field == field
