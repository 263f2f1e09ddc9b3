"""Whole messages: what is refused as malformed, what is added, what never travels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.errors import MailpoolsError
from app.services.contents import prepare

MOMENT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def test_a_message_without_message_id_or_date_gets_them_added_on_top():
    prepared = prepare(b"From: a@x.example\nTo: b@y.example\n\nHi\n", max_bytes=10_000)
    assert prepared.from_addr == "a@x.example"
    assert prepared.header_recipients() == ["b@y.example"]
    completed = prepared.completed("<q1@x.example>", MOMENT)
    assert completed == (
        b"Message-ID: <q1@x.example>\r\n"
        b"Date: Thu, 26 Nov 2026 09:00:00 +0000\r\n"
        b"From: a@x.example\r\nTo: b@y.example\r\n\r\nHi\r\n"
    )


def test_a_complete_message_is_kept_byte_for_byte():
    raw = (
        b"Date: Wed, 25 Nov 2026 10:00:00 +0100\r\n"
        b"Message-ID: <own@x.example>\r\n"
        b"From: =?utf-8?q?J=C3=B6rg?= <j@x.example>\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + "Grüße aus Köln\r\n".encode()
    )
    prepared = prepare(raw, max_bytes=10_000)
    assert prepared.completed("<ignored@x.example>", MOMENT) == raw
    assert prepared.subject == "Grüße"


def test_recipient_headers_that_are_not_addresses_are_refused_when_read():
    prepared = prepare(b"From: a@x.example\r\nTo: <<<\r\n\r\nx\r\n", max_bytes=10_000)
    with pytest.raises(MailpoolsError, match="To header is not a list of addresses"):
        prepared.header_recipients()


def test_bcc_and_the_stream_header_steer_delivery_and_are_dropped():
    raw = (
        b"From: a@x.example\r\nTo: b@y.example\r\nBcc: c@y.example,\r\n d@y.example\r\n"
        b"X-Mailpools-Stream: Campaign\r\nSubject: s\r\n\r\nbody\r\n"
    )
    prepared = prepare(raw, max_bytes=10_000)
    assert prepared.header_recipients() == ["b@y.example", "c@y.example", "d@y.example"]
    assert prepared.declared_kind == "campaign"
    assert prepared.headers == b"From: a@x.example\r\nTo: b@y.example\r\nSubject: s\r\n"


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (b"not a message\r\n", "content", "cannot be read"),
        (b"\r\nbody only\r\n", "content", "no header lines"),
        (b"To: b@y.example\r\n\r\nx\r\n", "content", "exactly one From header"),
        (b"From: a@x.example\r\nFrom: b@x.example\r\n\r\nx\r\n", "content", "exactly one From"),
        (b"From: nobody\r\n\r\nx\r\n", "content", "not an address"),
        ("From: Jörg <j@x.example>\r\n\r\nx\r\n".encode(), "content", "8-bit"),
        (b"From: a@x.example\r\n\r\n" + b"x" * 200, "size", "over this server's limit"),
    ],
    ids=[
        "no-headers",
        "blank-first-line",
        "no-from",
        "two-froms",
        "from-without-domain",
        "8-bit-header",
        "too-big",
    ],
)
def test_malformed_or_oversized_messages_are_refused_with_their_field(raw, field, words):
    with pytest.raises(MailpoolsError, match=words) as refused:
        prepare(raw, max_bytes=150)
    assert refused.value.field == field
