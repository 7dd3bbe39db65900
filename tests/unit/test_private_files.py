"""Demo secrets, SQLite databases, written e-mails and SMS are readable by their owner only."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from services.notifications.adapters.email import FileMailChannel
from services.notifications.adapters.sms import FileSmsChannel
from services.notifications.config import Options
from services.notifications.domain.messages import Notification, Recipient
from services.registry.bootstrap import bootstrap
from services.registry.config import load_settings
from shared.db import make_engine
from shared.migrations import upgrade
from shared.private_files import append_private, create_private, private_dir, write_private
from vir import demo


@pytest.fixture(autouse=True)
def permissive_umask():
    """The usual 022: without care, files would come out 0644 and folders 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_0600_and_their_new_folders_0700(tmp_path):
    write_private(tmp_path / "a" / "b" / "tokens.json", "{}")
    append_private(tmp_path / "c" / "sms.jsonl", "line\n")
    append_private(tmp_path / "c" / "sms.jsonl", "line\n")
    create_private(tmp_path / "d" / "x.db")
    assert (tmp_path / "c" / "sms.jsonl").read_text() == "line\nline\n"
    for f in ("a/b/tokens.json", "c/sms.jsonl", "d/x.db"):
        assert mode(tmp_path / f) == 0o600, f
    for d in ("a", "a/b", "c", "d"):
        assert mode(tmp_path / d) == 0o700, d


def test_a_file_made_earlier_with_a_wider_mode_is_narrowed(tmp_path):
    old = tmp_path / "demo-accounts.json"
    old.write_text("{}")
    old.chmod(0o644)
    write_private(old, '{"TG": {}}')
    assert mode(old) == 0o600 and old.read_text() == '{"TG": {}}'
    folder = tmp_path / "var"
    folder.mkdir(mode=0o755)
    private_dir(folder)
    assert mode(folder) == 0o700


def test_sqlite_databases_and_their_wal_files_are_0600(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'registry-tg.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        written = list((tmp_path / "var").iterdir())
        assert {p.name for p in written} >= {"registry-tg.db", "registry-tg.db-wal"}
        assert all(mode(p) == 0o600 for p in written), {p.name: oct(mode(p)) for p in written}
    engine.dispose()
    assert mode(tmp_path / "var") == 0o700


def _notification(address: str) -> Notification:
    return Notification(
        delivery_id="dlv-1",
        idempotency_key="k-1",
        event_id="e-1",
        event_type="volunteer.registered",
        category="registration",
        mandatory=True,
        payload={"event": {"volunteer_id": "vol-1", "agency": "TG"}, "agencies": ["TG"]},
        recipient=Recipient("volunteer", "vol-1", address, "fr", "Ama"),
    )


def test_written_emails_and_sms_are_0600(tmp_path):
    FileMailChannel(Options(), str(tmp_path / "mail" / "tg")).send(_notification("ama@example.tg"))
    FileSmsChannel(tmp_path / "sms" / "sms-tg.jsonl").send(_notification("+22890000000"))
    [eml] = (tmp_path / "mail" / "tg").iterdir()
    assert eml.suffix == ".eml" and mode(eml) == 0o600
    assert mode(tmp_path / "sms" / "sms-tg.jsonl") == 0o600
    assert mode(tmp_path / "mail") == mode(tmp_path / "sms") == 0o700


@dataclass
class DemoNode:
    name: str
    service: str
    runtime: Any


def test_demo_token_and_account_files_are_0600(tmp_path):
    database = f"sqlite:///{tmp_path / 'var' / 'registry-tg.db'}"
    upgrade("registry", database)
    runtime = bootstrap(load_settings({"AGENCY_CODE": "TG", "DATABASE_URL": database}))
    nodes = [DemoNode("registry-tg", "registry", runtime)]
    try:
        demo.demo_tokens(nodes, ["TG"], tmp_path / "var" / "demo-tokens.json")
        demo.demo_accounts(nodes, tmp_path / "var" / "demo-accounts.json")
    finally:
        runtime.engine.dispose()
    for name in ("demo-tokens.json", "demo-accounts.json", "registry-tg.db"):
        assert mode(tmp_path / "var" / name) == 0o600, name
