"""The owner's page of one domain: its pools, rates, requests, warm-up and dedicated groups."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from app import clock
from app.console.views import (
    DedicatedGroup,
    DomainView,
    RequestSummary,
    ShareCandidate,
)
from app.rules import policy
from app.rules.rates import RateReading, Rates
from app.services import dns_checks, stats
from app.services.domains import latest_warmups
from app.services.lookups import get_domain_for
from app.services.pools import PoolView, pool_view
from app.services.requests import filing
from app.services.warmups import describe_warmup
from data.models import (
    Account,
    Domain,
    DomainDailyStat,
    Pool,
    PoolKind,
    PoolRequest,
    RequestDomain,
    RequestStatus,
    SendingMode,
    User,
    saved_id,
)

# The dedicated form lists at most this many other domains to share the IPs with.
SHARE_CANDIDATE_LIMIT = 100
CAMPAIGN_LOOKBACK_DAYS = 30


def request_summary(request: PoolRequest, pool_names: dict[int, str]) -> RequestSummary:
    return RequestSummary(
        id=saved_id(request),
        kind=request.kind,
        status=request.status,
        created_at=request.created_at,
        decided_at=request.decided_at,
        reason=request.decision_reason,
        expected_weekly_volume=request.expected_weekly_volume,
        ip_count=request.ip_count,
        monthly_cost_cents=request.monthly_cost_cents,
        joins_pool=pool_names.get(request.dedicated_pool_id)
        if request.dedicated_pool_id and request.status == RequestStatus.PENDING
        else None,
    )


def _pool_or_none(session: Session, pool: Pool | None) -> PoolView | None:
    return pool_view(session, pool) if pool is not None else None


def _campaign_volume(session: Session, domain_id: int) -> tuple[int, int]:
    today = clock.today()
    row = session.exec(
        select(
            func.coalesce(func.sum(DomainDailyStat.campaign_sent), 0),
            func.coalesce(func.sum(DomainDailyStat.broadcast_sent), 0),
        )
        .where(DomainDailyStat.domain_id == domain_id)
        .where(DomainDailyStat.day >= stats.window_start(today, CAMPAIGN_LOOKBACK_DAYS))
        .where(DomainDailyStat.day <= today)
    ).one()
    return int(row[0]), int(row[1])


def _dedicated_groups(session: Session, account_id: int) -> list[DedicatedGroup]:
    groups = []
    for pool in session.exec(
        select(Pool)
        .where(Pool.account_id == account_id)
        .where(Pool.kind == PoolKind.DEDICATED)
        .order_by(Pool.name)
    ):
        members = session.exec(
            select(Domain).where(Domain.dedicated_pool_id == pool.id).order_by(Domain.name)
        ).all()
        groups.append(
            DedicatedGroup(
                pool=pool.name,
                ips=pool_view(session, pool).ips,
                domains=[d.name for d in members],
                measured_weekly=stats.weekly_volume(
                    session, [saved_id(d) for d in members], clock.today()
                ),
            )
        )
    return groups


def _share_candidates(session: Session, domain: Domain) -> tuple[list[ShareCandidate], bool]:
    """Other domains of the account that could join a new dedicated request with this one."""
    # One more than is shown tells whether there are more.
    others = filing.dedicated_candidates(session, domain, limit=SHARE_CANDIDATE_LIMIT + 1)
    truncated = len(others) > SHARE_CANDIDATE_LIMIT
    others = others[:SHARE_CANDIDATE_LIMIT]
    volumes = stats.domain_rates(session, [saved_id(d) for d in others], clock.today(), days=7)
    return (
        [ShareCandidate(d.name, volumes.get(saved_id(d), Rates()).volume) for d in others],
        truncated,
    )


def domain_view(session: Session, actor: User, name: str) -> DomainView:
    domain = get_domain_for(session, actor, name)
    account = session.get(Account, domain.account_id)
    assert account is not None, "a domain's account_id is a foreign key to a stored account"
    shared = _pool_or_none(
        session, session.get(Pool, domain.shared_pool_id) if domain.shared_pool_id else None
    )
    if domain.transactional_pool_id:
        transactional_pool = session.get(Pool, domain.transactional_pool_id)
    else:
        # The pool it would join: show its thresholds before the owner asks.
        transactional_pool = session.exec(
            select(Pool).where(Pool.kind == PoolKind.TRANSACTIONAL).order_by(col(Pool.id))
        ).first()
    transactional = _pool_or_none(session, transactional_pool)
    dedicated_pool = (
        session.get(Pool, domain.dedicated_pool_id) if domain.dedicated_pool_id else None
    )
    dedicated = _pool_or_none(session, dedicated_pool)
    sending_pools: dict[str, PoolView | None] = {
        SendingMode.SHARED: shared,
        SendingMode.TRANSACTIONAL: transactional,
        SendingMode.DEDICATED: dedicated,
    }
    sending = sending_pools.get(domain.sending_mode)
    domain_id = saved_id(domain)
    rates = RateReading(
        stats.domain_rates(session, [domain_id], clock.today(), days=7).get(domain_id, Rates()),
        sending.thresholds if sending else None,
    )
    campaign, broadcast = _campaign_volume(session, domain_id)
    pool_names = {saved_id(pool): pool.name for pool in session.exec(select(Pool))}
    requests = session.exec(
        select(PoolRequest)
        .join(RequestDomain, col(RequestDomain.request_id) == PoolRequest.id)
        .where(RequestDomain.domain_id == domain_id)
        .order_by(col(PoolRequest.created_at).desc(), col(PoolRequest.id).desc())
    ).all()
    pending = next((r for r in requests if r.status == RequestStatus.PENDING), None)
    decided = next((r for r in requests if r.status != RequestStatus.PENDING), None)
    warmup = None
    if dedicated_pool is not None:
        dedicated_pool_id = saved_id(dedicated_pool)
        row = latest_warmups(session, {dedicated_pool_id}).get(dedicated_pool_id)
        if row is not None:
            warmup = describe_warmup(session, row, domain.name)
    candidates, truncated = _share_candidates(session, domain)
    return DomainView(
        name=domain.name,
        account=account.name,
        plan=account.plan,
        mode=domain.sending_mode,
        status=domain.status,
        removed_reason=domain.removed_reason,
        removed_at=domain.removed_at,
        transactional_service=domain.transactional_service,
        standing=filing.standing(session, domain),
        created_at=domain.created_at,
        shared_pool=shared,
        transactional_pool=transactional,
        dedicated_pool=dedicated,
        sending_pool=sending,
        rates_7d=rates,
        campaign_30d=campaign,
        broadcast_30d=broadcast,
        measured_weekly=rates.volume,
        pending=request_summary(pending, pool_names) if pending else None,
        last_decision=request_summary(decided, pool_names) if decided else None,
        warmup=warmup,
        dedicated_groups=_dedicated_groups(session, domain.account_id),
        share_candidates=candidates,
        candidates_truncated=truncated,
        dedicated_ips_in_use=filing.dedicated_ips_in_use(session, domain.account_id),
        max_ips_per_request=policy.max_ips_per_request(),
        dns=dns_checks.domain_checks(session, actor, domain.name),
    )
