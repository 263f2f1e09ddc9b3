"""Domain health: taking a poorly performing domain out of its shared or transactional pool.

A domain's bounce and complaint rates are summed from the daily stats over its
pool's window (window_days ending today). Once it has sent at least the pool's
minimum sample, a rate above the pool's threshold removes it from the pool
(app.services.pools, acted by the system): its mail is held, the removal is
audited, and the owner is notified. The transactional pool's thresholds are
stricter than the shared pools', so the same rates can keep a domain in a
shared pool and remove it from the transactional one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app import clock
from app.rules.formatting import percent
from app.rules.rates import RateReading, Rates, Thresholds
from app.rules.routing import sending_pool_id
from app.services import audit
from app.services.pools import remove_domain_from_pool
from app.services.stats import domain_rates
from data.db import session_scope
from data.models import Domain, DomainStatus, Pool, SendingMode, saved_id


@dataclass(frozen=True)
class Verdict:
    domain_id: int
    domain: str
    pool: str
    rates: Rates
    reason: str


def breach(rates: Rates, pool: Pool) -> str | None:
    """Why RATES break POOL's thresholds, or None (also None below the minimum sample)."""
    if not RateReading(rates, Thresholds.of(pool)).judged:
        return None
    problems = []
    if rates.bounce_rate > pool.max_bounce_rate:
        problems.append(
            f"bounce rate {percent(rates.bounce_rate)} is above the pool's {percent(pool.max_bounce_rate)}"
        )
    if rates.complaint_rate > pool.max_complaint_rate:
        problems.append(
            f"complaint rate {percent(rates.complaint_rate)} is above the pool's "
            f"{percent(pool.max_complaint_rate)}"
        )
    if not problems:
        return None
    return (
        f"Over the last {pool.window_days} days in {pool.name}, the "
        + " and the ".join(problems)
        + f" ({rates.volume:,} messages)."
    )


def find_breaches(
    session: Session, today: date, domain_ids: Collection[int] | None = None
) -> list[Verdict]:
    """The active shared and transactional domains (or those of DOMAIN_IDS) over a limit."""
    query = (
        select(Domain)
        .where(Domain.status == DomainStatus.ACTIVE)
        .where(col(Domain.sending_mode).in_([SendingMode.SHARED, SendingMode.TRANSACTIONAL]))
    )
    if domain_ids is not None:
        query = query.where(col(Domain.id).in_(list(domain_ids)))
    domains = session.exec(query).all()
    by_pool: dict[int, list[Domain]] = {}
    for domain in domains:
        pool_id = sending_pool_id(domain)
        if pool_id is not None:
            by_pool.setdefault(pool_id, []).append(domain)
    verdicts = []
    for pool_id, members in by_pool.items():
        pool = session.get(Pool, pool_id)
        assert pool is not None, "a domain's pool id is a foreign key to an existing pool"
        rates = domain_rates(session, [saved_id(d) for d in members], today, pool.window_days)
        for domain in members:
            domain_id = saved_id(domain)
            reason = breach(rates.get(domain_id, Rates()), pool)
            if reason:
                verdicts.append(
                    Verdict(domain_id, domain.name, pool.name, rates[domain_id], reason)
                )
    return verdicts


def check_domain_health(
    engine: Engine, today: date | None = None, domain_ids: Collection[int] | None = None
) -> list[Verdict]:
    """Remove every domain (of DOMAIN_IDS, when given) whose rates break its pool's
    thresholds; one transaction per removal."""
    today = today or clock.today()
    with session_scope(engine) as session:
        verdicts = find_breaches(session, today, domain_ids)
    removed = []
    for verdict in verdicts:
        with session_scope(engine) as session:
            domain = session.exec(
                select(Domain).where(Domain.id == verdict.domain_id).with_for_update()
            ).one()
            if domain.status != DomainStatus.ACTIVE:
                continue  # another worker or an agent got there first
            remove_domain_from_pool(
                session, domain, reason=verdict.reason, actor=audit.SYSTEM_ACTOR
            )
        removed.append(verdict)
    return removed
