"""Agents pausing and resuming a dedicated IP group's warm-up.

A paused warm-up keeps its day and its share: it neither advances nor counts
held days until an agent resumes it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from app import audit, clock
from app.auth import require_staff
from app.errors import MailpoolsError
from app.lookups import get_domain
from app.notifications import notify
from data.models import Domain, Pool, User, Warmup, WarmupState


def _open_warmup(session: Session, domain: Domain) -> Warmup:
    warmup = None
    if domain.dedicated_pool_id is not None:
        warmup = session.exec(
            select(Warmup)
            .where(Warmup.pool_id == domain.dedicated_pool_id)
            .where(Warmup.state.in_([WarmupState.RUNNING, WarmupState.PAUSED]))
            .with_for_update()
        ).first()
    if warmup is None:
        raise MailpoolsError(f"{domain.name} has no dedicated IP warm-up in progress.")
    return warmup


def _record(
    session: Session, actor: User, domain: Domain, warmup: Warmup, action: str, before: str
) -> None:
    pool = session.get(Pool, warmup.pool_id)
    audit.record(
        session,
        actor=actor.name,
        action=action,
        entity="warmup",
        entity_id=pool.name,
        account_id=warmup.account_id,
        domain_id=domain.id,
        before={"state": before, "day": warmup.current_day},
        after={"state": warmup.state, "day": warmup.current_day},
    )


def pause_warmup(session: Session, actor: User, domain_name: str) -> Warmup:
    require_staff(actor, "pause warm-ups")
    domain = get_domain(session, domain_name)
    warmup = _open_warmup(session, domain)
    if warmup.state == WarmupState.PAUSED:
        raise MailpoolsError(f"The warm-up of {domain.name} is already paused.")
    warmup.state = WarmupState.PAUSED
    session.add(warmup)
    _record(session, actor, domain, warmup, "warmup.pause", WarmupState.RUNNING)
    notify(
        session,
        account_id=warmup.account_id,
        domain_id=domain.id,
        kind="warmup_paused",
        title=f"The warm-up of {domain.name}'s dedicated IPs is paused",
        body=f"It stays on day {warmup.current_day} until support resumes it.",
    )
    return warmup


def resume_warmup(session: Session, actor: User, domain_name: str) -> Warmup:
    require_staff(actor, "resume warm-ups")
    domain = get_domain(session, domain_name)
    warmup = _open_warmup(session, domain)
    if warmup.state != WarmupState.PAUSED:
        raise MailpoolsError(f"The warm-up of {domain.name} is not paused; nothing to resume.")
    warmup.state = WarmupState.RUNNING
    # The paused days are behind us: judging starts again from today, not from the pause.
    yesterday = clock.today() - timedelta(days=1)
    warmup.evaluated_through = max(warmup.evaluated_through or yesterday, yesterday)
    session.add(warmup)
    _record(session, actor, domain, warmup, "warmup.resume", WarmupState.PAUSED)
    notify(
        session,
        account_id=warmup.account_id,
        domain_id=domain.id,
        kind="warmup_resumed",
        title=f"The warm-up of {domain.name}'s dedicated IPs is running again",
        body=f"It continues from day {warmup.current_day}.",
    )
    return warmup
