"""Agents' actions on pools' members: removing and reinstating domains.

Removal protects everyone else in a shared pool from a domain that performs
poorly. It is visible to the owner (a notification, the domain's status),
audited, and reversible by an agent.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col, select

from app import clock
from app.errors import MailpoolsError
from app.services import audit
from app.services.auth import require_staff
from app.services.lookups import get_domain
from app.services.notifications import notify
from app.services.outcomes import Outcome
from data.models import Domain, DomainStatus, Message, MessageStatus, User


def _lock(session: Session, domain: Domain) -> Domain:
    """Hold the domain's row and re-read it, so of two people acting at once the second
    sees what the first did (PostgreSQL; SQLite transactions already run one at a time)."""
    return session.exec(
        select(Domain)
        .where(Domain.id == domain.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).one()


def remove_domain_from_pool(session: Session, domain: Domain, *, reason: str, actor: str) -> Domain:
    """Take DOMAIN out of its pool. ACTOR is a user's name, or audit.SYSTEM_ACTOR for health checks."""
    cleaned = " ".join((reason or "").split())
    if not cleaned:
        raise MailpoolsError(
            "Say why the domain is removed: the owner will read it.", field="reason"
        )
    domain = _lock(session, domain)
    if domain.status == DomainStatus.REMOVED:
        raise MailpoolsError(f"{domain.name} is already removed from its pool.")
    before = {"status": domain.status}
    domain.status = DomainStatus.REMOVED
    domain.removed_reason = cleaned
    domain.removed_at = clock.now()
    session.add(domain)
    audit.record(
        session,
        actor=actor,
        action="domain.remove",
        entity="domain",
        entity_id=domain.name,
        account_id=domain.account_id,
        domain_id=domain.id,
        before=before,
        after={"status": domain.status, "reason": cleaned},
    )
    notify(
        session,
        account_id=domain.account_id,
        domain_id=domain.id,
        kind="domain_removed",
        title=f"{domain.name} was removed from its pool",
        body=f"{cleaned} Its messages are held, not sent, until support reinstates it: "
        "fix the cause (list hygiene, consent), then ask support to review.",
    )
    return domain


def remove_domain(
    session: Session, actor: User, domain_name: str, *, reason: str
) -> Outcome[Domain]:
    require_staff(actor, "remove domains from pools")
    domain = remove_domain_from_pool(
        session, get_domain(session, domain_name), reason=reason, actor=actor.name
    )
    return Outcome(
        domain,
        f"{domain.name} is removed from its pool; its mail is held until it is reinstated.",
    )


def reinstate_domain(session: Session, actor: User, domain_name: str) -> Outcome[Domain]:
    require_staff(actor, "reinstate domains")
    domain = _lock(session, get_domain(session, domain_name))
    if domain.status != DomainStatus.REMOVED:
        raise MailpoolsError(f"{domain.name} is not removed from its pool; nothing to reinstate.")
    before = {"status": domain.status, "reason": domain.removed_reason}
    domain.status = DomainStatus.ACTIVE
    domain.removed_reason = None
    domain.removed_at = None
    session.add(domain)
    released = session.execute(
        update(Message)
        .where(col(Message.domain_id) == domain.id)
        .where(col(Message.status) == MessageStatus.HELD)
        .values(status=MessageStatus.QUEUED, next_attempt_at=clock.now())
        .execution_options(synchronize_session=False)
    ).rowcount
    audit.record(
        session,
        actor=actor.name,
        action="domain.reinstate",
        entity="domain",
        entity_id=domain.name,
        account_id=domain.account_id,
        domain_id=domain.id,
        before=before,
        after={"status": domain.status, "released_messages": released},
    )
    notify(
        session,
        account_id=domain.account_id,
        domain_id=domain.id,
        kind="domain_reinstated",
        title=f"{domain.name} was reinstated in its pool",
        body="Its held messages are queued again.",
    )
    return Outcome(domain, f"{domain.name} is reinstated; its held mail is queued again.")
