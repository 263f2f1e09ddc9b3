"""Reading what receivers send back: each fixture into its Report, and the cases around them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.feedback.reports import (
    MAX_FAILED_RECIPIENTS,
    FailedRecipient,
    Report,
    ReportKind,
    read_report,
)
from app.rules.return_path import TokenPurpose
from app.rules.status_codes import Severity

FIXTURES = Path(__file__).parent.parent / "feedback_reports"
HARD, SOFT = Severity.HARD, Severity.SOFT


def token_sender(message_id: int, mac: str, domain: str = "bounces.news.example.com") -> str:
    return f"b-{message_id}-{mac}@{domain}"


EXPECTED = {
    "dsn_no_such_user.eml": Report(
        ReportKind.BOUNCE,
        failed=(
            FailedRecipient(
                "pat@example.org",
                "5.1.1",
                HARD,
                "550 5.1.1 <pat@example.org>... No such mailbox here",
            ),
        ),
        original_message_id="<4711.weekly@news.example.com>",
        original_envelope_sender=token_sender(4711, "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
    ),
    "dsn_hard_and_soft.eml": Report(
        ReportKind.BOUNCE,
        failed=(
            # Original-Recipient wins over Final-Recipient; only the domain is lowercased.
            FailedRecipient(
                "Lee.Jones@example.net",
                "5.1.1",
                HARD,
                "550-5.1.1 The account you tried to reach does not exist. "
                "550 5.1.1 Please check the address and try again.",
            ),
            FailedRecipient(
                "robin@example.net",
                "4.2.2",
                SOFT,
                "452 4.2.2 Mailbox over quota, try again later",
            ),
        ),
        original_message_id="<4712.december@news.example.com>",
        original_envelope_sender=token_sender(4712, "aa00bb11cc22dd33ee44ff5566778899"),
    ),
    "dsn_mailbox_full.eml": Report(
        ReportKind.BOUNCE,
        failed=(
            FailedRecipient(
                "sam@example.com",
                "5.2.2",
                SOFT,
                "552 5.2.2 sam@example.com: mailbox full, quota exceeded",
            ),
        ),
        original_message_id="<order-8812.4713@shop.example>",
        original_envelope_sender=token_sender(
            4713, "00112233445566778899aabbccddeeff", "bounces.shop.example"
        ),
    ),
    "dsn_delayed.eml": Report(
        ReportKind.AUTO_REPLY,
        original_message_id="<4714.weekly@news.example.com>",
        original_envelope_sender=token_sender(4714, "ffeeddccbbaa99887766554433221100"),
    ),
    "dsn_postfix_like.eml": Report(
        ReportKind.BOUNCE,
        failed=(
            FailedRecipient(
                "Alex.Moreau@example.org",
                "5.1.1",
                HARD,
                "550 5.1.1 <Alex.Moreau@example.org>: Recipient address rejected: "
                "User unknown in virtual mailbox table",
            ),
        ),
        original_message_id="<4715.cafe@news.example.com>",
        original_envelope_sender=token_sender(4715, "1234567890abcdef1234567890abcdef"),
    ),
    # Marked Auto-Submitted by the mail system, and still a bounce.
    "bounce_exim_like.eml": Report(
        ReportKind.BOUNCE, failed=(FailedRecipient("chris@example.net", None, HARD, ""),)
    ),
    "bounce_qmail_like.eml": Report(
        ReportKind.BOUNCE, failed=(FailedRecipient("drew@example.org", None, HARD, ""),)
    ),
    "bounce_webmail_like.eml": Report(
        ReportKind.BOUNCE,
        failed=(FailedRecipient("jo.nobody@webmail.example", None, HARD, ""),),
        original_message_id="<4718.tickets@news.example.com>",
        original_envelope_sender=token_sender(4718, "5566778899aabbccddeeff0011223344"),
    ),
    "arf_abuse_report.eml": Report(
        ReportKind.COMPLAINT,
        complained_address="river@isp.example",
        feedback_type="abuse",
        original_message_id="<4720.offers@shop.example>",
        original_envelope_sender=token_sender(
            4720, "13579bdf02468ace13579bdf02468ace", "bounces.shop.example"
        ),
    ),
    # No Original-Rcpt-To: the returned message's To names the recipient.
    "arf_mailbox_provider_a.eml": Report(
        ReportKind.COMPLAINT,
        complained_address="dana@mail.example",
        feedback_type="abuse",
        original_message_id="<4721.recipes@news.example.com>",
        original_envelope_sender=token_sender(4721, "2468ace013579bdf2468ace013579bdf"),
    ),
    # No Original-Mail-From either: the returned message's Return-Path gives the sender.
    "arf_mailbox_provider_b.eml": Report(
        ReportKind.COMPLAINT,
        complained_address="morgan@junkmail-reports.example.net",
        feedback_type="abuse",
        original_message_id="<4722.lastchance@shop.example>",
        original_envelope_sender=token_sender(
            4722, "ace02468bdf13579ace02468bdf13579", "bounces.shop.example"
        ),
    ),
    "auto_reply_auto_submitted.eml": Report(ReportKind.AUTO_REPLY),
    "auto_reply_without_auto_submitted.eml": Report(ReportKind.AUTO_REPLY),
}

UNSUBSCRIBE_EXPECTED = {
    "unsubscribe_empty_body.eml": ReportKind.UNSUBSCRIBE,
    "auto_reply_auto_submitted.eml": ReportKind.AUTO_REPLY,
    "auto_reply_without_auto_submitted.eml": ReportKind.AUTO_REPLY,
    "dsn_no_such_user.eml": ReportKind.UNPARSED,
    "arf_abuse_report.eml": ReportKind.UNPARSED,
    "bounce_qmail_like.eml": ReportKind.UNPARSED,
}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_every_fixture_has_an_expected_report():
    assert {path.name for path in FIXTURES.glob("*.eml")} == set(EXPECTED) | set(
        UNSUBSCRIBE_EXPECTED
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mail_to_a_bounce_address_reads_into_its_report(name):
    report = read_report(fixture(name), "b")
    assert replace(report, reason="") == EXPECTED[name]
    assert report.reason


@pytest.mark.parametrize("name", sorted(UNSUBSCRIBE_EXPECTED))
def test_mail_to_an_unsubscribe_address_is_a_request_only_from_a_person(name):
    report = read_report(fixture(name), "u")
    assert report.kind is UNSUBSCRIBE_EXPECTED[name]
    assert report.failed == ()
    assert report.reason


def test_the_same_fixture_reads_the_same_with_crlf_line_ends():
    raw = fixture("dsn_hard_and_soft.eml")
    assert read_report(raw.replace(b"\n", b"\r\n"), "b") == read_report(raw, "b")


def test_reasons_say_what_was_found():
    assert read_report(fixture("dsn_hard_and_soft.eml"), "b").reason == (
        "A delivery status notification: 2 failed recipients, 1 hard and 1 soft."
    )
    assert read_report(fixture("dsn_delayed.eml"), "b").reason == (
        "A delivery status notification with no failure (delayed 1)."
    )
    assert read_report(fixture("arf_abuse_report.eml"), "b").reason == (
        "A complaint (abuse) about river@isp.example."
    )
    assert (
        "X-Autoreply" in read_report(fixture("auto_reply_without_auto_submitted.eml"), "b").reason
    )


# Hand-written delivery status notifications.


def dsn(*groups: str, report_type: str = "delivery-status", status_type: str = "") -> bytes:
    status_type = status_type or "message/delivery-status"
    per_recipient = "\n".join(groups)
    return f"""From: MAILER-DAEMON@mx.example.net
