"""SMTP submission end to end: a real aiosmtplib client logs in over STARTTLS to the running
server, each refusal comes back with its code and one sentence and queues nothing, and an
accepted message goes through the real sender to the loopback sink with its body intact."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import default as default_policy

import aiosmtplib
import pytest
from sqlalchemy import func
from sqlmodel import select

from app import settings
from app.demo.sink import LoopbackSink
from app.errors import MailpoolsError, PermissionDenied
from app.sender import run_sender
from app.services import credentials, outbox, suppressions
from app.settings import Settings
from app.submission.certificate import self_signed_files, server_context
from app.submission.server import SubmissionHandler, serve_submission
from data.db import session_scope
from data.models import AccountHourlyCount, AuditEvent, Message, MessageContent, MessageStatus
from tests.batch_sizes import record_batches
from tests.factories import user
from tests.sending_world import make_transactional, relay_options, world

HOST = "127.0.0.1"
LIMITS = Settings(
    submission_max_bytes=20_000,
    submission_max_recipients=3,
    auth_failure_delay=0.01,
)
BODY = (
    b"Hello Dana,\r\n"
    b"\r\n"
    b".a line that starts with a dot survives the trip\r\n"
    b"..and one with two\r\n"
    b".\r\n"
    b"Your order 1234 has shipped.\r\n"
)


def message(
    from_addr: str = "deals@offers.bolt.example",
    to: str = "dana@dest.test",
    *,
    extra: bytes = b"",
    body: bytes = BODY,
) -> bytes:
    return (
        f"From: Bolt Deals <{from_addr}>\r\nTo: {to}\r\nSubject: Your order\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


@dataclass
class Submission:
    engine: object
    port: int
    handler: SubmissionHandler
    logins: dict[str, tuple[str, str]]

    async def client(self, *, tls: bool = True) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(hostname=HOST, port=self.port, start_tls=False, timeout=30)
        await client.connect()
        await client.ehlo()
        if tls:
            await client.starttls(validate_certs=False)
            await client.ehlo()
        return client

    async def logged_in(self, name: str) -> aiosmtplib.SMTP:
        client = await self.client()
        await client.login(*self.logins[name])
        return client

    def queued(self) -> list[Message]:
        with session_scope(self.engine) as session:
            return list(session.exec(select(Message).order_by(Message.id)))

    def stored_contents(self) -> int:
        with session_scope(self.engine) as session:
            return session.exec(select(func.count()).select_from(MessageContent)).one()


def new_login(engine, owner: str, kind: str) -> tuple[str, str]:
    with session_scope(engine) as session:
        created = credentials.create_credential(session, user(session, owner), kind=kind).subject
    return created.credential.username, created.secret


@pytest.fixture
def limits():
    return LIMITS


@pytest.fixture
async def submission(engine, tmp_path, limits) -> AsyncIterator[Submission]:
    world(engine)
    make_transactional(engine, "acme.example")
    logins = {
        "bolt-campaign": new_login(engine, "bruno", "campaign"),
        "bolt-transactional": new_login(engine, "bruno", "transactional"),
        "acme-campaign": new_login(engine, "alice", "campaign"),
    }
    context = server_context(self_signed_files(tmp_path / "state", HOST))
    with settings.in_force(limits):
        handler = SubmissionHandler(engine)
        server = await serve_submission(engine, HOST, 0, context, handler=handler)
        try:
            yield Submission(engine, server.sockets[0].getsockname()[1], handler, logins)
        finally:
            server.close()
            await server.wait_closed()


async def refused(client: aiosmtplib.SMTP, data: bytes, recipients: list[str]) -> tuple[int, str]:
    with pytest.raises(aiosmtplib.SMTPResponseException) as refusal:
        await client.sendmail("deals@offers.bolt.example", recipients, data)
    return refusal.value.code, refusal.value.message


async def test_an_accepted_message_is_queued_once_per_recipient_and_sent_as_submitted(
    submission,
):
    client = await submission.logged_in("bolt-campaign")
    recipients = ["dana@dest.test", "eli@dest.test"]
    errors, reply = await client.sendmail(
        "deals@offers.bolt.example", recipients, message(to=", ".join(recipients))
    )
    await client.quit()
    assert errors == {}
    queued = submission.queued()
    assert [m.to_addr for m in queued] == recipients
    assert {m.kind for m in queued} == {"campaign"}
    assert all(m.message_id in reply for m in queued)
    assert "Queued 2 messages" in reply
    # Stored once for both recipients.
    assert submission.stored_contents() == 1
    assert len({m.content_id for m in queued}) == 1

    with LoopbackSink(keep_content=True) as sink:
        stats = await run_sender(submission.engine, relay_options(sink))
        arrived = sink.handler.snapshot()
    assert stats.sent == 2
    assert sorted(d.rcpt_tos[0] for d in arrived) == recipients
    for delivery in arrived:
        headers, _, body = delivery.content.partition(b"\r\n\r\n")
        assert body == BODY
        parsed = BytesParser(policy=default_policy).parsebytes(delivery.content)
        assert parsed["Subject"] == "Your order"
        # Added at submission, once: both recipients see the same Message-ID and Date.
        assert parsed["Message-ID"] == queued[0].message_id
        assert parsed["Date"]


async def test_a_message_with_its_own_message_id_and_date_keeps_them(submission):
    client = await submission.logged_in("bolt-campaign")
    own = b"Message-ID: <own-1@offers.bolt.example>\r\nDate: Thu, 26 Nov 2026 08:00:00 +0000\r\n"
    await client.sendmail("deals@offers.bolt.example", ["dana@dest.test"], message(extra=own))
    await client.quit()
    with LoopbackSink(keep_content=True) as sink:
        await run_sender(submission.engine, relay_options(sink))
        [delivery] = sink.handler.snapshot()
    parsed = BytesParser(policy=default_policy).parsebytes(delivery.content)
    assert parsed.get_all("Message-ID") == ["<own-1@offers.bolt.example>"]
    assert parsed.get_all("Date") == ["Thu, 26 Nov 2026 08:00:00 +0000"]


async def test_a_wrong_password_is_refused_and_each_failure_waits_longer(submission):
    username, secret = submission.logins["bolt-campaign"]
    wrong = base64.b64encode(f"\0{username}\0{secret}-wrong".encode())
    for attempt in (1, 2):
        client = await submission.client()
        response = await client.execute_command(b"AUTH", b"PLAIN", wrong)
        assert response.code == 535
        assert response.message.startswith("5.7.8 ")
        assert submission.handler.failed_logins.count(HOST) == attempt
        client.close()
    assert submission.handler.failed_logins.failed(HOST) > LIMITS.auth_failure_delay * 2
    client = await submission.logged_in("bolt-campaign")
    assert submission.handler.failed_logins.count(HOST) == 0
    await client.quit()
    assert submission.queued() == []


async def test_a_revoked_credential_no_longer_logs_in(submission):
    username, secret = submission.logins["bolt-campaign"]
    with session_scope(submission.engine) as session:
        [view] = [
            v
            for v in credentials.list_credentials(session, user(session, "bruno"))
            if v.username == username
        ]
        credentials.revoke_credential(session, user(session, "bruno"), view.id)
    client = await submission.client()
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refusal:
        await client.login(username, secret)
    assert refusal.value.code == 535
    client.close()


async def test_a_password_over_plain_text_is_refused_and_nothing_is_taken_without_login(
    submission,
):
    username, secret = submission.logins["bolt-campaign"]
    client = await submission.client(tls=False)
    assert not client.supports_extension("auth")
    token = base64.b64encode(f"\0{username}\0{secret}".encode()).decode()
    response = await client.execute_command(b"AUTH", b"PLAIN", token.encode())
    assert response.code == 530
    assert response.message.startswith("5.7.0 ") and "STARTTLS" in response.message
    with pytest.raises(aiosmtplib.SMTPResponseException) as refusal:
        await client.sendmail("deals@offers.bolt.example", ["dana@dest.test"], message())
    assert refusal.value.code == 530
    client.close()
    assert submission.queued() == []


@pytest.mark.parametrize(
    ("login", "data", "code", "status", "words"),
    [
        (
            "bolt-campaign",
            message(from_addr="news@news.acme.example"),
            550,
            "5.7.1",
            "news.acme.example is not a sending domain of this account",
        ),
        (
            "bolt-campaign",
            message(from_addr="news@nowhere.example"),
            550,
            "5.7.1",
            "not a sending domain of this account",
        ),
        (
            "acme-campaign",
            message(from_addr="news@acme.example"),
            550,
            "5.7.1",
            "acme.example is in the transactional pool",
        ),
        (
            "bolt-transactional",
            message(extra=b"X-Mailpools-Stream: campaign\r\n"),
            550,
            "5.7.1",
            "sends transactional messages only",
        ),
        ("bolt-campaign", message(body=b"x" * 30_000 + b"\r\n"), 552, "5.3.4", "limit"),
        ("bolt-campaign", b"this is not a message at all\r\n", 550, "5.6.0", "malformed"),
        (
            "bolt-campaign",
            b"From: one@offers.bolt.example, two@offers.bolt.example\r\n\r\nHi\r\n",
            550,
            "5.6.0",
            "exactly one address",
        ),
    ],
    ids=[
        "another-accounts-domain",
        "unknown-domain",
        "campaign-on-transactional-pool",
        "transactional-stream-sending-a-campaign",
        "oversize",
        "malformed",
        "two-from-addresses",
    ],
)
async def test_refused_messages_get_their_code_and_queue_nothing(
    submission, login, data, code, status, words
):
    client = await submission.logged_in(login)
    sender = "news@acme.example" if login.startswith("acme") else "deals@offers.bolt.example"
    with pytest.raises(aiosmtplib.SMTPResponseException) as refusal:
        await client.sendmail(sender, ["dana@dest.test"], data)
    assert refusal.value.code == code
    assert refusal.value.message.startswith(f"{status} ")
    assert words in refusal.value.message
    assert submission.queued() == [] and submission.stored_contents() == 0
    # The connection is still good for the next message.
    good = "news@news.acme.example" if login.startswith("acme") else sender
    errors, _ = await client.sendmail(good, ["dana@dest.test"], message(good))
    assert errors == {}
    await client.quit()
    assert len(submission.queued()) == submission.stored_contents() == 1


async def test_recipient_problems_are_refused_at_rcpt(submission):
    client = await submission.logged_in("bolt-campaign")
    await client.mail("deals@offers.bolt.example")
    bad = await client.execute_command(b"RCPT", b"TO:<no spaces@dest.test>")
    assert bad.code == 553 and bad.message.startswith("5.1.3 ")
    for number in range(LIMITS.submission_max_recipients):
        await client.rcpt(f"reader{number}@dest.test")
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refusal:
        await client.rcpt("one-too-many@dest.test")
    assert refusal.value.code == 452
    assert refusal.value.message.startswith("4.5.3 ")
    await client.rset()
    await client.quit()
    assert submission.queued() == []


@pytest.mark.parametrize(
    "limits", [Settings(account_hourly_limit=2, auth_failure_delay=0.01)], ids=["two-an-hour"]
)
async def test_an_account_over_its_hourly_rate_is_told_when_to_retry(submission):
    client = await submission.logged_in("bolt-campaign")
    errors, _ = await client.sendmail(
        "deals@offers.bolt.example", ["a@dest.test", "b@dest.test"], message()
    )
    assert errors == {}
    code, text = await refused(client, message(), ["c@dest.test"])
    assert code == 451
    assert text.startswith("4.7.0 ") and "try again in 60 minutes" in text
    await client.quit()
    assert len(submission.queued()) == 2


@pytest.mark.parametrize(
    "limits",
    [Settings(submission_max_recipients=3, account_hourly_limit=3, auth_failure_delay=0.01)],
    ids=["three-an-hour"],
)
async def test_submissions_written_together_keep_their_refusals_to_themselves(submission):
    """Submissions that arrive together share a transaction: the refused ones among them
    (another account's domain, one over the hourly rate) write nothing, and the others are
    queued, audited, counted and told of their suppressed recipients as if alone."""
    engine = submission.engine
    with session_scope(engine) as session:
        suppressions.add_suppression(
            session, user(session, "bruno"), "gone@dest.test", reason="Asked to stop."
        )
        login = credentials.authenticate(session, *submission.logins["bolt-campaign"])
    assert login is not None

    def prepared(recipients: list[str], sender: str = "deals@offers.bolt.example"):
        return outbox.prepare_submission(login, raw=message(sender), recipients=recipients)

    batch = [
        prepared(["a@dest.test", "gone@dest.test"]),
        prepared(["x@dest.test"], sender="news@acme.example"),
        prepared(["b@dest.test", "c@dest.test"]),
        prepared(["d@dest.test"]),
    ]
    # Told to wait for all four, the writer takes them as one batch.
    submission.handler.writer.coming = lambda: len(batch)
    sizes = record_batches(submission.handler.writer)
    results = await asyncio.gather(
        *(submission.handler.writer.submit(request) for request in batch),
        return_exceptions=True,
    )
    assert sizes == [4]
    first, other_account, second, over_rate = results
    assert isinstance(first, outbox.EnqueueResult) and isinstance(second, outbox.EnqueueResult)
    assert (first.count, first.suppressed) == (1, ["gone@dest.test"])
    assert (second.count, second.suppressed) == (2, [])
    assert isinstance(other_account, PermissionDenied)
    assert "not a sending domain of this account" in other_account.message
    assert isinstance(over_rate, MailpoolsError) and over_rate.field == "rate"
    queued = submission.queued()
    assert [(m.to_addr, m.status) for m in queued] == [
        ("a@dest.test", MessageStatus.QUEUED),
        ("gone@dest.test", MessageStatus.SUPPRESSED),
        ("b@dest.test", MessageStatus.QUEUED),
        ("c@dest.test", MessageStatus.QUEUED),
    ]
    assert {m.message_id for m in queued} >= set(first.message_ids + second.message_ids)
    assert submission.stored_contents() == 2
    with session_scope(engine) as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "message.enqueue")
        ).all()
        hourly = session.exec(select(func.sum(AccountHourlyCount.queued))).one()
    assert [(e.actor, json.loads(e.after or "{}")["count"]) for e in events] == [
        (f"credential:{login.username}", 1),
        (f"credential:{login.username}", 2),
    ]
    assert hourly == 3


async def test_messages_of_connections_in_a_transaction_are_written_together(submission):
    """A message waits for those of the other connections in the middle of a transaction
    and is written with them, and leaves as soon as the last of them is in: with a wait
    longer than the test, the answers come only because nobody waits for the whole of it."""
    submission.handler.writer.linger = 3600
    sizes = record_batches(submission.handler.writer)
    clients = [await submission.logged_in("bolt-campaign") for _ in range(4)]
    for number, client in enumerate(clients):
        await client.mail("deals@offers.bolt.example")
        await client.rcpt(f"reader{number}@dest.test")
    replies = await asyncio.wait_for(
        asyncio.gather(*(client.data(message()) for client in clients)), 60
    )
    assert [reply.code for reply in replies] == [250] * 4
    assert sizes == [4]
    # One connection alone in its transaction is written at once, with nothing to wait for.
    errors, _ = await asyncio.wait_for(
        clients[0].sendmail("deals@offers.bolt.example", ["alone@dest.test"], message()), 60
    )
    assert errors == {} and sizes == [4, 1]
    for client in clients:
        await client.quit()
    assert len(submission.queued()) == 5


async def test_a_connection_that_stops_mid_transaction_delays_the_others_only_briefly(
    submission,
):
    sizes = record_batches(submission.handler.writer)
    stopped = await submission.logged_in("bolt-campaign")
    await stopped.mail("deals@offers.bolt.example")
    await stopped.rcpt("later@dest.test")
    sending = await submission.logged_in("bolt-campaign")
    errors, reply = await sending.sendmail(
        "deals@offers.bolt.example", ["now@dest.test"], message()
    )
    assert errors == {} and "Queued as" in reply
    assert sizes == [1]
    # The stopped one finishes later, on its own.
    await stopped.data(message())
    assert sizes == [1, 1]
    for client in (stopped, sending):
        await client.quit()
    assert [m.to_addr for m in submission.queued()] == ["now@dest.test", "later@dest.test"]


async def test_a_domain_removed_from_its_pool_is_accepted_and_held(submission):
    from app.services import pools

    with session_scope(submission.engine) as session:
        pools.remove_domain(
            session, user(session, "sam"), "offers.bolt.example", reason="Bounces above 5%."
        )
    client = await submission.logged_in("bolt-campaign")
    errors, _ = await client.sendmail("deals@offers.bolt.example", ["dana@dest.test"], message())
    await client.quit()
    assert errors == {}
    with LoopbackSink(keep_content=True) as sink:
        await run_sender(submission.engine, relay_options(sink))
        assert sink.handler.snapshot() == []
    assert [m.status for m in submission.queued()] == [MessageStatus.HELD]


def test_the_self_signed_certificate_is_made_once_and_reused(tmp_path):
    first = self_signed_files(tmp_path, HOST)
    second = self_signed_files(tmp_path, HOST)
    assert first.created and not second.created
    assert first.certificate.read_bytes() == second.certificate.read_bytes()
    assert first.key.stat().st_mode & 0o077 == 0
    assert isinstance(server_context(second), ssl.SSLContext)


async def test_implicit_tls_takes_logins_from_the_first_byte(engine, tmp_path):
    """On an implicit-TLS port (465, RFC 8314) the whole conversation is encrypted: AUTH is
    offered at once and works, STARTTLS is not offered, and a client speaking in clear gets
    no greeting it could send a password after."""
    world(engine)
    username, secret = new_login(engine, "bruno", "campaign")
    context = server_context(self_signed_files(tmp_path / "state", HOST))
    server = await serve_submission(engine, HOST, 0, context, implicit_tls=True)
    port = server.sockets[0].getsockname()[1]
    try:
        client = aiosmtplib.SMTP(
            hostname=HOST, port=port, use_tls=True, validate_certs=False, timeout=30
        )
        await client.connect()
        await client.ehlo()
        assert client.supports_extension("auth")
        assert not client.supports_extension("starttls")
        await client.login(username, secret)
        errors, reply = await client.sendmail(
            "deals@offers.bolt.example", ["dana@dest.test"], message()
        )
        await client.quit()
        clear = aiosmtplib.SMTP(hostname=HOST, port=port, start_tls=False, timeout=3)
        with pytest.raises(aiosmtplib.SMTPException):
            await clear.connect()
        clear.close()
    finally:
        server.close()
        await server.wait_closed()
    assert errors == {}
    with session_scope(engine) as session:
        [queued] = session.exec(select(Message)).all()
    assert queued.to_addr == "dana@dest.test" and queued.message_id in reply
