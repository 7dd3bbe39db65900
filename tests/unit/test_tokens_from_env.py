"""`vir tokens create --from-env`: a container's start command stores the token .env holds, once,
and prints nothing of it (the registry's node token for its notifications instance)."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import create_engine, select

from shared.auth import hash_token
from shared.db import api_token
from vir.cli import main


def test_the_token_from_the_environment_is_stored_once_and_never_printed(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    token = "vir_tg_" + "x" * 43
    env = {"AGENCY_CODE": "TG", "DATABASE_URL": url, "VIR_NODE_TOKEN": token}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "registry"], env=env).exit_code == 0
    args = ["tokens", "create", "--role", "node", "--name", "notifications-tg"]
    for _ in range(2):  # a restart runs the start command again
        result = runner.invoke(main, [*args, "--from-env", "VIR_NODE_TOKEN"], env=env)
        assert result.exit_code == 0, result.output
        assert token not in result.output
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(api_token)).all()
    engine.dispose()
    assert [(r.token_hash, r.role, r.agency) for r in rows] == [(hash_token(token), "node", "TG")]

    missing = runner.invoke(main, [*args, "--from-env", "NOT_SET"], env=env)
    assert missing.exit_code != 0 and "NOT_SET is not set" in missing.output
