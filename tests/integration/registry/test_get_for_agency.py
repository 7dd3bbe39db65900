"""One way to fetch a record for an agency: another agency's record and a missing one look alike."""

from __future__ import annotations

import pytest

from services.registry.adapters.orm import Agreement, HostOrganisation, Volunteer
from services.registry.adapters.repository import NotFound, get_for_agency
from tests.support.registry import volunteer_payload

pytestmark = pytest.mark.integration


def test_a_record_of_another_agency_is_not_found_like_a_missing_one(tg):
    ids = []
    for n in range(20):
        r = tg.call("POST", "/api/v1/volunteers", json=volunteer_payload(n))
        assert r.status_code == 201, r.json
        ids.append(r.json["id"])
    with tg.runtime.sessions() as session:
        assert [get_for_agency(session, Volunteer, i, "TG").id for i in ids] == ids
        with pytest.raises(NotFound, match=f"^No volunteer {ids[0]}\\.$") as refused:
            get_for_agency(session, Volunteer, ids[0], "ML")
        assert (refused.value.code, refused.value.params) == ("volunteer.not_found", {"id": ids[0]})
        with pytest.raises(NotFound, match="^No volunteer vol-missing\\.$"):
            get_for_agency(session, Volunteer, "vol-missing", "TG")
        with pytest.raises(NotFound, match="^No agreement agr-missing\\.$") as refused:
            get_for_agency(session, Agreement, "agr-missing", "TG", lock=True)
        assert refused.value.code == "agreement.not_found"
        with pytest.raises(NotFound, match="^No host organisation org-missing\\.$") as refused:
            get_for_agency(session, HostOrganisation, "org-missing", "TG")
        assert refused.value.code == "organisation.not_found"
    # the API maps NotFound to 404 with its message
    mine = tg.call("GET", f"/api/v1/volunteers/{ids[3]}")
    theirs = tg.call("GET", f"/api/v1/volunteers/{ids[3]}", who="staff@ML")
    missing = tg.call("GET", "/api/v1/volunteers/vol-missing")
    assert mine.status_code == 200
    assert missing.status_code == 404 and missing.json["message"] == "No volunteer vol-missing."
    assert theirs.status_code == 403  # another agency's staff is refused before any lookup
