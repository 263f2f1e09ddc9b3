"""The agents' queue of pending requests, with what a reviewer needs beside each one.

For every pending transactional-pool or dedicated-IP request: how long it has
waited, the account and its plan, the domains, what the owner said (the
justification, or the expected weekly volume), what the domains really sent
over the last week, their rates against their pool's thresholds, and the
earlier requests and decisions for the same domains.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from app import clock
from app.errors import MailpoolsError
from app.rules.formatting import age
from app.rules.policy import DEDICATED_IP_PRICE, CostQuote, quote_monthly_cost
from app.rules.rates import RateReading, Rates, Thresholds
from app.rules.routing import sending_pool_id
from app.services import stats
from app.services.auth import require_staff
from app.services.lookups import get_account
from app.services.requests import decisions
from app.services.requests.allocation import free_dedicated_ips, suggest_ips
from app.services.requests.filing import dedicated_ips_in_use
from app.services.requests.listing import RequestView, get_request
from data.models import (
    Account,
    AuditEvent,
    Domain,
    Pool,
    PoolRequest,
    RequestDomain,
    RequestKind,
    RequestStatus,
    User,
    saved_id,
)

KINDS = tuple(kind.value for kind in RequestKind)


@dataclass(frozen=True)
class DomainHealth:
    """One domain of a request: where it sends from and how it performs there."""

    name: str
    sending_mode: str
    pool: str | None
    status: str
    rates: RateReading


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    text: str


@dataclass(frozen=True)
class TriageItem:
    request: RequestView
    age: str
    measured_weekly_volume: int
    domains: list[DomainHealth]
    history: list[HistoryEntry]

    @property
    def id(self) -> int:
        return self.request.id

    @property
    def asked(self) -> str:
        """What the owner asked for, in a few words."""
        request = self.request
        if request.kind == RequestKind.TRANSACTIONAL:
            return "transactional pool"
        if request.dedicated_pool:
            return f"join dedicated group {request.dedicated_pool}"
        count = request.ip_count or 0
        return f"{count} dedicated IP{'s' if count != 1 else ''}"


@dataclass(frozen=True)
class DecisionContext:
    """What the decide screen offers: the item, and for new dedicated IPs the inventory and price."""

    item: TriageItem
    free_ips: list[str]
    suggested_ips: list[str]
    monthly_cost_cents: int | None
    cost_text: str | None

    @property
    def needs_ips(self) -> bool:
        request = self.item.request
        return request.kind == RequestKind.DEDICATED and not request.dedicated_pool


def filed_age(created_at: datetime, now: datetime | None = None) -> str:
    """'filed 3 days ago', measured on the program's clock."""
    return "filed " + age(created_at, now)


