"""The pre-departure checklist: which items an agency asks for before a volunteer leaves.

Each sending agency configures its list (a default suits a West African exchange: ECOWAS
citizens need no visa, so it is optional); a mobility keeps a copy of the list as it was when
the match was confirmed, so a later change of the list does not reopen a departure already
prepared. Item codes and ticks cross borders; an agency's own labels stay on its node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from services.registry.domain.errors import InvalidInput
from services.registry.domain.messages import msg
from shared import codes

# code -> mandatory
DEFAULT_ITEMS: tuple[tuple[str, bool], ...] = (
    ("contract", True),
    ("insurance", True),
    ("visa", False),
    ("travel_booked", True),
    ("pre_departure_training", True),
    ("medical_check", False),
)
CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def default_items() -> list[dict[str, Any]]:
    return [{"code": code, "mandatory": mandatory} for code, mandatory in DEFAULT_ITEMS]


def validated(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """An agency's list: codes unique; an item not in the standard list needs both labels."""
    out: list[dict[str, Any]] = []
    for item in items:
        code = str(item.get("code") or "")
        if not CODE.match(code):
            raise InvalidInput(msg("checklist.not_a_code", code=code), "checklist")
        if any(o["code"] == code for o in out):
            raise InvalidInput(msg("checklist.item_twice", code=code), "checklist")
        entry: dict[str, Any] = {"code": code, "mandatory": bool(item.get("mandatory", True))}
        if code not in codes.CHECKLIST_ITEMS:
            if not (item.get("label_en") and item.get("label_fr")):
                raise InvalidInput(msg("checklist.labels_required", code=code), "checklist")
            entry |= {"label_en": str(item["label_en"]), "label_fr": str(item["label_fr"])}
        out.append(entry)
    if not out:
        raise InvalidInput(msg("checklist.empty"), "checklist")
    return out


def fresh(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A mobility's copy of the list, nothing ticked yet."""
    return [{**dict(item), "done": False, "on": None} for item in items]


def label(item: Mapping[str, Any], language: str = "fr") -> str:
    if item.get("label_en") and item.get("label_fr"):
        return str(item["label_en"] if language == "en" else item["label_fr"])
    return codes.reason_label(codes.CHECKLIST_ITEMS, str(item["code"]), language)
