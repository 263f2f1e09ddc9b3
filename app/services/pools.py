"""Pools: what agents see of them, and what they do to their IPs and member domains.

Listings give plain dataclasses (screens and `--json` read the same views);
pausing, resuming and re-weighting an IP, removing and reinstating a domain are
agents' and admins' actions, each validated, audited and done in the caller's
one transaction.

Removal protects everyone else in a shared pool from a domain that performs
poorly. It is visible to the owner (a notification, the domain's status),
audited, and reversible by an agent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy
from sqlalchemy import func, update
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from app import clock
from app.errors import MailpoolsError
from app.rules import policy
from app.rules.formatting import one_line, percent, plural, whole_percent
from app.rules.numbers import whole_number_or_none
from app.rules.rates import RateReading, Rates, Thresholds
from app.rules.routing import sending_pool_id
from app.services import audit, stats
from app.services.auth import require_staff
from app.services.lookups import get_domain, get_ip, get_pool
from app.services.notifications import notify
from app.services.outcomes import Outcome
from data.models import (
    Account,
    Domain,
    DomainStatus,
    IpAddress,
    IpDailyStat,
    IpState,
    Message,
    MessageStatus,
    Pool,
    PoolKind,
    SendingMode,
    User,
    Warmup,
    WarmupState,
    saved_id,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult

MAX_IP_WEIGHT = 100
# States in which an IP takes traffic.
SENDING_STATES = (IpState.ACTIVE, IpState.WARMING)


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


def _rates_json(reading: RateReading) -> dict:
    return {
        "sent": reading.sent,
        "bounced": reading.bounced,
        "complaints": reading.complaints,
        "volume": reading.volume,
        "bounce_rate": reading.bounce_rate,
        "complaint_rate": reading.complaint_rate,
    }


@dataclass(frozen=True)
class PoolView:
    """A pool as anyone who may see it reads it: its limits and its IPs."""

    name: str
    kind: str
    account: str | None
    thresholds: Thresholds
    ips: list[IpView]

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "account": self.account,
            "thresholds": asdict(self.thresholds),
            "ips": [ip.as_json() for ip in self.ips],
        }


def _member_json(member: MemberDomain) -> dict:
    return {
        "name": member.name,
        "account": member.account,
        "status": member.status,
        "removed_reason": member.removed_reason,
        **_rates_json(member.rates),
    }


@dataclass(frozen=True)
class PoolReport(PoolView):
    """A pool as agents review it: also its member domains' rates and today's sending.

    WARMING_BESIDE are domains moving to dedicated IPs whose warm-up still sends part
    of their mail from this, their shared pool: not members, but this pool's traffic.
    """

    domains: list[MemberDomain]
    today: RateReading
    warming_beside: list[MemberDomain] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            **super().as_json(),
            "domains": [_member_json(d) for d in self.domains],
            "warming_beside": [_member_json(d) for d in self.warming_beside],
            "today": _rates_json(self.today),
        }


def _ip_sent_on(session: Session, ip_ids: list[int], day: date) -> dict[int, Rates]:
    if not ip_ids:
        return {}
    # sqlmodel's select is typed for at most four columns; SQLAlchemy's for any number.
    query = (
        sqlalchemy.select(
            col(IpDailyStat.ip_id),
            func.sum(col(IpDailyStat.sent)),
            func.sum(col(IpDailyStat.deferred)),
            func.sum(col(IpDailyStat.bounced)),
            func.sum(col(IpDailyStat.complaints)),
        )
        .where(col(IpDailyStat.ip_id).in_(ip_ids))
        .where(col(IpDailyStat.day) == day)
        .group_by(col(IpDailyStat.ip_id))
    )
    return {row[0]: Rates(*(int(v or 0) for v in row[1:])) for row in session.execute(query)}


@dataclass(frozen=True)
class _Names:
    """Pool and account names by id, read once per listing rather than once per row.

    Keyed by optional ids: an IP without a pool, or a pool without an account, looks up None.
    """

    pools: dict[int | None, str]
    accounts: dict[int | None, str]

    @classmethod
    def read(cls, session: Session) -> _Names:
        return cls(
            pools=dict(session.exec(select(Pool.id, Pool.name)).all()),
            accounts=dict(session.exec(select(Account.id, Account.name)).all()),
        )


def _ip_views(session: Session, ips: list[IpAddress], names: _Names) -> list[IpView]:
    today = _ip_sent_on(session, [saved_id(ip) for ip in ips], clock.today())
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
            sent_today=today.get(saved_id(ip), Rates()).sent,
        )
        for ip in ips
    ]


def _pool_members(session: Session, pool: Pool) -> list[Domain]:
    columns: dict[str, Mapped[int | None]] = {
        PoolKind.DEDICATED: col(Domain.dedicated_pool_id),
        PoolKind.TRANSACTIONAL: col(Domain.transactional_pool_id),
    }
    column = columns.get(pool.kind, col(Domain.shared_pool_id))
    candidates = session.exec(select(Domain).where(column == pool.id).order_by(Domain.name))
    return [domain for domain in candidates if sending_pool_id(domain) == pool.id]


def _warming_beside(session: Session, pool: Pool) -> list[Domain]:
    """Domains whose shared pool is POOL and whose dedicated IPs are still warming:
    until the warm-up completes, routing sends part of their mail from POOL."""
    if pool.kind != PoolKind.SHARED:
        return []
    warming_pools = select(Warmup.pool_id).where(
        col(Warmup.state).in_([WarmupState.RUNNING, WarmupState.PAUSED])
    )
    return list(
        session.exec(
            select(Domain)
            .where(Domain.shared_pool_id == pool.id)
            .where(Domain.sending_mode == SendingMode.DEDICATED)
            .where(col(Domain.dedicated_pool_id).in_(warming_pools))
            .order_by(Domain.name)
        )
    )


def _pool_ips(session: Session, pool: Pool) -> list[IpAddress]:
    return list(
        session.exec(
            select(IpAddress).where(IpAddress.pool_id == pool.id).order_by(col(IpAddress.id))
        )
    )


def pool_view(session: Session, pool: Pool, names: _Names | None = None) -> PoolView:
    """POOL's limits and IPs; callers check that the reader may see it."""
    names = names or _Names.read(session)
    return PoolView(
        name=pool.name,
        kind=pool.kind,
        account=names.accounts.get(pool.account_id),
        thresholds=Thresholds.of(pool),
        ips=_ip_views(session, _pool_ips(session, pool), names),
    )


