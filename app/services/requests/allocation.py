"""What approving a dedicated-IP request does to the IPs: allocate free inventory
to a new group of the account, or put domains on a group it already has."""

from __future__ import annotations

from dataclasses import asdict

from sqlmodel import Session, col, select

from app import clock
from app.errors import MailpoolsError
from app.rules import policy
from app.rules.rates import DEFAULT_THRESHOLDS, Thresholds
from app.rules.warmup_plan import planned_days
from data.models import (
    Account,
    Domain,
    DomainStatus,
    IpAddress,
    IpState,
    Pool,
    PoolKind,
    PoolRequest,
    SendingMode,
    Warmup,
    saved_id,
)


def free_dedicated_ips(session: Session, *, lock: bool = False) -> list[IpAddress]:
    """Dedicated inventory that no account owns yet, in address order.

    LOCK holds the rows until the transaction ends, so two approvals running at
    once never hand the same IP to two accounts.
    """
    query = (
        select(IpAddress)
        .outerjoin(Pool, col(Pool.id) == IpAddress.pool_id)
        .where(col(IpAddress.account_id).is_(None))
        .where(col(IpAddress.pool_id).is_(None) | (Pool.kind == PoolKind.DEDICATED))
        .where(col(IpAddress.state).not_in([IpState.BLOCKLISTED, IpState.PAUSED]))
        .order_by(col(IpAddress.id))
    )
    if lock:
        query = query.with_for_update(of=IpAddress, key_share=True)
    return list(session.exec(query))


def suggest_ips(session: Session, request: PoolRequest) -> list[IpAddress]:
    return free_dedicated_ips(session)[: request.ip_count or 0]


def allocate_dedicated(
    session: Session, request: PoolRequest, domains: list[Domain], chosen: list[str] | None
) -> dict:
    # One approval at a time per account, so each one prices against the IPs the
    # account really owns.
    account = session.exec(
        select(Account).where(Account.id == request.account_id).with_for_update(key_share=True)
    ).one()
    free = free_dedicated_ips(session, lock=True)
    # None lets the approval take the first free IPs; a list, even empty, is the reviewer's choice.
    if chosen is not None:
        by_address = {ip.address: ip for ip in free}
        missing = [address for address in chosen if address not in by_address]
        if missing:
            raise MailpoolsError(
                f"Not in the free dedicated inventory: {', '.join(missing)}.", field="ips"
            )
        wanted = request.ip_count or 0
        count = len(set(chosen))
        if count != wanted:
            raise MailpoolsError(
                f"Choose exactly {wanted} IP{'s' if wanted != 1 else ''} for request "
                f"#{request.id}; {count} {'is' if count == 1 else 'are'} chosen.",
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
        **asdict(Thresholds.of(template) if template else DEFAULT_THRESHOLDS),
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
        pool_id=saved_id(pool),
        account_id=saved_id(account),
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
        + (
            f"They cost {quote.monthly_dollars} a month."
            if quote.monthly_cents
            else "They cost nothing extra: the plan includes them."
        ),
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


def join_dedicated(session: Session, request: PoolRequest, domains: list[Domain]) -> dict:
    pool = session.get(Pool, request.dedicated_pool_id)
    assert pool is not None, "a request to join a group names it by foreign key"
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
