"""Sending domains as people see them: way of sending, pool, IPs, status, rates, warm-up."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from app import clock
from app.errors import MailpoolsError
from app.rules.warmup_plan import dedicated_share
from app.services import stats
from app.services.auth import is_staff, require_account_access
from app.services.lookups import get_account, get_domain
from data.models import (
    Account,
    Domain,
    IpAddress,
    Pool,
    PoolRequest,
    RequestDomain,
    RequestStatus,
    SendingMode,
    User,
    Warmup,
    WarmupState,
)


@dataclass(frozen=True)
class WarmupProgress:
    day: int
    planned_days: int
    held_days: int
    state: str
    dedicated_share: float


@dataclass(frozen=True)
class DomainSummary:
    name: str
    account: str
    plan: str
    transactional_service: bool
    sending_mode: str
    pool: str | None
    status: str
    removed_reason: str | None
    volume_7d: int
    bounce_rate: float
    complaint_rate: float
    max_bounce_rate: float | None
    max_complaint_rate: float | None
    warmup: WarmupProgress | None

    @property
    def bounce_over(self) -> bool:
        return self.max_bounce_rate is not None and self.bounce_rate > self.max_bounce_rate

    @property
    def complaint_over(self) -> bool:
        return self.max_complaint_rate is not None and self.complaint_rate > self.max_complaint_rate

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IpView:
    address: str
    hostname: str
    state: str
    weight: int
    pool: str | None


@dataclass(frozen=True)
class DomainDetail:
    summary: DomainSummary
    shared_pool: str | None
    removed_at: datetime | None
    ips: list[IpView] = field(default_factory=list)
    # During a warm-up the domain also sends from its shared pool's IPs.
    shared_ips: list[IpView] = field(default_factory=list)
    open_request_id: int | None = None

    def as_json(self) -> dict:
        return asdict(self)


def sending_pool_id(domain: Domain) -> int | None:
    """The pool whose IPs and thresholds apply to the domain's chosen way of sending."""
    if domain.sending_mode == SendingMode.TRANSACTIONAL:
        return domain.transactional_pool_id
    if domain.sending_mode == SendingMode.DEDICATED:
        return domain.dedicated_pool_id
    return domain.shared_pool_id


def latest_warmups(session: Session, pool_ids: set[int]) -> dict[int, Warmup]:
    """Each pool's most recent warm-up."""
    if not pool_ids:
        return {}
    query = select(Warmup).where(Warmup.pool_id.in_(pool_ids)).order_by(Warmup.id)
    return {warmup.pool_id: warmup for warmup in session.exec(query)}


def _progress(warmup: Warmup | None) -> WarmupProgress | None:
    if warmup is None or warmup.state == WarmupState.COMPLETE:
        return None
    return WarmupProgress(
        day=warmup.current_day,
        planned_days=warmup.planned_days,
        held_days=warmup.held_days,
        state=warmup.state,
        dedicated_share=dedicated_share(warmup.current_day, warmup.planned_days),
    )


def _summaries(session: Session, domains: list[Domain]) -> list[DomainSummary]:
    accounts = {a.id: a for a in session.exec(select(Account))}
    pools = {p.id: p for p in session.exec(select(Pool))}
    rates = stats.domain_rates(session, [d.id for d in domains], clock.today(), days=7)
    warmups = latest_warmups(session, {d.dedicated_pool_id for d in domains if d.dedicated_pool_id})
    summaries = []
    for domain in domains:
        pool = pools.get(sending_pool_id(domain))
        domain_rates = rates.get(domain.id, stats.Rates())
        account = accounts[domain.account_id]
        summaries.append(
            DomainSummary(
                name=domain.name,
                account=account.name,
                plan=account.plan,
                transactional_service=domain.transactional_service,
                sending_mode=domain.sending_mode,
                pool=pool.name if pool else None,
                status=domain.status,
                removed_reason=domain.removed_reason,
                volume_7d=domain_rates.delivered_or_bounced,
                bounce_rate=domain_rates.bounce_rate,
                complaint_rate=domain_rates.complaint_rate,
                max_bounce_rate=pool.max_bounce_rate if pool else None,
                max_complaint_rate=pool.max_complaint_rate if pool else None,
                warmup=_progress(warmups.get(domain.dedicated_pool_id)),
            )
        )
    return summaries


def list_domains(
    session: Session, actor: User, *, account: str | None = None
) -> list[DomainSummary]:
    """Owners see their own account's domains; agents and admins all, or one account's."""
    query = select(Domain).order_by(Domain.name)
    if account is not None:
        wanted = get_account(session, account)
        require_account_access(actor, wanted.id)
        query = query.where(Domain.account_id == wanted.id)
    elif not is_staff(actor):
        if actor.account_id is None:
            raise MailpoolsError(f"{actor.name} belongs to no account.")
        query = query.where(Domain.account_id == actor.account_id)
    return _summaries(session, list(session.exec(query)))


def _ips_of(session: Session, pool_id: int | None) -> list[IpView]:
    if pool_id is None:
        return []
    pool = session.get(Pool, pool_id)
    query = select(IpAddress).where(IpAddress.pool_id == pool_id).order_by(IpAddress.id)
    return [
        IpView(ip.address, ip.hostname, ip.state, ip.weight, pool.name)
        for ip in session.exec(query)
    ]


def domain_detail(session: Session, actor: User, name: str) -> DomainDetail:
    domain = get_domain(session, name)
    require_account_access(actor, domain.account_id)
    summary = _summaries(session, [domain])[0]
    warming = summary.warmup is not None
    shared_pool = session.get(Pool, domain.shared_pool_id) if domain.shared_pool_id else None
    open_request = session.exec(
        select(PoolRequest.id)
        .join(RequestDomain, RequestDomain.request_id == PoolRequest.id)
        .where(RequestDomain.domain_id == domain.id)
        .where(PoolRequest.status == RequestStatus.PENDING)
    ).first()
    return DomainDetail(
        summary=summary,
        shared_pool=shared_pool.name if shared_pool else None,
        removed_at=domain.removed_at,
        ips=_ips_of(session, sending_pool_id(domain)),
        shared_ips=_ips_of(session, domain.shared_pool_id) if warming else [],
        open_request_id=open_request,
    )
