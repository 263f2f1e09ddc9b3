"""Notifications to an account's owners."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from app import clock
from app.errors import NotFound
from app.services.auth import require_account_access
from app.services.lookups import may_see_account
from data.models import Domain, Notification, NotificationDomain, User, saved_id


def notify(
    session: Session,
    *,
    account_id: int,
    kind: str,
    title: str,
    body: str = "",
    domains: Sequence[Domain] = (),
) -> Notification:
    """Tell the account's owners; DOMAINS are those the notice covers (the inbox opens them)."""
    ids = list(dict.fromkeys(saved_id(domain) for domain in domains))
    notification = Notification(
        account_id=account_id,
        domain_id=ids[0] if len(ids) == 1 else None,
        kind=kind,
        title=title,
        body=body,
        created_at=clock.now(),
    )
    session.add(notification)
    session.flush()
    for domain_id in ids:
        session.add(NotificationDomain(notification_id=saved_id(notification), domain_id=domain_id))
    return notification


def list_notifications(
    session: Session, actor: User, *, account_id: int | None = None, limit: int = 200
) -> list[Notification]:
    account_id = account_id if account_id is not None else actor.account_id
    require_account_access(actor, account_id)
    query = (
        select(Notification)
        .where(Notification.account_id == account_id)
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(limit)
    )
    return list(session.exec(query))


def mark_read(session: Session, actor: User, notification_ids: list[int]) -> int:
    """Mark ACTOR's notifications read. Another account's notification is refused in the
    same words as one that does not exist, so an owner learns nothing from the refusal."""
    found = [
        notification
        for notification in session.exec(
            select(Notification).where(col(Notification.id).in_(notification_ids))
        )
        if may_see_account(actor, notification.account_id)
    ]
    missing = set(notification_ids) - {notification.id for notification in found}
    if missing:
        raise NotFound(f"There is no notification #{min(missing)}.")
    marked = 0
    for notification in found:
        if notification.read_at is None:
            notification.read_at = clock.now()
            marked += 1
    return marked