def pool_ip_views(session: Session, pool_id: int | None) -> list[IpView]:
    """The IPs of the pool POOL_ID (none for None); callers check that the reader may see them."""
    pool = session.get(Pool, pool_id) if pool_id is not None else None
    if pool is None:
        return []
    return _ip_views(session, _pool_ips(session, pool), _Names.read(session))


def _pool_report(session: Session, pool: Pool, names: _Names) -> PoolReport:
    view = pool_view(session, pool, names)
    members = _pool_members(session, pool)
    beside = _warming_beside(session, pool)
    window = stats.domain_rates(
        session, [saved_id(d) for d in members + beside], clock.today(), pool.window_days
    )
    accounts = names.accounts
    ip_ids = [saved_id(ip) for ip in _pool_ips(session, pool)]
    today = sum(_ip_sent_on(session, ip_ids, clock.today()).values(), Rates())

    def member(domain: Domain) -> MemberDomain:
        return MemberDomain(
            name=domain.name,
            account=accounts[domain.account_id],
            status=domain.status,
            removed_reason=domain.removed_reason,
            rates=RateReading(window.get(saved_id(domain), Rates()), view.thresholds),
        )

    return PoolReport(
        **{f.name: getattr(view, f.name) for f in fields(PoolView)},
        domains=[member(d) for d in members],
        today=RateReading(today, view.thresholds),
        warming_beside=[member(d) for d in beside],
    )


_KIND_ORDER: dict[str, int] = {PoolKind.SHARED: 0, PoolKind.TRANSACTIONAL: 1, PoolKind.DEDICATED: 2}


def list_pools(session: Session, actor: User) -> list[PoolReport]:
    """Every pool: shared first, then transactional, then accounts' dedicated groups."""
    require_staff(actor, "see the pools")
    pools = sorted(session.exec(select(Pool)), key=lambda p: (_KIND_ORDER.get(p.kind, 3), p.name))
    names = _Names.read(session)
    return [_pool_report(session, pool, names) for pool in pools]


