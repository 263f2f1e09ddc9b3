"""What agents see of pools and do to their IPs.

Listings give plain dataclasses (screens and `--json` read the same views);
pausing, resuming and re-weighting an IP are agents' and admins' actions,
each validated, audited and done in the caller's one transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from sqlalchemy import func
from sqlmodel import Session, select

from app import clock
from app.errors import MailpoolsError
from app.rules.warmup_plan import dedicated_share
from app.services import audit, stats
from app.services.auth import require_staff
from app.services.lookups import get_ip, get_pool
from app.services.outcomes import Outcome
from data.models import (
    Account,
    Domain,
    DomainStatus,
    IpAddress,
    IpDailyStat,
    IpState,
    Pool,
    PoolKind,
    SendingMode,
    User,
    Warmup,
    WarmupHold,
    WarmupState,
)

MAX_IP_WEIGHT = 100
# States in which an IP takes traffic.
SENDING_STATES = (IpState.ACTIVE, IpState.WARMING)


def domain_pool_id(domain: Domain) -> int | None:
    """The pool whose thresholds judge the domain: the one its sending mode selects."""
    if domain.sending_mode == SendingMode.DEDICATED:
        return domain.dedicated_pool_id
    if domain.sending_mode == SendingMode.TRANSACTIONAL:
        return domain.transactional_pool_id
    return domain.shared_pool_id


@dataclass(frozen=True)
class Thresholds:
    max_bounce_rate: float
    max_complaint_rate: float
    min_sample: int
    window_days: int

    @classmethod
    def of(cls, pool: Pool) -> Thresholds:
        return cls(pool.max_bounce_rate, pool.max_complaint_rate, pool.min_sample, pool.window_days)


@dataclass(frozen=True)
class RateReading:
    """Volumes and rates over a window, beside the thresholds that judge them."""

    sent: int
    bounced: int
    complaints: int
    bounce_rate: float
    complaint_rate: float
    thresholds: Thresholds | None

    @classmethod
    def of(cls, rates: stats.Rates, thresholds: Thresholds | None) -> RateReading:
        return cls(
            sent=rates.delivered_or_bounced,
            bounced=rates.bounced,
            complaints=rates.complaints,
            bounce_rate=rates.bounce_rate,
            complaint_rate=rates.complaint_rate,
            thresholds=thresholds,
        )

    @property
    def judged(self) -> bool:
        """Rates count only once the window holds enough messages."""
        return self.thresholds is not None and self.sent >= self.thresholds.min_sample

    @property
    def closeness(self) -> float:
        """The larger of the two rates as a fraction of its threshold (1.0 = at the limit)."""
        if self.thresholds is None:
            return 0.0
        return max(
            self.bounce_rate / self.thresholds.max_bounce_rate,
            self.complaint_rate / self.thresholds.max_complaint_rate,
        )

    @property
    def over(self) -> bool:
        return self.judged and self.closeness > 1.0


@dataclass(frozen=True)
class IpView:
    address: str
    hostname: str
    pool: str | None
    account: str | None
    state: str
    weight: int
    bound: bool | None
    blocklisted: bool
    sent_today: int

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MemberDomain:
    name: str
    account: str
    status: str
    removed_reason: str | None
    rates: RateReading


@dataclass(frozen=True)
class PoolView:
    name: str
    kind: str
    account: str | None
    thresholds: Thresholds
    ips: list[IpView]
    domains: list[MemberDomain]
    today: RateReading

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "account": self.account,
            "thresholds": asdict(self.thresholds),
            "ips": [ip.as_json() for ip in self.ips],
            "domains": [
                {
                    "name": d.name,
                    "account": d.account,
                    "status": d.status,
                    "removed_reason": d.removed_reason,
                    "sent": d.rates.sent,
                    "bounce_rate": d.rates.bounce_rate,
                    "complaint_rate": d.rates.complaint_rate,
                }
                for d in self.domains
            ],
            "today": {
                "sent": self.today.sent,
                "bounced": self.today.bounced,
                "complaints": self.today.complaints,
                "bounce_rate": self.today.bounce_rate,
                "complaint_rate": self.today.complaint_rate,
            },
        }


def _ip_sent_on(session: Session, ip_ids: list[int], day: date) -> dict[int, stats.Rates]:
    if not ip_ids:
        return {}
    query = (
        select(
            IpDailyStat.ip_id,
            func.sum(IpDailyStat.sent),
            func.sum(IpDailyStat.deferred),
            func.sum(IpDailyStat.bounced),
            func.sum(IpDailyStat.complaints),
        )
        .where(IpDailyStat.ip_id.in_(ip_ids))
        .where(IpDailyStat.day == day)
        .group_by(IpDailyStat.ip_id)
    )
    return {row[0]: stats.Rates(*(int(v or 0) for v in row[1:])) for row in session.exec(query)}


@dataclass(frozen=True)
class _Names:
    """Pool and account names by id, read once per listing rather than once per row."""

    pools: dict[int, str]
    accounts: dict[int, str]

    @classmethod
    def read(cls, session: Session) -> _Names:
        return cls(
            pools=dict(session.exec(select(Pool.id, Pool.name)).all()),
            accounts=dict(session.exec(select(Account.id, Account.name)).all()),
        )


def _ip_views(session: Session, ips: list[IpAddress], names: _Names) -> list[IpView]:
    today = _ip_sent_on(session, [ip.id for ip in ips], clock.today())
    pools, accounts = names.pools, names.accounts
    return [
        IpView(
            address=ip.address,
            hostname=ip.hostname,
            pool=pools.get(ip.pool_id),
            account=accounts.get(ip.account_id),
            state=ip.state,
            weight=ip.weight,
            bound=ip.bound,
            blocklisted=ip.state == IpState.BLOCKLISTED,
            sent_today=today.get(ip.id, stats.Rates()).delivered_or_bounced,
        )
        for ip in ips
    ]


def _pool_members(session: Session, pool: Pool) -> list[Domain]:
    column = {
        PoolKind.DEDICATED: Domain.dedicated_pool_id,
        PoolKind.TRANSACTIONAL: Domain.transactional_pool_id,
    }.get(pool.kind, Domain.shared_pool_id)
    candidates = session.exec(select(Domain).where(column == pool.id).order_by(Domain.name))
    return [domain for domain in candidates if domain_pool_id(domain) == pool.id]


def _pool_view(session: Session, pool: Pool, names: _Names) -> PoolView:
    thresholds = Thresholds.of(pool)
    ips = list(
        session.exec(select(IpAddress).where(IpAddress.pool_id == pool.id).order_by(IpAddress.id))
    )
    members = _pool_members(session, pool)
    window = stats.domain_rates(session, [d.id for d in members], clock.today(), pool.window_days)
    accounts = names.accounts
    today = stats.Rates()
    for rates in _ip_sent_on(session, [ip.id for ip in ips], clock.today()).values():
        today = stats.Rates(
            sent=today.sent + rates.sent,
            deferred=today.deferred + rates.deferred,
            bounced=today.bounced + rates.bounced,
            complaints=today.complaints + rates.complaints,
        )
    return PoolView(
        name=pool.name,
        kind=pool.kind,
        account=accounts.get(pool.account_id),
        thresholds=thresholds,
        ips=_ip_views(session, ips, names),
        domains=[
            MemberDomain(
                name=d.name,
                account=accounts[d.account_id],
                status=d.status,
                removed_reason=d.removed_reason,
                rates=RateReading.of(window.get(d.id, stats.Rates()), thresholds),
            )
            for d in members
        ],
        today=RateReading.of(today, thresholds),
    )


_KIND_ORDER = {PoolKind.SHARED: 0, PoolKind.TRANSACTIONAL: 1, PoolKind.DEDICATED: 2}


def list_pools(session: Session, actor: User) -> list[PoolView]:
    """Every pool: shared first, then transactional, then accounts' dedicated groups."""
    require_staff(actor, "see the pools")
    pools = sorted(session.exec(select(Pool)), key=lambda p: (_KIND_ORDER.get(p.kind, 3), p.name))
    names = _Names.read(session)
    return [_pool_view(session, pool, names) for pool in pools]


