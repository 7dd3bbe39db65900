"""Contact details, resolved inside the agency's node: its own registry, with its own node token."""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

import requests

from services.notifications.domain.messages import Recipient, RetryLater, Undeliverable


class Directory(Protocol):
    def resolve(self, kind: str, recipient_id: str, channel: str) -> Recipient: ...


class RegistryDirectory:
    """Asks this agency's registry (`NOTIFY_REGISTRY_URL`, token `NOTIFY_REGISTRY_TOKEN`)."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0, agency_ttl: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.timeout = timeout
        self._local = threading.local()  # one kept-alive connection pool per thread
        # The agency's own profile (its staff contacts) is read at most every `agency_ttl`
        # seconds: every staff message needs it, and it changes seldom.
        self.agency_ttl = agency_ttl
        self._agency: tuple[float, dict[str, Any]] | None = None

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _get(self, path: str) -> dict[str, Any]:
        try:
            response = self._session().get(
                f"{self.base_url}{path}", headers=self.headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise RetryLater(f"registry unreachable: {exc}") from exc
        if response.status_code == 404:
            raise Undeliverable(f"unknown to the registry: {path}")
        if response.status_code >= 500:
            raise RetryLater(f"registry answered {response.status_code}")
        if response.status_code != 200:
            raise Undeliverable(f"registry refused {path}: {response.status_code}")
        return response.json()

    def _agency_profile(self) -> dict[str, Any]:
        kept = self._agency
        if kept is not None and time.monotonic() - kept[0] < self.agency_ttl:
            return kept[1]
        profile = self._get("/api/v1/agency")
        self._agency = (time.monotonic(), profile)
        return profile

    def resolve(self, kind: str, recipient_id: str, channel: str) -> Recipient:
        if kind == "volunteer":
            c = self._get(f"/api/v1/volunteers/{recipient_id}/contact")
            address = c.get("email") if channel == "email" else c.get("phone")
            name = f"{c.get('first_name', '')} {c.get('last_name', '')}".strip()
            language = c.get("preferred_language") or "fr"
        elif kind == "host_organisation":
            c = self._get(f"/api/v1/host-organisations/{recipient_id}")
            address = c.get("contact_email") if channel == "email" else c.get("contact_phone")
            name, language = c.get("name"), "fr"
        elif kind == "staff":
            c = self._agency_profile()
            address = c.get("contact_email") if channel == "email" else c.get("contact_phone")
            name = c.get("name")
            languages = c.get("languages") or ["fr"]
            language = "fr" if "fr" in languages else languages[0]
        else:
            raise Undeliverable(f"no directory for {kind}")
        if not address:
            raise Undeliverable(f"no {channel} address on file for this {kind}")
        return Recipient(
            kind=kind,
            id=recipient_id,
            address=address,
            language=language if language in ("fr", "en") else "fr",
            name=name,
        )
