"""Approving and denying requests: exactly one reviewer decides each one.

Each decision is one state change: the caller runs it inside one transaction
(`data.db.session_scope`), and it writes its audit event and notifies the
account in that same transaction.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col

from app import clock
from app.errors import AlreadyDecided, MailpoolsError
from app.rules import policy
from app.services import audit, stats
from app.services.auth import require_staff
from app.services.lookups import pick_transactional_pool
from app.services.notifications import notify
from app.services.outcomes import Outcome
from app.services.requests.allocation import allocate_dedicated, join_dedicated
from app.services.requests.listing import get_request, request_domains
from data.models import (
    Domain,
    Message,
    MessageKind,
    MessageStatus,
    PoolRequest,
    RequestKind,
    RequestStatus,
    SendingMode,
    User,
    saved_id,
)


def _claim_decision(
    session: Session, reviewer: User, request_id: int, status: str, reason: str | None
) -> PoolRequest:
    """Mark the request decided if nobody else has; exactly one concurrent reviewer wins."""
    # Who may review comes first: an owner learns nothing about other requests.
    require_staff(reviewer, "review requests")
    request = get_request(session, request_id)
    if request.requester_id == reviewer.id:
        raise MailpoolsError("Nobody reviews their own request: ask another agent.")
    if request.status != RequestStatus.PENDING:
        raise _already_decided(session, request)
    now = clock.now()
    result = cast(
        "CursorResult[Any]",
        session.execute(
            update(PoolRequest)
            .where(col(PoolRequest.id) == request_id)
            .where(col(PoolRequest.status) == RequestStatus.PENDING)
            .values(status=status, reviewer_id=reviewer.id, decided_at=now, decision_reason=reason)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        # Another reviewer won: expiring the request makes it reload with their decision.
        session.expire(request)
        raise _already_decided(session, request)
    session.refresh(request)
    return request


def _already_decided(session: Session, request: PoolRequest) -> AlreadyDecided:
    reviewer = session.get(User, request.reviewer_id) if request.reviewer_id else None
    who = f" by {reviewer.name}" if reviewer else ""
    return AlreadyDecided(f"Request #{request.id} was already {request.status}{who}.")


def deny(session: Session, reviewer: User, request_id: int, *, reason: str) -> Outcome[PoolRequest]:
    require_staff(reviewer, "review requests")
    cleaned = policy.validate_reason(
        reason, when_empty="A denial needs a reason the requester can act on."
    )
    request = _claim_decision(session, reviewer, request_id, RequestStatus.DENIED, cleaned)
    domains = request_domains(session, request)
    names = ", ".join(d.name for d in domains)
    audit.record(
        session,
        actor=reviewer.name,
        action=f"request.{request.kind}.deny",
        entity="request",
        entity_id=request.id,
        account_id=request.account_id,
        domain_id=domains[0].id if len(domains) == 1 else None,
        before={"status": RequestStatus.PENDING},
        after={"status": request.status, "reason": cleaned},
    )
    notify(
        session,
        account_id=request.account_id,
        domains=domains,
        kind="request_denied",
        title=f"Your {_kind_label(request.kind)} request for {names} was denied",
        body=cleaned,
    )
    return Outcome(request, f"Request #{request.id} for {names} is denied; the owner is told why.")


def _kind_label(kind: str) -> str:
    return "transactional pool" if kind == RequestKind.TRANSACTIONAL else "dedicated IP"


def approve(
    session: Session, reviewer: User, request_id: int, *, ip_addresses: list[str] | None = None
) -> Outcome[PoolRequest]:
    request = _claim_decision(session, reviewer, request_id, RequestStatus.APPROVED, None)
    domains = request_domains(session, request)
    if request.kind == RequestKind.TRANSACTIONAL:
        after = _move_to_transactional(session, reviewer, request, domains[0])
    elif request.dedicated_pool_id is not None:
        after = join_dedicated(session, request, domains)
    else:
        after = allocate_dedicated(session, request, domains, ip_addresses)
    audit.record(
        session,
        actor=reviewer.name,
        action=f"request.{request.kind}.approve",
        entity="request",
        entity_id=request.id,
        account_id=request.account_id,
        domain_id=domains[0].id if len(domains) == 1 else None,
        before={"status": RequestStatus.PENDING},
        after={"status": request.status, **after},
    )
    names = ", ".join(d.name for d in domains)
    notify(
        session,
        account_id=request.account_id,
        domains=domains,
        kind="request_approved",
        title=f"Your {_kind_label(request.kind)} request for {names} was approved",
        body=after.get("summary", ""),
    )
    return Outcome(
        request, f"Request #{request.id} for {names} is approved; the owner is notified."
    )


def _move_to_transactional(
    session: Session, reviewer: User, request: PoolRequest, domain: Domain
) -> dict:
    pool = pick_transactional_pool(session)
    domain.sending_mode = SendingMode.TRANSACTIONAL
    domain.transactional_pool_id = pool.id
    session.add(domain)
    # Campaigns and broadcasts already queued can no longer go out from this domain;
    # they count as rejected in the day's stats, as when the sender refuses one.
    rejected = 0
    for kind in (MessageKind.CAMPAIGN, MessageKind.BROADCAST):
        refusal = policy.refusal_for_kind(SendingMode.TRANSACTIONAL, kind, domain.name)
        result = cast(
            "CursorResult[Any]",
            session.execute(
                update(Message)
                .where(col(Message.domain_id) == domain.id)
                .where(col(Message.status).in_([MessageStatus.QUEUED, MessageStatus.HELD]))
                .where(col(Message.kind) == kind)
                .values(status=MessageStatus.REJECTED, last_reply=refusal, finished_at=clock.now())
                .execution_options(synchronize_session=False)
            ),
        )
        rejected += result.rowcount
    stats.add_domain_counts(session, saved_id(domain), clock.today(), rejected=rejected)
    return {
        "pool": pool.name,
        "rejected_queued_messages": rejected,
        "summary": f"{domain.name} now sends from the transactional pool {pool.name}. "
        "Campaigns and broadcasts from it are refused from now on.",
    }