def list_ips(session: Session, actor: User, *, pool_name: str | None = None) -> list[IpView]:
    """Every IP (free dedicated inventory included), or only POOL_NAME's."""
    require_staff(actor, "see the IP inventory")
    query = select(IpAddress).order_by(IpAddress.id)
    if pool_name:
        query = query.where(IpAddress.pool_id == get_pool(session, pool_name.strip()).id)
    return _ip_views(session, list(session.exec(query)), _Names.read(session))


def _running_warmup(session: Session, pool_id: int | None) -> Warmup | None:
    if pool_id is None:
        return None
    return session.exec(
        select(Warmup)
        .where(Warmup.pool_id == pool_id)
        .where(Warmup.state.in_([WarmupState.RUNNING, WarmupState.PAUSED]))
    ).first()


def _record_ip_change(
    session: Session, actor: User, ip: IpAddress, action: str, before: dict, after: dict
) -> None:
    audit.record(
        session,
        actor=actor.name,
        action=action,
        entity="ip",
        entity_id=ip.address,
        account_id=ip.account_id,
        before=before,
        after=after,
    )


def _refuse_emptying_pool(session: Session, ip: IpAddress, doing: str) -> None:
    """A shared or transactional pool with active domains must keep one IP taking traffic."""
    pool = session.get(Pool, ip.pool_id) if ip.pool_id else None
    if pool is None or pool.kind == PoolKind.DEDICATED:
        return  # dedicated domains fall back to their shared pool
    others = session.exec(
        select(IpAddress)
        .where(IpAddress.pool_id == pool.id)
        .where(IpAddress.id != ip.id)
        .where(IpAddress.state.in_(SENDING_STATES))
        .where(IpAddress.weight > 0)
    ).first()
    has_members = any(d.status == DomainStatus.ACTIVE for d in _pool_members(session, pool))
    if others is None and has_members:
        raise MailpoolsError(
            f"{doing} {ip.address} would leave pool {pool.name} with no IP to send from; "
            "resume or add another IP first."
        )


