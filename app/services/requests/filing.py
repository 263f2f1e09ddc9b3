"""Filing and reviewing transactional-pool and dedicated-IP requests.

Each public function is one state change: the caller runs it inside one
transaction (`data.db.session_scope`), and every change writes its audit
event in that same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from app import clock
from app.errors import AlreadyDecided, MailpoolsError, NotFound
from app.rules import policy
from app.rules.warmup_plan import planned_days
from app.services import audit, stats
from app.services.auth import require_account_access, require_staff
from app.services.lookups import get_domain, pick_transactional_pool
from app.services.notifications import notify
from data.models import (
    Account,
    Domain,
    DomainStatus,
    IpAddress,
    IpState,
    Message,
    MessageKind,
    MessageStatus,
    Pool,
    PoolKind,
    PoolRequest,
    RequestDomain,
    RequestKind,
    RequestStatus,
    SendingMode,
    User,
    Warmup,
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


def _open_request_for(session: Session, domain: Domain) -> PoolRequest | None:
    query = (
        select(PoolRequest)
        .join(RequestDomain, RequestDomain.request_id == PoolRequest.id)
        .where(RequestDomain.domain_id == domain.id)
        .where(PoolRequest.status == RequestStatus.PENDING)
    )
    return session.exec(query).first()


def _lock_domains(session: Session, domains: list[Domain]) -> None:
    """Hold the domains' rows until the transaction ends.

    Two people filing for the same domain at once then queue here, and the second
    sees the first one's request (PostgreSQL; SQLite transactions already run one
    at a time). Locking in id order means two filings naming the same domains in
    a different order cannot deadlock. The lock is FOR NO KEY UPDATE on PostgreSQL,
    so rows that only refer to a domain (messages being queued) are not held up.
    """
    ids = sorted(domain.id for domain in domains)
    # populate_existing re-reads the rows once locked, so the checks that follow see
    # what another transaction may just have committed.
    session.exec(
        select(Domain)
        .where(col(Domain.id).in_(ids))
        .order_by(Domain.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).all()


def _refuse_if_open(session: Session, domain: Domain) -> None:
    existing = _open_request_for(session, domain)
    if existing is not None:
        raise MailpoolsError(
            f"{domain.name} already has an open {existing.kind} request (#{existing.id}); "
            "wait for its review or ask support to withdraw it."
        )


def _file(
    session: Session, actor: User, request: PoolRequest, domains: list[Domain], summary: dict
) -> PoolRequest:
    session.add(request)
    session.flush()
    for domain in domains:
        session.add(RequestDomain(request_id=request.id, domain_id=domain.id))
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
) -> PoolRequest:
    domain = get_domain(session, domain_name)
    require_account_access(actor, domain.account_id)
    _lock_domains(session, [domain])
    if not domain.transactional_service:
        raise MailpoolsError(
            f"{domain.name} is not used with the transactional service, so it cannot join "
            "the transactional pool."
        )
    if domain.sending_mode == SendingMode.TRANSACTIONAL:
        raise MailpoolsError(f"{domain.name} is already in the transactional pool.")
    if domain.dedicated_pool_id is not None:
        # Exactly one way of sending per domain: leaving dedicated IPs is its own decision.
        raise MailpoolsError(
            f"{domain.name} sends from dedicated IPs; ask support to take it off them "
            "before it can join the transactional pool."
        )
    cleaned = policy.validate_justification(justification)
    policy.validate_confirmation(confirmation, domain.name)
    _refuse_if_open(session, domain)
    request = PoolRequest(
        kind=RequestKind.TRANSACTIONAL,
        account_id=domain.account_id,
        requester_id=actor.id,
        justification=cleaned,
        confirmation=confirmation.strip(),
        created_at=clock.now(),
    )
    return _file(session, actor, request, [domain], {"justification": cleaned})


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
        account.plan, dedicated_ips_in_use(session, account.id), requested_ips
    )


def _domains_of_one_account(session: Session, actor: User, names: list[str]) -> list[Domain]:
    if not names:
        raise MailpoolsError("Name at least one domain for the dedicated IPs.", field="domains")
    domains: list[Domain] = []
    for name in names:
        domain = get_domain(session, name)
        require_account_access(actor, domain.account_id)
        if domain not in domains:
            domains.append(domain)
    if len({domain.account_id for domain in domains}) > 1:
        raise MailpoolsError(
            "All domains in one dedicated-IP request must belong to the same account.",
            field="domains",
        )
    _lock_domains(session, domains)
    for domain in domains:
        if domain.sending_mode == SendingMode.TRANSACTIONAL:
            raise MailpoolsError(
                f"{domain.name} sends from the transactional pool; it cannot also use dedicated IPs.",
                field="domains",
            )
        if domain.dedicated_pool_id is not None:
            raise MailpoolsError(f"{domain.name} already uses dedicated IPs.", field="domains")
        _refuse_if_open(session, domain)
    return domains


def request_dedicated(
    session: Session,
    actor: User,
    domain_names: list[str],
    *,
    weekly_volume: int | str,
    ip_count: int = 1,
    join_pool: str | None = None,
) -> PoolRequest:
    """Ask for new dedicated IPs, or (JOIN_POOL) to put domains on the account's existing ones."""
    domains = _domains_of_one_account(session, actor, domain_names)
    account = session.get(Account, domains[0].account_id)
    volume = policy.parse_volume(weekly_volume)
    pool: Pool | None = None
    if join_pool is not None:
        pool = session.exec(select(Pool).where(Pool.name == join_pool)).first()
        if pool is None or pool.kind != PoolKind.DEDICATED or pool.account_id != account.id:
            raise MailpoolsError(
                f"{join_pool!r} is not one of {account.name}'s dedicated IP groups.", field="pool"
            )
        already_on = session.exec(
            select(Domain.id).where(Domain.dedicated_pool_id == pool.id)
        ).all()
        measured = stats.weekly_volume(session, already_on, clock.today())
        policy.check_dedicated_volume(volume + measured)
        ip_count = 0
        quote = policy.quote_monthly_cost(account.plan, 0, 0)
    else:
        policy.check_dedicated_volume(volume)
        policy.check_ip_count(ip_count)
        quote = quote_for_account(session, account, ip_count)
    request = PoolRequest(
        kind=RequestKind.DEDICATED,
        account_id=account.id,
        requester_id=actor.id,
        expected_weekly_volume=volume,
        ip_count=ip_count,
        monthly_cost_cents=quote.monthly_cents,
        dedicated_pool_id=pool.id if pool else None,
        created_at=clock.now(),
    )
    summary = {
        "expected_weekly_volume": volume,
        "ip_count": ip_count,
        "monthly_cost_cents": quote.monthly_cents,
    }
    if pool is not None:
        summary["join_pool"] = pool.name
    return _file(session, actor, request, domains, summary)


