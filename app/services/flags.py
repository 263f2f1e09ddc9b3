"""Things agents should look at before they become problems.

- Dedicated IPs whose real weekly volume, counted across all the domains that
  use them, is under the 50,000 minimum: too little mail for an IP to keep a
  reputation of its own.
- Domains whose bounce or complaint rate is close to (or past) their pool's
  threshold, before the health check takes them out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlmodel import Session, col, select

from app import clock
from app.rules.policy import DEDICATED_WEEKLY_MINIMUM
from app.rules.rates import NEAR_LIMIT_FRACTION, RateReading, Thresholds
from app.rules.routing import sending_pool_id
from app.services import stats
from app.services.auth import require_staff
from data.models import Account, Domain, DomainStatus, IpAddress, Pool, PoolKind, User, saved_id


@dataclass(frozen=True)
class LowVolumeIp:
    address: str
    pool: str
    account: str
    state: str
    domains: list[str]
    weekly_volume: int
    minimum: int = DEDICATED_WEEKLY_MINIMUM

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NearThresholdDomain:
    name: str
    account: str
    pool: str
    rates: RateReading

    @property
    def worst(self) -> str:
        """Which rate is closest to its limit."""
        return self.rates.worst

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "account": self.account,
            "pool": self.pool,
            "sent": self.rates.sent,
            "volume": self.rates.volume,
            "bounce_rate": self.rates.bounce_rate,
            "complaint_rate": self.rates.complaint_rate,
            "max_bounce_rate": self.rates.bounce.limit,
            "max_complaint_rate": self.rates.complaint.limit,
            "closeness": self.rates.closeness,
            "judged": self.rates.judged,
        }


def low_volume_dedicated_ips(session: Session, actor: User) -> list[LowVolumeIp]:
    """Allocated dedicated IPs whose group's domains sent under the minimum in the last 7 days."""
    require_staff(actor, "see flags")
    accounts = {a.id: a.name for a in session.exec(select(Account))}
    flagged: list[LowVolumeIp] = []
    groups = session.exec(
        select(Pool)
        .where(Pool.kind == PoolKind.DEDICATED)
        .where(col(Pool.account_id).is_not(None))
        .order_by(Pool.name)
    )
    for pool in groups:
        ips = list(
            session.exec(
                select(IpAddress).where(IpAddress.pool_id == pool.id).order_by(col(IpAddress.id))
            )
        )
        if not ips:
            continue
        domains = list(
            session.exec(
                select(Domain).where(Domain.dedicated_pool_id == pool.id).order_by(Domain.name)
            )
        )
        volume = stats.weekly_volume(session, [saved_id(d) for d in domains], clock.today())
        if volume >= DEDICATED_WEEKLY_MINIMUM:
            continue
        flagged += [
            LowVolumeIp(
                address=ip.address,
                pool=pool.name,
                account=accounts[pool.account_id],
                state=ip.state,
                domains=[d.name for d in domains],
                weekly_volume=volume,
            )
            for ip in ips
        ]
    return sorted(flagged, key=lambda flag: (flag.weekly_volume, flag.address))


def domains_near_thresholds(
    session: Session, actor: User, *, fraction: float = NEAR_LIMIT_FRACTION
) -> list[NearThresholdDomain]:
    """Active domains with a rate at FRACTION of their pool's threshold or more, closest first."""
    require_staff(actor, "see flags")
    pools = {p.id: p for p in session.exec(select(Pool))}
    accounts = {a.id: a.name for a in session.exec(select(Account))}
    domains = list(session.exec(select(Domain).where(Domain.status == DomainStatus.ACTIVE)))
    today = clock.today()
    by_window: dict[int, list[Domain]] = {}
    for domain in domains:
        pool = pools.get(sending_pool_id(domain))
        if pool is not None:
            by_window.setdefault(pool.window_days, []).append(domain)
    flagged: list[NearThresholdDomain] = []
    for days, members in by_window.items():
        window = stats.domain_rates(session, [saved_id(d) for d in members], today, days)
        for domain in members:
            rates = window.get(saved_id(domain))
            if rates is None or rates.volume == 0:
                continue
            pool = pools[sending_pool_id(domain)]
            reading = RateReading(rates, Thresholds.of(pool))
            if reading.closeness >= fraction:
                flagged.append(
                    NearThresholdDomain(
                        domain.name, accounts[domain.account_id], pool.name, reading
                    )
                )
    return sorted(flagged, key=lambda flag: (-flag.rates.closeness, flag.name))
