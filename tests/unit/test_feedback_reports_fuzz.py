"""Hostile mail at the report reader: it never raises, and every address it returns is plain.

Hypothesis builds the mail from the fixtures (truncated, spliced, with header
fields mutated, recharset) and from nothing (random bytes, deep nesting, huge
fields). The runs are derandomized: the same examples every time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.feedback.reports import (
    DIAGNOSTIC_LIMIT,
    MAX_FAILED_RECIPIENTS,
    REASON_LIMIT,
    Report,
    ReportKind,
    read_report,
)

FIXTURES = sorted((Path(__file__).parent.parent / "feedback_reports").glob("*.eml"))
RAW_FIXTURES = [path.read_bytes() for path in FIXTURES]

fuzz = settings(
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

purposes = st.sampled_from(["b", "u"])
fixtures = st.sampled_from(RAW_FIXTURES)
# Values a receiver could put in a field: plain text, near-addresses, control characters,
# stray bytes decoded as Latin-1, encoded words and brackets.
field_values = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        [
            "rfc822; ",
            "rfc822; <>",
            "rfc822; a@b",
            "rfc822; a@example.com, b@example.com",
            'rfc822; "a b"@example.com',
            "rfc822; a@[192.0.2.1]",
            "utf-8; ü@example.com",
            "=?utf-8?b?w7w=?=@example.com",
            "<<<>>>",
            "5.1.1",
            "smtp; 550",
            "smtp; 550 5.1.1",
            "smtp; 9999 9.9.9",
            "failed",
            "auto-replied",
            "\x00\x01\x7f",
            "a" * 5_000,
        ]
    ),
    st.binary(max_size=80).map(lambda raw: raw.decode("latin-1")),
)
field_names = st.sampled_from(
    [
        "Content-Type",
        "Content-Transfer-Encoding",
        "Final-Recipient",
        "Original-Recipient",
        "Action",
        "Status",
        "Diagnostic-Code",
        "Feedback-Type",
        "Original-Rcpt-To",
        "Original-Mail-From",
        "Message-ID",
        "Return-Path",
        "To",
        "From",
        "Auto-Submitted",
        "X-Failed-Recipients",
        "MIME-Version",
    ]
)


def assert_a_sound_report(report: object) -> None:
    assert isinstance(report, Report)
    assert isinstance(report.kind, ReportKind)
    assert len(report.failed) <= MAX_FAILED_RECIPIENTS
    addresses = [failed.address for failed in report.failed]
    addresses += [a for a in (report.complained_address, report.original_envelope_sender) if a]
    for address in addresses:
        assert_plain(address)
    for failed in report.failed:
        assert len(failed.diagnostic) <= DIAGNOSTIC_LIMIT
        assert "\n" not in failed.diagnostic and "\r" not in failed.diagnostic
    if report.failed:
        assert report.kind is ReportKind.BOUNCE
    assert 0 < len(report.reason) <= REASON_LIMIT
    assert "\n" not in report.reason
    if report.original_message_id is not None:
        message_id = report.original_message_id
        assert message_id.startswith("<") and message_id.endswith(">")
        assert message_id.isascii() and " " not in message_id


def assert_plain(address: str) -> None:
    """One address, as the outbox itself would accept it and spell it."""
    try:
        checked = validate_email(
            address, check_deliverability=False, allow_smtputf8=False, test_environment=True
        )
    except EmailNotValidError as error:
        raise AssertionError(f"{address!r} is not a plain address: {error}") from None
    local, _, domain = address.rpartition("@")
    assert checked.normalized == address
    assert domain == domain.lower()
    assert local == checked.local_part


def read_soundly(raw: bytes, purpose: str) -> Report:
    report = read_report(raw, purpose)
    assert_a_sound_report(report)
    return report


@fuzz
@given(raw=st.binary(max_size=4_000), purpose=purposes)
def test_random_bytes(raw, purpose):
    read_soundly(raw, purpose)


@fuzz
@given(raw=fixtures, cut=st.floats(min_value=0, max_value=1), purpose=purposes)
def test_truncated_fixtures(raw, cut, purpose):
    read_soundly(raw[: int(len(raw) * cut)], purpose)


@fuzz
@given(
    raw=fixtures,
    at=st.floats(min_value=0, max_value=1),
    inserted=st.binary(min_size=1, max_size=300),
    purpose=purposes,
)
def test_fixtures_with_bytes_spliced_in(raw, at, inserted, purpose):
    position = int(len(raw) * at)
    read_soundly(raw[:position] + inserted + raw[position:], purpose)


@fuzz
@given(
    raw=fixtures,
    name=field_names,
    value=field_values,
    how=st.sampled_from(["replace", "add", "duplicate", "remove"]),
    purpose=purposes,
)
def test_fixtures_with_a_field_mutated(raw, name, value, how, purpose):
    lines = raw.decode("utf-8").split("\n")
    prefix = f"{name}:".lower()
    matching = [index for index, line in enumerate(lines) if line.lower().startswith(prefix)]
    new_line = f"{name}: {value}"
    if how == "add" or not matching:
        lines.insert(0, new_line)
    elif how == "replace":
        for index in matching:
            lines[index] = new_line
    elif how == "duplicate":
        lines.insert(matching[0], new_line)
    else:
        for index in reversed(matching):
            del lines[index]
    read_soundly("\n".join(lines).encode("utf-8", "surrogateescape"), purpose)


@fuzz
@given(
    raw=fixtures,
    charset=st.sampled_from(["utf-16", "x-unknown", "utf-8\x00", "", "iso-2022-jp", "idna"]),
    body=st.binary(max_size=200),
)
def test_fixtures_in_wrong_charsets(raw, charset, body):
    recharset = raw.replace(b"charset=", f"charset={charset};x=".encode())
    read_soundly(recharset + body, "b")
    read_soundly(raw.replace(b"\n\n", b"\n\n" + body, 3), "b")


def nested(depth: int, leaf: bytes, report_type: str = "delivery-status") -> bytes:
    """A multipart/report holding multipart/mixed parts DEPTH deep around LEAF."""
    opening = b"From: MAILER-DAEMON@mx.example.net\nMIME-Version: 1.0\n"
    for level in range(depth):
        kind = f"multipart/report; report-type={report_type}" if level == 0 else "multipart/mixed"
        opening += f'Content-Type: {kind}; boundary="n{level}"\n\n--n{level}\n'.encode()
    closing = b"".join(f"\n--n{level}--\n".encode() for level in reversed(range(depth)))
    return opening + leaf + closing


DELIVERY_STATUS_LEAF = (
    b"Content-Type: message/delivery-status\n\n"
    b"Reporting-MTA: dns; mx.example.net\n\n"
    b"Final-Recipient: rfc822; deep@example.net\nAction: failed\nStatus: 5.1.1\n"
)


@settings(derandomize=True, deadline=None, max_examples=15)
@given(depth=st.integers(min_value=1, max_value=300), purpose=purposes)
def test_nested_multiparts(depth, purpose):
    read_soundly(nested(depth, DELIVERY_STATUS_LEAF), purpose)


@fuzz
@given(
    raw=fixtures,
    name=field_names,
    length=st.integers(min_value=1_000, max_value=200_000),
    purpose=purposes,
)
def test_huge_header_lines(raw, name, length, purpose):
    read_soundly(f"{name}: {'x' * length}\n".encode() + raw, purpose)


# Hand-written hostile cases.


@pytest.mark.parametrize("purpose", ["b", "u"])
def test_multiparts_nested_200_deep(purpose):
    # Only flufl.bounce's detectors walk that deep; the reader's own searches stop early.
    read_soundly(nested(200, DELIVERY_STATUS_LEAF), purpose)


def test_multiparts_nested_deeper_than_the_parser_goes_are_kept_unparsed():
    report = read_soundly(nested(2_000, DELIVERY_STATUS_LEAF), "b")
    assert report.kind is ReportKind.UNPARSED
    assert report.reason == "The mail could not be read: RecursionError."


def test_a_status_part_one_level_down_is_found():
    report = read_soundly(nested(1, DELIVERY_STATUS_LEAF), "b")
    assert [failed.address for failed in report.failed] == ["deep@example.net"]


def test_a_report_without_parts_is_kept_unparsed():
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="missing"\n\n'
        b"No boundary ever appears.\n"
    )
    assert read_soundly(raw, "b").kind is ReportKind.UNPARSED


def test_a_feedback_report_without_its_report_part_is_kept_unparsed():
    raw = (
        b"From: fbl@isp.example\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="f"\n\n'
        b"--f\nContent-Type: text/plain\n\nA complaint.\n--f--\n"
    )
    report = read_soundly(raw, "b")
    assert report.kind is ReportKind.UNPARSED
    assert "feedback report without the part" in report.reason


def test_undecodable_bytes_in_every_field():
    raw = RAW_FIXTURES[0]
    hostile = raw.replace(b": ", b": \xff\xfe\xc3(", 40)
    read_soundly(hostile, "b")
    read_soundly(hostile, "u")


def test_a_base64_status_part_that_is_not_base64():
    raw = (Path(__file__).parent.parent / "feedback_reports" / "dsn_no_such_user.eml").read_bytes()
    hostile = raw.replace(
        b"Content-Type: message/delivery-status\n",
        b"Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n",
    )
    read_soundly(hostile, "b")


def test_a_recipient_group_flood_is_capped():
    groups = b"".join(
        b"Final-Recipient: rfc822; r%d@example.net\nAction: failed\nStatus: 4.2.2\n\n" % number
        for number in range(20_000)
    )
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="g"\n\n'
        b"--g\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        + groups
        + b"--g--\n"
    )
    report = read_soundly(raw, "b")
    assert len(report.failed) == MAX_FAILED_RECIPIENTS
    assert "19,000 more not listed" in report.reason


def test_a_flood_of_detected_addresses_is_capped():
    addresses = b", ".join(b"x%d@example.net" % number for number in range(3_000))
    raw = (
        b"From: mailer-daemon@mx.example.net\nX-Failed-Recipients: " + addresses + b"\n\nFailed.\n"
    )
    report = read_soundly(raw, "b")
    assert report.kind is ReportKind.BOUNCE
    assert len(report.failed) == MAX_FAILED_RECIPIENTS
    assert "2,000 more not listed" in report.reason


def test_detected_addresses_that_are_not_plain_are_kept_unparsed():
    raw = b"From: mailer-daemon@mx.example.net\nX-Failed-Recipients: not-an-address\n\nFailed.\n"
    report = read_soundly(raw, "b")
    assert report.kind is ReportKind.UNPARSED
    assert "not plain addresses" in report.reason


def test_mail_far_too_big_for_the_detectors_is_still_read():
    raw = (
        b"From: mailer-daemon@mx.example.net\nX-Failed-Recipients: big@example.net\n\n"
        + b"padding\n" * 200_000
    )
    assert read_soundly(raw, "b").kind is ReportKind.UNPARSED
