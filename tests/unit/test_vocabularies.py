"""Each closed list lives once in shared/vocabularies.py: the contracts, the API, the domain
rules and the importer accept exactly its values."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from services.matching.domain.model import level_rank
from services.registry.domain.placements import PlacementStatus
from services.registry.domain.volunteers import STATUSES
from services.registry.imports import LEVELS as IMPORT_LEVELS
from services.registry.schemas import LanguageSkill as LanguageSkillIn
from shared import vocabularies
from shared.events.contracts import LanguageSkill, VolunteerProfile


def test_the_domain_statuses_are_the_vocabularys():
    assert STATUSES == vocabularies.VOLUNTEER_STATUSES
    assert tuple(s.value for s in PlacementStatus) == vocabularies.PLACEMENT_STATUSES


@pytest.mark.parametrize("level", vocabularies.LANGUAGE_LEVELS)
def test_every_level_is_accepted_by_the_contract_and_the_api_and_ranked(level):
    assert LanguageSkill().load({"code": "fr", "level": level})["level"] == level
    assert LanguageSkillIn().load({"code": "fr", "level": level})["level"] == level
    assert level_rank(level) == vocabularies.LANGUAGE_LEVELS.index(level)


def test_a_level_outside_the_vocabulary_is_refused_everywhere():
    with pytest.raises(ValidationError):
        LanguageSkill().load({"code": "fr", "level": "fluent"})
    with pytest.raises(ValidationError):
        LanguageSkillIn().load({"code": "fr", "level": "fluent"})
    assert level_rank("fluent") == -1
    assert IMPORT_LEVELS == set(vocabularies.CEFR_LEVELS)


def test_the_contract_takes_the_volunteer_statuses_of_the_vocabulary():
    status = VolunteerProfile().fields["status"]
    for value in vocabularies.VOLUNTEER_STATUSES:
        status.deserialize(value)
    with pytest.raises(ValidationError):
        status.deserialize("retired")
