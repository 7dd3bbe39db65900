"""The outside world of the notifications service, which the nemesis can make slow or failing:
an SMTP server (aiosmtpd) and a partner's webhook receiver. Each counts what it accepted by the
identifier a receiver deduplicates on: the e-mail's Message-ID, the webhook's `webhook-id`."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.chaos.infra import free_port

MODES = ("ok", "slow", "fail")
SLOW_SECONDS = 2.0  # well under the senders' timeouts (SMTP 30 s, webhooks 15 s)


class SmtpSink:
    def __init__(self) -> None:
        self.mode = "ok"
        self.accepted: Counter[str] = Counter()  # Message-ID -> times accepted
        self.refused = 0
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        mode = self.mode
        if mode == "fail":
            with self._lock:
                self.refused += 1
            return "451 4.3.0 Temporary failure (chaos nemesis)"
        if mode == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        headers = BytesHeaderParser().parsebytes(envelope.content)
        with self._lock:
            self.accepted[str(headers.get("Message-ID", "")).strip()] += 1
        return "250 OK"

    def start(self) -> None:
        self._controller.start()
        self._started = True

    def stop(self) -> None:
        if getattr(self, "_started", False):
            self._controller.stop()


class WebhookSink:
    def __init__(self) -> None:
        self.mode = "ok"
        self.accepted: Counter[str] = Counter()  # webhook-id -> times accepted with 2xx
        self.refused = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                mode = sink.mode
                if mode == "fail":
                    with sink._lock:
                        sink.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                if mode == "slow":
                    time.sleep(SLOW_SECONDS)
                with sink._lock:
                    sink.accepted[self.headers.get("webhook-id", "")] += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/vir-hook"

    def start(self) -> None:
        self._started = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if getattr(self, "_started", False):
            self._server.shutdown()
        self._server.server_close()
