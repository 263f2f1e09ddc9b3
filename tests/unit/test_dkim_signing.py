"""DKIM signatures made with `cryptography`, checked by dkimpy, the reference implementation."""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from dkim.canonicalization import Relaxed

from app.sender.signing import (
    SigningKey,
    relaxed_body,
    relaxed_header,
    sign,
    split_message,
    with_crlf,
)
from app.services.dkim import record_text
from tests.dkim_keys import reused_keys

TIMESTAMP = 1_795_000_000


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey("example.com", "mp20261126", reused_keys())


def _dns_for(key: SigningKey):
    public = key.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = record_text(base64.b64encode(public).decode()).encode()

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{key.selector}._domainkey.{key.domain}.".encode() else None

    return lookup


HEADERS = (
    b"From: Ada <ada@example.com>\r\n"
    b"To: bob@dest.test\r\n"
    b"Subject: Hello\r\n"
    b"Date: Thu, 26 Nov 2026 09:00:00 +0000\r\n"
    b"Message-ID: <1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
)

MESSAGES = {
    "plain": HEADERS + b"\r\nHello there.\r\n",
    "folded headers": HEADERS.replace(
        b"Subject: Hello\r\n", b"Subject:   A  long\r\n\tsubject  \r\n   folded twice \r\n"
    )
    + b"\r\nBody.\r\n",
    "trailing whitespace": HEADERS + b"\r\nline with spaces   \r\n\ttabbed\t line\t\r\n",
    "trailing empty lines": HEADERS + b"\r\nlast line\r\n\r\n\r\n\r\n",
    "empty body": HEADERS + b"\r\n",
    "no empty line at all": HEADERS,
    "bare line feeds": HEADERS.replace(b"\r\n", b"\n") + b"\nunix\nlines  \n",
    "unterminated last line": HEADERS + b"\r\nno line end   ",
    "repeated header": HEADERS + b"To: carol@dest.test\r\n\r\nTwo To fields.\r\n",
    "unsubscribe headers": (
        b"List-Unsubscribe: <mailto:u-1-abc@bounces.example.com?subject=unsubscribe>\r\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" + HEADERS + b"\r\nOffer.\r\n"
    ),
}


@pytest.mark.parametrize("name", list(MESSAGES))
def test_signatures_verify_with_dkimpy(key, name):
    signed = sign(MESSAGES[name], key, timestamp=TIMESTAMP)
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    assert dkim.verify(signed, dnsfunc=_dns_for(key))


def test_a_changed_body_or_signed_header_fails_verification(key):
    signed = sign(MESSAGES["plain"], key, timestamp=TIMESTAMP)
    assert not dkim.verify(signed.replace(b"Hello there.", b"Hello their."), dnsfunc=_dns_for(key))
    assert not dkim.verify(
        signed.replace(b"Subject: Hello", b"Subject: Hullo"), dnsfunc=_dns_for(key)
    )
    # Relaxed canonicalization forgives what relaying servers do to whitespace.
    refolded = signed.replace(b"Subject: Hello", b"Subject:    Hello\r\n ")
    assert dkim.verify(refolded, dnsfunc=_dns_for(key))


def test_the_signed_header_list_names_present_fields_only(key):
    signed = sign(MESSAGES["plain"], key, timestamp=TIMESTAMP)
    fields, _ = split_message(signed)
    signature = relaxed_header(fields[0]).decode()
    assert "h=from:to:subject:date:message-id:mime-version:content-type;" in signature
    bulk = sign(MESSAGES["unsubscribe headers"], key, timestamp=TIMESTAMP)
    assert b"content-type:list-unsubscribe:list-unsubscribe-post;" in bulk
    assert b"s=mp20261126;" in bulk and b"d=example.com;" in bulk and b"t=1795000000;" in bulk
    repeated = sign(MESSAGES["repeated header"], key, timestamp=TIMESTAMP)
    assert b"h=from:to:to:subject:" in repeated


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n",
        b"\r\n\r\n",
        b"text",
        b"text\r\n",
        b"  leading and   inner \t runs  \r\n",
        b"a\r\n \r\n\t\r\n",
        b"a\r\n\r\nb\r\n\r\n",
    ],
)
def test_body_canonicalization_matches_dkimpy(body):
    body = with_crlf(body) if body else body
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


@pytest.mark.parametrize(
    "field",
    [
        b"Subject: plain",
        b"SUBJECT :  spaced   out  ",
        b"Subject:\r\n folded\r\n\tagain",
        b"X-Empty:",
        b"X-Empty:   ",
    ],
)
def test_header_canonicalization_matches_dkimpy(field):
    name, _, value = field.partition(b":")
    [(expected_name, expected_value)] = Relaxed.canonicalize_headers([(name, value)])
    assert relaxed_header(field) == expected_name + b":" + expected_value.removesuffix(b"\r\n")


def test_messages_are_split_into_fields_with_their_folding_and_a_body():
    fields, body = split_message(b"A: 1\r\nB: two\r\n  lines\r\n\r\nbody\r\n\r\nmore\r\n")
    assert fields == [b"A: 1", b"B: two\r\n  lines"]
    assert body == b"body\r\n\r\nmore\r\n"
    assert split_message(b"A: 1\r\n") == ([b"A: 1"], b"")
