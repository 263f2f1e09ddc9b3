"""Filing transactional-pool and dedicated-IP requests.

Each public function is one state change: the caller runs it inside one
transaction (`data.db.session_scope`), and every change writes its audit
event in that same transaction.
"""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import Session, col, select

from app import clock
from app.errors import MailpoolsError
from app.rules import eligibility, policy
from app.rules.eligibility import DomainStanding, OpenRequest
from app.services import audit, stats
from app.services.lookups import get_domain_for
from app.services.outcomes import Outcome
from data.models import (
    Account,
    Domain,
    IpAddress,
    Pool,
    PoolKind,
    PoolRequest,
    RequestDomain,
    RequestKind,
    RequestStatus,
    User,
    saved_id,
)

# Domains read at a time while looking for those that may share a dedicated request.
_CANDIDATE_PAGE = 200


def standings(session: Session, domains: list[Domain]) -> list[DomainStanding]:
    """What eligibility needs to know of each domain, its open request included."""
    ids = [saved_id(domain) for domain in domains]
    open_requests: dict[int, OpenRequest] = {}
    if ids:
        rows = session.exec(
            select(RequestDomain.domain_id, PoolRequest)
            .join(PoolRequest, col(PoolRequest.id) == RequestDomain.request_id)
            .where(col(RequestDomain.domain_id).in_(ids))
            .where(PoolRequest.status == RequestStatus.PENDING)
            .order_by(col(PoolRequest.id))
        ).all()
        for domain_id, request in rows:
            open_requests.setdefault(domain_id, OpenRequest(saved_id(request), request.kind))
    return [
        DomainStanding(
            name=domain.name,
            mode=domain.sending_mode,
            status=domain.status,
            transactional_service=domain.transactional_service,
            on_dedicated_ips=domain.dedicated_pool_id is not None,
            open_request=open_requests.get(saved_id(domain)),
        )
        for domain in domains
    ]


def standing(session: Session, domain: Domain) -> DomainStanding:
    return standings(session, [domain])[0]


def dedicated_candidates(
    session: Session, domain: Domain, *, limit: int | None = None
) -> list[Domain]:
    """The account's other domains that may share a new dedicated-IP request with DOMAIN, by
    name; only the first LIMIT when given. Read a page at a time, so an account of thousands
    of domains costs only the pages it takes to find LIMIT."""
    found: list[Domain] = []
    after: str | None = None
    # Most domains are eligible: a page no larger than what is still wanted usually ends it.
    page_size = _CANDIDATE_PAGE if limit is None else min(_CANDIDATE_PAGE, limit + 1)
    while limit is None or len(found) < limit:
        query = (
            select(Domain)
            .where(Domain.account_id == domain.account_id)
            .where(Domain.id != domain.id)
            .order_by(Domain.name)
            .limit(page_size)
        )
        if after is not None:
            query = query.where(Domain.name > after)
        page = list(session.exec(query))
        found.extend(
            other
            for other, other_standing in zip(page, standings(session, page), strict=True)
            if eligibility.dedicated_refusal(other_standing) is None
        )
        if len(page) < page_size:
            break
        after = page[-1].name
    return found if limit is None else found[:limit]


def _lock_domains(session: Session, domains: list[Domain]) -> None:
    """Hold the domains' rows until the transaction ends.

    Two people filing for the same domain at once then queue here, and the second
    sees the first one's request (PostgreSQL; SQLite transactions already run one
    at a time). Locking in id order means two filings naming the same domains in
    a different order cannot deadlock. The lock is FOR NO KEY UPDATE on PostgreSQL,
    so rows that only refer to a domain (messages being queued) are not held up.
    """
    ids = sorted(saved_id(domain) for domain in domains)
    # populate_existing re-reads the rows once locked, so the checks that follow see
    # what another transaction may just have committed.
    session.exec(
        select(Domain)
        .where(col(Domain.id).in_(ids))
        .order_by(col(Domain.id))
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).all()


def _file(
    session: Session, actor: User, request: PoolRequest, domains: list[Domain], summary: dict
) -> PoolRequest:
    session.add(request)
    session.flush()
    for domain in domains:
        session.add(RequestDomain(request_id=saved_id(request), domain_id=saved_id(domain)))
    audit.record(
        session,
        actor=actor.name,
        action=f"request.{request.kind}.file",
        entity="request",
        entity_id=request.id,
        account_id=request.account_id,
        domain_id=domains[0].id if len(domains) == 1 else None,
        after={"status": request.status, "domains": [d.name for d in domains], **summary},
    )
    return request


