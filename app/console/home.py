"""The owner's home page: one page of the account's domains with their rates."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from app.console.views import HomePage, Viewer
from app.errors import MailpoolsError
from app.services.auth import is_staff
from app.services.domains import summarize
from data.models import Account, Domain, User

HOME_PAGE_SIZE = 50


def viewer(session: Session, actor: User) -> Viewer:
    account = session.get(Account, actor.account_id) if actor.account_id else None
    return Viewer(
        name=actor.name,
        role=actor.role,
        account=account.name if account else None,
        plan=account.plan if account else None,
        is_staff=is_staff(actor),
    )


def own_account_id(actor: User) -> int:
    if actor.account_id is None:
        raise MailpoolsError(f"{actor.name} has no account, so there are no domains to show.")
    return actor.account_id


def home_page(
    session: Session,
    actor: User,
    *,
    offset: int = 0,
    limit: int = HOME_PAGE_SIZE,
    filter_text: str = "",
) -> HomePage:
    """One page of the account's domains by name, with their 7-day stats in one grouped query."""
    account_id = own_account_id(actor)
    wanted = filter_text.strip().lower()
    conditions: list[ColumnElement[bool]] = [col(Domain.account_id) == account_id]
    if wanted:
        conditions.append(col(Domain.name).contains(wanted, autoescape=True))
    total = session.exec(select(func.count()).select_from(Domain).where(*conditions)).one()
    offset = max(0, min(offset, max(0, total - 1) // limit * limit))
    domains = session.exec(
        select(Domain).where(*conditions).order_by(Domain.name).offset(offset).limit(limit)
    ).all()
    rows = summarize(session, list(domains))
    return HomePage(rows=rows, total=total, offset=offset, limit=limit, filter_text=wanted)


def domain_names(session: Session, actor: User, *, limit: int = 20_000) -> list[str]:
    """The account's domain names, for the command palette."""
    account_id = own_account_id(actor)
    return list(
        session.exec(
            select(Domain.name)
            .where(Domain.account_id == account_id)
            .order_by(Domain.name)
            .limit(limit)
        )
    )
