"""What the console shows, as plain dataclasses, and the actions it takes.

The screens call `ConsoleBackend` from thread workers; every method opens its
own transaction and checks access through the services, so the console can
never show or change more than the acting user may. Volumes and rates come
from the daily stats; only the Activity tab reads messages, one domain's most
recent few through the (domain_id, created_at) index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app import clock
from app.errors import MailpoolsError
from app.rules import policy
from app.rules.eligibility import DomainStanding
from app.rules.formatting import percent
from app.services import stats
from app.services.auth import get_user, is_staff, require_account_access
from app.services.domains import latest_warmups, sending_pool_id
from app.services.lookups import get_domain
from app.services.notifications import list_notifications, mark_read
from app.services.outcomes import Outcome
from app.services.requests import filing
from app.services.warmups import WarmupStatus, describe_warmup
from data.db import session_scope
from data.models import (
    Account,
    AuditEvent,
    Domain,
    DomainDailyStat,
    DomainStatus,
    IpAddress,
    Message,
    Notification,
    Pool,
    PoolKind,
    PoolRequest,
    RequestDomain,
    RequestStatus,
    SendingMode,
    User,
    Warmup,
    WarmupState,
)

HOME_PAGE_SIZE = 50
# The dedicated form lists at most this many other domains to share the IPs with.
SHARE_CANDIDATE_LIMIT = 100
RECENT_MESSAGE_LIMIT = 50
RECENT_EVENT_LIMIT = 50
CAMPAIGN_LOOKBACK_DAYS = 30


@dataclass(frozen=True)
class Viewer:
    name: str
    role: str
    account: str | None
    plan: str | None
    is_staff: bool


@dataclass(frozen=True)
class RateReading:
    """A rate against the limit of the pool the domain sends from."""

    value: float
    limit: float
    sample: int
    min_sample: int

    @property
    def level(self) -> str:
        """'idle' (nothing sent), 'unjudged' (too few to judge), 'ok', 'near' or 'over'."""
        if self.sample == 0:
            return "idle"
        if self.sample < self.min_sample:
            return "unjudged"
        if self.value > self.limit:
            return "over"
        if self.value >= self.limit * 0.75:
            return "near"
        return "ok"

    @property
    def text(self) -> str:
        if self.sample == 0:
            return "—"
        return percent(self.value)


@dataclass(frozen=True)
class DomainRow:
    name: str
    mode: str
    pool: str
    status: str
    volume_7d: int
    bounce: RateReading
    complaint: RateReading
    warmup: str | None
    pending: str | None


@dataclass(frozen=True)
class HomePage:
    rows: list[DomainRow]
    total: int
    offset: int
    limit: int
    filter_text: str

    @property
    def first(self) -> int:
        return self.offset + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.offset + len(self.rows)


@dataclass(frozen=True)
class IpView:
    address: str
    hostname: str
    state: str


@dataclass(frozen=True)
class PoolView:
    name: str
    kind: str
    max_bounce_rate: float
    max_complaint_rate: float
    min_sample: int
    window_days: int
    ips: list[IpView]


@dataclass(frozen=True)
class RequestSummary:
    id: int
    kind: str
    status: str
    created_at: datetime
    decided_at: datetime | None
    reason: str | None
    expected_weekly_volume: int | None
    ip_count: int | None
    monthly_cost_cents: int | None
    joins_pool: str | None


@dataclass(frozen=True)
class DedicatedGroup:
    pool: str
    ips: list[IpView]
    domains: list[str]
    measured_weekly: int


@dataclass(frozen=True)
class ShareCandidate:
    name: str
    measured_weekly: int


@dataclass(frozen=True)
class DomainView:
    name: str
    account: str
    plan: str
    mode: str
    status: str
    removed_reason: str | None
    removed_at: datetime | None
    transactional_service: bool
    standing: DomainStanding
    created_at: datetime
    shared_pool: PoolView | None
    transactional_pool: PoolView | None
    dedicated_pool: PoolView | None
    sending_pool: PoolView | None
    rates_7d: stats.Rates
    bounce: RateReading
    complaint: RateReading
    campaign_30d: int
    broadcast_30d: int
    measured_weekly: int
    pending: RequestSummary | None
    last_decision: RequestSummary | None
    warmup: WarmupStatus | None
    dedicated_groups: list[DedicatedGroup]
    share_candidates: list[ShareCandidate]
    candidates_truncated: bool
    dedicated_ips_in_use: int
    max_ips_per_request: int


@dataclass(frozen=True)
class MessageLine:
    created_at: datetime
    to_addr: str
    kind: str
    status: str
    ip: str | None
    reply: str | None


@dataclass(frozen=True)
class EventLine:
    at: datetime
    actor: str
    action: str
    details: str


@dataclass(frozen=True)
class ActivityView:
    messages: list[MessageLine]
    events: list[EventLine]


@dataclass(frozen=True)
class NotificationView:
    id: int
    kind: str
    title: str
    body: str
    created_at: datetime
    read: bool
    domain: str | None


@dataclass(frozen=True)
class DedicatedEstimate:
    """What the dedicated form shows live, computed without the database."""

    volume: int | None
    volume_error: str | None
    ip_count: int | None
    ip_error: str | None
    measured_weekly: int
    eligible: bool
    eligibility: str
    cost: str
    monthly_cents: int = 0
    domains: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Startup:
    """Everything the console needs for its first screen, read in one transaction."""

    viewer: Viewer
    latest_notification_id: int
    unread: int
    home: HomePage | None


# Reading ---------------------------------------------------------------------


def viewer(session: Session, actor: User) -> Viewer:
    account = session.get(Account, actor.account_id) if actor.account_id else None
    return Viewer(
        name=actor.name,
        role=actor.role,
        account=account.name if account else None,
        plan=account.plan if account else None,
        is_staff=is_staff(actor),
    )


def _own_account_id(actor: User) -> int:
    if actor.account_id is None:
        raise MailpoolsError(f"{actor.name} has no account, so there are no domains to show.")
    return actor.account_id


def _pool_view(session: Session, pool: Pool | None) -> PoolView | None:
    if pool is None:
        return None
    ips = session.exec(
        select(IpAddress).where(IpAddress.pool_id == pool.id).order_by(IpAddress.address)
    ).all()
    return PoolView(
        name=pool.name,
        kind=pool.kind,
        max_bounce_rate=pool.max_bounce_rate,
        max_complaint_rate=pool.max_complaint_rate,
        min_sample=pool.min_sample,
        window_days=pool.window_days,
        ips=[IpView(ip.address, ip.hostname, ip.state) for ip in ips],
    )


def _readings(rates: stats.Rates, pool: Pool | PoolView | None) -> tuple[RateReading, RateReading]:
    if pool is None:
        return RateReading(0.0, 1.0, 0, 0), RateReading(0.0, 1.0, 0, 0)
    return (
        RateReading(
            rates.bounce_rate, pool.max_bounce_rate, rates.delivered_or_bounced, pool.min_sample
        ),
        RateReading(rates.complaint_rate, pool.max_complaint_rate, rates.sent, pool.min_sample),
    )


def _warmup_progress(warmup: Warmup | None) -> str | None:
    if warmup is None:
        return None
    if warmup.state == WarmupState.COMPLETE:
        return "complete"
    label = f"day {warmup.current_day} of {warmup.planned_days}"
    return label + (" (paused)" if warmup.state == WarmupState.PAUSED else "")


def _pending_by_domain(session: Session, domain_ids: list[int]) -> dict[int, PoolRequest]:
    if not domain_ids:
        return {}
    rows = session.exec(
        select(RequestDomain.domain_id, PoolRequest)
        .join(PoolRequest, PoolRequest.id == RequestDomain.request_id)
        .where(RequestDomain.domain_id.in_(domain_ids))
        .where(PoolRequest.status == RequestStatus.PENDING)
    ).all()
    return {domain_id: request for domain_id, request in rows}


def home_page(
    session: Session,
    actor: User,
    *,
    offset: int = 0,
    limit: int = HOME_PAGE_SIZE,
    filter_text: str = "",
) -> HomePage:
    """One page of the account's domains by name, with their 7-day stats in one grouped query."""
    account_id = _own_account_id(actor)
    wanted = filter_text.strip().lower()
    conditions = [Domain.account_id == account_id]
    if wanted:
        conditions.append(Domain.name.contains(wanted, autoescape=True))
    total = session.exec(select(func.count()).select_from(Domain).where(*conditions)).one()
    offset = max(0, min(offset, max(0, total - 1) // limit * limit))
    domains = session.exec(
        select(Domain).where(*conditions).order_by(Domain.name).offset(offset).limit(limit)
    ).all()
    ids = [domain.id for domain in domains]
    rates = stats.domain_rates(session, ids, clock.today(), days=7)
    pools = {pool.id: pool for pool in session.exec(select(Pool))}
    warmups = latest_warmups(session, {d.dedicated_pool_id for d in domains if d.dedicated_pool_id})
    pending = _pending_by_domain(session, ids)
    rows = []
    for domain in domains:
        pool = pools.get(sending_pool_id(domain))
        domain_rates = rates.get(domain.id, stats.Rates())
        bounce, complaint = _readings(domain_rates, pool)
        warmup = warmups.get(domain.dedicated_pool_id) if domain.dedicated_pool_id else None
        request = pending.get(domain.id)
        rows.append(
            DomainRow(
                name=domain.name,
                mode=domain.sending_mode,
                pool=pool.name if pool else "—",
                status=domain.status,
                volume_7d=domain_rates.delivered_or_bounced,
                bounce=bounce,
                complaint=complaint,
                warmup=_warmup_progress(warmup),
                pending=f"pending: {request.kind}" if request else None,
            )
        )
    return HomePage(rows=rows, total=total, offset=offset, limit=limit, filter_text=wanted)


def domain_names(session: Session, actor: User, *, limit: int = 20_000) -> list[str]:
    """The account's domain names, for the command palette."""
    account_id = _own_account_id(actor)
    return list(
        session.exec(
            select(Domain.name)
            .where(Domain.account_id == account_id)
            .order_by(Domain.name)
            .limit(limit)
        )
    )


def _summary(request: PoolRequest | None, pool_names: dict[int, str]) -> RequestSummary | None:
    if request is None:
        return None
    return RequestSummary(
        id=request.id,
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
        view = _pool_view(session, pool)
        groups.append(
            DedicatedGroup(
                pool=pool.name,
                ips=view.ips,
                domains=[d.name for d in members],
                measured_weekly=stats.weekly_volume(
                    session, [d.id for d in members], clock.today()
                ),
            )
        )
    return groups


def _share_candidates(session: Session, domain: Domain) -> tuple[list[ShareCandidate], bool]:
    """Other domains of the account that could join a new dedicated request with this one."""
    others = filing.dedicated_candidates(session, domain)
    truncated = len(others) > SHARE_CANDIDATE_LIMIT
    others = others[:SHARE_CANDIDATE_LIMIT]
    volumes = stats.domain_rates(session, [d.id for d in others], clock.today(), days=7)
    return (
        [
            ShareCandidate(d.name, volumes.get(d.id, stats.Rates()).delivered_or_bounced)
            for d in others
        ],
        truncated,
    )


def domain_view(session: Session, actor: User, name: str) -> DomainView:
    domain = get_domain(session, name)
    require_account_access(actor, domain.account_id)
    account = session.get(Account, domain.account_id)
    shared = _pool_view(
        session, session.get(Pool, domain.shared_pool_id) if domain.shared_pool_id else None
    )
    if domain.transactional_pool_id:
        transactional_pool = session.get(Pool, domain.transactional_pool_id)
    else:
        # The pool it would join: show its thresholds before the owner asks.
        transactional_pool = session.exec(
            select(Pool).where(Pool.kind == PoolKind.TRANSACTIONAL).order_by(Pool.id)
        ).first()
    transactional = _pool_view(session, transactional_pool)
    dedicated_pool = (
        session.get(Pool, domain.dedicated_pool_id) if domain.dedicated_pool_id else None
    )
    dedicated = _pool_view(session, dedicated_pool)
    sending = {
        SendingMode.SHARED: shared,
        SendingMode.TRANSACTIONAL: transactional,
        SendingMode.DEDICATED: dedicated,
    }.get(domain.sending_mode)
    rates = stats.domain_rates(session, [domain.id], clock.today(), days=7).get(
        domain.id, stats.Rates()
    )
    bounce, complaint = _readings(rates, sending)
    campaign, broadcast = _campaign_volume(session, domain.id)
    pool_names = {pool.id: pool.name for pool in session.exec(select(Pool))}
    requests = session.exec(
        select(PoolRequest)
        .join(RequestDomain, RequestDomain.request_id == PoolRequest.id)
        .where(RequestDomain.domain_id == domain.id)
        .order_by(PoolRequest.created_at.desc(), PoolRequest.id.desc())
    ).all()
    pending = next((r for r in requests if r.status == RequestStatus.PENDING), None)
    decided = next((r for r in requests if r.status != RequestStatus.PENDING), None)
    warmup = None
    if dedicated_pool is not None:
        row = latest_warmups(session, {dedicated_pool.id}).get(dedicated_pool.id)
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
        bounce=bounce,
        complaint=complaint,
        campaign_30d=campaign,
        broadcast_30d=broadcast,
        measured_weekly=rates.delivered_or_bounced,
        pending=_summary(pending, pool_names),
        last_decision=_summary(decided, pool_names),
        warmup=warmup,
        dedicated_groups=_dedicated_groups(session, account.id),
        share_candidates=candidates,
        candidates_truncated=truncated,
        dedicated_ips_in_use=filing.dedicated_ips_in_use(session, account.id),
        max_ips_per_request=policy.max_ips_per_request(),
    )


def _describe_event(event: AuditEvent) -> str:
    parts = []
    for label, encoded in (("before", event.before), ("after", event.after)):
        if not encoded:
            continue
        try:
            state = json.loads(encoded)
        except ValueError:
            state = encoded
        if isinstance(state, dict):
            state = ", ".join(f"{key}={value}" for key, value in state.items())
        parts.append(f"{label}: {state}")
    return "; ".join(parts)


def activity(session: Session, actor: User, name: str) -> ActivityView:
    domain = get_domain(session, name)
    require_account_access(actor, domain.account_id)
    rows = session.exec(
        select(Message, IpAddress.address)
        .outerjoin(IpAddress, IpAddress.id == Message.ip_id)
        .where(Message.domain_id == domain.id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(RECENT_MESSAGE_LIMIT)
    ).all()
    events = session.exec(
        select(AuditEvent)
        .where(AuditEvent.domain_id == domain.id)
        # Queued mail is listed above, message by message; here only changes to the domain.
        .where(AuditEvent.action.not_like("message.%"))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(RECENT_EVENT_LIMIT)
    ).all()
    return ActivityView(
        messages=[
            MessageLine(m.created_at, m.to_addr, m.kind, m.status, address, m.last_reply)
            for m, address in rows
        ],
        events=[EventLine(e.at, e.actor, e.action, _describe_event(e)) for e in events],
    )


def _notification_views(session: Session, rows: list[Notification]) -> list[NotificationView]:
    ids = {n.domain_id for n in rows if n.domain_id}
    names = (
        dict(session.exec(select(Domain.id, Domain.name).where(Domain.id.in_(ids))).all())
        if ids
        else {}
    )
    return [
        NotificationView(
            id=n.id,
            kind=n.kind,
            title=n.title,
            body=n.body,
            created_at=n.created_at,
            read=n.read_at is not None,
            domain=names.get(n.domain_id),
        )
        for n in rows
    ]


def inbox(session: Session, actor: User) -> list[NotificationView]:
    if actor.account_id is None:
        return []
    return _notification_views(session, list_notifications(session, actor))


def notifications_after(session: Session, actor: User, last_seen_id: int) -> list[NotificationView]:
    """Notifications newer than LAST_SEEN_ID, oldest first, for toasts."""
    if actor.account_id is None:
        return []
    rows = session.exec(
        select(Notification)
        .where(Notification.account_id == actor.account_id)
        .where(Notification.id > last_seen_id)
        .order_by(Notification.id)
        .limit(20)
    ).all()
    return _notification_views(session, list(rows))


def latest_notification_id(session: Session, actor: User) -> int:
    if actor.account_id is None:
        return 0
    return session.exec(
        select(func.coalesce(func.max(Notification.id), 0)).where(
            Notification.account_id == actor.account_id
        )
    ).one()


def unread_count(session: Session, actor: User) -> int:
    if actor.account_id is None:
        return 0
    return session.exec(
        select(func.count())
        .select_from(Notification)
        .where(Notification.account_id == actor.account_id)
        .where(Notification.read_at.is_(None))
    ).one()


# Live checks (no database) --------------------------------------------------


def dedicated_estimate(
    view: DomainView,
    volume_text: str,
    ip_count_text: str,
    sharing: list[str],
    join_pool: str | None = None,
) -> DedicatedEstimate:
    """Eligibility and cost as the owner types, by the same rules the service applies on submit."""
    domains = [view.name, *[name for name in sharing if name != view.name]]
    volumes = {c.name: c.measured_weekly for c in view.share_candidates}
    volumes[view.name] = view.measured_weekly
    group = next((g for g in view.dedicated_groups if g.pool == join_pool), None)
    measured = sum(volumes.get(name, 0) for name in domains)
    volume: int | None = None
    volume_error: str | None = None
    try:
        volume = policy.parse_volume(volume_text)
    except MailpoolsError as error:
        volume_error = error.message
    ip_count: int | None = None
    ip_error: str | None = None
    if group is None:
        try:
            ip_count = int(ip_count_text.strip())
            policy.check_ip_count(ip_count, view.max_ips_per_request)
        except ValueError:
            ip_error = f"Enter a number of IPs from 1 to {view.max_ips_per_request}."
            ip_count = None
        except MailpoolsError as error:
            ip_error = error.message
            ip_count = None
    counted = (volume or 0) + (group.measured_weekly if group else 0)
    where = f"across {len(domains)} domain{'s' if len(domains) > 1 else ''}"
    if group is not None:
        where = f"with {group.pool}'s {group.measured_weekly:,}/week already on it"
    measured_note = f"measured recently: {measured:,}/week"
    if volume is None:
        eligible = False
        eligibility = f"Enter the expected weekly volume ({measured_note})."
    else:
        try:
            policy.check_dedicated_volume(counted)
            eligible = True
            eligibility = (
                f"Eligible: {counted:,} a week {where} "
                f"(minimum {policy.DEDICATED_WEEKLY_MINIMUM:,}; {measured_note})."
            )
        except MailpoolsError:
            eligible = False
            eligibility = (
                f"Not eligible: {counted:,} a week {where} is under the "
                f"{policy.DEDICATED_WEEKLY_MINIMUM:,} minimum ({measured_note})."
            )
    if group is not None:
        quote = policy.quote_monthly_cost(view.plan, 0, 0)
        cost = "Joining your existing dedicated IPs adds no cost: $0/month."
    elif ip_count is not None:
        quote = policy.quote_monthly_cost(view.plan, view.dedicated_ips_in_use, ip_count)
        cost = quote.describe()
    else:
        quote = policy.quote_monthly_cost(view.plan, view.dedicated_ips_in_use, 0)
        cost = "Enter the number of IPs to see the monthly cost."
    return DedicatedEstimate(
        volume=volume,
        volume_error=volume_error,
        ip_count=ip_count,
        ip_error=ip_error,
        measured_weekly=measured,
        eligible=eligible,
        eligibility=eligibility,
        cost=cost,
        monthly_cents=quote.monthly_cents,
        domains=domains,
    )


# The backend the screens hold ------------------------------------------------


class ConsoleBackend:
    """The console's reads and actions for one acting user; each call is one transaction."""

    def __init__(self, engine: Engine, user_name: str) -> None:
        self.engine = engine
        self.user_name = user_name

    def _run(self, read, *args, **kwargs):
        with session_scope(self.engine) as session:
            actor = get_user(session, self.user_name)
            return read(session, actor, *args, **kwargs)

    def viewer(self) -> Viewer:
        return self._run(viewer)

    def startup(self) -> Startup:
        def read(session: Session, actor: User) -> Startup:
            seen = viewer(session, actor)
            return Startup(
                viewer=seen,
                latest_notification_id=latest_notification_id(session, actor),
                unread=unread_count(session, actor),
                # Owners open on their domains: read the first page now, not one round trip later.
                home=None
                if seen.is_staff or actor.account_id is None
                else home_page(session, actor),
            )

        return self._run(read)

    def home_page(self, **kwargs) -> HomePage:
        return self._run(home_page, **kwargs)

    def domain_names(self) -> list[str]:
        return self._run(domain_names)

    def domain(self, name: str) -> DomainView:
        return self._run(domain_view, name)

    def activity(self, name: str) -> ActivityView:
        return self._run(activity, name)

    def inbox(self) -> list[NotificationView]:
        return self._run(inbox)

    def notifications_after(self, last_seen_id: int) -> list[NotificationView]:
        return self._run(notifications_after, last_seen_id)

    def latest_notification_id(self) -> int:
        return self._run(latest_notification_id)

    def unread_count(self) -> int:
        return self._run(unread_count)

    def mark_all_read(self) -> int:
        def mark(session: Session, actor: User) -> int:
            unread = [n.id for n in list_notifications(session, actor) if n.read_at is None]
            return mark_read(session, actor, unread) if unread else 0

        return self._run(mark)

    def file_transactional(
        self, domain: str, *, justification: str, confirmation: str, acknowledged: bool
    ) -> Outcome[RequestSummary]:
        def file(session: Session, actor: User) -> Outcome[RequestSummary]:
            # Checked in form order so the first problem shows next to its field.
            policy.validate_justification(justification)
            policy.validate_confirmation(confirmation, get_domain(session, domain).name)
            if not acknowledged:
                raise MailpoolsError(
                    "Tick the box to acknowledge that campaigns and broadcasts will stop "
                    "working from this domain.",
                    field="acknowledge",
                )
            outcome = filing.request_transactional(
                session, actor, domain, justification=justification, confirmation=confirmation
            )
            return Outcome(_summary(outcome.subject, {}), outcome.summary)

        return self._run(file)

    def file_dedicated(
        self,
        domain: str,
        *,
        weekly_volume: str,
        ip_count: str,
        sharing: list[str],
        join_pool: str | None = None,
    ) -> Outcome[RequestSummary]:
        def file(session: Session, actor: User) -> Outcome[RequestSummary]:
            count = 0
            if join_pool is None:
                try:
                    count = int(str(ip_count).strip())
                except ValueError:
                    raise MailpoolsError(
                        f"{ip_count!r} is not a number of IPs.", field="ips"
                    ) from None
            outcome = filing.request_dedicated(
                session,
                actor,
                [domain, *[name for name in sharing if name != domain]],
                weekly_volume=weekly_volume,
                ip_count=count,
                join_pool=join_pool,
            )
            names = {outcome.subject.dedicated_pool_id: join_pool} if join_pool else {}
            return Outcome(_summary(outcome.subject, names), outcome.summary)

        return self._run(file)


def removed_advice(view: DomainView) -> str | None:
    """What the owner of a removed domain should do next."""
    if view.status != DomainStatus.REMOVED:
        return None
    return (
        "Messages from this domain are held, not sent. Find the cause (old or bought "
        "lists, missing unsubscribe links, a compromised form), clean the list, then "
        "ask support to reinstate the domain: held messages go out once it is back."
    )
