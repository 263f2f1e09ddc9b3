"""Pool health on what receivers report, with the real processes: `mailpools sender` sends
2,000 messages of one domain to the sink, a real SMTP client mails 30 hard-bounce DSNs and
5 feedback reports about them to `mailpools inbound`, and the domain leaves its pool:
its owner is told the numbers, the mail it queues next is held, its recipients are
suppressed. The transactional pool's stricter limits act on the same reports."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time

import pytest
from sqlmodel import col, select

from app.demo.sink import LoopbackSink
from app.rules.routing import sending_pool_id
from data.db import session_scope
from data.models import (
    Domain,
    DomainStatus,
    FeedbackEvent,
    MessageStatus,
    Notification,
    Pool,
    Suppression,
)
from tests.command_line import ROOT
from tests.feedback_mail import delivery_status_notification, feedback_report
from tests.sending_world import enqueue, make_transactional, messages, world

SENT = 2_000
BOUNCES = 30
COMPLAINTS = 5


def _run(database_url: str, *args: str, **popen) -> subprocess.Popen:
    environment = {**os.environ, "MAILPOOLS_DATABASE_URL": database_url}
    environment.pop("MAILPOOLS_USER", None)
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=environment, text=True, **popen
    )


def _send_all(database_url: str, sink_port: int) -> None:
    sender = _run(
        database_url, "sender", "--until-empty", "--quiet", "--relay", f"127.0.0.1:{sink_port}"
    )
    assert sender.wait(timeout=600) == 0


def _queue(engine, domain: str, kind: str, owner: str, recipients: list[str]) -> None:
    for recipient in recipients:
        enqueue(engine, by=owner, from_addr=f"news@{domain}", to_addr=recipient, kind=kind)


def _domain(engine, name: str) -> Domain:
    with session_scope(engine) as session:
        return session.exec(select(Domain).where(Domain.name == name)).one()


@pytest.mark.parametrize(
    ("domain", "kind", "owner", "limits"),
    [
        # A shared pool with limits these reports pass: 1.5% bounces, 0.25% complaints.
        (
            "offers.bolt.example",
            "campaign",
            "bruno",
            {"max_bounce_rate": 0.01, "max_complaint_rate": 0.002},
        ),
        # The transactional pool's own (stricter) limits, as the inventory sets them.
        ("acme.example", "transactional", "alice", {}),
    ],
    ids=["shared", "transactional"],
)
def test_reported_bounces_and_complaints_remove_a_domain_from_its_pool(
    engine, database_url, domain, kind, owner, limits
):
    world(engine)
    if kind == "transactional":
        make_transactional(engine, domain)
    pool_id = sending_pool_id(_domain(engine, domain))
    with session_scope(engine) as session:
        pool = session.get(Pool, pool_id)
        for name, value in limits.items():
            setattr(pool, name, value)
        session.add(pool)
        untouched_limits = (pool.max_bounce_rate, pool.max_complaint_rate)

    recipients = [f"reader{number}@dest.test" for number in range(SENT)]
    _queue(engine, domain, kind, owner, recipients)
    with LoopbackSink(keep_content=True) as sink:
        _send_all(database_url, sink.port)
        deliveries = {d.rcpt_tos[0]: d for d in sink.handler.snapshot()}
    assert len(deliveries) == SENT

    inbound = _run(database_url, "inbound", "--port", "0", stdout=subprocess.PIPE)
    try:
        assert inbound.stdout is not None
        port = int(inbound.stdout.readline().rsplit(":", 1)[1])
        bounced = recipients[:BOUNCES]
        complained = recipients[BOUNCES : BOUNCES + COMPLAINTS]
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            for recipient in bounced:
                original = deliveries[recipient]
                report = delivery_status_notification(
                    original.content, original.mail_from, recipient
                )
                client.sendmail("", [original.mail_from], report)
            for recipient in complained:
                original = deliveries[recipient]
                report = feedback_report(
                    original.content, original.mail_from, recipient, original.mail_from
                )
                client.sendmail("fbl@dest.test", [original.mail_from], report)
        # The listener judges the domains whose counts rose about once a second.
        deadline = time.monotonic() + 120
        while (
            _domain(engine, domain).status != DomainStatus.REMOVED and time.monotonic() < deadline
        ):
            time.sleep(0.2)
    finally:
        inbound.send_signal(signal.SIGTERM)
        inbound.wait(timeout=60)
    assert inbound.returncode == 0

    removed = _domain(engine, domain)
    assert removed.status == DomainStatus.REMOVED
    with session_scope(engine) as session:
        [notice] = session.exec(
            select(Notification).where(
                Notification.domain_id == removed.id, Notification.kind == "domain_removed"
            )
        ).all()
        assert untouched_limits == (
            session.get(Pool, pool_id).max_bounce_rate,
            session.get(Pool, pool_id).max_complaint_rate,
        )
        listed = set(
            session.exec(
                select(Suppression.address).where(Suppression.account_id == removed.account_id)
            )
        )
        heard = session.exec(
            select(FeedbackEvent.kind).where(col(FeedbackEvent.domain_id) == removed.id)
        ).all()
    # The owner is told the numbers that decided it: the rate over the pool's window.
    assert "%" in notice.body and "messages" in notice.body
    assert listed == set(bounced) | set(complained)
    assert sorted(heard) == ["bounce"] * BOUNCES + ["complaint"] * COMPLAINTS

    # What the domain queues now is held, not sent.
    later = [f"later{number}@dest.test" for number in range(3)]
    _queue(engine, domain, kind, owner, later)
    with LoopbackSink() as sink:
        _send_all(database_url, sink.port)
        assert sink.handler.received() == 0
    assert {m.status for m in messages(engine) if m.to_addr in later} == {MessageStatus.HELD}
