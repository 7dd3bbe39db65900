"""Labels of the exchanges' codes (statuses of matches, agreements, mobilities, reports,
deliveries…): short words whose translation depends on what they describe (pgettext, catalog
exchanges.po)."""

from __future__ import annotations

from services.registry.dashboard.i18n import _, lang, pgettext
from shared import codes


def match_status_labels() -> dict[str, str]:
    return {
        "proposed": pgettext("match status", "awaiting decisions"),
        "confirmed": pgettext("match status", "confirmed"),
        "declined": pgettext("match status", "declined"),
        "cancelled": pgettext("match status", "cancelled"),
    }


def agreement_status_labels() -> dict[str, str]:
    return {
        "proposed": pgettext("agreement status", "proposed"),
        "active": pgettext("agreement status", "active"),
        "amended": pgettext("agreement status", "amended, awaiting approval"),
        "terminated": pgettext("agreement status", "terminated"),
        "expired": pgettext("agreement status", "expired"),
    }


def mobility_status_labels() -> dict[str, str]:
    return {
        "pre_departure": pgettext("mobility status", "pre-departure"),
        "in_mission": pgettext("mobility status", "in mission"),
        "completed": pgettext("mobility status", "completed"),
        "interrupted": pgettext("mobility status", "interrupted"),
    }


def report_labels() -> dict[str, str]:
    return {
        "start": pgettext("report", "Start"),
        "mid_term": pgettext("report", "Mid-term"),
        "end": pgettext("report", "End"),
        "incident": pgettext("report", "Incident"),
        "evaluation": pgettext("report", "End-of-mission evaluation"),
    }


def criterion_labels() -> dict[str, str]:
    return {
        "skills": pgettext("criterion", "Skills"),
        "languages": pgettext("criterion", "Languages"),
        "preference": pgettext("criterion", "Preferred country"),
        "domain": pgettext("criterion", "Domain"),
        "waiting": pgettext("criterion", "Time waiting"),
    }


def delivery_labels() -> dict[str, dict[str, str]]:
    return {
        "status": {
            "pending": pgettext("delivery status", "pending"),
            "sent": pgettext("delivery status", "sent"),
            "failed": pgettext("delivery status", "failed"),
            "skipped": pgettext("delivery status", "skipped"),
            "cancelled": pgettext("delivery status", "cancelled"),
        },
        "channel": {
            "email": pgettext("channel", "E-mail"),
            "sms": pgettext("channel", "SMS"),
            "webhook": pgettext("channel", "Webhook"),
            "amqp": pgettext("channel", "Message queue"),
        },
        "recipient": {
            "volunteer": pgettext("recipient", "Volunteer"),
            "host_organisation": pgettext("recipient", "Host organisation"),
            "staff": pgettext("recipient", "Agency staff"),
            "partner": pgettext("recipient", "Partner"),
        },
        "event": {
            "volunteer.registered": pgettext("event", "Volunteer registered"),
            "volunteer.updated": pgettext("event", "Volunteer profile updated"),
            "volunteer.withdrawn": pgettext("event", "Volunteer withdrawn"),
            "placement.published": pgettext("event", "Placement published"),
            "placement.updated": pgettext("event", "Placement updated"),
            "placement.closed": pgettext("event", "Placement closed"),
            "agreement.proposed": pgettext("event", "Agreement proposed"),
            "agreement.approved": pgettext("event", "Agreement approved"),
            "agreement.activated": pgettext("event", "Agreement in force"),
            "agreement.amended": pgettext("event", "Agreement amended"),
            "agreement.terminated": pgettext("event", "Agreement terminated"),
            "match.proposed": pgettext("event", "Match proposed"),
            "match.accepted": pgettext("event", "Match accepted"),
            "match.declined": pgettext("event", "Match declined"),
            "match.confirmed": pgettext("event", "Match confirmed"),
            "match.cancelled": pgettext("event", "Match cancelled"),
            "mobility.started": pgettext("event", "Mission started"),
            "mobility.report_submitted": pgettext("event", "Follow-up report filed"),
            "mobility.completed": pgettext("event", "Mission completed"),
            "mobility.interrupted": pgettext("event", "Mission interrupted"),
        },
    }


def check_in_labels() -> dict[str, str]:
    return {
        "first": _("First check-in"),
        "mid_term": _("Mid-term check-in"),
        "final": _("Final check-in"),
    }


def interruption_reasons() -> dict[str, str]:
    return dict(codes.reason_choices(codes.INTERRUPTION_REASONS, lang()))


def language_level(level: str) -> str:
    """A level of a required or spoken language: "native" and none in words, others as is."""
    levels = {"native": pgettext("language level", "native"), "": pgettext("language level", "—")}
    return levels.get(level, level)


def mobility_step_labels() -> dict[str, str]:
    return {
        "start": _("The volunteer arrived: the mission starts"),
        "report:start": _("Start report filed"),
        "report:mid_term": _("Mid-term report filed"),
        "report:end": _("End report filed"),
        "report:incident": _("Incident reported"),
        "report:evaluation": _("End-of-mission evaluation filed"),
        "complete": _("The mission ended as planned"),
        "interrupt": _("The mission was interrupted"),
    }
