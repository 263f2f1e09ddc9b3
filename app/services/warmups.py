"""Dedicated IP warm-ups: the daily evaluation, the status shown to people, pause and resume.

Each finished calendar day of a running warm-up is judged once, from the
dedicated IPs' daily stats: a day whose bounce or complaint rate breaks the
dedicated pool's thresholds is held (a WarmupHold row with the reason; the plan
does not advance), any other day advances the plan by one. When the last plan
day passes, the warm-up completes: its IPs go from warming to active, all of
the domains' mail goes to them, and the owner is told.

A paused warm-up keeps its day and its share: it neither advances nor counts
held days until an agent resumes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app import clock
from app.errors import MailpoolsError
from app.rules.formatting import percent
from app.rules.rates import Rates
from app.rules.warmup_plan import dedicated_share, schedule
from app.services import audit
from app.services.auth import require_staff
from app.services.lookups import get_domain, get_domain_for
from app.services.notifications import notify
from app.services.outcomes import Outcome
from data.db import session_scope
from data.models import (
    Account,
    Domain,
    IpAddress,
    IpDailyStat,
    IpState,
    Pool,
    User,
    Warmup,
    WarmupHold,
    WarmupState,
    saved_id,
)


def _open_warmup(session: Session, domain: Domain) -> Warmup:
    warmup = None
    if domain.dedicated_pool_id is not None:
        warmup = session.exec(
            select(Warmup)
            .where(Warmup.pool_id == domain.dedicated_pool_id)
            .where(col(Warmup.state).in_([WarmupState.RUNNING, WarmupState.PAUSED]))
            .with_for_update()
        ).first()
    if warmup is None:
        raise MailpoolsError(f"{domain.name} has no dedicated IP warm-up in progress.")
    return warmup


def _pool_of(session: Session, warmup: Warmup) -> Pool:
    pool = session.get(Pool, warmup.pool_id)
    assert pool is not None, "a warm-up's pool_id is a foreign key to an existing pool"
    return pool


def _group(session: Session, warmup: Warmup) -> list[Domain]:
    """The domains on the warm-up's dedicated IPs, whom its notices are about."""
    return list(
        session.exec(
            select(Domain).where(Domain.dedicated_pool_id == warmup.pool_id).order_by(Domain.name)
        )
    )


def _record(
    session: Session, actor: User, domain: Domain, warmup: Warmup, action: str, before: str
) -> None:
    pool = _pool_of(session, warmup)
    audit.record(
        session,
        actor=actor.name,
        action=action,
        entity="warmup",
        entity_id=pool.name,
        account_id=warmup.account_id,
        domain_id=domain.id,
        before={"state": before, "day": warmup.current_day},
        after={"state": warmup.state, "day": warmup.current_day},
    )


def pause_warmup(session: Session, actor: User, domain_name: str) -> Outcome[Warmup]:
    require_staff(actor, "pause warm-ups")
    domain = get_domain(session, domain_name)
    warmup = _open_warmup(session, domain)
    if warmup.state == WarmupState.PAUSED:
        raise MailpoolsError(f"The warm-up of {domain.name} is already paused.")
    warmup.state = WarmupState.PAUSED
    session.add(warmup)
    _record(session, actor, domain, warmup, "warmup.pause", WarmupState.RUNNING)
    notify(
        session,
        account_id=warmup.account_id,
        domains=_group(session, warmup),
        kind="warmup_paused",
        title=f"The warm-up of {domain.name}'s dedicated IPs is paused",
        body=f"It stays on day {warmup.current_day} until support resumes it.",
    )
    return Outcome(
        warmup,
        f"The warm-up of {domain.name} is paused: it holds at its current day until resumed.",
    )


def resume_warmup(session: Session, actor: User, domain_name: str) -> Outcome[Warmup]:
    require_staff(actor, "resume warm-ups")
    domain = get_domain(session, domain_name)
    warmup = _open_warmup(session, domain)
    if warmup.state != WarmupState.PAUSED:
        raise MailpoolsError(f"The warm-up of {domain.name} is not paused; nothing to resume.")
    warmup.state = WarmupState.RUNNING
    # The paused days are behind us: judging starts again from today, not from the pause.
    yesterday = clock.today() - timedelta(days=1)
    warmup.evaluated_through = max(warmup.evaluated_through or yesterday, yesterday)
    session.add(warmup)
    _record(session, actor, domain, warmup, "warmup.resume", WarmupState.PAUSED)
    notify(
        session,
        account_id=warmup.account_id,
        domains=_group(session, warmup),
        kind="warmup_resumed",
        title=f"The warm-up of {domain.name}'s dedicated IPs is running again",
        body=f"It continues from day {warmup.current_day}.",
    )
    return Outcome(warmup, f"The warm-up of {domain.name} is running again.")


