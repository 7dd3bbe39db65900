"""The registry's aggregates, without a database: the transitions each allows, the events each
change causes, and the refusals that dead-letter a peer's event or answer 409/422 to a user."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from services.registry.domain import checklists
from services.registry.domain.agreements import (
    Agreement,
    AgreementClosed,
    AgreementStatus,
    NotAParty,
    Quota,
    StaleTerms,
    Terms,
)
from services.registry.domain.errors import DomainError, InvalidInput, NotEntitled, Pending
from services.registry.domain.matches import Match, MatchError, MatchStatus
from services.registry.domain.mobilities import Mobility, MobilityError, MobilityStatus
from services.registry.domain.placements import Placement, PlacementError, PlacementStatus
from services.registry.domain.volunteers import Volunteer, VolunteerError, VolunteerStatus
from shared import codes
from shared.events import payloads
from shared.events.typed import load

TERMS = Terms(
    agreement_id="agr-1",
    parties=("TG", "ML"),
    start=date(2027, 9, 1),
    end=date(2028, 12, 31),
    quotas=(Quota("TG", "ML", 4), Quota("ML", "TG", 2)),
    balance_tolerance=2,
    fields_of_cooperation=("health",),
)


# -- volunteers ----------------------------------------------------------------------------------


def test_a_withdrawal_needs_a_listed_reason_and_an_open_status():
    volunteer = Volunteer("vol-1", "TG", VolunteerStatus.AVAILABLE)
    with pytest.raises(VolunteerError):
        volunteer.withdraw("moved to Paris with her fiancé")
    event = volunteer.withdraw("personal")
    assert event.type == "volunteer.withdrawn"
    assert dict(event.data) == {"volunteer_id": "vol-1", "agency": "TG", "reason": "personal"}
    assert volunteer.status == VolunteerStatus.WITHDRAWN
    with pytest.raises(VolunteerError):
        volunteer.withdraw("personal")
    with pytest.raises(VolunteerError):
        Volunteer("vol-2", "TG", VolunteerStatus.DEPLOYED).withdraw("health")


@pytest.mark.parametrize(
    ("start", "target", "moved"),
    [
        ("available", "proposed", True),
        ("proposed", "matched", True),
        ("matched", "deployed", True),
        ("deployed", "completed", True),
        ("proposed", "available", True),
        ("withdrawn", "proposed", False),  # matching cannot bring a withdrawn volunteer back
        ("withdrawn", "matched", False),
        ("completed", "available", False),
        ("available", "completed", False),
    ],
)
def test_a_match_or_a_mission_moves_a_volunteer_only_along_the_table(start, target, moved):
    volunteer = Volunteer("vol-1", "TG", VolunteerStatus(start))
    assert volunteer.follow(target) is moved
    assert volunteer.status == (target if moved else start)


# -- placements ----------------------------------------------------------------------------------


def test_a_placement_closes_once_with_a_listed_reason():
    placement = Placement("pl-1", "ML", PlacementStatus.OPEN)
    with pytest.raises(PlacementError):
        placement.close("the director's cousin took it")
    event = placement.close("filled")
    assert (event.type, event.data["reason"]) == ("placement.closed", "filled")
    with pytest.raises(PlacementError):
        placement.close("filled")
    with pytest.raises(PlacementError):
        placement.check_editable()


# -- agreements ----------------------------------------------------------------------------------


def test_proposing_is_approving_ones_own_terms_and_both_approvals_activate():
    agreement, proposed = Agreement.propose(TERMS, "TG")
    assert proposed.type == "agreement.proposed" and proposed.data["terms_hash"] == TERMS.hash()
    assert agreement.approvals == {"TG": TERMS.hash()}
    assert agreement.status == AgreementStatus.PROPOSED
    events = agreement.approve("ML", TERMS.hash())
    assert [e.type for e in events] == ["agreement.approved", "agreement.activated"]
    assert agreement.status == AgreementStatus.ACTIVE
    assert agreement.approve("ML", TERMS.hash()) == []  # the same approval again: nothing


def test_a_received_proposal_counts_only_its_senders_approval():
    _, proposed = Agreement.propose(TERMS, "ML")
    received = load("agreement.proposed", 1, proposed.data)
    copy = Agreement.received(received, proposer="ML")
    assert copy.approvals == {"ML": TERMS.hash()} and copy.status == AgreementStatus.PROPOSED
    with pytest.raises(NotAParty):
        Agreement.received(received, proposer="NE")
    tampered = load("agreement.proposed", 1, {**proposed.data, "balance_tolerance": 100})
    with pytest.raises(DomainError):
        Agreement.received(tampered, proposer="ML")


def test_a_peer_approval_must_name_the_current_hash_and_come_from_a_party():
    agreement, _ = Agreement.propose(TERMS, "TG")
    with pytest.raises(NotAParty):
        agreement.apply_approval("NE", TERMS.hash(), 1)
    with pytest.raises(StaleTerms):
        agreement.apply_approval("ML", "0" * 64, 1)
    with pytest.raises(Pending):
        agreement.apply_approval("ML", TERMS.hash(), 2)
    assert agreement.status == AgreementStatus.PROPOSED
    assert agreement.apply_approval("ML", TERMS.hash(), 1) is True
    assert agreement.status == AgreementStatus.ACTIVE


def test_an_amendment_resets_approvals_and_an_older_approval_is_moot():
    agreement, _ = Agreement.propose(TERMS, "TG")
    agreement.approve("ML", TERMS.hash())
    new_terms = Terms(**{**TERMS.__dict__, "balance_tolerance": 1})
    event = agreement.amend(new_terms, "ML")
    assert event.type == "agreement.amended" and agreement.revision == 2
    assert agreement.approvals == {"ML": new_terms.hash()}
    assert agreement.status == AgreementStatus.AMENDED
    assert agreement.apply_approval("TG", TERMS.hash(), 1) is False  # crossed by the amendment
    with pytest.raises(InvalidInput):
        agreement.amend(Terms(**{**TERMS.__dict__, "parties": ("TG", "ML", "NE")}), "TG")


def test_only_a_party_terminates_with_a_listed_reason_and_nothing_changes_afterwards():
    agreement, _ = Agreement.propose(TERMS, "TG")
    with pytest.raises(NotAParty):
        agreement.apply_termination("NE", "breach", date(2028, 1, 1))
    with pytest.raises(InvalidInput):
        agreement.terminate("ML", "they never answer the phone", date(2028, 1, 1))
    event = agreement.terminate("ML", "end_of_programme", date(2028, 1, 1))
    assert dict(event.data) == {
        "agreement_id": "agr-1",
        "agency": "ML",
        "reason": "end_of_programme",
        "effective": "2028-01-01",
    }
    assert agreement.apply_termination("TG", "mutual_consent", date(2028, 2, 1)) is False
    assert agreement.terminated_by == "ML"
    with pytest.raises(AgreementClosed):
        agreement.approve("ML", TERMS.hash())
    with pytest.raises(AgreementClosed):
        agreement.amend(Terms(**{**TERMS.__dict__, "balance_tolerance": 0}), "TG")


# -- matches -------------------------------------------------------------------------------------


def _match() -> Match:
    return Match("m-1", "agr-1", "vol-1", "pl-1", "TG", "ML")


def test_a_decline_carries_a_code_and_keeps_the_note_in_this_copy_only():
    match = _match()
    with pytest.raises(InvalidInput):
        match.decide("TG", False, "she is pregnant, call +228 90 00 00 00")
    event = match.decide("TG", False, "volunteer_unavailable", note="health, back in May")
    assert event is not None and event.type == "match.declined"
    assert event.data["reason"] == "volunteer_unavailable" and "note" not in event.data
    assert match.decisions["TG"]["note"] == "health, back in May"
    assert match.status == MatchStatus.DECLINED
    with pytest.raises(MatchError):
        match.decide("ML", True)


def test_an_acceptance_carries_no_reason_and_repeating_it_changes_nothing():
    match = _match()
    event = match.decide("ML", True, "anything")
    assert event is not None and "reason" not in event.data
    assert match.decide("ML", True) is None
    with pytest.raises(MatchError):
        match.decide("ML", False, "dates")
    with pytest.raises(MatchError):
        match.decide("NE", True)


def test_matching_confirms_only_what_this_agency_accepted_and_nobody_declined():
    never_accepted = _match()
    with pytest.raises(MatchError):
        never_accepted.confirm("TG")
    declined = _match()
    declined.decide("ML", False, "dates")
    with pytest.raises(MatchError):
        declined.confirm("TG")
    match = _match()
    match.decide("TG", True)
    assert match.confirm("TG") is True and match.status == MatchStatus.CONFIRMED
    assert match.confirm("TG") is False  # redelivered
    assert match.apply_decision("ML", True, None) is True  # the acceptance overtaken by matching
    with pytest.raises(MatchError):
        match.apply_decision("ML", False, "dates")


def test_a_cancellation_needs_a_code_and_a_final_proposal_stays_final():
    match = _match()
    with pytest.raises(InvalidInput):
        match.cancel("superseded by a better plan")
    assert match.cancel("superseded") is True
    assert match.cancel("expired") is False and match.status_reason == "superseded"
    assert match.apply_decision("ML", True, None) is False  # a late decision is moot


def test_a_proposal_must_concern_this_agency():
    data = payloads.MatchProposed(
        match_id="m-1",
        agreement_id="agr-1",
        volunteer_id="vol-1",
        placement_id="pl-1",
        sending_agency="TG",
        host_agency="ML",
        score=0.9,
        criteria=(),
        expires_at=None,
        placement=None,
    )
    assert Match.proposed(data, "ML").parties == ("TG", "ML")
    with pytest.raises(MatchError):
        Match.proposed(data, "NE")
    with pytest.raises(MatchError):
        Match.proposed(dataclasses.replace(data, host_agency="TG"), "TG")


# -- mobilities ----------------------------------------------------------------------------------


def _mobility() -> Mobility:
    return Mobility("mob-1", "m-1", "agr-1", "TG", "ML")


def test_a_mission_runs_in_order_and_completes_only_with_its_reports():
    mobility = _mobility()
    with pytest.raises(MobilityError):
        mobility.complete(date(2028, 7, 31))
    with pytest.raises(MobilityError):
        mobility.report("mid_term", date(2027, 9, 1), "TG")
    started = mobility.start(date(2027, 10, 2), "TG")
    assert started.type == "mobility.started" and started.data["on"] == "2027-10-02"
    for kind in ("start", "mid_term"):
        event = mobility.report(kind, date(2027, 11, 1), "ML", "Ama va bien.")
        assert "summary" not in event.data and event.data["submitted_by"] == "ML"
    with pytest.raises(MobilityError):
        mobility.complete(date(2028, 7, 31))
    mobility.report("end", date(2028, 7, 25), "TG")
    with pytest.raises(InvalidInput):
        mobility.complete(date(2027, 1, 1))
    assert mobility.complete(date(2028, 7, 31)).type == "mobility.completed"
    with pytest.raises(MobilityError):
        mobility.interrupt(date(2028, 8, 1), "health")


def test_the_other_agencys_steps_follow_the_same_rules():
    mobility = _mobility()
    with pytest.raises(MobilityError):
        mobility.apply_completion(date(2028, 7, 31))  # out of order: not started
    with pytest.raises(NotEntitled):
        mobility.apply_start(date(2027, 10, 2), "ML")  # the departure is the sending agency's
    assert mobility.apply_start(date(2027, 10, 2), "TG") is True
    assert mobility.apply_start(date(2027, 10, 3), "TG") is False  # redelivered
    with pytest.raises(Pending):
        mobility.apply_completion(date(2028, 7, 31))  # its reports have not arrived yet
    assert mobility.apply_report("incident", date(2027, 11, 1), "ML") is True
    assert mobility.apply_report("incident", date(2027, 11, 1), "ML") is False
    with pytest.raises(MobilityError):
        mobility.apply_report("incident", date(2027, 11, 2), "NE")
    with pytest.raises(InvalidInput):
        mobility.apply_interruption(date(2027, 12, 1), "homesick and bored")
    assert mobility.apply_interruption(date(2027, 12, 1), "health") is True
    assert mobility.status == MobilityStatus.INTERRUPTED
    with pytest.raises(MobilityError):
        mobility.apply_start(date(2027, 12, 2), "TG")


def _prepared() -> Mobility:
    return Mobility(
        "mob-1", "m-1", "agr-1", "TG", "ML", checklist=checklists.fresh(checklists.default_items())
    )


def test_departure_is_refused_while_a_mandatory_item_is_open_and_names_it():
    mobility = _prepared()
    with pytest.raises(MobilityError, match="contract"):
        mobility.start(date(2027, 10, 2), "TG")
    for code in ("contract", "insurance", "travel_booked"):
        mobility.tick(code, True, date(2027, 9, 1), "TG")
    with pytest.raises(MobilityError, match="pre_departure_training") as refused:
        mobility.start(date(2027, 10, 2), "TG")
    assert refused.value.field == "checklist"
    event = mobility.tick("pre_departure_training", True, date(2027, 9, 20), "TG")
    assert event.type == "mobility.checklist_updated" and event.data["version"] == 4
    assert {i["code"]: i["done"] for i in event.data["items"]}["visa"] is False
    assert all(set(i) == {"code", "mandatory", "done"} for i in event.data["items"])
    assert mobility.open_items() == []  # visa and medical check are optional by default
    assert mobility.start(date(2027, 10, 2), "TG").type == "mobility.started"
    with pytest.raises(MobilityError):
        mobility.tick("visa", True, date(2027, 10, 3), "TG")  # closed at departure


def test_only_the_sending_agency_keeps_the_checklist_and_records_the_departure():
    mobility = _prepared()
    with pytest.raises(NotEntitled):
        mobility.tick("contract", True, date(2027, 9, 1), "ML")
    with pytest.raises(NotEntitled):
        mobility.start(date(2027, 10, 2), "ML")
    with pytest.raises(MobilityError):
        mobility.tick("contract", True, date(2027, 9, 1), "NE")
    with pytest.raises(InvalidInput):
        mobility.tick("passport_photo", True, date(2027, 9, 1), "TG")


def test_the_host_copy_follows_the_latest_checklist_update_only():
    host = _mobility()
    items = [{"code": "contract", "mandatory": True, "done": True}]
    assert host.apply_checklist("TG", 2, items) is True
    assert host.apply_checklist("TG", 1, [{**items[0], "done": False}]) is False  # late, older
    assert host.checklist == items and host.checklist_version == 2
    with pytest.raises(NotEntitled):
        host.apply_checklist("ML", 3, items)


def test_an_agency_checklist_needs_labels_for_its_own_items():
    own = checklists.validated(
        [
            {"code": "contract"},
            {
                "code": "police_record",
                "label_en": "Police record",
                "label_fr": "Casier judiciaire",
                "mandatory": False,
            },
        ]
    )
    assert own[0] == {"code": "contract", "mandatory": True}
    assert checklists.label(own[1], "fr") == "Casier judiciaire"
    assert checklists.label(own[0], "en") == "Volunteering contract signed"
    with pytest.raises(InvalidInput):
        checklists.validated([{"code": "police_record"}])
    with pytest.raises(InvalidInput):
        checklists.validated([{"code": "contract"}, {"code": "contract"}])
    with pytest.raises(InvalidInput):
        checklists.validated([])


def test_a_peer_step_must_describe_this_mobility():
    mobility = _mobility()
    step = payloads.Mobility("mob-1", "m-1", "agr-1", "TG", "ML", date(2027, 10, 2))
    with pytest.raises(MobilityError):
        mobility.check_same(dataclasses.replace(step, match_id="m-2"))
    with pytest.raises(MobilityError):
        mobility.check_same(dataclasses.replace(step, host_agency="NE"))
    mobility.check_same(step)
    # a payload naming only some of them (a report names no match) is checked on those
    report = payloads.MobilityReport("mob-1", "agr-1", "start", "ML", date(2027, 10, 2))
    mobility.check_same(report)
    with pytest.raises(MobilityError):
        mobility.check_same(dataclasses.replace(report, agreement_id="agr-2"))


# -- reason codes --------------------------------------------------------------------------------


def test_every_reason_list_has_french_and_english_labels():
    for labels in codes.REASONS_BY_EVENT.values():  # French from the catalogs (reasons.po)
        assert labels and all(
            codes.reason_label(labels, code, "en") and codes.reason_label(labels, code, "fr")
            for code in labels
        )
    assert codes.reason_label(codes.DECLINE_REASONS, "dates", "fr") == "Dates inadaptées"
    assert codes.reason_label(codes.DECLINE_REASONS, "dates", "en") == "Dates do not suit"
