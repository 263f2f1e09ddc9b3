"""Finding things by the names people type, with errors that say what was not found."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.selectable import Subquery
from sqlmodel import Session, col, select

from app.errors import MailpoolsError, NotFound
from app.rules.formatting import one_line
from app.rules.policy import normalise_domain
from app.services.auth import is_staff
from data.models import Account, Domain, DomainStatus, IpAddress, Pool, PoolKind, User

# Names with control characters match nothing and are not looked up: PostgreSQL refuses
# NUL in a query. Names are echoed back in refusals, cut so the sentence stays readable.
ECHOED_NAME_LIMIT = 80


def shown(name: str) -> str:
    """NAME quoted for a refusal, on one line and cut to a readable length."""
    return one_line(repr(name), ECHOED_NAME_LIMIT)


def no_such_domain(name: str) -> NotFound:
    return NotFound(f"There is no sending domain named {shown(name)}.")


def get_domain(session: Session, name: str) -> Domain:
    wanted = normalise_domain(name)
    domain = (
        session.exec(select(Domain).where(Domain.name == wanted)).first()
        if wanted.isprintable()
        else None
    )
    if domain is None:
        raise no_such_domain(name)
    return domain


def may_see_account(actor: User, account_id: int | None) -> bool:
    """Agents and admins see every account; an owner only their own."""
    return is_staff(actor) or (actor.account_id is not None and actor.account_id == account_id)


def get_domain_for(session: Session, actor: User, name: str) -> Domain:
    """The domain NAME if ACTOR may see it. To an owner, another account's domain does
    not exist: the refusal is word for word the one for a name nobody has, so it tells
    nothing about other accounts."""
    domain = get_domain(session, name)
    if not may_see_account(actor, domain.account_id):
        raise no_such_domain(name)
    return domain


def get_account(session: Session, name: str) -> Account:
    account = (
        session.exec(select(Account).where(Account.name == name)).first()
        if name.isprintable()
        else None
    )
    if account is None:
        raise NotFound(f"There is no account named {shown(name)}.")
    return account


def get_account_for(session: Session, actor: User, name: str) -> Account:
    """The account NAME if ACTOR may see it; to an owner, other accounts do not exist."""
    account = get_account(session, name)
    if not may_see_account(actor, account.id):
        raise NotFound(f"There is no account named {shown(name)}.")
    return account


def get_pool(session: Session, name: str) -> Pool:
    pool = (
        session.exec(select(Pool).where(Pool.name == name)).first() if name.isprintable() else None
    )
    if pool is None:
        raise NotFound(f"There is no pool named {shown(name)}.")
    return pool


def get_ip(session: Session, address: str) -> IpAddress:
    wanted = address.strip()
    ip = (
        session.exec(select(IpAddress).where(IpAddress.address == wanted)).first()
        if wanted.isprintable()
        else None
    )
    if ip is None:
        raise NotFound(f"There is no IP address {shown(address)} in the inventory.")
    return ip


def _active_members(member_column: Mapped[int | None]) -> Subquery:
    """Each pool's active member domains (pool_id, n), by MEMBER_COLUMN of the domains."""
    return (
        select(member_column.label("pool_id"), func.count().label("n"))
        .where(member_column.is_not(None))
        .where(Domain.status == DomainStatus.ACTIVE)
        .group_by(member_column)
        .subquery()
    )


def _least_used_pool(session: Session, kind: str, member_column: Mapped[int | None]) -> Pool:
    members = _active_members(member_column)
    query = (
        select(Pool)
        .outerjoin(members, members.c.pool_id == Pool.id)
        .where(Pool.kind == kind)
        .order_by(func.coalesce(members.c.n, 0), col(Pool.id))
    )
    pool = session.exec(query).first()
    if pool is None:
        raise MailpoolsError(f"There is no {kind} pool yet: add one to the inventory first.")
    return pool


def pick_shared_pool(session: Session) -> Pool:
    """Spread new domains over the shared pools: the one with fewest domains wins."""
    return _least_used_pool(session, PoolKind.SHARED, col(Domain.shared_pool_id))


def shared_pool_loads(session: Session) -> dict[int, int]:
    """Each shared pool's active member domains by pool id, as `pick_shared_pool` weighs
    them: for spreading many new domains at once without a query for each."""
    members = _active_members(col(Domain.shared_pool_id))
    rows = session.exec(
        select(col(Pool.id), func.coalesce(members.c.n, 0))
        .outerjoin(members, members.c.pool_id == Pool.id)
        .where(Pool.kind == PoolKind.SHARED)
    )
    return {int(pool_id): int(count) for pool_id, count in rows.all() if pool_id is not None}


def pick_transactional_pool(session: Session) -> Pool:
    return _least_used_pool(session, PoolKind.TRANSACTIONAL, col(Domain.transactional_pool_id))