def get_request(session: Session, request_id: int) -> PoolRequest:
    request = session.get(PoolRequest, request_id)
    if request is None:
        raise NotFound(f"There is no request #{request_id}.")
    return request


def request_domains(session: Session, request: PoolRequest) -> list[Domain]:
    return list(
        session.exec(
            select(Domain)
            .join(RequestDomain, RequestDomain.domain_id == Domain.id)
            .where(RequestDomain.request_id == request.id)
            .order_by(Domain.name)
        )
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
    result = session.execute(
        update(PoolRequest)
        .where(col(PoolRequest.id) == request_id)
        .where(col(PoolRequest.status) == RequestStatus.PENDING)
        .values(status=status, reviewer_id=reviewer.id, decided_at=now, decision_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.expire(request)
        raise _already_decided(session, session.get(PoolRequest, request_id))
    session.refresh(request)
    return request


def _already_decided(session: Session, request: PoolRequest) -> AlreadyDecided:
    reviewer = session.get(User, request.reviewer_id) if request.reviewer_id else None
    who = f" by {reviewer.name}" if reviewer else ""
    return AlreadyDecided(f"Request #{request.id} was already {request.status}{who}.")


def deny(session: Session, reviewer: User, request_id: int, *, reason: str) -> PoolRequest:
    require_staff(reviewer, "review requests")
    cleaned = " ".join((reason or "").split())
    if not cleaned:
        raise MailpoolsError("A denial needs a reason the requester can act on.", field="reason")
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
        domain_id=domains[0].id if len(domains) == 1 else None,
        kind="request_denied",
        title=f"Your {_kind_label(request.kind)} request for {names} was denied",
        body=cleaned,
    )
    return request


def _kind_label(kind: str) -> str:
    return "transactional pool" if kind == RequestKind.TRANSACTIONAL else "dedicated IP"


def free_dedicated_ips(session: Session, *, lock: bool = False) -> list[IpAddress]:
    """Dedicated inventory that no account owns yet, in address order.

    LOCK holds the rows until the transaction ends, so two approvals running at
    once never hand the same IP to two accounts.
    """
    query = (
        select(IpAddress)
        .outerjoin(Pool, Pool.id == IpAddress.pool_id)
        .where(IpAddress.account_id.is_(None))
        .where((IpAddress.pool_id.is_(None)) | (Pool.kind == PoolKind.DEDICATED))
        .where(IpAddress.state.not_in([IpState.BLOCKLISTED, IpState.PAUSED]))
        .order_by(IpAddress.id)
    )
    if lock:
        query = query.with_for_update(of=IpAddress, key_share=True)
    return list(session.exec(query))


def suggest_ips(session: Session, request: PoolRequest) -> list[IpAddress]:
    return free_dedicated_ips(session)[: request.ip_count or 0]


def approve(
    session: Session, reviewer: User, request_id: int, *, ip_addresses: list[str] | None = None
) -> PoolRequest:
    request = _claim_decision(session, reviewer, request_id, RequestStatus.APPROVED, None)
    domains = request_domains(session, request)
    if request.kind == RequestKind.TRANSACTIONAL:
        after = _move_to_transactional(session, reviewer, request, domains[0])
    elif request.dedicated_pool_id is not None:
        after = _join_dedicated(session, request, domains)
    else:
        after = _allocate_dedicated(session, request, domains, ip_addresses)
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
        domain_id=domains[0].id if len(domains) == 1 else None,
        kind="request_approved",
        title=f"Your {_kind_label(request.kind)} request for {names} was approved",
        body=after.get("summary", ""),
    )
    return request


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
        rejected += session.execute(
            update(Message)
            .where(col(Message.domain_id) == domain.id)
            .where(col(Message.status).in_([MessageStatus.QUEUED, MessageStatus.HELD]))
            .where(col(Message.kind) == kind)
            .values(status=MessageStatus.REJECTED, last_reply=refusal, finished_at=clock.now())
            .execution_options(synchronize_session=False)
        ).rowcount
    stats.add_domain_counts(session, domain.id, clock.today(), rejected=rejected)
    return {
        "pool": pool.name,
        "rejected_queued_messages": rejected,
        "summary": f"{domain.name} now sends from the transactional pool {pool.name}. "
        "Campaigns and broadcasts from it are refused from now on.",
    }


def _allocate_dedicated(
    session: Session, request: PoolRequest, domains: list[Domain], chosen: list[str] | None
) -> dict:
    # One approval at a time per account, so each one prices against the IPs the
    # account really owns.
    account = session.exec(
        select(Account).where(Account.id == request.account_id).with_for_update(key_share=True)
    ).one()
    free = free_dedicated_ips(session, lock=True)
    if chosen:
        by_address = {ip.address: ip for ip in free}
        missing = [address for address in chosen if address not in by_address]
        if missing:
            raise MailpoolsError(
                f"Not in the free dedicated inventory: {', '.join(missing)}.", field="ips"
            )
        if len(set(chosen)) != request.ip_count:
            raise MailpoolsError(
                f"Request #{request.id} is for {request.ip_count} IPs; {len(set(chosen))} were chosen.",
                field="ips",
            )
        ips = [by_address[address] for address in dict.fromkeys(chosen)]
    else:
        if len(free) < (request.ip_count or 0):
            raise MailpoolsError(
                f"Only {len(free)} free dedicated IPs are left and request #{request.id} needs "
                f"{request.ip_count}: add IPs to the inventory first."
            )
        ips = free[: request.ip_count]
    # The quote stored at filing counted other pending requests as if they would be
    # approved; the price is settled against what the account owns now, so however
    # requests are approved or denied, a Premium account gets exactly three free IPs.
    owned = len(session.exec(select(IpAddress.id).where(IpAddress.account_id == account.id)).all())
    quoted_cents = request.monthly_cost_cents
    quote = policy.quote_monthly_cost(account.plan, owned, len(ips))
    request.monthly_cost_cents = quote.monthly_cents
    template = session.get(Pool, domains[0].shared_pool_id) if domains[0].shared_pool_id else None
    pool = Pool(
        name=_new_group_name(session, account),
        kind=PoolKind.DEDICATED,
        max_bounce_rate=template.max_bounce_rate if template else 0.05,
        max_complaint_rate=template.max_complaint_rate if template else 0.001,
        min_sample=template.min_sample if template else 500,
        window_days=template.window_days if template else 7,
        account_id=account.id,
        created_at=clock.now(),
    )
    session.add(pool)
    session.flush()
    for ip in ips:
        ip.pool_id = pool.id
        ip.account_id = account.id
        ip.state = IpState.WARMING
        session.add(ip)
    for domain in domains:
        domain.sending_mode = SendingMode.DEDICATED
        domain.dedicated_pool_id = pool.id
        session.add(domain)
    days = planned_days(request.expected_weekly_volume or 0)
    warmup = Warmup(
        pool_id=pool.id,
        account_id=account.id,
        request_id=request.id,
        expected_weekly_volume=request.expected_weekly_volume or 0,
        started_on=clock.today(),
        planned_days=days,
    )
    session.add(warmup)
    request.dedicated_pool_id = pool.id
    session.add(request)
    addresses = [ip.address for ip in ips]
    after = {
        "pool": pool.name,
        "ips": addresses,
        "warmup_days": days,
        "monthly_cost_cents": quote.monthly_cents,
        "summary": f"Dedicated IPs {', '.join(addresses)} are allocated and warming up "
        f"over about {days} days; sending shifts to them gradually. "
        f"They cost {quote.monthly_dollars} a month.",
    }
    if quoted_cents != quote.monthly_cents:
        after["quoted_monthly_cost_cents"] = quoted_cents
    return after


def _new_group_name(session: Session, account: Account) -> str:
    """The account's next free group name: acme-dedicated-1, acme-dedicated-2, ...

    Counting the names in use, not the groups, keeps the name free even when an
    inventory pool happens to be called the same; the account's part is cut so the
    whole name fits the column.
    """
    prefix = f"{account.name[:180]}-dedicated-"
    taken = set(
        session.exec(select(Pool.name).where(col(Pool.name).startswith(prefix, autoescape=True)))
    )
    number = 1
    while f"{prefix}{number}" in taken:
        number += 1
    return f"{prefix}{number}"


def _join_dedicated(session: Session, request: PoolRequest, domains: list[Domain]) -> dict:
    pool = session.get(Pool, request.dedicated_pool_id)
    for domain in domains:
        if domain.status == DomainStatus.REMOVED:
            raise MailpoolsError(f"{domain.name} is removed from its pool; reinstate it first.")
        domain.sending_mode = SendingMode.DEDICATED
        domain.dedicated_pool_id = pool.id
        session.add(domain)
    return {
        "pool": pool.name,
        "summary": f"{', '.join(d.name for d in domains)} now send from the dedicated IPs of {pool.name}.",
    }


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
        account = session.exec(select(Account).where(Account.name == account_name)).first()
        if account is None:
            raise NotFound(f"There is no account named {account_name!r}.")
        query = query.where(PoolRequest.account_id == account.id)
    if actor.role == "owner":
        query = query.where(PoolRequest.account_id == actor.account_id)
    if domain_name:
        domain = get_domain(session, domain_name)
        query = query.join(RequestDomain, RequestDomain.request_id == PoolRequest.id).where(
            RequestDomain.domain_id == domain.id
        )
    order = PoolRequest.created_at if oldest_first else PoolRequest.created_at.desc()
    requests = list(session.exec(query.order_by(order, PoolRequest.id)))
    return [to_view(session, request) for request in requests]


def to_view(session: Session, request: PoolRequest) -> RequestView:
    account = session.get(Account, request.account_id)
    requester = session.get(User, request.requester_id)
    reviewer = session.get(User, request.reviewer_id) if request.reviewer_id else None
    pool = session.get(Pool, request.dedicated_pool_id) if request.dedicated_pool_id else None
    return RequestView(
        id=request.id,
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