To: b-1-00@bounces.example.com
Subject: Returned mail
MIME-Version: 1.0
Content-Type: multipart/report; report-type={report_type}; boundary="b1"

--b1
Content-Type: text/plain

Returned.

--b1
Content-Type: {status_type}

Reporting-MTA: dns; mx.example.net

{per_recipient}
--b1--
""".encode()


def group(recipient: str, action: str = "failed", status: str = "5.1.1", extra: str = "") -> str:
    lines = [f"Final-Recipient: {recipient}", f"Action: {action}"]
    if status:
        lines.append(f"Status: {status}")
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


def test_without_a_status_field_the_diagnostic_code_gives_the_status():
    report = read_report(
        dsn(
            group(
                "rfc822; a@example.net", status="", extra="Diagnostic-Code: smtp; 550 5.2.1 closed"
            )
        ),
        "b",
    )
    assert report.failed == (FailedRecipient("a@example.net", "5.2.1", HARD, "550 5.2.1 closed"),)


def test_a_basic_reply_code_alone_decides_when_there_is_no_enhanced_code():
    report = read_report(
        dsn(group("rfc822; a@example.net", status="", extra="Diagnostic-Code: smtp; 552 quota")),
        "b",
    )
    assert report.failed == (FailedRecipient("a@example.net", None, SOFT, "552 quota"),)


def test_a_failure_that_gives_no_code_at_all_is_soft():
    report = read_report(dsn(group("rfc822; a@example.net", status="")), "b")
    assert report.failed == (FailedRecipient("a@example.net", None, SOFT, ""),)


def test_a_non_smtp_diagnostic_is_kept_as_text_and_the_status_decides():
    report = read_report(
        dsn(group("rfc822; a@example.net", extra="Diagnostic-Code: X-Postfix; mail loops back")),
        "b",
    )
    assert report.failed == (FailedRecipient("a@example.net", "5.1.1", HARD, "mail loops back"),)


@pytest.mark.parametrize(
    "recipient",
    [
        "rfc822; two@example.net, addresses@example.net",
        "rfc822; Someone <someone@example.net>",
        "rfc822; not an address",
        "rfc822; literal@[192.0.2.1]",
        "rfc822; numeric@192.0.2.1",
        "rfc822; nodomain@localhost",
        'rfc822; "quoted local"@example.net',
        "rfc822; dots..twice@example.net",
        "rfc822; " + "x" * 65 + "@example.net",
        "x400; c=US;a=;p=Example;o=Mail;s=Smith",
        "rfc822; ",
        "rfc822; a@-bad-.example",
    ],
)
def test_a_failed_group_whose_address_is_not_one_plain_address_is_skipped(recipient):
    report = read_report(dsn(group(recipient), group("rfc822; good@example.net")), "b")
    assert report.kind is ReportKind.BOUNCE
    assert [failed.address for failed in report.failed] == ["good@example.net"]
    assert "1 failed recipient skipped" in report.reason


def test_a_notification_whose_only_failures_are_unreadable_is_kept_unparsed():
    report = read_report(dsn(group("rfc822; not an address")), "b")
    assert report.kind is ReportKind.UNPARSED
    assert report.failed == ()
    assert "not plain addresses" in report.reason


def test_addresses_are_stripped_of_their_type_and_brackets_and_only_the_domain_lowercased():
    report = read_report(
        dsn(group("RFC822;  <Mixed.Case@Sub.EXAMPLE.Net> "), group("  plain@EXAMPLE.org")), "b"
    )
    assert [failed.address for failed in report.failed] == [
        "Mixed.Case@sub.example.net",
        "plain@example.org",
    ]


def test_an_internationalised_domain_is_read_in_its_ascii_form():
    report = read_report(
        dsn(group("utf-8; ana@bücher.example"), status_type="message/global-delivery-status"),
        "b",
    )
    assert [failed.address for failed in report.failed] == ["ana@xn--bcher-kva.example"]


def test_the_same_recipient_twice_is_one_failure():
    report = read_report(dsn(group("rfc822; a@example.net"), group("rfc822; a@EXAMPLE.net")), "b")
    assert len(report.failed) == 1


def test_only_failed_recipients_are_bounces():
    report = read_report(
        dsn(
            group("rfc822; delivered@example.net", action="delivered", status="2.0.0"),
            group("rfc822; relayed@example.net", action="relayed", status="2.0.0"),
            group("rfc822; expanded@example.net", action="expanded", status="2.0.0"),
            group("rfc822; delayed@example.net", action="delayed", status="4.4.7"),
            group("rfc822; failed@example.net", action="Failed", status="5.1.1"),
        ),
        "b",
    )
    assert [failed.address for failed in report.failed] == ["failed@example.net"]


@pytest.mark.parametrize("action", ["", "bounced", "fail"])
def test_a_notification_whose_actions_cannot_be_read_is_kept_unparsed(action):
    report = read_report(dsn(group("rfc822; a@example.net", action=action)), "b")
    assert report.kind is ReportKind.UNPARSED
    assert "without a readable Action" in report.reason


def test_recipients_without_a_readable_action_are_counted_beside_the_failures():
    report = read_report(
        dsn(group("rfc822; a@example.net", action="gone"), group("rfc822; b@example.net")), "b"
    )
    assert [failed.address for failed in report.failed] == ["b@example.net"]
    assert "1 recipient without a readable Action" in report.reason


def test_a_notification_of_only_successes_asks_for_nothing():
    report = read_report(
        dsn(group("rfc822; a@example.net", action="delivered", status="2.0.0")), "b"
    )
    assert report.kind is ReportKind.AUTO_REPLY
    assert report.failed == ()


def test_thousands_of_recipient_groups_are_capped_and_the_rest_counted():
    groups = [group(f"rfc822; user{number}@example.net") for number in range(10_000)]
    report = read_report(dsn(*groups), "b")
    assert report.kind is ReportKind.BOUNCE
    assert len(report.failed) == MAX_FAILED_RECIPIENTS
    assert report.failed[0].address == "user0@example.net"
    assert "9,000 more not listed" in report.reason


def test_a_notification_naming_no_recipient_is_kept_unparsed():
    report = read_report(dsn(), "b")
    assert report.kind is ReportKind.UNPARSED
    assert "names no recipient" in report.reason


def test_the_report_type_is_taken_from_the_parts_when_the_parameter_is_missing():
    raw = dsn(group("rfc822; a@example.net")).replace(b"report-type=delivery-status; ", b"")
    assert [failed.address for failed in read_report(raw, "b").failed] == ["a@example.net"]


def test_a_notification_without_its_status_part_is_kept_unparsed():
    raw = dsn(group("rfc822; a@example.net"), status_type="text/plain")
    report = read_report(raw, "b")
    assert report.kind is ReportKind.UNPARSED
    assert "without the part" in report.reason


def test_a_report_of_another_kind_is_kept_unparsed():
    raw = dsn(
        report_type="disposition-notification", status_type="message/disposition-notification"
    )
    report = read_report(raw, "b")
    assert report.kind is ReportKind.UNPARSED
    assert report.reason == (
        "A disposition-notification report, a kind of report this reader does not read."
    )


def test_a_long_diagnostic_is_cut_to_one_line_of_500_characters():
    diagnostic = "Diagnostic-Code: smtp; 550 5.1.1 " + "\n ".join(["word"] * 400)
    report = read_report(dsn(group("rfc822; a@example.net", extra=diagnostic)), "b")
    text = report.failed[0].diagnostic
    assert len(text) == 500
    assert "\n" not in text
    assert text.startswith("550 5.1.1 word word")


# Hand-written feedback reports.


def feedback(fields: str, original: str = "") -> bytes:
    original = original or (
        "Return-Path: <b-9-00@bounces.example.com>\n"
        "From: news@example.com\nTo: reader@example.org\nMessage-ID: <9@example.com>\n"
    )
    return f"""From: fbl@isp.example