class _Batch:
    """Everything the items of one listing need, read in a handful of queries, not per request."""

    def __init__(self, session: Session, requests: list[PoolRequest]) -> None:
        ids = [saved_id(request) for request in requests]
        links = session.exec(
            select(RequestDomain.request_id, Domain)
            .join(Domain, col(Domain.id) == RequestDomain.domain_id)
            .where(col(RequestDomain.request_id).in_(ids))
            .order_by(Domain.name)
        ).all()
        self.domains_of: dict[int, list[Domain]] = defaultdict(list)
        for request_id, domain in links:
            self.domains_of[request_id].append(domain)
        domain_ids = list({saved_id(domain) for _, domain in links})
        self.pools = {pool.id: pool for pool in session.exec(select(Pool))}
        account_ids = {request.account_id for request in requests}
        self.accounts = {
            account.id: account
            for account in session.exec(select(Account).where(col(Account.id).in_(account_ids)))
        }
        today = clock.today()
        self.weekly = stats.domain_rates(session, domain_ids, today, 7)
        # Each domain's rates over its own pool's window.
        by_window: dict[int, list[int]] = defaultdict(list)
        for _, domain in links:
            pool = self.pools.get(sending_pool_id(domain))
            by_window[pool.window_days if pool else 7].append(saved_id(domain))
        self.window: dict[int, Rates] = {}
        for days, members in by_window.items():
            self.window.update(stats.domain_rates(session, members, today, days))
        self.related = session.exec(
            select(RequestDomain.domain_id, PoolRequest)
            .join(PoolRequest, col(PoolRequest.id) == RequestDomain.request_id)
            .where(col(RequestDomain.domain_id).in_(domain_ids))
        ).all()
        self.events = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.domain_id).in_(domain_ids))
            .where(col(AuditEvent.action).in_(["domain.remove", "domain.reinstate"]))
        ).all()
        user_ids = {request.requester_id for request in requests}
        user_ids |= {other.reviewer_id for _, other in self.related if other.reviewer_id}
        self.users = dict(
            session.exec(select(User.id, User.name).where(col(User.id).in_(user_ids))).all()
        )

    def view(self, request: PoolRequest) -> RequestView:
        account = self.accounts[request.account_id]
        pool = self.pools.get(request.dedicated_pool_id)
        return RequestView(
            id=saved_id(request),
            kind=request.kind,
            status=request.status,
            account=account.name,
            plan=account.plan,
            domains=[domain.name for domain in self.domains_of[saved_id(request)]],
            requester=self.users[request.requester_id],
            reviewer=self.users.get(request.reviewer_id),
            created_at=request.created_at,
            decided_at=request.decided_at,
            decision_reason=request.decision_reason,
            justification=request.justification,
            expected_weekly_volume=request.expected_weekly_volume,
            ip_count=request.ip_count,
            monthly_cost_cents=request.monthly_cost_cents,
            dedicated_pool=pool.name if pool else None,
        )

    def health(self, domain: Domain) -> DomainHealth:
        pool = self.pools.get(sending_pool_id(domain))
        rates = self.window.get(saved_id(domain), Rates())
        return DomainHealth(
            name=domain.name,
            sending_mode=domain.sending_mode,
            pool=pool.name if pool else None,
            status=domain.status,
            rates=RateReading(rates, Thresholds.of(pool) if pool else None),
        )

    def history(self, request: PoolRequest) -> list[HistoryEntry]:
        """Other requests for the same domains, and the domains' removals and reinstatements."""
        mine = {domain.id for domain in self.domains_of[saved_id(request)]}
        entries: list[HistoryEntry] = []
        seen: set[int] = set()
        for domain_id, other in self.related:
            other_id = saved_id(other)
            if domain_id not in mine or other_id == request.id or other_id in seen:
                continue
            seen.add(other_id)
            text = f"#{other_id} {other.kind} request {other.status}"
            if other.status != RequestStatus.PENDING:
                text += f" by {self.users.get(other.reviewer_id, 'unknown')}"
                if other.decision_reason:
                    text += f": {other.decision_reason}"
            entries.append(HistoryEntry(at=other.decided_at or other.created_at, text=text))
        for event in self.events:
            if event.domain_id in mine:
                verb = "removed from its pool" if event.action == "domain.remove" else "reinstated"
                entries.append(
                    HistoryEntry(at=event.at, text=f"{event.entity_id} {verb} by {event.actor}")
                )
        return sorted(entries, key=lambda entry: entry.at)

    def item(self, request: PoolRequest) -> TriageItem:
        domains = self.domains_of[saved_id(request)]
        return TriageItem(
            request=self.view(request),
            age=filed_age(request.created_at),
            measured_weekly_volume=sum(
                self.weekly.get(saved_id(domain), Rates()).volume for domain in domains
            ),
            domains=[self.health(domain) for domain in domains],
            history=self.history(request),
        )


def _items(session: Session, requests: list[PoolRequest]) -> list[TriageItem]:
    if not requests:
        return []
    batch = _Batch(session, requests)
    return [batch.item(request) for request in requests]


def triage_queue(
    session: Session,
    actor: User,
    *,
    kind: str | None = None,
    account: str | None = None,
    domain_search: str | None = None,
) -> list[TriageItem]:
    """Pending requests across all accounts, oldest first.

    KIND is transactional or dedicated; ACCOUNT an account's name; DOMAIN_SEARCH
    any part of a domain name, case-insensitive.
    """
    require_staff(actor, "triage requests")
    query = select(PoolRequest).where(PoolRequest.status == RequestStatus.PENDING)
    if kind:
        if kind not in KINDS:
            raise MailpoolsError(f"Unknown request kind {kind!r}: use transactional or dedicated.")
        query = query.where(PoolRequest.kind == kind)
    if account:
        query = query.where(PoolRequest.account_id == get_account(session, account.strip()).id)
    search = (domain_search or "").strip().lower()
    if search:
        matching = (
            select(RequestDomain.request_id)
            .join(Domain, col(Domain.id) == RequestDomain.domain_id)
            .where(col(Domain.name).contains(search, autoescape=True))
        )
        query = query.where(col(PoolRequest.id).in_(matching))
    return _items(
        session,
        list(session.exec(query.order_by(col(PoolRequest.created_at), col(PoolRequest.id)))),
    )


