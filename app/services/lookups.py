"""Finding things by the names people type, with errors that say what was not found."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from app.errors import MailpoolsError, NotFound
from app.rules.policy import normalise_domain
from data.models import Account, Domain, DomainStatus, IpAddress, Pool, PoolKind


def get_domain(session: Session, name: str) -> Domain:
    wanted = normalise_domain(name)
    domain = session.exec(select(Domain).where(Domain.name == wanted)).first()
    if domain is None:
        raise NotFound(f"There is no sending domain named {name!r}.")
    return domain


def get_account(session: Session, name: str) -> Account:
    account = session.exec(select(Account).where(Account.name == name)).first()
    if account is None:
        raise NotFound(f"There is no account named {name!r}.")
    return account


def get_pool(session: Session, name: str) -> Pool:
    pool = session.exec(select(Pool).where(Pool.name == name)).first()
    if pool is None:
        raise NotFound(f"There is no pool named {name!r}.")
    return pool


def get_ip(session: Session, address: str) -> IpAddress:
    ip = session.exec(select(IpAddress).where(IpAddress.address == address.strip())).first()
    if ip is None:
        raise NotFound(f"There is no IP address {address!r} in the inventory.")
    return ip


def _least_used_pool(session: Session, kind: str, member_column: Mapped[int | None]) -> Pool:
    members = (
        select(member_column.label("pool_id"), func.count().label("n"))
        .where(member_column.is_not(None))
        .where(Domain.status == DomainStatus.ACTIVE)
        .group_by(member_column)
        .subquery()
    )
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


def pick_transactional_pool(session: Session) -> Pool:
    return _least_used_pool(session, PoolKind.TRANSACTIONAL, col(Domain.transactional_pool_id))
