"""The run's history: one JSON line per operation and per fault, in the order they happened."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any


class History:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("w")
        self._lock = threading.Lock()
        self.ops: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []

    def record(self, entry: dict[str, Any]) -> None:
        entry = {"t": round(time.time(), 3), **entry}
        with self._lock:
            self._file.write(json.dumps(entry, sort_keys=True) + "\n")
            self._file.flush()
            (self.faults if entry.get("kind") == "fault" else self.ops).append(entry)

    def close(self) -> None:
        with self._lock:
            self._file.close()