def account_names(session: Session, actor: User) -> list[str]:
    """Accounts to filter the queue by."""
    require_staff(actor, "triage requests")
    return list(session.exec(select(Account.name).order_by(Account.name)))


def decision_context(session: Session, actor: User, request_id: int) -> DecisionContext:
    """One request as the decide screen shows it, whatever its status now."""
    require_staff(actor, "review requests")
    request = get_request(session, request_id)
    [item] = _items(session, [request])
    context = DecisionContext(item, [], [], None, None)
    if not context.needs_ips or request.status != RequestStatus.PENDING:
        return context
    account = session.get(Account, request.account_id)
    assert account is not None, "a request's account_id is a foreign key to an existing account"
    # The account's count of IPs in use includes this request's; price this request on top of the rest.
    others = dedicated_ips_in_use(session, saved_id(account)) - (request.ip_count or 0)
    quote = quote_monthly_cost(account.plan, max(0, others), request.ip_count or 0)
    return DecisionContext(
        item=item,
        free_ips=[ip.address for ip in free_dedicated_ips(session)],
        suggested_ips=[ip.address for ip in suggest_ips(session, request)],
        monthly_cost_cents=quote.monthly_cents,
        cost_text=_describe_quote(quote),
    )


def _describe_quote(quote: CostQuote) -> str:
    if quote.plan == "premium" and quote.paid_ips == 0:
        return "free on Premium: $0/month"
    if quote.plan == "premium":
        return f"{quote.free_ips} free on Premium, {quote.paid_ips} × {DEDICATED_IP_PRICE}: {quote.monthly_dollars}/month"
    return f"Standard plan, {quote.paid_ips} × {DEDICATED_IP_PRICE}: {quote.monthly_dollars}/month"


def check_decision(
    session: Session,
    actor: User,
    request_id: int,
    *,
    approve: bool,
    ip_addresses: list[str] | None = None,
    reason: str | None = None,
) -> str:
    """Check a decision without making it; return what the confirmation step asks.

    The real approval or denial runs inside a savepoint that is then rolled back,
    so the check refuses exactly what the decision would refuse, in its words.
    The decision itself runs again, in its own transaction, once confirmed.
    """
    context = decision_context(session, actor, request_id)
    savepoint = session.begin_nested()
    try:
        if approve:
            decisions.approve(session, actor, request_id, ip_addresses=ip_addresses)
        else:
            decisions.deny(session, actor, request_id, reason=reason or "")
    finally:
        savepoint.rollback()
        # Rows read inside the savepoint show the undone decision: read them again.
        session.expire_all()
    request = context.item.request
    names = ", ".join(request.domains)
    if not approve:
        cleaned = " ".join((reason or "").split())
        return f"Deny request #{request.id} for {names}? {request.account} is told: “{cleaned}”"
    if request.kind == RequestKind.TRANSACTIONAL:
        return (
            f"Approve request #{request.id}? {names} moves to the transactional pool and "
            "can no longer send campaigns or broadcasts."
        )
    if not context.needs_ips:
        return f"Approve request #{request.id}? {names} join the dedicated IPs of {request.dedicated_pool}."
    # Without a choice the approval takes the suggested IPs, the first free ones.
    chosen = context.suggested_ips if ip_addresses is None else list(dict.fromkeys(ip_addresses))
    return (
        f"Approve request #{request.id}? {request.account} gets {', '.join(chosen)} "
        f"({context.cost_text}); {names} {'starts' if len(request.domains) == 1 else 'start'} "
        f"warming up on {'it' if len(chosen) == 1 else 'them'}."
    )
