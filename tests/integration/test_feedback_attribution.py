"""No report is ever counted against the wrong message or account, whatever it says.

Real messages of two accounts go through the sender to the sink. Hypothesis then builds
reports about any of them (bounces, complaints, unsubscribes, out-of-office replies),
cuts, splices and corrupts them, and hands each to the recording service as if it had
arrived at the signed address of any message. Whatever happens, every event stored is
about the message its address names and belongs to that message's account; a report
about another message is kept for an agent instead of counted.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from app.demo.sink import LoopbackSink
from app.feedback.reports import read_report
from app.rules.return_path import read_address
from app.sender import run_sender
from app.services import feedback
from app.services.secrets import RETURN_PATH_SECRET, server_secret
from data.db import session_scope
from data.models import Domain, FeedbackEvent, Message
from tests.feedback_mail import (
    delivery_status_notification,
    feedback_report,
    out_of_office,
    unsubscribe_address,
    unsubscribe_request,
)
from tests.sending_world import enqueue, relay_options, world

SENDERS = [("bruno", "deals@offers.bolt.example"), ("alice", "news@acme.example")]


@pytest.fixture
def sent(engine):
    world(engine)
    for number in range(3):
        for owner, from_addr in SENDERS:
            enqueue(engine, by=owner, from_addr=from_addr, to_addr=f"r{number}-{owner}@dest.test")

    async def send():
        with LoopbackSink(keep_content=True) as sink:
            await run_sender(engine, relay_options(sink))
            return sink.handler.snapshot()

    deliveries = asyncio.run(send())
    with session_scope(engine) as session:
        secret = server_secret(session, RETURN_PATH_SECRET)
    return engine, secret, deliveries


def _report(kind: str, about, to: str) -> bytes:
    recipient = about.rcpt_tos[0]
    if kind == "bounce":
        return delivery_status_notification(about.content, to, recipient)
    if kind == "soft":
        return delivery_status_notification(
            about.content, to, recipient, status="4.2.2", diagnostic="452 4.2.2 Mailbox full"
        )
    if kind == "complaint":
        return feedback_report(about.content, to, recipient, about.mail_from)
    if kind == "unsubscribe":
        return unsubscribe_request(to, recipient)
    return out_of_office(to, recipient)


def _mangled(raw: bytes, how: str, at: int, junk: bytes) -> bytes:
    if how == "cut":
        return raw[: at % (len(raw) + 1)]
    if how == "splice":
        middle = at % (len(raw) + 1)
        return raw[:middle] + junk + raw[middle:]
    if how == "flip":
        middle = at % max(len(raw), 1)
        return raw[:middle] + bytes([raw[middle] ^ 0x55]) + raw[middle + 1 :] if raw else raw
    return raw


def test_reports_are_counted_only_against_the_message_their_address_names(sent):
    engine, secret, deliveries = sent
    with session_scope(engine) as session:
        account_of = {
            message.id: domain.account_id
            for message, domain in session.exec(
                select(Message, Domain).where(Message.domain_id == Domain.id)
            )
        }

    @settings(
        derandomize=True,
        database=None,
        max_examples=80,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        st.integers(0, len(deliveries) - 1),
        st.integers(0, len(deliveries) - 1),
        st.sampled_from(["bounce", "soft", "complaint", "unsubscribe", "out-of-office"]),
        st.sampled_from(["as-is", "cut", "splice", "flip"]),
        st.integers(0, 10_000),
        st.binary(max_size=300),
        st.booleans(),
    )
    def check(addressed, about, kind, how, at, junk, to_unsubscribe):
        target = deliveries[addressed]
        address = unsubscribe_address(target.content) if to_unsubscribe else target.mail_from
        token = read_address(secret, address)
        assert token is not None
        raw = _mangled(_report(kind, deliveries[about], address), how, at, junk)
        report = read_report(raw, token.purpose.value)
        with session_scope(engine) as session:
            feedback.record_mail(
                session.connection(), token, report, raw=raw, mail_from="", rcpt_to=address
            )
        with session_scope(engine) as session:
            new = session.exec(
                select(FeedbackEvent).where(FeedbackEvent.id > check.last_event_id)
            ).all()
        # Whatever the report says, what is counted is about the addressed message only,
        # and belongs to its account.
        assert all(event.message_id == token.message_id for event in new)
        assert all(event.account_id == account_of[token.message_id] for event in new)
        if about != addressed and how == "as-is" and kind in ("bounce", "soft", "complaint"):
            # A whole report about another message names it: never counted against this one.
            assert new == []
        check.last_event_id = max([check.last_event_id, *(event.id for event in new)])

    check.last_event_id = 0
    check()