def list_ips(session: Session, actor: User, *, pool_name: str | None = None) -> list[IpView]:
    """Every IP (free dedicated inventory included), or only POOL_NAME's."""
    require_staff(actor, "see the IP inventory")
    query = select(IpAddress).order_by(col(IpAddress.id))
    if pool_name:
        query = query.where(IpAddress.pool_id == get_pool(session, pool_name.strip()).id)
    return _ip_views(session, list(session.exec(query)), _Names.read(session))


def _running_warmup(session: Session, pool_id: int | None) -> Warmup | None:
    if pool_id is None:
        return None
    return session.exec(
        select(Warmup)
        .where(Warmup.pool_id == pool_id)
        .where(col(Warmup.state).in_([WarmupState.RUNNING, WarmupState.PAUSED]))
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
        .where(col(IpAddress.state).in_(SENDING_STATES))
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
    text = str(value)
    if not text.strip():
        raise MailpoolsError(f"Enter a weight from 0 to {MAX_IP_WEIGHT}.", field="weight")
    weight = whole_number_or_none(text)
    if weight is None:
        raise MailpoolsError(
            f"The weight must be a whole number from 0 to {MAX_IP_WEIGHT}, "
            f"not {one_line(repr(text), 40)}.",
            field="weight",
        )
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


def _lock(session: Session, domain: Domain) -> Domain:
    """Hold the domain's row and re-read it, so of two people acting at once the second
    sees what the first did (PostgreSQL; SQLite transactions already run one at a time)."""
    return session.exec(
        select(Domain)
        .where(Domain.id == domain.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).one()


def remove_domain_from_pool(session: Session, domain: Domain, *, reason: str, actor: str) -> Domain:
    """Take DOMAIN out of its pool. ACTOR is a user's name, or audit.SYSTEM_ACTOR for health checks."""
    cleaned = policy.validate_reason(
        reason, when_empty="Say why the domain is removed: the owner will read it."
    )
    domain = _lock(session, domain)
    if domain.status == DomainStatus.REMOVED:
        raise MailpoolsError(f"{domain.name} is already removed from its pool.")
    before = {"status": domain.status}
    domain.status = DomainStatus.REMOVED
    domain.removed_reason = cleaned
    domain.removed_at = clock.now()
    session.add(domain)
    audit.record(
        session,
        actor=actor,
        action="domain.remove",
        entity="domain",
        entity_id=domain.name,
        account_id=domain.account_id,
        domain_id=domain.id,
        before=before,
        after={"status": domain.status, "reason": cleaned},
    )
    notify(
        session,
        account_id=domain.account_id,
        domains=[domain],
        kind="domain_removed",
        title=f"{domain.name} was removed from its pool",
        body=f"{cleaned} Its messages are held, not sent, until support reinstates it: "
        "fix the cause (list hygiene, consent), then ask support to review.",
    )
    return domain


def remove_domain(
    session: Session, actor: User, domain_name: str, *, reason: str
) -> Outcome[Domain]:
    require_staff(actor, "remove domains from pools")
    domain = remove_domain_from_pool(
        session, get_domain(session, domain_name), reason=reason, actor=actor.name
    )
    return Outcome(
        domain,
        f"{domain.name} is removed from its pool; its mail is held until it is reinstated.",
    )


def reinstate_domain(session: Session, actor: User, domain_name: str) -> Outcome[Domain]:
    require_staff(actor, "reinstate domains")
    domain = _lock(session, get_domain(session, domain_name))
    if domain.status != DomainStatus.REMOVED:
        raise MailpoolsError(f"{domain.name} is not removed from its pool; nothing to reinstate.")
    before = {"status": domain.status, "reason": domain.removed_reason}
    domain.status = DomainStatus.ACTIVE
    domain.removed_reason = None
    domain.removed_at = None
    session.add(domain)
    released = cast(
        "CursorResult[Any]",
        session.execute(
            update(Message)
            .where(col(Message.domain_id) == domain.id)
            .where(col(Message.status) == MessageStatus.HELD)
            .values(status=MessageStatus.QUEUED, next_attempt_at=clock.now())
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    audit.record(
        session,
        actor=actor.name,
        action="domain.reinstate",
        entity="domain",
        entity_id=domain.name,
        account_id=domain.account_id,
        domain_id=domain.id,
        before=before,
        after={"status": domain.status, "released_messages": released},
    )
    notify(
        session,
        account_id=domain.account_id,
        domains=[domain],
        kind="domain_reinstated",
        title=f"{domain.name} was reinstated in its pool",
        body="Its held messages are queued again.",
    )
    summary = f"{domain.name} is reinstated; its held mail is queued again."
    standing = _standing(session, domain)
    if standing.reading.over:
        summary += (
            f" It is still over {standing.pool}'s limits, so the next health check "
            "may remove it again."
        )
    return Outcome(domain, summary)


# Checks before a confirmation ---------------------------------------------------------
#
# Each runs the real change in a savepoint and rolls it back, so it refuses exactly what
# the change would refuse, in its words, and returns what the confirmation asks.


def _rehearse(session: Session, change: Callable[[], object]) -> None:
    savepoint = session.begin_nested()
    try:
        change()
    finally:
        savepoint.rollback()
        # Rows read inside the savepoint show the undone change: read them again.
        session.expire_all()


def _usable_weights(session: Session, pool_id: int | None) -> dict[str, int]:
    """The weights of the IPs of POOL_ID that take traffic, by address."""
    if pool_id is None:
        return {}
    return {
        ip.address: ip.weight
        for ip in session.exec(
            select(IpAddress)
            .where(IpAddress.pool_id == pool_id)
            .where(col(IpAddress.state).in_(SENDING_STATES))
        )
    }


def _share(weights: dict[str, int], address: str) -> str:
    total = sum(weights.values())
    return whole_percent(weights.get(address, 0) / total) if total else "none"


def check_pause_ip(session: Session, actor: User, address: str) -> str:
    """What pausing ADDRESS asks before it is done (refused as pausing would be)."""
    _rehearse(session, lambda: pause_ip(session, actor, address))
    ip = get_ip(session, address)
    pool = session.get(Pool, ip.pool_id) if ip.pool_id else None
    where = f" of {pool.name}" if pool else ""
    question = f"Pause {ip.address}{where}? It sends nothing until it is resumed."
    weights = _usable_weights(session, ip.pool_id)
    others = len(weights) - 1
    if ip.address in weights and others:
        to = "the other IP" if others == 1 else f"the {others} other IPs"
        question += f" Its {_share(weights, ip.address)} of the pool's traffic goes to {to}."
    return question


def check_ip_weight(session: Session, actor: User, address: str, weight: int | str) -> str:
    """What giving ADDRESS a new WEIGHT asks before it is done."""
    _rehearse(session, lambda: set_ip_weight(session, actor, address, weight))
    ip = get_ip(session, address)
    new_weight = parse_weight(weight)
    before = _usable_weights(session, ip.pool_id)
    question = f"Change the weight of {ip.address} from {ip.weight} to {new_weight}?"
    if ip.address not in before:
        return f"{question} It takes no traffic while it is {ip.state}."
    after = {**before, ip.address: new_weight}
    return (
        f"{question} Its share of the pool's traffic goes from {_share(before, ip.address)} "
        f"to {_share(after, ip.address)}."
    )


def check_removal(session: Session, actor: User, domain_name: str, *, reason: str) -> str:
    """What removing DOMAIN_NAME asks before it is done (the reason checked as removal checks it)."""
    _rehearse(session, lambda: remove_domain(session, actor, domain_name, reason=reason))
    domain = get_domain(session, domain_name)
    account = session.get(Account, domain.account_id)
    cleaned = " ".join(reason.split())
    return (
        f"Remove {domain.name} from its pool? Its mail is held until it is reinstated, "
        f"and {account.name if account else 'its owner'} is told: “{cleaned}”"
    )


@dataclass(frozen=True)
class Standing:
    """A domain's rates over its pool's window, against that pool's limits."""

    domain: str
    pool: str
    reading: RateReading

    @property
    def summary(self) -> str:
        """The rates against the limits in one sentence."""
        reading, limits = self.reading, self.reading.thresholds
        if limits is None:
            return f"{self.domain} has no pool whose limits would judge it."
        window = f"over the last {plural(limits.window_days, 'day')}"
        if not reading.judged:
            return (
                f"{plural(reading.volume, 'message')} {window}: fewer than the "
                f"{limits.min_sample:,} {self.pool} needs to judge its rates."
            )
        return (
            f"{window.capitalize()} in {self.pool} ({plural(reading.volume, 'message')}): "
            f"bounces {percent(reading.bounce_rate)} against a limit of "
            f"{percent(limits.max_bounce_rate)}, complaints {percent(reading.complaint_rate)} "
            f"against {percent(limits.max_complaint_rate)}."
        )


def _standing(session: Session, domain: Domain) -> Standing:
    pool = session.get(Pool, sending_pool_id(domain)) if sending_pool_id(domain) else None
    if pool is None:
        return Standing(domain.name, "", RateReading(Rates(), None))
    rates = stats.domain_rates(session, [saved_id(domain)], clock.today(), pool.window_days)
    return Standing(
        domain.name,
        pool.name,
        RateReading(rates.get(saved_id(domain), Rates()), Thresholds.of(pool)),
    )


@dataclass(frozen=True)
class ReinstatementCheck:
    standing: Standing
    question: str

    @property
    def still_over(self) -> bool:
        return self.standing.reading.over


def check_reinstatement(session: Session, actor: User, domain_name: str) -> ReinstatementCheck:
    """The domain's current rates against its pool's limits, and what reinstating asks."""
    _rehearse(session, lambda: reinstate_domain(session, actor, domain_name))
    domain = get_domain(session, domain_name)
    standing = _standing(session, domain)
    held = session.exec(
        select(func.count())
        .select_from(Message)
        .where(col(Message.domain_id) == domain.id)
        .where(col(Message.status) == MessageStatus.HELD)
    ).one()
    queued = f" Its {plural(held, 'held message')} will be queued again." if held else ""
    if standing.reading.over:
        question = (
            f"Still over {standing.pool}'s limits: the next health check will likely remove "
            f"{domain.name} again.{queued} Reinstate it anyway?"
        )
    else:
        question = f"Reinstate {domain.name} in {standing.pool or 'its pool'}?{queued}"
    return ReinstatementCheck(standing, question)


# Blocklists ---------------------------------------------------------------------------


def _other_usable_ip(session: Session, ip: IpAddress) -> IpAddress | None:
    return session.exec(
        select(IpAddress)
        .where(IpAddress.pool_id == ip.pool_id)
        .where(IpAddress.id != ip.id)
        .where(col(IpAddress.state).in_(SENDING_STATES))
        .where(IpAddress.weight > 0)
    ).first()


def take_listed_ip_out(session: Session, ip: IpAddress, zones: list[str]) -> str:
    """Stop sending from IP, found on the blocklists ZONES (the system's act, audited as
    such). The last usable IP of its pool stays in rotation: the pool is never emptied;
    the listing stays flagged instead. Returns what was done, in one sentence."""
    listed_on = ", ".join(zones)
    if ip.state not in SENDING_STATES:
        return f"{ip.address} is listed on {listed_on} and already takes no traffic."
    if ip.pool_id is not None and _other_usable_ip(session, ip) is None:
        return (
            f"{ip.address} is listed on {listed_on} but stays in rotation: it is its pool's "
            "last usable IP."
        )
    before = {"state": ip.state}
    ip.state = IpState.BLOCKLISTED
    session.add(ip)
    audit.record(
        session,
        actor=audit.SYSTEM_ACTOR,
        action="ip.blocklisted",
        entity="ip",
        entity_id=ip.address,
        account_id=ip.account_id,
        before=before,
        after={"state": ip.state, "zones": zones},
    )
    return f"{ip.address} is listed on {listed_on}: taken out of rotation."


def bring_delisted_ip_back(session: Session, ip: IpAddress) -> str:
    """IP was blocklisted and a check found it on no list: it takes traffic again (warming
    if its group is still warming up), the system's act, audited as such."""
    before = {"state": ip.state}
    ip.state = IpState.WARMING if _running_warmup(session, ip.pool_id) else IpState.ACTIVE
    session.add(ip)
    audit.record(
        session,
        actor=audit.SYSTEM_ACTOR,
        action="ip.delisted",
        entity="ip",
        entity_id=ip.address,
        account_id=ip.account_id,
        before=before,
        after={"state": ip.state},
    )
    return f"{ip.address} is on no blocklist any more: back in rotation ({ip.state})."
