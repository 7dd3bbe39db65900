"""The client side of a chaos run: staff of both agencies working through the registries' REST
APIs while the nemesis breaks things.

Each operation is recorded with its outcome: `ok` (2xx: acknowledged, its event must exist and
travel), `refused` (4xx: nothing stored), `failed` (5xx) or `unknown` (the request may have
reached the server: a timeout or a connection lost after sending). A connection refused before
anything was sent is retried (an API being restarted), so only a refused-for-long call fails.
The seed fixes every choice each worker makes; timing under faults is not reproducible.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.chaos.history import History
from tests.chaos.network import Network
from tests.support.infra import wait_until

TERMS = {
    "start": "2027-09-01",
    "end": "2028-12-31",
    "quotas": [
        {"sending": "TG", "host": "ML", "volunteers": 400},
        {"sending": "ML", "host": "TG", "volunteers": 400},
    ],
    "balance_tolerance": 400,
    "fields_of_cooperation": ["health", "education"],
}
REGISTRIES = {"TG": "registry-tg", "ML": "registry-ml"}
# What an acknowledged operation must have put in its node's outbox: (event type) per op.
EVENT_OF = {
    "register": "volunteer.registered",
    "placement": "placement.published",
    "accept": "match.accepted",
    "decline": "match.declined",
    "checklist": "mobility.checklist_updated",
    "start": "mobility.started",
    "report": "mobility.report_submitted",
    "complete": "mobility.completed",
    "amend": "agreement.amended",
    "approve": "agreement.approved",
}
CONNECT_RETRY_SECONDS = 30.0
TIMEOUT = 20.0


@dataclass
class Answer:
    outcome: str  # ok, refused, failed, unknown
    status: int | None = None
    body: Any = None


class Client:
    def __init__(self, net: Network):
        self.net = net
        self.http = requests.Session()

    def call(
        self, node: str, method: str, path: str, who: str, json: Any = None, retry: bool = True
    ) -> Answer:
        url = f"{self.net.api[node]}/api/v1{path}"
        headers = {"Authorization": f"Bearer {self.net.tokens[who]}"}
        deadline = time.monotonic() + CONNECT_RETRY_SECONDS
        while True:
            try:
                r = self.http.request(method, url, json=json, headers=headers, timeout=TIMEOUT)
            except requests.exceptions.ConnectionError as exc:
                # Refused before sending: safe to try again; anything else may have arrived.
                refused = "refused" in str(exc).lower() or isinstance(
                    exc, requests.exceptions.ConnectTimeout
                )
                if refused and retry and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                return Answer("failed" if refused else "unknown")
            except requests.exceptions.Timeout:
                return Answer("unknown")
            try:
                body = r.json()
            except ValueError:
                body = None
            if r.status_code < 300:
                return Answer("ok", r.status_code, body)
            return Answer("refused" if r.status_code < 500 else "failed", r.status_code, body)


@dataclass
class Generator:
    net: Network
    history: History
    seed: int
    workers: int = 3
    agreement_id: str = ""
    org: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- before the faults: the agencies, their host organisations, an active agreement ----------

    def setup(self) -> None:
        client = Client(self.net)
        for agency, node in REGISTRIES.items():
            contact = f"staff@{agency.lower()}.example.org"
            r = client.call(
                node,
                "PUT",
                "/agency",
                f"admin@{agency}",
                {"name": f"Agence {agency}", "languages": ["fr"], "contact_email": contact},
            )
            assert r.outcome == "ok", r
            org = client.call(
                node,
                "POST",
                "/host-organisations",
                f"staff@{agency}",
                {
                    "name": f"Centre {agency}",
                    "city": "Kara" if agency == "TG" else "Sikasso",
                    "domain": "health",
                    "contact_email": f"centre@{agency.lower()}.example.org",
                },
            )
            assert org.outcome == "ok", org
            self.org[agency] = org.body["id"]
        proposed = client.call(
            "registry-tg", "POST", "/agreements", "staff@TG", {"partners": ["ML"], **TERMS}
        )
        assert proposed.outcome == "ok", proposed
        self.agreement_id = proposed.body["id"]
        path = f"/agreements/{self.agreement_id}"
        wait_until(
            lambda: client.call("registry-ml", "GET", path, "staff@ML").outcome == "ok",
            120,
            0.2,
            "ML's copy of the agreement",
        )
        approved = client.call(
            "registry-ml",
            "POST",
            f"{path}/approve",
            "staff@ML",
            {"terms_hash": proposed.body["terms_hash"]},
        )
        assert approved.outcome == "ok", approved
        sub = client.call(
            "notifications",
            "POST",
            "/subscriptions",
            "partner@notifications",
            {
                "partner": "Ministère de la jeunesse",
                "owner_email": "it@ministere.example.tg",
                "url": self.net.webhook.url,
                "patterns": ["volunteer.#", "placement.#", "agreement.#", "match.#", "mobility.#"],
            },
        )
        assert sub.outcome == "ok", sub
        for agency in REGISTRIES:  # a few places to start with on each side
            for _ in range(5):
                self._placement(client, random.Random(self.seed), agency, "setup")

    # -- the workers -----------------------------------------------------------------------------

    def start(self) -> None:
        for n in range(self.workers):
            t = threading.Thread(target=self._work, args=(n,), daemon=True, name=f"gen-{n}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(TIMEOUT + CONNECT_RETRY_SECONDS + 5)

    def _record(self, worker: Any, op: str, node: str, answer: Answer, **facts: Any) -> None:
        entry = {"kind": "op", "op": op, "node": node, "worker": worker, "outcome": answer.outcome}
        if answer.status is not None:
            entry["status"] = answer.status
        entry.update(facts)
        self.history.record(entry)
        with self._lock:
            self.counts[f"{op}:{answer.outcome}"] += 1

    def _work(self, n: int) -> None:
        rng = random.Random(self.seed * 1000 + n)
        client = Client(self.net)
        ops = [
            ("register", 45),
            ("placement", 6),
            ("decide", 25),
            ("mobility", 18),
            ("amend", 1),
            ("approve", 3),
        ]
        names, weights = zip(*ops, strict=True)
        i = 0
        while not self._stop.is_set():
            op = rng.choices(names, weights)[0]
            agency = rng.choice(("TG", "ML"))
            try:
                getattr(self, f"_{op}")(client, rng, agency, n)
            except Exception as exc:  # noqa: BLE001
                # An answer of an unexpected shape (e.g. a body lost to a failure): note it.
                self.history.record({"kind": "op", "op": op, "worker": n, "error": repr(exc)})
            i += 1

    def _register(self, client: Client, rng: random.Random, agency: str, worker: Any) -> None:
        with self._lock:
            self.counts["registrations"] += 1
            k = self.counts["registrations"]
        ident = f"{agency}-{self.seed}-{worker}-{k:06d}"
        payload = {
            "first_name": "Ama",
            "last_name": f"Chaos{k}",
            "date_of_birth": "1995-04-02",
            "gender": rng.choice(["female", "male"]),
            "nationality": agency,
            "identity_number": ident,
            "email": f"v{ident.lower()}@example.org",
            "phone": "+228 90 00 00 00",
            "consent": {
                "given_at": "2027-06-01T10:00:00Z",
                "purposes": ["registration", "matching"],
            },
            "languages": [{"code": "fr", "level": rng.choice(["B2", "C1", "native"])}],
            "skills": rng.sample(["public health", "teaching", "nursing", "logistics"], 2),
            "domains": [rng.choice(["health", "education"])],
            "education_level": "master",
            "available_from": "2027-09-01",
            "available_until": "2028-08-31",
            "preferred_countries": [],
        }
        node = REGISTRIES[agency]
        answer = client.call(node, "POST", "/volunteers", f"staff@{agency}", payload)
        aggregate = answer.body.get("id") if answer.outcome == "ok" else None
        self._record(worker, "register", node, answer, key=ident, aggregate=aggregate)

    def _placement(self, client: Client, rng: random.Random, agency: str, worker: Any) -> None:
        node = REGISTRIES[agency]
        payload = {
            "host_organisation_id": self.org[agency],
            "title": f"Animateur·rice {rng.randrange(10**6)}",
            "city": "Kara" if agency == "TG" else "Sikasso",
            "domain": rng.choice(["health", "education"]),
            "required_skills": [rng.choice(["public health", "teaching", "nursing"])],
            "required_languages": [{"code": "fr", "level": "B2"}],
            "start": "2027-10-01",
            "end": "2028-07-31",
            "slots": 1,
        }
        answer = client.call(node, "POST", "/placements", f"staff@{agency}", payload)
        aggregate = answer.body.get("id") if answer.outcome == "ok" else None
        self._record(worker, "placement", node, answer, aggregate=aggregate)

    def _decide(self, client: Client, rng: random.Random, agency: str, worker: Any) -> None:
        node, who = REGISTRIES[agency], f"staff@{agency}"
        listed = client.call(node, "GET", "/matches?awaiting_us=true&page_size=20", who)
        if listed.outcome != "ok" or not listed.body:
            return
        match = rng.choice(listed.body)
        if rng.random() < 0.85:
            answer = client.call(node, "POST", f"/matches/{match['id']}/accept", who)
            self._record(worker, "accept", node, answer, aggregate=match["id"])
        else:
            answer = client.call(
                node,
                "POST",
                f"/matches/{match['id']}/decline",
                who,
                {"reason": "dates", "note": "chaos"},
            )
            self._record(worker, "decline", node, answer, aggregate=match["id"])

    def _mobility(self, client: Client, rng: random.Random, agency: str, worker: Any) -> None:
        node, who = REGISTRIES[agency], f"staff@{agency}"
        listed = client.call(node, "GET", "/mobilities?page_size=20", who)
        if listed.outcome != "ok" or not listed.body:
            return
        mob = rng.choice(listed.body)
        path = f"/mobilities/{mob['id']}"
        if mob["status"] == "pre_departure":
            if mob.get("sending_agency") != agency:
                return
            todo = [i for i in mob.get("checklist", []) if i["mandatory"] and not i["done"]]
            if todo:
                code = todo[0]["code"]
                answer = client.call(
                    node, "POST", f"{path}/checklist/{code}", who, {"on": "2027-09-15"}
                )
                self._record(worker, "checklist", node, answer, aggregate=mob["id"], item=code)
            else:
                on = {"on": "2027-10-02", "planned_end": "2028-07-31"}
                answer = client.call(node, "POST", f"{path}/start", who, on)
                self._record(worker, "start", node, answer, aggregate=mob["id"])
        elif mob["status"] == "in_mission":
            # The host agency records the reports; the sending agency completes the mission once
            # its copy holds all three (two agencies writing the same report at once would race
            # the completion, which the rules then refuse on the other node, by design).
            done = {r["kind"] for r in mob.get("reports", [])}
            days = {"start": "2027-10-10", "mid_term": "2028-02-15", "end": "2028-07-25"}
            missing = [k for k in days if k not in done]
            if missing and mob.get("host_agency") == agency:
                kind = missing[0]
                body = {"kind": kind, "on": days[kind], "summary": "chaos"}
                answer = client.call(node, "POST", f"{path}/reports", who, body)
                self._record(worker, "report", node, answer, aggregate=mob["id"], report=kind)
            elif not missing and mob.get("sending_agency") == agency:
                answer = client.call(node, "POST", f"{path}/complete", who, {"on": "2028-07-31"})
                self._record(worker, "complete", node, answer, aggregate=mob["id"])

    def _amend(self, client: Client, rng: random.Random, agency: str, worker: Any) -> None:
        node, who = REGISTRIES[agency], f"staff@{agency}"
        terms = {**TERMS, "balance_tolerance": rng.randrange(300, 400)}
        answer = client.call(node, "POST", f"/agreements/{self.agreement_id}/amend", who, terms)
        self._record(worker, "amend", node, answer, aggregate=self.agreement_id)

    def _approve(self, client: Client, rng: random.Random, agency: str, worker: Any) -> None:
        node, who = REGISTRIES[agency], f"staff@{agency}"
        path = f"/agreements/{self.agreement_id}"
        got = client.call(node, "GET", path, who)
        if got.outcome != "ok" or got.body["approvals"].get(agency) == got.body["terms_hash"]:
            return  # nothing to approve: ours is on the current terms already
        answer = client.call(
            node, "POST", f"{path}/approve", who, {"terms_hash": got.body["terms_hash"]}
        )
        self._record(worker, "approve", node, answer, aggregate=self.agreement_id)