# The daily evaluation ---------------------------------------------------------------


def dedicated_day_rates(session: Session, pool_id: int, day: date) -> Rates:
    """What the pool's IPs sent on DAY, summed from the per-IP daily stats."""
    row = session.exec(
        select(
            func.coalesce(func.sum(IpDailyStat.sent), 0),
            func.coalesce(func.sum(IpDailyStat.deferred), 0),
            func.coalesce(func.sum(IpDailyStat.bounced), 0),
            func.coalesce(func.sum(IpDailyStat.complaints), 0),
        )
        .join(IpAddress, col(IpAddress.id) == IpDailyStat.ip_id)
        .where(IpAddress.pool_id == pool_id)
        .where(IpDailyStat.day == day)
    ).one()
    return Rates(*(int(value) for value in row))


def hold_reason(rates: Rates, pool: Pool) -> str | None:
    """Why a day's rates hold the warm-up, or None when they are within the thresholds."""
    problems = []
    if rates.volume and rates.bounce_rate > pool.max_bounce_rate:
        problems.append(
            f"bounce rate {percent(rates.bounce_rate)} is above {percent(pool.max_bounce_rate)} "
            f"({rates.bounced} of {rates.volume})"
        )
    if rates.sent and rates.complaint_rate > pool.max_complaint_rate:
        problems.append(
            f"complaint rate {percent(rates.complaint_rate)} is above {percent(pool.max_complaint_rate)} "
            f"({rates.complaints} of {rates.sent})"
        )
    return "; ".join(problems) or None


def evaluate_warmup(session: Session, warmup: Warmup, today: date) -> list[date]:
    """Judge every finished day of a running WARMUP not judged yet; return the held days."""
    if warmup.state != WarmupState.RUNNING:
        return []
    pool = _pool_of(session, warmup)
    first = (
        warmup.evaluated_through + timedelta(days=1)
        if warmup.evaluated_through
        else warmup.started_on
    )
    held = []
    day = first
    while day < today and warmup.state == WarmupState.RUNNING:
        reason = hold_reason(dedicated_day_rates(session, saved_id(pool), day), pool)
        if reason:
            _hold(session, warmup, pool, day, reason)
            held.append(day)
        elif warmup.current_day >= warmup.planned_days:
            _complete(session, warmup, pool)
        else:
            warmup.current_day += 1
        warmup.evaluated_through = day
        day += timedelta(days=1)
    session.add(warmup)
    return held


def _hold(session: Session, warmup: Warmup, pool: Pool, day: date, reason: str) -> None:
    warmup.held_days += 1
    session.add(WarmupHold(warmup_id=saved_id(warmup), day=day, reason=reason))
    audit.record(
        session,
        actor=audit.SYSTEM_ACTOR,
        action="warmup.hold",
        entity="warmup",
        entity_id=pool.name,
        account_id=warmup.account_id,
        after={"day": day, "plan_day": warmup.current_day, "reason": reason},
    )
    notify(
        session,
        account_id=warmup.account_id,
        domains=_group(session, warmup),
        kind="warmup_held",
        title=f"The warm-up of {pool.name} did not advance on {day:%d %b}",
        body=f"On that day the dedicated IPs' {reason}. The warm-up stays on day "
        f"{warmup.current_day} of {warmup.planned_days} and continues once a day is clean.",
    )


def _complete(session: Session, warmup: Warmup, pool: Pool) -> None:
    warmup.state = WarmupState.COMPLETE
    warmup.completed_at = clock.now()
    addresses = []
    for ip in session.exec(select(IpAddress).where(IpAddress.pool_id == pool.id)):
        if ip.state == IpState.WARMING:
            ip.state = IpState.ACTIVE
            session.add(ip)
        addresses.append(ip.address)
    audit.record(
        session,
        actor=audit.SYSTEM_ACTOR,
        action="warmup.complete",
        entity="warmup",
        entity_id=pool.name,
        account_id=warmup.account_id,
        before={"state": WarmupState.RUNNING},
        after={"state": WarmupState.COMPLETE, "held_days": warmup.held_days},
    )
    names = ", ".join(addresses)
    notify(
        session,
        account_id=warmup.account_id,
        domains=_group(session, warmup),
        kind="warmup_complete",
        title="Your dedicated IP is ready"
        if len(addresses) == 1
        else "Your dedicated IPs are ready",
        body=f"The warm-up of {names} is complete: all mail from the domains on {pool.name} "
        "now goes out from your dedicated IPs.",
    )


