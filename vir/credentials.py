"""`vir accounts` and `vir tokens`: who may sign in to a registry's dashboard and call a
service's API."""

from __future__ import annotations

import click

from vir.services import SERVICES, settings_of


@click.group()
def accounts() -> None:
    """Dashboard accounts of a registry node (passwords hashed with Argon2)."""


@accounts.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["admin", "staff"]), default="staff", show_default=True)
@click.option("--language", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.password_option(help="At least 10 characters (asked twice when not given).")
def accounts_create(email: str, name: str, role: str, language: str, password: str) -> None:
    """Create a staff account on this registry node (AGENCY_CODE, DATABASE_URL)."""
    from services.registry.dashboard.accounts import AccountError, create_account
    from shared.db import make_engine, make_session_factory

    settings = settings_of("registry")
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine).begin() as session:
            account = create_account(session, email, name, role, password, language)
    except AccountError as exc:
        raise click.UsageError(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(f"{account.id}: {role} account for {email} on the {settings.agency_code} dashboard")


@click.group()
def tokens() -> None:
    """API tokens of a service (stored hashed; shown once)."""


@tokens.command("create")
@click.option("--role", type=click.Choice(["admin", "staff", "partner", "node"]), required=True)
@click.option("--name", required=True, help="Who or what holds the token.")
@click.option("--agency", default=None, help="Agency the token is bound to (default: AGENCY_CODE).")
@click.option("--service", type=click.Choice(SERVICES), default="registry", show_default=True)
@click.option(
    "--from-env",
    "from_env",
    default=None,
    metavar="VARIABLE",
    help="Store the token held by this environment variable instead of drawing one; kept if "
    "already stored (a container's start command; nothing is printed).",
)
def tokens_create(
    role: str, name: str, agency: str | None, service: str, from_env: str | None
) -> None:
    """Create a token on SERVICE (its DATABASE_URL) and print it once."""
    import os

    from sqlalchemy import select

    from shared.access import create_token
    from shared.auth import Role, hash_token
    from shared.codes import is_country
    from shared.db import api_token, make_engine

    settings = settings_of(service)
    bound = (agency or settings.agency_code or "").upper()
    if not is_country(bound):
        raise click.UsageError(f"--agency must be an ISO 3166 alpha-2 code, got {bound!r}")
    given = os.environ.get(from_env, "") if from_env else None
    if from_env and not given:
        raise click.UsageError(f"{from_env} is not set")
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        if (
            given
            and conn.execute(
                select(api_token.c.id).where(api_token.c.token_hash == hash_token(given))
            ).first()
        ):
            click.echo(f"{role} token {name!r} of {bound}: already stored", err=True)
            engine.dispose()
            return
        token_id, token = create_token(conn, bound, Role(role), name, token=given)
    engine.dispose()
    if given:
        click.echo(f"# {token_id}: {role} of {bound} for {name!r}, from {from_env}", err=True)
        return
    click.echo(token)
    click.echo(
        f"# {token_id}: {role} of {bound} for {name!r}. Store it now: it cannot be shown again.",
        err=True,
    )


@tokens.command("revoke")
@click.argument("ref", metavar="ID_OR_NAME")
@click.option("--service", type=click.Choice(SERVICES), default="registry", show_default=True)
def tokens_revoke(ref: str, service: str) -> None:
    """Revoke the token with this id (or, failing that, this name) on SERVICE: it answers 401
    from the next request on."""
    from shared.access import AmbiguousToken, revoke_token
    from shared.db import make_engine

    settings = settings_of(service)
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            token_id = revoke_token(conn, ref)
    except AmbiguousToken as exc:
        raise click.UsageError(f"{exc}; revoke one of them by id") from exc
    finally:
        engine.dispose()
    if token_id is None:
        raise click.ClickException(f"no live token has the id or name {ref!r} on {service}")
    click.echo(f"{token_id}: revoked")


@tokens.command("list")
@click.option("--service", type=click.Choice(SERVICES), default="registry", show_default=True)
def tokens_list(service: str) -> None:
    """List SERVICE's tokens (id, agency, role, name, created, revoked); never their secrets."""
    from shared.access import list_tokens
    from shared.db import make_engine

    settings = settings_of(service)
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        rows = list_tokens(conn)
    engine.dispose()
    for r in rows:
        revoked = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "live"
        click.echo(f"{r.id}  {r.agency}  {r.role:<7}  {r.name}  ({revoked})")
