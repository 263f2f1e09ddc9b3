"""The inbound listener end to end: messages go out through the real sender to the sink,
then a real SMTP client mails back what receivers send (a bounce, a complaint, an
unsubscribe, an out-of-office reply, a forgery, mail it cannot read) to the addresses
the sender signed, and the events, counts and suppressions are checked in the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiosmtplib
import pytest
from sqlmodel import func, select

from app import settings
from app.demo.sink import Delivery, LoopbackSink
from app.feedback.reports import read_report
from app.inbound.server import InboundServer, serve_inbound
from app.rules.return_path import TokenPurpose, read_address, token_address
from app.sender import run_sender
from app.services import feedback
from app.services.secrets import RETURN_PATH_SECRET, server_secret
from app.settings import Settings
from data.db import session_scope
from data.models import (
    DomainDailyStat,
    FeedbackEvent,
    IpDailyStat,
    MessageStatus,
    Suppression,
    UnparsedReport,
)
from tests.batch_sizes import record_batches
from tests.command_line import Cli
from tests.factories import day_totals
from tests.feedback_mail import (
    delivery_status_notification,
    feedback_report,
    out_of_office,
    unsubscribe_address,
    unsubscribe_request,
)
from tests.sending_world import domain, enqueue, messages, relay_options, world

FROM = "deals@offers.bolt.example"


@pytest.fixture
async def listener(engine) -> AsyncIterator[InboundServer]:
    server = await serve_inbound(engine, "127.0.0.1", 0)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


async def sent_through_sink(engine, recipients: list[str]) -> dict[str, Delivery]:
    for recipient in recipients:
        enqueue(engine, by="bruno", from_addr=FROM, to_addr=recipient)
    with LoopbackSink(keep_content=True) as sink:
        stats = await run_sender(engine, relay_options(sink))
        deliveries = sink.handler.snapshot()
    assert stats.sent == len(recipients)
    return {delivery.rcpt_tos[0]: delivery for delivery in deliveries}


async def mail(port: int, to: str, content: bytes, sender: str = "") -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as client:
        errors, _ = await client.sendmail(sender, [to], content)
    assert errors == {}


def events(engine) -> list[tuple[str, str | None, str, str]]:
    with session_scope(engine) as session:
        return [
            (event.kind, event.severity, event.source, event.recipient)
            for event in session.exec(select(FeedbackEvent).order_by(FeedbackEvent.id))
        ]


def suppressed(engine) -> dict[str, str]:
    with session_scope(engine) as session:
        return {row.address: row.reason for row in session.exec(select(Suppression))}


def day_stats(engine, model, key, owner_id):
    with session_scope(engine) as session:
        return day_totals(session, model, key, owner_id)


async def test_bounces_complaints_and_unsubscribes_are_heard_counted_and_suppressed(
    engine, listener, database_url, monkeypatch
):
    world(engine)
    sent = await sent_through_sink(
        engine, ["gone@dest.test", "angry@dest.test", "done@dest.test", "away@dest.test"]
    )
    gone, angry, done, away = (
        sent[a] for a in ("gone@dest.test", "angry@dest.test", "done@dest.test", "away@dest.test")
    )
    port = listener.port
    await mail(
        port,
        gone.mail_from,
        delivery_status_notification(gone.content, gone.mail_from, "gone@dest.test"),
    )
    await mail(
        port,
        angry.mail_from,
        feedback_report(angry.content, angry.mail_from, "angry@dest.test", angry.mail_from),
    )
    await mail(
        port,
        unsubscribe_address(done.content),
        unsubscribe_request("x", "done@dest.test"),
        "done@dest.test",
    )
    await mail(
        port, away.mail_from, out_of_office(away.mail_from, "away@dest.test"), "away@dest.test"
    )
    # The same bounce again (receivers retry reports): counted once.
    await mail(
        port,
        gone.mail_from,
        delivery_status_notification(gone.content, gone.mail_from, "gone@dest.test"),
    )

    assert events(engine) == [
        ("bounce", "hard", "report", "gone@dest.test"),
        ("complaint", None, "report", "angry@dest.test"),
        ("unsubscribe", None, "report", "done@dest.test"),
    ]
    assert suppressed(engine) == {
        "gone@dest.test": "hard_bounce",
        "angry@dest.test": "complaint",
        "done@dest.test": "unsubscribe",
    }
    statuses = {row.to_addr: row.status for row in messages(engine)}
    assert statuses["gone@dest.test"] == MessageStatus.BOUNCED
    assert statuses["angry@dest.test"] == MessageStatus.SENT
    offers = domain(engine, "offers.bolt.example")
    stats = day_stats(engine, DomainDailyStat, "domain_id", offers.id)
    # Four sent; the bounced one no longer counts as sent.
    assert (stats.sent, stats.bounced, stats.complaints, stats.unsubscribes) == (3, 1, 1, 1)
    [gone_row] = messages(engine, to_addr="gone@dest.test")
    ip_stats = day_stats(engine, IpDailyStat, "ip_id", gone_row.ip_id)
    assert ip_stats.bounced == 1

    cli = Cli(database_url, monkeypatch)
    listed = cli.json("events", "--kind", "bounce", "--as", "bruno")
    assert [(e["recipient"], e["kind"], e["severity"], e["code"]) for e in listed] == [
        ("gone@dest.test", "bounce", "hard", "5.1.1")
    ]
    assert listed[0]["message_id"] == gone_row.message_id
    assert cli.json("events", "--as", "alice") == []
    assert len(cli.json("events", "--domain", "offers.bolt.example", "--as", "sam")) == 3


async def test_reports_written_together_are_each_judged_as_if_alone(engine, listener):
    """Reports that arrive together share one transaction and one update of the day's
    counts; each is still judged on its own: a repeat of a bounce in the same batch is
    counted once, and the counts of the batch add up."""
    world(engine)
    sent = await sent_through_sink(engine, ["one@dest.test", "two@dest.test"])
    one, two = sent["one@dest.test"], sent["two@dest.test"]
    secret = listener.handler.secret

    def read(delivery: Delivery, recipient: str) -> list[feedback.MailedReport]:
        content = delivery_status_notification(delivery.content, delivery.mail_from, recipient)
        token = read_address(secret, delivery.mail_from)
        assert token is not None
        report = read_report(content, token.purpose.value)
        return [feedback.MailedReport(token, report, content, "", delivery.mail_from)]

    batch = [read(one, "one@dest.test"), read(one, "one@dest.test"), read(two, "two@dest.test")]
    # Told to wait for all three, the writer takes them as one batch.
    listener.handler.writer.coming = lambda: len(batch)
    sizes = record_batches(listener.handler.writer)
    heard = await asyncio.gather(*(listener.handler.writer.do(mail) for mail in batch))
    assert sizes == [3]
    assert [[each.outcome for each in mail] for mail in heard] == [
        ["bounce"],
        ["duplicate"],
        ["bounce"],
    ]
    assert events(engine) == [
        ("bounce", "hard", "report", "one@dest.test"),
        ("bounce", "hard", "report", "two@dest.test"),
    ]
    assert suppressed(engine) == {"one@dest.test": "hard_bounce", "two@dest.test": "hard_bounce"}
    assert {row.status for row in messages(engine)} == {MessageStatus.BOUNCED}
    offers = domain(engine, "offers.bolt.example")
    stats = day_stats(engine, DomainDailyStat, "domain_id", offers.id)
    assert (stats.sent, stats.bounced) == (0, 2)


async def test_reports_of_connections_in_a_transaction_are_recorded_together(engine, listener):
    """A report waits for those of the other connections in the middle of a transaction
    (a wait longer than the test: the answers come because the last one ends it)."""
    world(engine)
    recipients = [f"reader{number}@dest.test" for number in range(3)]
    sent = await sent_through_sink(engine, recipients)
    listener.handler.writer.linger = 3600
    sizes = record_batches(listener.handler.writer)
    clients = []
    for recipient in recipients:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=30)
        await client.connect()
        await client.mail("")
        await client.rcpt(sent[recipient].mail_from)
        clients.append(client)
    reports = [
        delivery_status_notification(sent[r].content, sent[r].mail_from, r) for r in recipients
    ]
    replies = await asyncio.wait_for(
        asyncio.gather(*(c.data(report) for c, report in zip(clients, reports, strict=True))),
        60,
    )
    assert [reply.code for reply in replies] == [250] * 3
    assert sizes == [3]
    for client in clients:
        await client.quit()
    assert sorted(event[3] for event in events(engine)) == recipients


async def test_only_signed_addresses_are_taken_and_forgeries_are_dropped(engine, listener):
    world(engine)
    sent = await sent_through_sink(engine, ["dana@dest.test"])
    delivery = sent["dana@dest.test"]
    report = delivery_status_notification(delivery.content, delivery.mail_from, "dana@dest.test")
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=30) as client:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await client.sendmail("", ["postmaster@bounces.offers.bolt.example"], report)
    [(code, text)] = [(e.code, e.message) for e in refused.value.recipients]
    assert code == 550 and text.startswith("5.1.1")
    local, _, host = delivery.mail_from.partition("@")
    forged = local[:-4] + ("0000" if not local.endswith("0000") else "1111") + "@" + host
    await mail(listener.port, forged, report)
    assert events(engine) == [] and suppressed(engine) == {}
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(UnparsedReport)).one() == 0


async def test_mail_that_cannot_be_read_or_names_another_message_is_kept_for_an_agent(
    engine, listener, database_url, monkeypatch
):
    world(engine)
    sent = await sent_through_sink(engine, ["dana@dest.test", "eli@dest.test"])
    dana, eli = sent["dana@dest.test"], sent["eli@dest.test"]
    await mail(listener.port, dana.mail_from, b"Subject: ???\r\n\r\n\xff\xfe not a report\r\n")
    # A bounce of eli's message sent to dana's address: attributed to neither.
    await mail(
        listener.port,
        dana.mail_from,
        delivery_status_notification(eli.content, dana.mail_from, "eli@dest.test"),
    )
    assert events(engine) == [] and suppressed(engine) == {}
    cli = Cli(database_url, monkeypatch)
    kept = cli.json("events", "--unparsed", "--as", "sam")
    assert len(kept) == 2
    assert "about" in kept[0]["reason"] and eli.message_id in kept[0]["reason"]
    assert "agents" in cli.refused("events", "--unparsed", "--as", "bruno").lower()


async def test_a_bounce_in_the_smtp_reply_is_classified_by_the_same_rule(engine):
    world(engine)
    for recipient in ("bounce-gone@dest.test", "someone@dest.test"):
        enqueue(engine, by="bruno", from_addr=FROM, to_addr=recipient)
    with LoopbackSink() as sink:
        stats = await run_sender(engine, relay_options(sink))
    assert (stats.sent, stats.bounced) == (1, 1)
    assert events(engine) == [("bounce", "hard", "reply", "bounce-gone@dest.test")]
    assert suppressed(engine) == {"bounce-gone@dest.test": "hard_bounce"}
    offers = domain(engine, "offers.bolt.example")
    stats_row = day_stats(engine, DomainDailyStat, "domain_id", offers.id)
    assert (stats_row.sent, stats_row.bounced, stats_row.soft_bounced) == (1, 1, 0)


async def soft_bounce(port: int, delivery: Delivery) -> None:
    recipient = delivery.rcpt_tos[0]
    report = delivery_status_notification(
        delivery.content,
        delivery.mail_from,
        recipient,
        status="4.2.2",
        diagnostic="452 4.2.2 The mailbox is full",
    )
    await mail(port, delivery.mail_from, report)


async def test_soft_bounces_in_a_row_suppress_and_a_delivery_between_starts_again(engine, listener):
    world(engine)
    deliveries: list[Delivery] = []
    for _ in range(6):
        deliveries += (await sent_through_sink(engine, ["full@dest.test"])).values()
    first, second, delivered, fourth, fifth, sixth = deliveries
    await soft_bounce(listener.port, first)
    await soft_bounce(listener.port, second)
    # The third message was accepted and never bounced: the next soft bounce starts anew.
    await soft_bounce(listener.port, fourth)
    await soft_bounce(listener.port, fifth)
    assert suppressed(engine) == {}
    await soft_bounce(listener.port, sixth)
    assert suppressed(engine) == {"full@dest.test": "soft_bounces"}
    assert [e[:2] for e in events(engine)] == [("bounce", "soft")] * 5
    offers = domain(engine, "offers.bolt.example")
    stats = day_stats(engine, DomainDailyStat, "domain_id", offers.id)
    # Soft bounces are counted apart from the hard ones a pool's limit is about.
    assert (stats.sent, stats.bounced, stats.soft_bounced) == (1, 0, 5)


async def test_a_late_soft_bounce_report_about_an_earlier_message_adds_to_the_streak(
    engine, listener
):
    world(engine)
    deliveries: list[Delivery] = []
    for _ in range(4):
        deliveries += (await sent_through_sink(engine, ["full@dest.test"])).values()
    first, delivered, third, fourth = deliveries
    await soft_bounce(listener.port, third)
    # The first message's report comes after the third's: the second, accepted between
    # them, does not start the streak again, as it would for a report in order.
    await soft_bounce(listener.port, first)
    assert suppressed(engine) == {}
    await soft_bounce(listener.port, fourth)
    assert suppressed(engine) == {"full@dest.test": "soft_bounces"}


async def test_mail_over_the_size_limit_is_refused_with_the_limit_in_words(engine):
    world(engine)
    sent = await sent_through_sink(engine, ["dana@dest.test"])
    delivery = sent["dana@dest.test"]
    with settings.in_force(Settings(inbound_max_bytes=2_000)):
        server = await serve_inbound(engine, "127.0.0.1", 0)
    try:
        report = delivery_status_notification(
            delivery.content, delivery.mail_from, "dana@dest.test"
        )
        assert len(report) > 2_000
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, timeout=30) as client:
            with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
                await client.sendmail("", [delivery.mail_from], report)
    finally:
        server.close()
        await server.wait_closed()
    assert refused.value.code == 552 and refused.value.message.startswith("5.3.4")
    assert "limit of 2,000 bytes" in refused.value.message
    assert events(engine) == []


async def test_a_report_about_a_message_never_sent_is_kept_not_counted(engine, listener):
    world(engine)
    sent = await sent_through_sink(engine, ["dana@dest.test"])
    [waiting_id] = enqueue(engine, by="bruno", from_addr=FROM, to_addr="eli@dest.test")
    [waiting] = messages(engine, message_id=waiting_id)
    with session_scope(engine) as session:
        secret = server_secret(session, RETURN_PATH_SECRET)
    address = token_address(secret, TokenPurpose.BOUNCE, waiting.id, "bounces.offers.bolt.example")
    # A well-formed bounce, signed address and all, of a message still in the queue.
    original = sent["dana@dest.test"].content.replace(
        sent["dana@dest.test"].message_id.encode(), waiting_id.encode()
    )
    await mail(
        listener.port, address, delivery_status_notification(original, address, "eli@dest.test")
    )
    assert events(engine) == [] and suppressed(engine) == {}
    with session_scope(engine) as session:
        [kept] = session.exec(select(UnparsedReport)).all()
    assert "never sent" in kept.reason
    assert messages(engine, message_id=waiting_id)[0].status == MessageStatus.QUEUED