def evaluate_warmups(engine: Engine, today: date | None = None) -> int:
    """Judge the finished days of every running warm-up, each in its own transaction.

    Returns how many days were held. Safe to run from several workers: the
    warm-up row is locked and each day is judged once (evaluated_through).
    """
    today = today or clock.today()
    with session_scope(engine) as session:
        ids = list(session.exec(select(Warmup.id).where(Warmup.state == WarmupState.RUNNING)))
    held = 0
    for warmup_id in ids:
        with session_scope(engine) as session:
            warmup = session.exec(
                select(Warmup).where(Warmup.id == warmup_id).with_for_update()
            ).one()
            held += len(evaluate_warmup(session, warmup, today))
    return held


# What people see --------------------------------------------------------------------


@dataclass(frozen=True)
class HeldDay:
    day: date
    reason: str


@dataclass(frozen=True)
class WarmupStatus:
    domain: str
    pool: str
    state: str
    started_on: date
    expected_weekly_volume: int
    planned_days: int
    current_day: int
    today_share: float
    shares: list[float]
    held: list[HeldDay]
    expected_completion: date | None
    completed_at: datetime | None

    @property
    def days_left(self) -> int:
        """Days until all mail moves to the dedicated IPs (0 once complete)."""
        if self.expected_completion is None:
            return 0
        return (self.expected_completion - clock.today()).days

    def as_json(self) -> dict:
        return {
            "domain": self.domain,
            "pool": self.pool,
            "state": self.state,
            "started_on": self.started_on,
            "expected_weekly_volume": self.expected_weekly_volume,
            "planned_days": self.planned_days,
            "current_day": self.current_day,
            "today_share": round(self.today_share, 4),
            "plan": [
                {"day": number, "dedicated_share": round(share, 4)}
                for number, share in enumerate(self.shares, start=1)
            ],
            "held_days": [{"day": held.day, "reason": held.reason} for held in self.held],
            "expected_completion": self.expected_completion,
            "completed_at": self.completed_at,
        }


def warmup_status(session: Session, actor: User, domain_name: str) -> WarmupStatus:
    """The plan (every day's share), the current day, the held days and the expected completion."""
    domain = get_domain_for(session, actor, domain_name)
    warmup = None
    if domain.dedicated_pool_id is not None:
        warmup = session.exec(
            select(Warmup)
            .where(Warmup.pool_id == domain.dedicated_pool_id)
            .order_by(col(Warmup.id).desc())
        ).first()
    if warmup is None:
        raise MailpoolsError(f"{domain.name} has no dedicated IPs, so there is no warm-up to show.")
    return describe_warmup(session, warmup, domain.name)


def describe_warmup(session: Session, warmup: Warmup, domain_name: str) -> WarmupStatus:
    """What a warm-up looks like to people, the same on the command line and in the console."""
    pool = _pool_of(session, warmup)
    holds = session.exec(
        select(WarmupHold).where(WarmupHold.warmup_id == warmup.id).order_by(col(WarmupHold.day))
    ).all()
    complete = warmup.state == WarmupState.COMPLETE
    if complete:
        expected = None
    else:
        # The last plan day is judged the day after it: from then on all mail is dedicated.
        expected = clock.today() + timedelta(days=warmup.planned_days - warmup.current_day + 1)
    return WarmupStatus(
        domain=domain_name,
        pool=pool.name,
        state=warmup.state,
        started_on=warmup.started_on,
        expected_weekly_volume=warmup.expected_weekly_volume,
        planned_days=warmup.planned_days,
        current_day=warmup.current_day,
        today_share=1.0 if complete else dedicated_share(warmup.current_day, warmup.planned_days),
        shares=schedule(warmup.planned_days),
        held=[HeldDay(hold.day, hold.reason) for hold in holds],
        expected_completion=expected,
        completed_at=warmup.completed_at,
    )


# Listing ------------------------------------------------------------------------


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
        .where(col(Warmup.state).in_([WarmupState.RUNNING, WarmupState.PAUSED]))
        .order_by(col(Warmup.started_on), col(Warmup.id))
    )
    views = []
    for warmup in warmups:
        pool = _pool_of(session, warmup)
        account = session.get(Account, warmup.account_id)
        assert account is not None, "a warm-up's account_id is a foreign key to an existing account"
        last_hold = session.exec(
            select(WarmupHold)
            .where(WarmupHold.warmup_id == warmup.id)
            .order_by(col(WarmupHold.day).desc())
        ).first()
        views.append(
            WarmupView(
                id=saved_id(warmup),
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
                        .order_by(col(IpAddress.id))
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
