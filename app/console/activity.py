"""A domain's recent activity, and the owner's notifications."""

from __future__ import annotations

import json

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.console.views import (
    RECENT_FEEDBACK_LIMIT,
    ActivityView,
    EventLine,
    MessageLine,
    NotificationView,
)
from app.rules.formatting import readable
from app.services.lookups import get_domain_for
from app.services.notifications import list_notifications
from data.models import (
    AuditEvent,
    Domain,
    IpAddress,
    Message,
    Notification,
    NotificationDomain,
    User,
    saved_id,
)

RECENT_MESSAGE_LIMIT = 50
RECENT_EVENT_LIMIT = 50


def _describe_event(event: AuditEvent) -> str:
    parts = []
    for label, encoded in (("before", event.before), ("after", event.after)):
        if not encoded:
            continue
        try:
            state = json.loads(encoded)
        except ValueError:
            state = encoded
        parts.append(f"{label}: {readable(state)}")
    return "; ".join(parts)


def activity(session: Session, actor: User, name: str) -> ActivityView:
    # Imported here: the report reader behind it slows the console's start.
    from app.services.feedback import list_events

    domain = get_domain_for(session, actor, name)
    rows = session.exec(
        select(Message, IpAddress.address)
        .outerjoin(IpAddress, col(IpAddress.id) == Message.ip_id)
        .where(Message.domain_id == domain.id)
        .order_by(col(Message.created_at).desc(), col(Message.id).desc())
        .limit(RECENT_MESSAGE_LIMIT)
    ).all()
    events = session.exec(
        select(AuditEvent)
        .where(AuditEvent.domain_id == domain.id)
        # Queued mail is listed above, message by message; here only changes to the domain.
        .where(col(AuditEvent.action).not_like("message.%"))
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .limit(RECENT_EVENT_LIMIT)
    ).all()
    return ActivityView(
        messages=[
            MessageLine(
                m.created_at,
                m.to_addr,
                m.kind,
                m.status,
                address,
                m.last_reply,
                m.sent_over_tls,
                m.tls_version,
            )
            for m, address in rows
        ],
        events=[EventLine(e.at, e.actor, e.action, _describe_event(e)) for e in events],
        feedback=list_events(session, actor, domain=domain.name, limit=RECENT_FEEDBACK_LIMIT),
    )


def _notification_views(session: Session, rows: list[Notification]) -> list[NotificationView]:
    covered: dict[int, list[str]] = {saved_id(n): [] for n in rows}
    if covered:
        for notification_id, name in session.exec(
            select(NotificationDomain.notification_id, Domain.name)
            .join(Domain, col(Domain.id) == NotificationDomain.domain_id)
            .where(col(NotificationDomain.notification_id).in_(covered))
            .order_by(col(Domain.name))
        ):
            covered[notification_id].append(name)
    return [
        NotificationView(
            id=saved_id(n),
            kind=n.kind,
            title=n.title,
            body=n.body,
            created_at=n.created_at,
            read=n.read_at is not None,
            domains=covered[saved_id(n)],
        )
        for n in rows
    ]


def inbox(session: Session, actor: User) -> list[NotificationView]:
    if actor.account_id is None:
        return []
    return _notification_views(session, list_notifications(session, actor))


def notifications_after(session: Session, actor: User, last_seen_id: int) -> list[NotificationView]:
    """Notifications newer than LAST_SEEN_ID, oldest first, for toasts."""
    if actor.account_id is None:
        return []
    rows = session.exec(
        select(Notification)
        .where(Notification.account_id == actor.account_id)
        .where(col(Notification.id) > last_seen_id)
        .order_by(col(Notification.id))
        .limit(20)
    ).all()
    return _notification_views(session, list(rows))


def latest_notification_id(session: Session, actor: User) -> int:
    if actor.account_id is None:
        return 0
    latest = session.exec(
        select(func.max(col(Notification.id))).where(Notification.account_id == actor.account_id)
    ).one()
    return latest or 0


def unread_count(session: Session, actor: User) -> int:
    if actor.account_id is None:
        return 0
    return session.exec(
        select(func.count())
        .select_from(Notification)
        .where(Notification.account_id == actor.account_id)
        .where(col(Notification.read_at).is_(None))
    ).one()
