"""The codes of the score's explanations: each criterion says why it scored what it did.

`match.proposed` carries, per criterion, the English `explanation` and its `messages` (code and
parameters each), which screens render in their own language (shared/translations/*/matching.po).
"""

from __future__ import annotations

from shared.messages import Codes

EXPLANATIONS = Codes(
    {
        "criterion.skills.none_required": "no skills required",
        "criterion.skills.count": "%(have)s of %(total)s required skills",
        "criterion.skills.named": "%(have)s of %(total)s required skills (%(skills)s)",
        "criterion.languages.none_required": "no language required",
        "criterion.languages.level": "%(code)s %(spoken)s for %(level)s",
        "criterion.preference.none_stated": "no preferred country stated",
        "criterion.preference.preferred": "%(agency)s is a preferred country",
        "criterion.domain.known": "domain %(domain)s",
        "criterion.domain.new": "domain %(domain)s is new to the volunteer",
        "criterion.waiting.days": "registered %(num)s days ago",
    }
)
