"""Mail that receivers send back, built around messages the sender really sent.

Delivery status notifications follow RFC 3464 (a human part, a message/delivery-status
part, the returned headers), feedback reports RFC 5965 (a human part, a
message/feedback-report part, the original's headers), as large mailbox providers
send them. They are built with the standard `email` package from what the sink
received, so each names the real Message-ID and is mailed to the real return path.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

REPORTING_MTA = "mx.dest.test"


def _headers_part(original: bytes) -> MIMEText:
    # The header block as it arrived, folded lines and all.
    headers = original.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii")
    part = MIMEText(headers + "\n", "rfc822-headers", "us-ascii")
    del part["Content-Transfer-Encoding"]
    return part


def _fields_part(subtype: str, blocks: list[list[tuple[str, str]]]) -> MIMEBase:
    """A message/delivery-status or message/feedback-report part: blocks of fields, which
    the email package keeps as header-only messages."""
    part = MIMEBase("message", subtype)
    fields = []
    for block in blocks:
        group = Message()
        for name, value in block:
            group[name] = value
        fields.append(group)
    part.set_payload(fields if subtype == "delivery-status" else None)
    if subtype != "delivery-status":
        # The generator writes a feedback report as text: the one block of fields.
        part = MIMEText("".join(f"{n}: {v}\r\n" for n, v in blocks[0]), "plain", "us-ascii")
        part.set_type("message/feedback-report")
        del part["Content-Transfer-Encoding"]
    return part


def _report(kind: str, human: str, machine: MIMEBase, original: bytes, to: str) -> bytes:
    report = MIMEMultipart("report", report_type=kind)
    report["From"] = f"Mail Delivery System <mailer-daemon@{REPORTING_MTA}>"
    report["To"] = to
    report["Subject"] = (
        "Undelivered Mail Returned to Sender" if kind == "delivery-status" else "FBL"
    )
    report["Auto-Submitted"] = "auto-replied"
    report.attach(MIMEText(human, "plain", "us-ascii"))
    report.attach(machine)
    report.attach(_headers_part(original))
    return report.as_bytes(policy=email.policy.compat32.clone(linesep="\r\n"))


def delivery_status_notification(
    original: bytes,
    return_path: str,
    recipient: str,
    *,
    status: str = "5.1.1",
    diagnostic: str = "550 5.1.1 The email account that you tried to reach does not exist",
    action: str = "failed",
) -> bytes:
    """A DSN about ORIGINAL, as the receiving MTA sends it to the message's return path."""
    machine = _fields_part(
        "delivery-status",
        [
            [
                ("Reporting-MTA", f"dns; {REPORTING_MTA}"),
                ("Arrival-Date", "Wed, 2 Dec 2026 10:00:00 +0000"),
            ],
            [
                ("Final-Recipient", f"rfc822; {recipient}"),
                ("Action", action),
                ("Status", status),
                ("Remote-MTA", f"dns; {REPORTING_MTA}"),
                ("Diagnostic-Code", f"smtp; {diagnostic}"),
            ],
        ],
    )
    human = f"Your message to {recipient} could not be delivered.\r\n"
    return _report("delivery-status", human, machine, original, return_path)


def feedback_report(original: bytes, to: str, recipient: str, mail_from: str) -> bytes:
    """A spam complaint about ORIGINAL in the Abuse Reporting Format."""
    machine = _fields_part(
        "feedback-report",
        [
            [
                ("Feedback-Type", "abuse"),
                ("User-Agent", "DestFBL/1.0"),
                ("Version", "1"),
                ("Original-Mail-From", f"<{mail_from}>"),
                ("Original-Rcpt-To", f"<{recipient}>"),
                ("Source-IP", "192.0.2.1"),
            ]
        ],
    )
    human = "This is a complaint about a message a user of dest.test marked as spam.\r\n"
    return _report("feedback-report", human, machine, original, to)


def unsubscribe_request(to: str, sender: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "unsubscribe"
    message.set_content("")
    return message.as_bytes(policy=email.policy.SMTP)


def out_of_office(to: str, sender: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "Out of office"
    message["Auto-Submitted"] = "auto-replied"
    message.set_content("I am away until Monday.")
    return message.as_bytes(policy=email.policy.SMTP)


def return_path_of(delivery) -> str:
    return delivery.mail_from


def unsubscribe_address(content: bytes) -> str:
    parsed: Message = email.message_from_bytes(content, policy=email.policy.SMTP)
    for link in str(parsed["List-Unsubscribe"]).split(","):
        link = link.strip().strip("<>")
        if link.startswith("mailto:"):
            return link.removeprefix("mailto:").split("?")[0]
    raise AssertionError("no mailto: in List-Unsubscribe")
