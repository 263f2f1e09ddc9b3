"""The demo's seeded history agrees with itself, read back from the database it wrote."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from app.demo.seed import seed_demo
from data.models import (
    AuditEvent,
    Domain,
    DomainDailyStat,
    Notification,
    PoolRequest,
    RequestDomain,
    Warmup,
    WarmupHold,
)


def test_the_demo_history_happens_in_an_order_that_could_have_happened(engine):
    seed_demo(engine)
    with Session(engine) as session:
        domains = {domain.id: domain for domain in session.exec(select(Domain))}
        requests = list(session.exec(select(PoolRequest)))
        assert requests

        for warmup in session.exec(select(Warmup)):
            warming = [d for d in domains.values() if d.dedicated_pool_id == warmup.pool_id]
            assert warming
            for domain in warming:
                assert domain.created_at.date() < warmup.started_on, domain.name

        for request in requests:
            named = session.exec(
                select(RequestDomain.domain_id).where(RequestDomain.request_id == request.id)
            ).all()
            for domain_id in named:
                assert domains[domain_id].created_at < request.created_at, request.id

        inventory_events = session.exec(
            select(AuditEvent).where(col(AuditEvent.action).startswith("inventory."))
        ).all()
        assert inventory_events
        first_request = min(request.created_at for request in requests)
        assert max(event.at for event in inventory_events) < first_request

        for stat in session.exec(select(DomainDailyStat)):
            assert domains[stat.domain_id].created_at.date() <= stat.day

        holds = session.exec(select(WarmupHold).order_by(col(WarmupHold.day))).all()
        notices = session.exec(
            select(Notification)
            .where(Notification.kind == "warmup_held")
            .order_by(col(Notification.created_at))
        ).all()
        assert holds and len(notices) == len(holds)
        for hold, notice in zip(holds, notices, strict=True):
            warmup = session.get(Warmup, hold.warmup_id)
            assert warmup is not None
            assert f"{hold.day:%d %b}" in notice.title
            assert warmup.started_on <= hold.day
            # Told the morning after the day it judged, not weeks later.
            assert notice.created_at.date() == hold.day + timedelta(days=1)
