"""Every refusal of the registry's rules: a stable code and its English template.

The code is what the API returns beside the English text and what screens render in their own
language (shared/translations/*/LC_MESSAGES/registry.po); the template is the English text,
parameters in %(name)s form. `msg(code, **params)` builds the message a rule raises.
"""

from __future__ import annotations

from typing import Any

from shared.messages import Codes, Message

REGISTRY = Codes(
    {
        # volunteers
        "volunteer.not_found": "No volunteer %(id)s.",
        "volunteer.duplicate_identity": (
            "A volunteer with this identity number is already registered (%(id)s)."
        ),
        "volunteer.not_withdrawable": "A volunteer whose status is %(status)s cannot be withdrawn.",
        "volunteer.withdrawn_unchangeable": "A withdrawn volunteer cannot be changed.",
        "volunteer.unknown_withdrawal_reason": "Unknown withdrawal reason %(reason)r.",
        "volunteer.availability_order": "Must not be before available_from.",
        "volunteer.dossier_not_hosted": "%(agency)s hosts no confirmed match of this volunteer.",
        # host organisations and placements
        "organisation.duplicate": (
            "This organisation is already registered in this city (%(id)s)."
        ),
        "organisation.duplicate_unnamed": "This organisation is already registered in this city.",
        "organisation.name_taken": "Another organisation has this name in this city (%(id)s).",
        "organisation.name_taken_unnamed": "Another organisation has this name in this city.",
        "organisation.not_found": "No host organisation %(id)s.",
        "placement.not_found": "No placement %(id)s.",
        "placement.dates_order": "Must not be before start.",
        "placement.closed_unchangeable": "A closed placement cannot be changed.",
        "placement.unknown_closure_reason": "Unknown closure reason %(reason)r.",
        "placement.already_closed": "The placement is already closed.",
        # agreements
        "agreement.not_found": "No agreement %(id)s.",
        "agreement.no_partner": "Name at least one partner agency other than this one.",
        "agreement.two_parties": "An agreement needs at least two different parties.",
        "agreement.end_before_start": "The end must not be before the start.",
        "agreement.quota_same_party": "A quota goes from one party to another.",
        "agreement.quota_not_party": "Quotas may only name parties of the agreement.",
        "agreement.quota_twice": "Two quotas for %(sending)s→%(host)s.",
        "agreement.terminated": "The agreement was terminated.",
        "agreement.not_a_party": "%(agency)s is not a party to this agreement.",
        "agreement.stale_terms": (
            "These terms are no longer current: review the latest version and approve its hash."
        ),
        "agreement.proposer_not_party": "%(agency)s is not a party to these terms.",
        "agreement.proposal_revision": "A proposal is revision 1.",
        "agreement.proposer_not_in_proposal": (
            "%(agency)s is not a party to the agreement it proposes."
        ),
        "agreement.hash_mismatch": "terms_hash does not match the terms.",
        "agreement.revision_pending": "revision %(revision)s of %(id)s not received yet",
        "agreement.activation_other_terms": (
            "The activation names other terms than the current ones."
        ),
        "agreement.terminated_unamendable": "A terminated agreement cannot be amended.",
        "agreement.parties_unchangeable": "An amendment cannot change the parties.",
        "agreement.nothing_to_amend": "These terms are the current ones: nothing to amend.",
        "agreement.unknown_termination_reason": "Unknown termination reason %(reason)r.",
        "agreement.already_terminated": "The agreement is already terminated.",
        "evaluation.period_order": "The period ends before it starts.",
        # matches
        "match.not_found": "No match %(id)s.",
        "match.same_agency": "A match goes from one agency to another.",
        "match.not_concerned": "The proposal does not concern %(agency)s.",
        "match.not_a_party": "%(agency)s is not a party to this proposal.",
        "match.closed": "This proposal is %(status)s: it can no longer be decided.",
        "match.decline_reason_required": "Choose one of the reasons for declining.",
        "match.already_accepted": "This agency already accepted the proposal.",
        "match.already_declined": "This agency already declined the proposal.",
        "match.confirmed_undeclinable": "A confirmed match cannot be declined.",
        "match.not_confirmable": "A %(status)s proposal cannot be confirmed.",
        "match.not_accepted_by": "%(agency)s has not accepted this proposal.",
        "match.declined_unconfirmable": "A declined proposal cannot be confirmed.",
        "match.unknown_cancellation_reason": "Unknown cancellation reason %(reason)r.",
        # mobilities
        "mobility.not_found": "No mobility %(id)s.",
        "mobility.cannot_start": "A mobility that is %(status)s cannot start.",
        "mobility.unknown_report_kind": "Unknown report kind %(kind)r.",
        "mobility.report_needs_mission": (
            "A %(kind)s report needs a mission in progress (it is %(status)s)."
        ),
        "mobility.no_report": "No report on a mobility that is %(status)s.",
        "mobility.cannot_complete": "A mobility that is %(status)s cannot be completed.",
        "mobility.reports_missing": "Reports still missing before completion: %(reports)s.",
        "mobility.cannot_interrupt": "A mobility that is %(status)s cannot be interrupted.",
        "mobility.copy_differs": "%(key)s differs from this node's copy.",
        "mobility.not_a_party": "%(agency)s is not a party to this mobility.",
        "mobility.sending_only.checklist": (
            "Only the sending agency %(agency)s keeps the pre-departure checklist."
        ),
        "mobility.sending_only.departure": (
            "Only the sending agency %(agency)s records the departure."
        ),
        "mobility.checklist_closed": "The checklist closed at departure (it is %(status)s).",
        "mobility.no_checklist_item": "No checklist item %(code)r on this mobility.",
        "mobility.item_open": "Pre-departure item still open: %(code)s.",
        "mobility.planned_end_order": "The planned end must be after the start.",
        "mobility.before_start": "Must not be before the start of the mission.",
        "mobility.unknown_interruption_reason": "Unknown interruption reason %(reason)r.",
        "mobility.report_pending": "a report the completion builds on has not arrived yet",
        "mobility.unknown_check_in": "Unknown check-in %(check_in)r.",
        "mobility.unknown_respondent": "Unknown respondent %(respondent)r.",
        "mobility.check_in_recorded_by": "The %(respondent)s check-in is recorded by %(agency)s.",
        "mobility.no_check_in": "No check-in on a mobility that is %(status)s.",
        "mobility.check_in_answered": "The %(check_in)s check-in is already answered.",
        "mobility.start_pending": "the mission's start has not arrived yet",
        "mobility.no_review": "No review of a mobility that is %(status)s.",
        "mobility.review_in": "The %(respondent)s review is already in.",
        "mobility.end_pending": "the end of the mission has not arrived yet",
        "mobility.review_recorded_by": "The %(respondent)s review is recorded by %(agency)s.",
        "mobility.score_range": "%(name)s must be a whole number from 1 to 5.",
        "mobility.issues_yes_no": "issues must be yes or no.",
        "mobility.certificate_sending_only": (
            "Only the sending agency %(agency)s issues the certificate."
        ),
        "mobility.no_certificate": "A mobility that is %(status)s has no certificate.",
        # checklists
        "checklist.not_a_code": "Checklist item code %(code)r is not a code.",
        "checklist.item_twice": "Checklist item %(code)s appears twice.",
        "checklist.labels_required": (
            "Checklist item %(code)s is not a standard one: give label_en and label_fr."
        ),
        "checklist.empty": "A checklist needs at least one item.",
        # incidents
        "incident.not_found": "No incident %(id)s.",
        "incident.unknown_severity": "Unknown severity %(severity)r.",
        "incident.unknown_category": "Unknown incident category %(category)r.",
        "incident.mobility_status": "No incident on a mobility that is %(status)s.",
        "incident.owner_not_party": "%(agency)s is not a party to this mobility.",
        "incident.not_a_party": "%(agency)s is not a party to this incident.",
        "incident.owner_only": "Only %(agency)s, the incident's owner, handles it.",
        "incident.resolved": "A resolved incident is closed.",
        "incident.unknown_status": "Unknown status %(status)r.",
        "incident.before_report": "Must not be before the incident was reported.",
        "incident.update_pending": "an earlier update of this incident has not arrived yet",
        # bulk import of volunteers (services/registry/imports.py)
        "volunteer.duplicate_identity_unnamed": (
            "A volunteer with this identity number is already registered."
        ),
        "import.database_refused": "The database refused it: %(reason)s",
        "import.duplicate_in_file": (
            "This identity number is already on line %(line)s of this file."
        ),
        "import.xls_format": "This spreadsheet format is not read: save the file as .xlsx.",
        "import.unsupported": "Send a .csv (UTF-8) or .xlsx file.",
        "import.too_large": "The file is larger than %(size)s MiB.",
        "import.empty": "The file is empty: line 1 must hold the column names.",
        "import.too_many_rows": (
            "The file has more than %(rows)s data rows: split it into several files."
        ),
        "import.no_rows": "The file has no data rows: volunteers start on line 2.",
        "import.binary_csv": "This is not a CSV text file (it holds binary data).",
        "import.csv_encoding": "The CSV file is neither UTF-8 nor Windows-1252 text.",
        "import.csv_unreadable": "Line %(line)s: unreadable CSV (%(reason)s).",
        "import.not_xlsx": "This is not an XLSX workbook.",
        "import.xlsx_expands": "The workbook expands to more than 200 MiB once uncompressed.",
        "import.xlsx_unreadable": "This is not a readable XLSX workbook (%(reason)s).",
        "import.no_worksheet": "The workbook has no worksheet.",
        "import.column_twice": "Columns %(a)s and %(b)s both hold %(column)s: keep one.",
        "import.column_missing": "Missing required column %(column)s (or %(french)s).",
        "import.columns_missing": "Missing required columns: %(columns)s.",
        "import.header_twice": "The header names a column twice.",
        "import.columns_ignored": "Columns ignored (unknown): %(columns)s.",
        "import.nothing_imported": "Nothing was imported.",
        "import.stopped": "The import stopped (%(reason)s); rows imported so far are kept.",
        "import.interrupted_restart": "interrupted by a restart; rows imported so far are kept",
        "import.interrupted_shutdown": (
            "interrupted by a shutdown of the service; rows imported so far are kept"
        ),
    }
)


def msg(code: str, /, **params: Any) -> Message:
    """The message of a registry rule (KeyError for a code not listed above)."""
    return REGISTRY.message(code, **params)
