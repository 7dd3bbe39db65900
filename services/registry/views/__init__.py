"""HTTP views of the registry: thin edges that validate, call a handler, and shape the answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask_smorest import abort
from sqlalchemy.orm import Session

from services.registry.access import actor
from services.registry.dependencies import dependencies
from services.registry.handlers import Conflict, Forbidden, Invalid, Node, NotFound
from services.registry.handlers.common import Refusal
from shared.auth import Role
from shared.runtime import current_runtime

T = TypeVar("T")


def node() -> Node:
    return dependencies().node


def sessions() -> Any:
    return current_runtime().sessions


def own_agency_reader() -> bool:
    """The own agency's staff, admins and node (its notifications service): the only readers of
    contacts, reasons and local notes. Partners and other agencies' nodes never see them."""
    who = actor()
    return who.agency == node().agency and who.role in (Role.ADMIN, Role.STAFF, Role.NODE)


def shown(row: Any, own_only: tuple[str, ...]) -> dict[str, Any]:
    """A row's columns as the caller may see them: `own_only` ones for the own agency only."""
    out = {c.key: getattr(row, c.key) for c in row.__table__.columns}
    if not own_agency_reader():
        for key in own_only:
            out.pop(key, None)
    return out


def _fail(exc: Exception) -> None:
    """A handler's refusal as an error body: the English `message`, its `message_code` and
    `params` (services/registry/domain/messages.py), and the field at fault under `errors`."""
    if not isinstance(exc, Refusal | NotFound):
        raise exc
    text, coded = str(exc.message), {"message_code": exc.message.code, "params": exc.message.params}
    if isinstance(exc, NotFound):
        abort(404, message=text, **coded)
    if isinstance(exc, Forbidden):
        abort(403, message=text, **coded)
    if isinstance(exc, Invalid):
        abort(422, message=text, errors={"json": {exc.field: [text]}}, **coded)
    errors = {"json": {exc.field: [text]}} if exc.field else None
    abort(409, message=text, **({"errors": errors} if errors else {}), **coded)


def write(handler: Callable[..., T], *args: Any) -> T:
    """Run a use case in one transaction: committed with its events, or nothing at all."""
    try:
        with sessions().begin() as session:
            return handler(session, node(), *args)
    except (NotFound, Conflict, Invalid, Forbidden) as exc:
        _fail(exc)
        raise  # unreachable: abort raised


def read(handler: Callable[..., T], *args: Any) -> T:
    try:
        with sessions()() as session:
            return handler(session, node(), *args)
    except (NotFound, Conflict, Invalid, Forbidden) as exc:
        _fail(exc)
        raise


def paginate(session: Session, statement: Any, pagination: Any) -> list[Any]:
    """Apply flask-smorest's page parameters to a select, counting the total for X-Pagination."""
    from sqlalchemy import func, select

    # The count needs no order: without it the database counts the rows instead of sorting them.
    counted = statement.order_by(None).subquery()
    pagination.item_count = session.scalar(select(func.count()).select_from(counted))
    offset = min((pagination.page - 1) * pagination.page_size, pagination.item_count)
    return list(session.scalars(statement.offset(offset).limit(pagination.page_size)))
