"""A small world for the tests, built through the real inventory service."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from app.services.auth import get_user
from app.services.dkim import make_missing_keys
from app.services.inventory import apply_inventory, load_file
from app.services.lookups import get_domain
from data.db import session_scope
from data.models import DomainDailyStat, User

DEMO_INVENTORY = Path(__file__).resolve().parent.parent / "data" / "seed" / "demo.toml"


def build_world(engine, inventory: Path = DEMO_INVENTORY):
    """Apply the demo inventory: accounts acme (premium), bolt (standard), corvid;
    owners alice, bruno, carla; agents sam, tess; admin root. Then, as `inventory apply`
    does, the new domains' DKIM keys."""
    with session_scope(engine) as session:
        report = apply_inventory(session, None, load_file(inventory))
    make_missing_keys(engine, "operator")
    return report


def user(session: Session, name: str) -> User:
    return get_user(session, name)


def record_domain_day(
    engine, domain_name: str, day, *, sent: int, bounced: int = 0, complaints: int = 0
) -> None:
    """Daily sending stats for a domain, as the sender writes them after each batch."""
    with session_scope(engine) as session:
        domain = get_domain(session, domain_name)
        session.add(
            DomainDailyStat(
                domain_id=domain.id, day=day, sent=sent, bounced=bounced, complaints=complaints
            )
        )


def day_totals(session: Session, model, key: str, owner_id: int):
    """The one day MODEL (DomainDailyStat or IpDailyStat) holds for OWNER_ID, its shards
    (each sender's rows and everything else's) added up, as one row would read."""
    rows = session.exec(select(model).where(getattr(model, key) == owner_id)).all()
    [day] = {row.day for row in rows}
    counters = [c.name for c in model.__table__.columns if c.name not in (key, "day", "shard")]
    return model(
        **{key: owner_id, "day": day},
        **{name: sum(getattr(row, name) for row in rows) for name in counters},
    )
