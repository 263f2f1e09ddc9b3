"""Reading the daily stats: volumes and rates over a window of days.

The console and the review screens read these sums, never the messages table,
so they stay fast however much history there is.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta

import sqlalchemy
from sqlalchemy import Insert, Table, bindparam, func
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from app.rules.rates import Rates
from data.models import DomainDailyStat, table_of


def window_start(today: date, days: int) -> date:
    """The first day of a window of DAYS days ending with TODAY."""
    return today - timedelta(days=days - 1)


def domain_rates(
    session: Session, domain_ids: Iterable[int], today: date, days: int = 7
) -> dict[int, Rates]:
    """Per-domain sums over the DAYS days ending with TODAY."""
    ids = list(domain_ids)
    if not ids:
        return {}
    # sqlmodel's select is typed for at most four columns; SQLAlchemy's for any number.
    query = (
        sqlalchemy.select(
            col(DomainDailyStat.domain_id),
            func.sum(col(DomainDailyStat.sent)),
            func.sum(col(DomainDailyStat.deferred)),
            func.sum(col(DomainDailyStat.bounced)),
            func.sum(col(DomainDailyStat.complaints)),
            func.sum(col(DomainDailyStat.campaign_sent)),
            func.sum(col(DomainDailyStat.broadcast_sent)),
        )
        .where(col(DomainDailyStat.domain_id).in_(ids))
        .where(col(DomainDailyStat.day) >= window_start(today, days))
        .where(col(DomainDailyStat.day) <= today)
        .group_by(col(DomainDailyStat.domain_id))
    )
    return {
        row[0]: Rates(*(int(value or 0) for value in row[1:])) for row in session.execute(query)
    }


def combined_rates(
    session: Session, domain_ids: Iterable[int], today: date, days: int = 7
) -> Rates:
    return sum(domain_rates(session, domain_ids, today, days).values(), Rates())


def weekly_volume(session: Session, domain_ids: Iterable[int], today: date) -> int:
    """The volume (sent plus bounced) of the last seven days, across the domains."""
    return combined_rates(session, domain_ids, today, days=7).volume


def add_domain_counts(session: Session, domain_id: int, day: date, **counts: int) -> None:
    """Add COUNTS (e.g. rejected=3) to the domain's row for DAY, creating it if needed."""
    if any(counts.values()):
        add_daily_counts(
            session.connection(),
            table_of(DomainDailyStat),
            "domain_id",
            day,
            {domain_id: Counter(counts)},
        )


def add_daily_counts(
    connection: Connection,
    table: Table,
    key: str,
    day: date,
    counts: dict[int, Counter],
    shard: int = 0,
) -> None:
    """Add COUNTS, by owner id (a domain's or an IP's), to the day's rows of TABLE in SHARD
    (a running sender's own; 0 for everything else), creating them if needed: one INSERT
    ... ON CONFLICT DO UPDATE, so writers never race, on either backend."""
    if not counts:
        return
    fields = tuple(sorted({field for counter in counts.values() for field in counter}))
    rows = [
        {
            "c_owner": owner,
            "c_day": day,
            "c_shard": shard,
            **{f"c_{f}": counter.get(f, 0) for f in fields},
        }
        for owner, counter in sorted(counts.items())
    ]
    connection.execute(_upsert(connection.dialect.name, table, key, fields), rows)


@functools.cache
def _upsert(dialect: str, table: Table, key: str, fields: tuple[str, ...]) -> Insert:
    """The statement add_daily_counts runs, built once per shape: building one each
    time cost more than the sender's whole write-back of a few results."""
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    statement = insert(table).values(
        {
            key: bindparam("c_owner"),
            "day": bindparam("c_day", type_=table.c.day.type),
            "shard": bindparam("c_shard"),
            **{field: bindparam(f"c_{field}") for field in fields},
        }
    )
    return statement.on_conflict_do_update(
        index_elements=[table.c[key], table.c.day, table.c.shard],
        set_={field: table.c[field] + statement.excluded[field] for field in fields},
    )
