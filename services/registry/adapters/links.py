"""Signed check-in links: a volunteer answers a check-in without an account.

The token names one mobility and one check-in, signed with the node's secret (itsdangerous,
HMAC-SHA256) and valid for `max_age_days`; it grants nothing but that one form."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from shared.vocabularies import CHECK_INS

SALT = "vir.check-in"


class InvalidLink(Exception):
    pass


@dataclass(frozen=True)
class CheckInLinks:
    secret: str
    base_url: str
    max_age_days: int = 60

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt=SALT)

    def token(self, mobility_id: str, check_in: str) -> str:
        # as short as it can be: the link must fit one SMS with a few words
        index = CHECK_INS.index(check_in)
        return str(self._serializer().dumps(f"{mobility_id.removeprefix('mob-')}{index}"))

    def url(self, mobility_id: str, check_in: str) -> str:
        return f"{self.base_url.rstrip('/')}/check-in/{self.token(mobility_id, check_in)}"

    def read(self, token: str) -> tuple[str, str]:
        """(mobility id, check-in) of a valid token; InvalidLink if forged, altered or expired."""
        try:
            data = self._serializer().loads(token, max_age=self.max_age_days * 86400)
        except BadSignature as exc:  # SignatureExpired is a BadSignature
            raise InvalidLink(str(exc)) from exc
        text = str(data)
        if not text[-1:].isdigit() or int(text[-1]) >= len(CHECK_INS):
            raise InvalidLink("not a check-in link")
        return f"mob-{text[:-1]}", CHECK_INS[int(text[-1])]