To: b-9-00@bounces.example.com
Subject: Report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="f1"

--f1
Content-Type: text/plain

A complaint.

--f1
Content-Type: message/feedback-report

{fields}
--f1
Content-Type: text/rfc822-headers

{original}
--f1--
""".encode()


@pytest.mark.parametrize("feedback_type", ["abuse", "fraud", "virus", "other", "Abuse"])
def test_a_feedback_report_is_a_complaint(feedback_type):
    report = read_report(feedback(f"Feedback-Type: {feedback_type}\nVersion: 1\n"), "b")
    assert report == Report(
        ReportKind.COMPLAINT,
        complained_address="reader@example.org",
        feedback_type=feedback_type.lower(),
        original_message_id="<9@example.com>",
        original_envelope_sender="b-9-00@bounces.example.com",
        reason=f"A complaint ({feedback_type.lower()}) about reader@example.org.",
    )


@pytest.mark.parametrize("feedback_type", ["not-spam", "auth-failure"])
def test_feedback_that_is_not_a_complaint_is_kept_for_a_person(feedback_type):
    report = read_report(feedback(f"Feedback-Type: {feedback_type}\n"), "b")
    assert report.kind is ReportKind.UNPARSED
    assert report.feedback_type == feedback_type
    assert report.original_message_id == "<9@example.com>"


def test_a_feedback_report_without_its_type_is_kept_unparsed():
    report = read_report(feedback("Version: 1\n"), "b")
    assert report.kind is ReportKind.UNPARSED
    assert report.feedback_type is None


def test_a_feedback_report_is_recognised_by_its_part_when_the_parameter_is_missing():
    raw = feedback("Feedback-Type: fraud\n").replace(b"report-type=feedback-report; ", b"")
    assert read_report(raw, "b").kind is ReportKind.COMPLAINT


def test_original_rcpt_to_wins_over_the_returned_to():
    report = read_report(
        feedback("Feedback-Type: abuse\nOriginal-Rcpt-To: <Named@ISP.example>\n"), "b"
    )
    assert report.complained_address == "Named@isp.example"


@pytest.mark.parametrize(
    "to",
    ["redacted", "one@example.org, two@example.org", "undisclosed-recipients:;", ""],
)
def test_a_complaint_whose_recipient_is_hidden_names_no_one(to):
    original = f"From: news@example.com\nTo: {to}\nMessage-ID: <9@example.com>\n"
    report = read_report(feedback("Feedback-Type: abuse\n", original), "b")
    assert report.kind is ReportKind.COMPLAINT
    assert report.complained_address is None
    assert report.original_message_id == "<9@example.com>"


@pytest.mark.parametrize(
    "message_id", ["not-in-brackets@example.com", "<two words@example.com>", "<a><b>", "<>"]
)
def test_a_message_id_that_is_not_one_is_not_reported(message_id):
    original = f"To: reader@example.org\nMessage-ID: {message_id}\n"
    report = read_report(feedback("Feedback-Type: abuse\n", original), "b")
    assert report.original_message_id is None


# Automatic replies and unsubscribes.


def plain_mail(headers: str, body: str = "Hello.\n") -> bytes:
    return f"From: someone@example.org\nTo: u-1-00@bounces.example.com\n{headers}\n{body}".encode()


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied",
        "Auto-Submitted: auto-generated",
        "Auto-Submitted: auto-notified; owner-email=x@example.org",
        "X-Autoreply: yes",
        "X-Autorespond: vacation",
        "X-Autogenerated: Reply",
        "Precedence: auto_reply",
    ],
)
def test_automatic_replies_are_recognised_at_either_address(header):
    raw = plain_mail(header + "\nSubject: Away\n")
    assert read_report(raw, "u").kind is ReportKind.AUTO_REPLY
    assert read_report(raw, "b").kind is ReportKind.AUTO_REPLY


@pytest.mark.parametrize(
    "header", ["Auto-Submitted: no", "X-Autoreply: no", "Precedence: bulk", "Subject: Away"]
)
def test_mail_a_person_sent_to_an_unsubscribe_address_is_a_request(header):
    assert read_report(plain_mail(header + "\n"), "u").kind is ReportKind.UNSUBSCRIBE


def test_a_mail_systems_message_to_an_unsubscribe_address_is_not_a_request():
    raw = b"From: MAILER-DAEMON@mx.example.net\nSubject: Failure\n\nSomething failed.\n"
    assert read_report(raw, "u").kind is ReportKind.UNPARSED


def test_a_mail_system_notice_no_detector_recognises_is_still_an_automatic_reply():
    raw = b"From: postmaster@mx.example.net\nAuto-Submitted: auto-generated\n\nAll is well.\n"
    assert read_report(raw, "b").kind is ReportKind.AUTO_REPLY


def test_a_persons_mail_to_a_bounce_address_is_kept_unparsed():
    report = read_report(plain_mail("Subject: Hello\n"), "b")
    assert report.kind is ReportKind.UNPARSED
    assert "no bounce detector recognised it" in report.reason


# Whatever arrives, a Report.


@pytest.mark.parametrize("purpose", ["", "x", "bounce", "B "])
def test_an_unknown_purpose_is_kept_unparsed(purpose):
    report = read_report(fixture("dsn_no_such_user.eml"), purpose)
    assert report.kind is ReportKind.UNPARSED


@pytest.mark.parametrize("raw", [b"", b"\r\n\r\n", "text, not bytes", None])
def test_empty_or_wrongly_typed_mail_is_kept_unparsed(raw):
    assert read_report(raw, "b").kind is ReportKind.UNPARSED  # type: ignore[arg-type]


def test_the_return_path_token_purposes_name_the_two_addresses():
    assert read_report(fixture("dsn_no_such_user.eml"), TokenPurpose.BOUNCE).kind is (
        ReportKind.BOUNCE
    )
    assert read_report(fixture("unsubscribe_empty_body.eml"), TokenPurpose.UNSUBSCRIBE).kind is (
        ReportKind.UNSUBSCRIBE
    )