def request_transactional(
    session: Session, actor: User, domain_name: str, *, justification: str, confirmation: str
) -> Outcome[PoolRequest]:
    domain = get_domain_for(session, actor, domain_name)
    _lock_domains(session, [domain])
    domain_standing = standing(session, domain)
    # The domain's own obstacles first, then the form, then a request already waiting.
    eligibility.check_transactional(replace(domain_standing, open_request=None))
    cleaned = policy.validate_justification(justification)
    policy.validate_confirmation(confirmation, domain.name)
    eligibility.check_transactional(domain_standing)
    request = PoolRequest(
        kind=RequestKind.TRANSACTIONAL,
        account_id=domain.account_id,
        requester_id=saved_id(actor),
        justification=cleaned,
        confirmation=confirmation.strip(),
        created_at=clock.now(),
    )
    _file(session, actor, request, [domain], {"justification": cleaned})
    return Outcome(
        request,
        f"Request #{request.id} for {domain.name} to join the transactional pool is filed for "
        "review; once approved, campaigns and broadcasts from it are refused.",
    )


def dedicated_ips_in_use(session: Session, account_id: int) -> int:
    """IPs the account owns plus those its pending requests ask for (they will be billed)."""
    owned = len(session.exec(select(IpAddress.id).where(IpAddress.account_id == account_id)).all())
    pending = session.exec(
        select(PoolRequest.ip_count)
        .where(PoolRequest.account_id == account_id)
        .where(PoolRequest.kind == RequestKind.DEDICATED)
        .where(PoolRequest.status == RequestStatus.PENDING)
    ).all()
    return owned + sum(count or 0 for count in pending)


def quote_for_account(session: Session, account: Account, requested_ips: int) -> policy.CostQuote:
    return policy.quote_monthly_cost(
        account.plan, dedicated_ips_in_use(session, saved_id(account)), requested_ips
    )


def _domains_of_one_account(session: Session, actor: User, names: list[str]) -> list[Domain]:
    if not names:
        raise MailpoolsError("Name at least one domain for the dedicated IPs.", field="domains")
    domains: list[Domain] = []
    for name in names:
        domain = get_domain_for(session, actor, name)
        if domain not in domains:
            domains.append(domain)
    if len({domain.account_id for domain in domains}) > 1:
        raise MailpoolsError(
            "All domains in one dedicated-IP request must belong to the same account.",
            field="domains",
        )
    _lock_domains(session, domains)
    for domain_standing in standings(session, domains):
        eligibility.check_dedicated(domain_standing)
    return domains


def request_dedicated(
    session: Session,
    actor: User,
    domain_names: list[str],
    *,
    weekly_volume: int | str,
    ip_count: int = 1,
    join_pool: str | None = None,
) -> Outcome[PoolRequest]:
    """Ask for new dedicated IPs, or (JOIN_POOL) to put domains on the account's existing ones."""
    domains = _domains_of_one_account(session, actor, domain_names)
    account = session.get(Account, domains[0].account_id)
    assert account is not None, "every domain belongs to an account by foreign key"
    volume = policy.parse_volume(weekly_volume)
    pool: Pool | None = None
    if join_pool is not None:
        pool = session.exec(select(Pool).where(Pool.name == join_pool)).first()
        if pool is None or pool.kind != PoolKind.DEDICATED or pool.account_id != account.id:
            raise MailpoolsError(
                f"{join_pool!r} is not one of {account.name}'s dedicated IP groups.", field="pool"
            )
        already_on = session.exec(select(Domain).where(Domain.dedicated_pool_id == pool.id))
        measured = stats.weekly_volume(
            session, [saved_id(domain) for domain in already_on], clock.today()
        )
        policy.check_dedicated_volume(volume + measured)
        ip_count = 0
        quote = policy.quote_monthly_cost(account.plan, 0, 0)
    else:
        policy.check_dedicated_volume(volume)
        policy.check_ip_count(ip_count)
        quote = quote_for_account(session, account, ip_count)
    request = PoolRequest(
        kind=RequestKind.DEDICATED,
        account_id=saved_id(account),
        requester_id=saved_id(actor),
        expected_weekly_volume=volume,
        ip_count=ip_count,
        monthly_cost_cents=quote.monthly_cents,
        dedicated_pool_id=pool.id if pool else None,
        created_at=clock.now(),
    )
    summary: dict[str, int | str] = {
        "expected_weekly_volume": volume,
        "ip_count": ip_count,
        "monthly_cost_cents": quote.monthly_cents,
    }
    if pool is not None:
        summary["join_pool"] = pool.name
    _file(session, actor, request, domains, summary)
    names = ", ".join(domain.name for domain in domains)
    if pool is not None:
        what = f"to put {names} on {pool.name}"
    else:
        what = f"for {ip_count} dedicated IP{'s' if ip_count != 1 else ''} for {names}"
    return Outcome(
        request,
        f"Request #{request.id} {what} ({volume:,} emails a week, "
        f"{quote.monthly_dollars}/month) is filed for review.",
    )
