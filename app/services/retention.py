"""Forgetting finished mail: messages that reached a final state long enough ago are
deleted, a bounded batch per transaction, so the queue's table and its indexes stay
the size of the recent past.

What the messages counted lives on in the daily stats, which are kept. Rows that
point at a pruned message are settled in the same transaction: its feedback events
go with it (their counts are in the stats), a suppression or an unread report keeps
its row without the link, a soft-bounce streak whose last bounce is that old is
dropped, and content no remaining message uses is deleted.

Why batches rather than PostgreSQL partitions of the message table: a partitioned
table needs the partition key in every unique index and in every foreign key that
points at it (the Message-ID's uniqueness, the feedback events, the suppressions),
SQLite has no partitions at all, and the claim's partial index would be one per
partition. Batch deletes work the same on both engines and hold the write lock for
one batch at a time; their cost is PostgreSQL's vacuum, which autovacuum does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, Engine

from app.services import audit
from app.services.contents import FINAL_STATUSES
from data.db import session_scope
from data.models import (
    FeedbackEvent,
    Message,
    MessageContent,
    SoftBounceStreak,
    Suppression,
    UnparsedReport,
    table_of,
)

MESSAGES = table_of(Message)
CONTENTS = table_of(MessageContent)
EVENTS = table_of(FeedbackEvent)
STREAKS = table_of(SoftBounceStreak)
SUPPRESSIONS = table_of(Suppression)
UNPARSED = table_of(UnparsedReport)

DEFAULT_BATCH = 1_000


@dataclass(frozen=True, slots=True)
class Pruned:
    messages: int
    batches: int
    contents: int
    finished_before: datetime

    @property
    def summary(self) -> str:
        if not self.messages:
            return f"No message finished before {self.finished_before:%Y-%m-%d %H:%M} UTC."
        return (
            f"Deleted {self.messages:,} message{'s' if self.messages != 1 else ''} finished "
            f"before {self.finished_before:%Y-%m-%d %H:%M} UTC in {self.batches:,} "
            f"transaction{'s' if self.batches != 1 else ''}, and {self.contents:,} stored "
            "content no other message used; the daily stats keep their counts."
        )


def _doomed(connection: Connection, cutoff: datetime, batch: int) -> list[int]:
    return list(
        connection.execute(
            select(MESSAGES.c.id)
            .where(MESSAGES.c.finished_at < cutoff)
            .where(MESSAGES.c.status.in_([status.value for status in FINAL_STATUSES]))
            .order_by(MESSAGES.c.finished_at)
            .limit(batch)
        ).scalars()
    )


def prune_batch(connection: Connection, cutoff: datetime, batch: int) -> tuple[int, int]:
    """Delete up to BATCH messages finished before CUTOFF, with what hangs on them; returns
    how many messages and how many contents went. One transaction, the caller's."""
    ids = _doomed(connection, cutoff, batch)
    if not ids:
        return 0, 0
    contents = set(
        connection.execute(
            select(MESSAGES.c.content_id)
            .where(MESSAGES.c.id.in_(ids))
            .where(MESSAGES.c.content_id.is_not(None))
        ).scalars()
    )
    connection.execute(delete(EVENTS).where(EVENTS.c.message_id.in_(ids)))
    connection.execute(delete(STREAKS).where(STREAKS.c.last_message_id.in_(ids)))
    connection.execute(
        update(SUPPRESSIONS).where(SUPPRESSIONS.c.message_id.in_(ids)).values(message_id=None)
    )
    connection.execute(
        update(UNPARSED).where(UNPARSED.c.message_id.in_(ids)).values(message_id=None)
    )
    connection.execute(delete(MESSAGES).where(MESSAGES.c.id.in_(ids)))
    gone = 0
    if contents:
        still_used = set(
            connection.execute(
                select(MESSAGES.c.content_id).where(MESSAGES.c.content_id.in_(contents))
            ).scalars()
        )
        unused = sorted(contents - still_used)
        if unused:
            connection.execute(delete(CONTENTS).where(CONTENTS.c.id.in_(unused)))
            gone = len(unused)
    return len(ids), gone


def prune_finished(
    engine: Engine,
    *,
    keep_days: int,
    now: datetime,
    batch: int = DEFAULT_BATCH,
    max_batches: int | None = None,
    actor: str = audit.SYSTEM_ACTOR,
) -> Pruned:
    """Delete messages finished more than KEEP_DAYS before NOW, BATCH at a time, each batch
    its own transaction (and audited), until none is left or MAX_BATCHES have run."""
    cutoff = now - timedelta(days=keep_days)
    messages = contents = batches = 0
    while max_batches is None or batches < max_batches:
        with session_scope(engine) as session:
            deleted, gone = prune_batch(session.connection(), cutoff, batch)
            if not deleted:
                break
            audit.record(
                session,
                actor=actor,
                action="messages.prune",
                entity="messages",
                entity_id=deleted,
                after={
                    "deleted": deleted,
                    "contents_deleted": gone,
                    "finished_before": cutoff.isoformat(),
                },
            )
        messages += deleted
        contents += gone
        batches += 1
    return Pruned(messages=messages, batches=batches, contents=contents, finished_before=cutoff)
