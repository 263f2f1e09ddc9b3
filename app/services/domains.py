"""Sending domains as people see them: way of sending, pool, IPs, status, rates, warm-up."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from app import clock
from app.errors import MailpoolsError
from app.rules.rates import RateReading, Rates, Thresholds
from app.rules.routing import sending_pool_id
from app.rules.warmup_plan import dedicated_share
from app.services import stats
from app.services.auth import is_staff
from app.services.lookups import get_account_for, get_domain_for
from app.services.pools import IpView, pool_ip_views
from data.models import (
    Account,
    Domain,
    Pool,
    PoolRequest,
    RequestDomain,
    RequestStatus,
    User,
    Warmup,
    WarmupState,
    saved_id,
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
    """A domain in a list: the command line's `domains list` and the owner's home page."""

    name: str
    account: str
    plan: str
    transactional_service: bool
    sending_mode: str
    pool: str | None
    status: str
    removed_reason: str | None
    # The last seven days against the thresholds of the pool the domain sends from.
    rates_7d: RateReading
    # Running, paused or complete; None if the domain never warmed up dedicated IPs.
    warmup: WarmupProgress | None
    # The kind of the domain's open request, if it has one.
    pending_request: str | None

    @property
    def volume_7d(self) -> int:
        return self.rates_7d.volume

    def as_json(self) -> dict:
        fields = asdict(self)
        del fields["rates_7d"]
        limits = self.rates_7d.thresholds
        return {
            **fields,
            "sent_7d": self.rates_7d.sent,
            "volume_7d": self.volume_7d,
            "bounce_rate": self.rates_7d.bounce_rate,
            "complaint_rate": self.rates_7d.complaint_rate,
            "max_bounce_rate": limits.max_bounce_rate if limits else None,
            "max_complaint_rate": limits.max_complaint_rate if limits else None,
        }


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
        return {
            **asdict(self),
            "summary": self.summary.as_json(),
        }


def latest_warmups(session: Session, pool_ids: set[int]) -> dict[int, Warmup]:
    """Each pool's most recent warm-up."""
    if not pool_ids:
        return {}
    query = select(Warmup).where(col(Warmup.pool_id).in_(pool_ids)).order_by(col(Warmup.id))
    return {warmup.pool_id: warmup for warmup in session.exec(query)}


def _progress(warmup: Warmup | None) -> WarmupProgress | None:
    if warmup is None:
        return None
    return WarmupProgress(
        day=warmup.current_day,
        planned_days=warmup.planned_days,
        held_days=warmup.held_days,
        state=warmup.state,
        dedicated_share=dedicated_share(warmup.current_day, warmup.planned_days),
    )


def _pending_by_domain(session: Session, domain_ids: list[int]) -> dict[int, PoolRequest]:
    if not domain_ids:
        return {}
    rows = session.exec(
        select(RequestDomain.domain_id, PoolRequest)
        .join(PoolRequest, col(PoolRequest.id) == RequestDomain.request_id)
        .where(col(RequestDomain.domain_id).in_(domain_ids))
        .where(PoolRequest.status == RequestStatus.PENDING)
    ).all()
    return {domain_id: request for domain_id, request in rows}


def summarize(session: Session, domains: list[Domain]) -> list[DomainSummary]:
    """DOMAINS as listed, in their order; callers check that the reader may see them."""
    # Only the accounts and pools these domains use: a page of fifty reads a few rows.
    account_ids = {d.account_id for d in domains}
    pool_ids = {sending_pool_id(d) for d in domains} - {None}
    accounts = {
        a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(account_ids)))
    }
    pools = {p.id: p for p in session.exec(select(Pool).where(col(Pool.id).in_(pool_ids)))}
    rates = stats.domain_rates(session, [saved_id(d) for d in domains], clock.today(), days=7)
    warmups = latest_warmups(session, {d.dedicated_pool_id for d in domains if d.dedicated_pool_id})
    pending = _pending_by_domain(session, [saved_id(d) for d in domains])
    summaries = []
    for domain in domains:
        domain_id = saved_id(domain)
        pool = pools.get(sending_pool_id(domain))
        request = pending.get(domain_id)
        warmup = (
            warmups.get(domain.dedicated_pool_id) if domain.dedicated_pool_id is not None else None
        )
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
                rates_7d=RateReading(
                    rates.get(domain_id, Rates()), Thresholds.of(pool) if pool else None
                ),
                warmup=_progress(warmup),
                pending_request=request.kind if request else None,
            )
        )
    return summaries


def list_domains(
    session: Session, actor: User, *, account: str | None = None
) -> list[DomainSummary]:
    """Owners see their own account's domains; agents and admins all, or one account's."""
    query = select(Domain).order_by(Domain.name)
    if account is not None:
        wanted = get_account_for(session, actor, account)
        query = query.where(Domain.account_id == wanted.id)
    elif not is_staff(actor):
        if actor.account_id is None:
            raise MailpoolsError(f"{actor.name} belongs to no account.")
        query = query.where(Domain.account_id == actor.account_id)
    return summarize(session, list(session.exec(query)))


def domain_detail(session: Session, actor: User, name: str) -> DomainDetail:
    domain = get_domain_for(session, actor, name)
    summary = summarize(session, [domain])[0]
    warming = summary.warmup is not None and summary.warmup.state != WarmupState.COMPLETE
    shared_pool = session.get(Pool, domain.shared_pool_id) if domain.shared_pool_id else None
    open_request = session.exec(
        select(PoolRequest.id)
        .join(RequestDomain, col(RequestDomain.request_id) == PoolRequest.id)
        .where(RequestDomain.domain_id == domain.id)
        .where(PoolRequest.status == RequestStatus.PENDING)
    ).first()
    return DomainDetail(
        summary=summary,
        shared_pool=shared_pool.name if shared_pool else None,
        removed_at=domain.removed_at,
        ips=pool_ip_views(session, sending_pool_id(domain)),
        shared_ips=pool_ip_views(session, domain.shared_pool_id) if warming else [],
        open_request_id=open_request,
    )