def pause_ip(session: Session, actor: User, address: str) -> Outcome[IpAddress]:
    require_staff(actor, "pause IPs")
    ip = get_ip(session, address)
    if ip.state == IpState.PAUSED:
        raise MailpoolsError(f"{ip.address} is already paused.")
    if ip.state == IpState.BLOCKLISTED:
        raise MailpoolsError(f"{ip.address} is blocklisted and already takes no traffic.")
    _refuse_emptying_pool(session, ip, "Pausing")
    before = {"state": ip.state}
    ip.state = IpState.PAUSED
    session.add(ip)
    _record_ip_change(session, actor, ip, "ip.pause", before, {"state": ip.state})
    return Outcome(ip, f"{ip.address} is paused: it sends nothing until it is resumed.")


def resume_ip(session: Session, actor: User, address: str) -> Outcome[IpAddress]:
    require_staff(actor, "resume IPs")
    ip = get_ip(session, address)
    if ip.state != IpState.PAUSED:
        raise MailpoolsError(f"{ip.address} is {ip.state}, not paused; nothing to resume.")
    before = {"state": ip.state}
    # An IP of a group that is still warming goes back to warming, not to full traffic.
    ip.state = IpState.WARMING if _running_warmup(session, ip.pool_id) else IpState.ACTIVE
    session.add(ip)
    _record_ip_change(session, actor, ip, "ip.resume", before, {"state": ip.state})
    return Outcome(ip, f"{ip.address} is {ip.state} again.")


def parse_weight(value: int | str) -> int:
    text = str(value).strip()
    if not text:
        raise MailpoolsError(f"Enter a weight from 0 to {MAX_IP_WEIGHT}.", field="weight")
    try:
        weight = int(text)
    except ValueError:
        raise MailpoolsError(
            f"The weight must be a whole number from 0 to {MAX_IP_WEIGHT}, not {text!r}.",
            field="weight",
        ) from None
    if not 0 <= weight <= MAX_IP_WEIGHT:
        raise MailpoolsError(
            f"The weight must be from 0 to {MAX_IP_WEIGHT}; {weight} is out of range.",
            field="weight",
        )
    return weight


def set_ip_weight(
    session: Session, actor: User, address: str, weight: int | str
) -> Outcome[IpAddress]:
    """An IP's share of its pool's traffic is its weight over the pool's total; 0 takes none."""
    require_staff(actor, "change IP weights")
    new_weight = parse_weight(weight)
    ip = get_ip(session, address)
    if ip.weight == new_weight:
        raise MailpoolsError(f"{ip.address} already has weight {new_weight}.", field="weight")
    if new_weight == 0:
        _refuse_emptying_pool(session, ip, "A weight of 0 on")
    before = {"weight": ip.weight}
    ip.weight = new_weight
    session.add(ip)
    _record_ip_change(session, actor, ip, "ip.weight", before, {"weight": ip.weight})
    return Outcome(ip, f"{ip.address} now has weight {ip.weight}.")


@dataclass(frozen=True)
class WarmupView:
    id: int
    account: str
    pool: str
    domains: list[str]
    ips: list[str]
    state: str
    day: int
    planned_days: int
    today_share: float
    held_days: int
    expected_weekly_volume: int
    started_on: date
    last_hold_reason: str | None

    def as_json(self) -> dict:
        return asdict(self)


def list_warmups(session: Session, actor: User) -> list[WarmupView]:
    """Warm-ups not yet complete (running or paused), oldest first."""
    require_staff(actor, "see warm-ups")
    warmups = session.exec(
        select(Warmup)
        .where(Warmup.state.in_([WarmupState.RUNNING, WarmupState.PAUSED]))
        .order_by(Warmup.started_on, Warmup.id)
    )
    views = []
    for warmup in warmups:
        pool = session.get(Pool, warmup.pool_id)
        account = session.get(Account, warmup.account_id)
        last_hold = session.exec(
            select(WarmupHold)
            .where(WarmupHold.warmup_id == warmup.id)
            .order_by(WarmupHold.day.desc())
        ).first()
        views.append(
            WarmupView(
                id=warmup.id,
                account=account.name,
                pool=pool.name,
                domains=list(
                    session.exec(
                        select(Domain.name)
                        .where(Domain.dedicated_pool_id == pool.id)
                        .order_by(Domain.name)
                    )
                ),
                ips=list(
                    session.exec(
                        select(IpAddress.address)
                        .where(IpAddress.pool_id == pool.id)
                        .order_by(IpAddress.id)
                    )
                ),
                state=warmup.state,
                day=warmup.current_day,
                planned_days=warmup.planned_days,
                today_share=dedicated_share(warmup.current_day, warmup.planned_days),
                held_days=warmup.held_days,
                expected_weekly_volume=warmup.expected_weekly_volume,
                started_on=warmup.started_on,
                last_hold_reason=last_hold.reason if last_hold else None,
            )
        )
    return views
