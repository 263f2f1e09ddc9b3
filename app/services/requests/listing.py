"""Requests as listings and screens show them, read one by one or filtered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from app.errors import MailpoolsError, NotFound
from app.services.lookups import get_account_for, get_domain_for
from data.models import (
    Account,
    Domain,
    Pool,
    PoolRequest,
    RequestDomain,
    RequestStatus,
    User,
    saved_id,
)


@dataclass(frozen=True)
class RequestView:
    """A request as listings and screens show it."""

    id: int
    kind: str
    status: str
    account: str
    plan: str
    domains: list[str]
    requester: str
    reviewer: str | None
    created_at: datetime
    decided_at: datetime | None
    decision_reason: str | None
    justification: str | None
    expected_weekly_volume: int | None
    ip_count: int | None
    monthly_cost_cents: int | None
    dedicated_pool: str | None

    def as_json(self) -> dict:
        data = dict(self.__dict__)
        data["created_at"] = self.created_at.isoformat()
        data["decided_at"] = self.decided_at.isoformat() if self.decided_at else None
        return data


def get_request(session: Session, request_id: int) -> PoolRequest:
    request = session.get(PoolRequest, request_id)
    if request is None:
        raise NotFound(f"There is no request #{request_id}.")
    return request


def request_domains(session: Session, request: PoolRequest) -> list[Domain]:
    return list(
        session.exec(
            select(Domain)
            .join(RequestDomain, col(RequestDomain.domain_id) == Domain.id)
            .where(RequestDomain.request_id == request.id)
            .order_by(Domain.name)
        )
    )


def list_requests(
    session: Session,
    actor: User,
    *,
    status: str | None = None,
    kind: str | None = None,
    account_name: str | None = None,
    domain_name: str | None = None,
    oldest_first: bool = True,
) -> list[RequestView]:
    query = select(PoolRequest)
    if status:
        if status not in {s.value for s in RequestStatus}:
            raise MailpoolsError(f"Unknown status {status!r}: use pending, approved or denied.")
        query = query.where(PoolRequest.status == status)
    if kind:
        query = query.where(PoolRequest.kind == kind)
    if account_name:
        account = get_account_for(session, actor, account_name)
        query = query.where(PoolRequest.account_id == account.id)
    if actor.role == "owner":
        query = query.where(PoolRequest.account_id == actor.account_id)
    if domain_name:
        domain = get_domain_for(session, actor, domain_name)
        query = query.join(RequestDomain, col(RequestDomain.request_id) == PoolRequest.id).where(
            RequestDomain.domain_id == domain.id
        )
    created_at = col(PoolRequest.created_at)
    order = created_at if oldest_first else created_at.desc()
    requests = list(session.exec(query.order_by(order, col(PoolRequest.id))))
    return [to_view(session, request) for request in requests]


def to_view(session: Session, request: PoolRequest) -> RequestView:
    account = session.get(Account, request.account_id)
    requester = session.get(User, request.requester_id)
    assert account is not None, "a request's account is a foreign key"
    assert requester is not None, "a request's requester is a foreign key"
    reviewer = session.get(User, request.reviewer_id) if request.reviewer_id else None
    pool = session.get(Pool, request.dedicated_pool_id) if request.dedicated_pool_id else None
    return RequestView(
        id=saved_id(request),
        kind=request.kind,
        status=request.status,
        account=account.name,
        plan=account.plan,
        domains=[d.name for d in request_domains(session, request)],
        requester=requester.name,
        reviewer=reviewer.name if reviewer else None,
        created_at=request.created_at,
        decided_at=request.decided_at,
        decision_reason=request.decision_reason,
        justification=request.justification,
        expected_weekly_volume=request.expected_weekly_volume,
        ip_count=request.ip_count,
        monthly_cost_cents=request.monthly_cost_cents,
        dedicated_pool=pool.name if pool else None,
    )
