"""Retention: a year of finished mail is deleted a batch per transaction, the rest kept."""

from __future__ import annotations

import json
import math
from datetime import timedelta

from sqlalchemy import event, func, select, update
from sqlmodel import col
from sqlmodel import select as model_select

from app import clock
from app.services import contents, suppressions
from app.services.retention import prune_finished
from data.db import make_engine, session_scope
from data.models import (
    AuditEvent,
    DomainDailyStat,
    FeedbackEvent,
    Message,
    MessageContent,
    MessageStatus,
    SoftBounceStreak,
    Suppression,
    SuppressionReason,
    table_of,
)
from tests.command_line import Cli
from tests.sending_world import domain, enqueue, world

MESSAGES = table_of(Message)
DAYS = 365
PER_DAY = 6
KEEP_DAYS = 30


def _a_year_of_history(engine) -> dict[str, int]:
    """PER_DAY finished messages for each of the last DAYS days, plus some still waiting;
    returns the ids of the messages the checks follow."""
    world(engine)
    enqueue(engine, by="bruno", from_addr="deals@offers.bolt.example", count=DAYS * PER_DAY + 3)
    now = clock.now()
    account_id = domain(engine, "offers.bolt.example").account_id
    with session_scope(engine) as session:
        rows = session.exec(model_select(Message).order_by(col(Message.id))).all()
        finished, waiting = rows[: DAYS * PER_DAY], rows[DAYS * PER_DAY :]
        statuses = [MessageStatus.SENT, MessageStatus.BOUNCED, MessageStatus.SUPPRESSED]
        for index, message in enumerate(finished):
            message.status = statuses[index % len(statuses)]
            message.finished_at = now - timedelta(days=DAYS - index // PER_DAY, hours=1)
        # Queued a year ago and never finished: retention is for finished mail only.
        waiting[0].created_at = now - timedelta(days=DAYS)
        connection = session.connection()
        oldest, newest = finished[0], finished[-1]
        shared = contents.store(connection, b"Subject: shared\r\n\r\nhello\r\n", now)
        alone = contents.store(connection, b"Subject: alone\r\n\r\nbye\r\n", now)
        oldest.content_id = alone
        finished[1].content_id = shared
        newest.content_id = shared
        session.add_all(rows)
        session.flush()
        session.add(
            FeedbackEvent(
                at=now - timedelta(days=DAYS),
                kind="bounce",
                severity="hard",
                source="report",
                message_id=oldest.id,
                account_id=account_id,
                domain_id=oldest.domain_id,
                message_kind=oldest.kind,
                recipient=oldest.to_addr,
                text="no such user",
            )
        )
        suppressions.suppress(
            connection,
            account_id=account_id,
            address="gone@dest.test",
            reason=SuppressionReason.HARD_BOUNCE,
            note="no such user",
            message_id=oldest.id,
            by="system",
        )
        session.add(
            SoftBounceStreak(
                account_id=account_id,
                address="full@dest.test",
                count=2,
                last_message_id=finished[2].id,
                updated_at=now - timedelta(days=DAYS),
            )
        )
        session.add(
            DomainDailyStat(
                domain_id=oldest.domain_id, day=(now - timedelta(days=DAYS)).date(), sent=2
            )
        )
        return {"oldest": oldest.id, "newest": newest.id, "waiting": waiting[0].id}


def _count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_year_of_finished_mail_is_pruned_a_batch_per_transaction(engine, database_url):
    followed = _a_year_of_history(engine)
    # Ages run from DAYS days and an hour down to a day and an hour.
    old = (DAYS - KEEP_DAYS + 1) * PER_DAY
    total = _count(engine, MESSAGES)

    # Another process (the sender) writes to the queue whenever the pruning takes a
    # connection for its next transaction: each write must get through, so the pruning
    # holds the write lock for one batch at a time and never for the whole run.
    sender = make_engine(database_url)
    writes: list[int] = []

    def sender_writes(*_checked_out) -> None:
        with sender.begin() as connection:
            connection.execute(
                update(MESSAGES)
                .where(MESSAGES.c.id == followed["waiting"])
                .values(attempts=MESSAGES.c.attempts + 1)
            )
        writes.append(1)

    event.listen(engine, "checkout", sender_writes)
    try:
        pruned = prune_finished(engine, keep_days=KEEP_DAYS, now=clock.now(), batch=250)
    finally:
        event.remove(engine, "checkout", sender_writes)
        sender.dispose()

    assert pruned.messages == old
    assert pruned.batches == math.ceil(old / 250)
    # One transaction per batch, and the last finds nothing left.
    assert len(writes) == pruned.batches + 1
    assert _count(engine, MESSAGES) == total - old
    with session_scope(engine) as session:
        kept = {m.id: m for m in session.exec(model_select(Message))}
        assert followed["oldest"] not in kept
        assert followed["newest"] in kept and followed["waiting"] in kept
        assert kept[followed["waiting"]].attempts == len(writes)
        assert all(
            m.finished_at is None or m.finished_at >= pruned.finished_before for m in kept.values()
        )
        # Content still used by a kept message stays; content only the pruned used goes.
        assert [c.id for c in session.exec(model_select(MessageContent))] == [
            kept[followed["newest"]].content_id
        ]
        assert pruned.contents == 1
        assert session.exec(model_select(FeedbackEvent)).all() == []
        assert session.exec(model_select(SoftBounceStreak)).all() == []
        [listed] = session.exec(model_select(Suppression)).all()
        assert listed.address == "gone@dest.test" and listed.message_id is None
        [stat] = session.exec(model_select(DomainDailyStat)).all()
        assert stat.sent == 2
        audited = session.exec(
            model_select(AuditEvent).where(AuditEvent.action == "messages.prune")
        ).all()
        assert sum(json.loads(event.after)["deleted"] for event in audited) == old
        assert {event.actor for event in audited} == {"system"}

    again = prune_finished(engine, keep_days=KEEP_DAYS, now=clock.now())
    assert (again.messages, again.batches) == (0, 0)


def test_the_command_prunes_what_is_older_than_it_is_told(engine, database_url, monkeypatch):
    _a_year_of_history(engine)
    cli = Cli(database_url, monkeypatch)
    said = cli.ok("messages", "prune", "--days", "300", "--batch", "100")
    old = (DAYS - 300 + 1) * PER_DAY
    assert f"Deleted {old:,} messages" in said and f"in {math.ceil(old / 100)} transactions" in said
    assert "No message finished before" in cli.ok("messages", "prune", "--days", "300")
    assert "--batch must be from 1 to 100,000." in cli.refused("messages", "prune", "--batch", "0")
    assert "--days must be from 1 to 36,500." in cli.refused(
        "messages", "prune", "--days", "100000"
    )
    with session_scope(engine) as session:
        actors = {
            e.actor
            for e in session.exec(
                model_select(AuditEvent).where(AuditEvent.action == "messages.prune")
            )
        }
    assert actors == {"operator"}
