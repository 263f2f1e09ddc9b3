"""Hard or soft: one rule for SMTP replies and delivery status notifications."""

from __future__ import annotations

import pytest

from app.rules.status_codes import Severity, enhanced_code, severity

HARD, SOFT = Severity.HARD, Severity.SOFT


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("5.1.1 No such user", "5.1.1"),
        ("4.2.2 Mailbox full", "4.2.2"),
        ("2.0.0 OK queued as 12345", "2.0.0"),
        ("  5.7.1\tRefused by policy", "5.7.1"),
        ("5.1.1", "5.1.1"),
        ("5.1.10 Recipient address has null MX", "5.1.10"),
        ("5.123.456 three digits each", "5.123.456"),
    ],
)
def test_an_enhanced_code_is_read_from_the_start_of_a_reply(text, code):
    assert enhanced_code(text) == code


@pytest.mark.parametrize(
    "text",
    [
        "",
        "No such user 5.1.1",
        "550 5.1.1 the basic code comes first",
        "3.1.1 class 3 does not exist",
        "5.1 too short",
        "5.1.1234 detail too long",
        "5.1234.1 subject too long",
        "5.1.1.1 four parts",
        "5.1.1-no space after",
        "5.a.1 letters",
        "５.1.1 full-width digit",
        "5.١.1 Arabic-Indic digit",
    ],
)
def test_text_without_a_valid_enhanced_code_at_its_start_has_none(text):
    assert enhanced_code(text) is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("5.1.1", HARD),  # bad destination mailbox
        ("5.1.2", HARD),  # bad destination system
        ("5.1.10", HARD),  # null MX
        ("5.1.7", SOFT),  # our sender's address, not the recipient's
        ("5.1.8", SOFT),
        ("5.0.0", HARD),
        ("5.9.9", HARD),  # an unknown subject reads as 5.0.0
        ("5.2.1", HARD),  # mailbox disabled
        ("5.2.2", SOFT),  # mailbox full
        ("5.2.3", SOFT),  # message too long for this mailbox
        ("5.2.0", SOFT),
        ("5.3.4", SOFT),  # message too big for the system
        ("5.4.4", HARD),  # unable to route: no mail host for the domain
        ("5.4.7", SOFT),  # delivery time expired
        ("5.5.0", SOFT),
        ("5.6.1", SOFT),
        ("5.7.1", SOFT),  # policy blocks are about the sender
        ("5.7.26", SOFT),  # authentication failed
        ("5.7.13", HARD),  # user account disabled
        ("5.7.17", HARD),  # mailbox owner has changed
        ("5.7.18", HARD),  # domain owner has changed
        ("4.1.1", SOFT),
        ("4.2.2", SOFT),
        ("4.7.0", SOFT),
        ("2.0.0", None),
    ],
)
def test_the_enhanced_code_decides(status, expected):
    assert severity(status) == expected
    # A basic code of either class does not overrule it.
    assert severity(status, 550) == expected
    assert severity(status, 450) == expected


@pytest.mark.parametrize(
    ("smtp_code", "expected"),
    [
        (550, HARD),
        (551, HARD),
        (553, HARD),
        (554, HARD),
        (521, HARD),
        (552, SOFT),  # exceeded storage allocation
        (500, SOFT),
        (501, SOFT),
        (503, SOFT),
        (421, SOFT),
        (450, SOFT),
        (452, SOFT),
        (250, None),
        (354, None),
        (600, None),
        (99, None),
        (-550, None),
    ],
)
def test_without_an_enhanced_code_the_basic_reply_code_decides(smtp_code, expected):
    assert severity(None, smtp_code) == expected
    assert severity("not a status", smtp_code) == expected


def test_nothing_to_go_on_is_none():
    assert severity(None) is None
    assert severity("") is None
    assert severity("garbage") is None
    assert severity(None, True) is None
