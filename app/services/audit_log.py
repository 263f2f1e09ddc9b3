"""The audit log as agents browse it: every event, filtered by account, domain, user and kind.

A kind is an action or the start of one: `ip` matches `ip.pause` and
`ip.weight`, `request.dedicated` matches that request kind's filing and decisions.
Kinds can be left out too: the console leaves out each message queued
(`MESSAGE_KINDS`) unless asked, since they would drown every change people made.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, select

from app.services.audit import AuditView, list_events
from app.services.auth import require_staff
from data.models import AuditEvent, User

DEFAULT_LIMIT = 500
# Events about single messages rather than changes people made.
MESSAGE_KINDS = ("message",)


def browse_events(
    session: Session,
    actor: User,
    *,
    account: str | None = None,
    domain: str | None = None,
    user: str | None = None,
    kind: str | None = None,
    exclude: Sequence[str] = (),
    limit: int = DEFAULT_LIMIT,
) -> list[AuditView]:
    """Newest first, across all accounts, less the kinds in EXCLUDE; for agents and admins only."""
    require_staff(actor, "browse the audit log")
    return list_events(
        session,
        actor,
        account=(account or "").strip() or None,
        domain=(domain or "").strip() or None,
        user=(user or "").strip() or None,
        kind=(kind or "").strip() or None,
        exclude=[left_out.strip() for left_out in exclude if left_out.strip()],
        limit=limit,
    )


def event_kinds(session: Session, actor: User) -> list[str]:
    """The kinds to filter by: each action's first word, then every action, in order."""
    require_staff(actor, "browse the audit log")
    actions = sorted(set(session.exec(select(AuditEvent.action).distinct())))
    families = sorted({action.split(".", 1)[0] for action in actions})
    return families + [action for action in actions if action not in families]


def event_actors(session: Session, actor: User) -> list[str]:
    require_staff(actor, "browse the audit log")
    return sorted(set(session.exec(select(AuditEvent.actor).distinct())))
