"""Reading one mail a receiver sent back into a Report: pure, no database, no network.

`read_report(raw, purpose)` never raises: whatever arrives, the listener gets a
Report, and what cannot be understood comes back UNPARSED with the reason, to
be kept for a person to read.

Mail to a bounce address (purpose "b") is read in this order:

1. A delivery status notification (RFC 3464: multipart/report with
   report-type=delivery-status): every recipient group whose Action is
   "failed" is a failed recipient. "delayed", "delivered", "relayed" and
   "expanded" are not failures; a notification naming only those is
   AUTO_REPLY (read, nothing to do). RFC 6522 puts the report at the top
   level, so only the top level is looked at.
2. A feedback report (RFC 5965: report-type=feedback-report) is a COMPLAINT,
   except the types that are not one: "not-spam" and "auth-failure" (an
   authentication failure report, RFC 6591) come back UNPARSED for a person.
3. An automatic reply (see `_auto_reply_sign`) is AUTO_REPLY, unless it comes
   from a mail system (a null Return-Path, or From MAILER-DAEMON or
   postmaster): Exim and others mark their plain-text bounces
   "Auto-Submitted: auto-replied", and those must still be read as bounces.
4. flufl.bounce's detectors (Mailman's) find the failed addresses of
   non-standard bounces; they cannot say why, so status is None, and their
   permanent failures are hard and temporary ones soft.
5. Anything else is UNPARSED.

Mail to an unsubscribe address (purpose "u") is an UNSUBSCRIBE when a person
sent it; an automatic reply is AUTO_REPLY, and a report or a mail system's
message is UNPARSED (neither is a request, and a person should see it).

Addresses are kept only when they are one plain address: a dot-atom local part
(the only kind this sender sends to), an @, and a domain name of letters,
digits and hyphens, lowercased (only the domain: local parts may be case
sensitive). A recipient group whose address is anything else is skipped and
the skip is counted in the reason; if no failed recipient is left the report is
UNPARSED.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from email.header import Header, decode_header
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import collapse_rfc2231_value, getaddresses
from enum import StrEnum

from flufl.bounce import all_failures

from app.feedback.parsing import parse_mail
from app.rules.formatting import one_line, plural
from app.rules.status_codes import Severity, enhanced_code, severity

# A DSN may name thousands of recipients; the rest are counted in the reason.
MAX_FAILED_RECIPIENTS = 1_000
# How deep into nested parts, and how many parts, any search goes.
MAX_DEPTH = 8
MAX_PARTS = 200
# flufl.bounce scans every line of a mail with regular expressions: bounces are small.
MAX_SCANNED_BYTES = 1_000_000
DIAGNOSTIC_LIMIT = 500
REASON_LIMIT = 300
MESSAGE_ID_LIMIT = 998

DELIVERY_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
FEEDBACK_REPORT_TYPE = "message/feedback-report"
RETURNED_MESSAGE_TYPES = ("message/rfc822", "message/global")
RETURNED_HEADERS_TYPES = ("text/rfc822-headers", "message/global-headers")
RECIPIENT_ADDRESS_TYPES = ("rfc822", "utf-8")
REPORT_NAMES = {
    "delivery-status": "delivery status notification",
    "feedback-report": "feedback report",
}
# RFC 3464's actions other than "failed": none of them is a bounce.
NOT_FAILURES = frozenset({"delayed", "delivered", "relayed", "expanded"})
NOT_COMPLAINTS = frozenset({"not-spam", "auth-failure"})
MAIL_SYSTEM_SENDERS = frozenset({"mailer-daemon", "postmaster"})

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+", re.ASCII)
# RFC 5322's msg-id as sent: printable ASCII but the angle brackets, inside them.
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+>", re.ASCII)
_FEEDBACK_TYPE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}", re.ASCII)
_SMTP_REPLY = re.compile(r"([2-5][0-9][0-9])(?:[ -]|$)", re.ASCII)


class ReportKind(StrEnum):
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    # Machine-made mail that asks for nothing: out-of-office replies, delay notices.
    AUTO_REPLY = "auto_reply"
    UNPARSED = "unparsed"


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    address: str
    status: str | None
    severity: Severity
    # The receiver's own text, on one line, at most DIAGNOSTIC_LIMIT characters.
    diagnostic: str


@dataclass(frozen=True, slots=True)
class Report:
    kind: ReportKind
    # Bounces: every recipient whose Action is "failed", at most MAX_FAILED_RECIPIENTS.
    failed: tuple[FailedRecipient, ...] = ()
    # Complaints: the feedback report's Original-Rcpt-To, else the returned message's To.
    complained_address: str | None = None
    # Complaints: the Feedback-Type, lowercased (abuse, fraud, virus, other, ...).
    feedback_type: str | None = None
    # The returned original's Message-ID, angle brackets and all, as it was sent.
    original_message_id: str | None = None
    # The original's envelope sender: Original-Mail-From, else the returned Return-Path.
    original_envelope_sender: str | None = None
    # One sentence: what was found, or why the mail could not be read.
    reason: str = ""


def read_report(raw: bytes, purpose: str) -> Report:
    """What RAW, a mail received at a bounce (PURPOSE "b") or unsubscribe ("u") address,
    reports. Never raises."""
    try:
        return _read(raw, purpose)
    except Exception as error:  # hostile mail must reach the listener as a Report, never a crash
        return _unparsed(f"The mail could not be read: {type(error).__name__}.")


def _read(raw: bytes, purpose: str) -> Report:
    if not isinstance(raw, bytes | bytearray | memoryview):
        return _unparsed("The mail was not given as bytes.")
    if purpose not in ("b", "u"):
        return _unparsed(f"Mail for an address of unknown purpose {purpose!r} is not read.")
    data = bytes(raw)
    if not data.strip():
        return _unparsed("The mail is empty.")
    # compat32 reads on past defects and leaves field values as sent, for the checks
    # here to judge; flufl.bounce's detectors expect its messages too.
    message = parse_mail(data)
    if purpose == "u":
        return _read_unsubscribe(message)
    report_type, parts = _report(message)
    if report_type == "delivery-status":
        found = _read_delivery_status(parts)
        if found is not None:
            return found
    elif report_type == "feedback-report":
        found = _read_feedback_report(parts)
        if found is not None:
            return found
    return _read_other(message, len(data), report_type)


def _read_unsubscribe(message: Message) -> Report:
    report_type, _ = _report(message)
    if report_type is not None:
        return _unparsed(
            f"A {_report_name(report_type)} came to an unsubscribe address, not a request."
        )
    sign = _auto_reply_sign(message)
    if sign is not None:
        return Report(ReportKind.AUTO_REPLY, reason=f"An automatic reply: {sign}.")
    if _from_mail_system(message):
        return _unparsed("A mail system's message came to an unsubscribe address, not a request.")
    return Report(ReportKind.UNSUBSCRIBE, reason="A request to unsubscribe.")


def _read_other(message: Message, size: int, report_type: str | None) -> Report:
    """A mail that is not a complete report: an automatic reply or a non-standard bounce."""
    sign = _auto_reply_sign(message)
    mail_system = _from_mail_system(message)
    if sign is not None and not mail_system:
        return Report(ReportKind.AUTO_REPLY, reason=f"An automatic reply: {sign}.")
    failed, named = _detected_failures(message, size)
    if failed:
        original = _returned_headers(_walk(message))
        summary = _severity_summary(failed)
        if named > len(failed):
            summary += f"; {named - len(failed):,} more not listed or not plain addresses"
        return Report(
            ReportKind.BOUNCE,
            failed=failed,
            original_message_id=_message_id(original),
            original_envelope_sender=_return_path(original),
            reason=one_line(f"A non-standard bounce: {summary}.", REASON_LIMIT),
        )
    if named:
        return _unparsed("A non-standard bounce whose failed recipients are not plain addresses.")
    if sign is not None:
        return Report(ReportKind.AUTO_REPLY, reason=f"An automatic reply: {sign}.")
    if report_type in REPORT_NAMES:
        return _unparsed(f"A {_report_name(report_type)} without the part that says what happened.")
    if report_type is not None:
        return _unparsed(
            f"A {_report_name(report_type)}, a kind of report this reader does not read."
        )
    return _unparsed(
        "Neither a delivery status notification nor a feedback report, "
        "and no bounce detector recognised it."
    )


# Delivery status notifications (RFC 3464).


def _read_delivery_status(parts: list[Message]) -> Report | None:
    status_part = next((p for p in parts if _content_type(p) in DELIVERY_STATUS_TYPES), None)
    if status_part is None:
        return None
    groups = [block for block in _field_blocks(status_part) if _is_recipient_group(block)]
    original = _returned_headers(parts)
    message_id, envelope_sender = _message_id(original), _return_path(original)
    failed: list[FailedRecipient] = []
    seen: set[str] = set()
    other_actions: Counter[str] = Counter()
    not_listed = skipped = unreadable = 0
    for group in groups:
        action = _first_word(_header(group, "Action")).lower()
        if action in NOT_FAILURES:
            other_actions[action] += 1
            continue
        if action != "failed":
            unreadable += 1
            continue
        if len(failed) >= MAX_FAILED_RECIPIENTS:
            not_listed += 1
            continue
        recipient = _failed_recipient(group)
        if recipient is None:
            skipped += 1
        elif recipient.address not in seen:
            seen.add(recipient.address)
            failed.append(recipient)
    notes = []
    if skipped:
        notes.append(f"{plural(skipped, 'failed recipient')} skipped: not one plain address")
    if unreadable:
        notes.append(f"{plural(unreadable, 'recipient')} without a readable Action")
    if not_listed:
        notes.append(
            f"{not_listed:,} more not listed (only the first {MAX_FAILED_RECIPIENTS:,} are kept)"
        )
    if failed:
        summary = "; ".join([_severity_summary(tuple(failed)), *notes])
        return Report(
            ReportKind.BOUNCE,
            failed=tuple(failed),
            original_message_id=message_id,
            original_envelope_sender=envelope_sender,
            reason=one_line(f"A delivery status notification: {summary}.", REASON_LIMIT),
        )
    if skipped:
        reason = "The delivery status notification's failed recipients are not plain addresses."
        return _unparsed(reason, message_id, envelope_sender)
    if unreadable:
        reason = "The delivery status notification names recipients without a readable Action."
        return _unparsed(reason, message_id, envelope_sender)
    if other_actions:
        actions = ", ".join(f"{action} {count:,}" for action, count in other_actions.items())
        return Report(
            ReportKind.AUTO_REPLY,
            original_message_id=message_id,
            original_envelope_sender=envelope_sender,
            reason=one_line(
                f"A delivery status notification with no failure ({actions}).", REASON_LIMIT
            ),
        )
    return _unparsed("The delivery status notification names no recipient.", message_id)


def _is_recipient_group(block: Message) -> bool:
    return any(block.get(name) is not None for name in ("Final-Recipient", "Action"))


def _failed_recipient(group: Message) -> FailedRecipient | None:
    # Original-Recipient is the address as the sender gave it (ORCPT); Final-Recipient
    # may be where the receiver forwarded it.
    address = _recipient_address(_header(group, "Original-Recipient")) or _recipient_address(
        _header(group, "Final-Recipient")
    )
    if address is None:
        return None
    status_field = _header(group, "Status")
    status = enhanced_code(status_field)
    diagnostic_type, separator, diagnostic = _header(group, "Diagnostic-Code").partition(";")
    if not separator:
        diagnostic, diagnostic_type = diagnostic_type, ""
    diagnostic = diagnostic.strip()
    smtp_code = None
    if diagnostic_type.strip().lower() in ("smtp", ""):
        smtp_code, reply_text = _smtp_reply(diagnostic)
        if status is None:
            status = enhanced_code(reply_text)
    return FailedRecipient(
        address=address,
        status=status,
        # Action "failed" without a failure code: soft, so one unclear report never
        # suppresses an address on its own.
        severity=severity(status, smtp_code) or Severity.SOFT,
        diagnostic=one_line(diagnostic or status_field, DIAGNOSTIC_LIMIT),
    )


def _smtp_reply(text: str) -> tuple[int | None, str]:
    """The basic reply code opening TEXT ("550 5.1.1 ..." or "550-5.1.1 ...") and the rest."""
    match = _SMTP_REPLY.match(text)
    if match is None:
        return None, text
    return int(match.group(1)), text[match.end() :]


def _severity_summary(failed: tuple[FailedRecipient, ...]) -> str:
    hard = sum(1 for recipient in failed if recipient.severity is Severity.HARD)
    return (
        f"{plural(len(failed), 'failed recipient')}, {hard:,} hard and {len(failed) - hard:,} soft"
    )


# Feedback reports (RFC 5965).


def _read_feedback_report(parts: list[Message]) -> Report | None:
    report_part = next((p for p in parts if _content_type(p) == FEEDBACK_REPORT_TYPE), None)
    if report_part is None:
        return None
    blocks = _field_blocks(report_part)
    fields = blocks[0] if blocks else Message()
    original = _returned_headers(parts)
    complained = next(
        (
            address
            for value in _headers(fields, "Original-Rcpt-To")
            if (address := _recipient_address(value)) is not None
        ),
        None,
    ) or _single_address(_header(original, "To") if original is not None else "")
    envelope_sender = _angle_address(_header(fields, "Original-Mail-From")) or _return_path(
        original
    )
    feedback_type = _first_word(_header(fields, "Feedback-Type")).lower()
    known_type = feedback_type if _FEEDBACK_TYPE.fullmatch(feedback_type) else None
    report = Report(
        ReportKind.COMPLAINT,
        complained_address=complained,
        feedback_type=known_type,
        original_message_id=_message_id(original),
        original_envelope_sender=envelope_sender,
        reason=one_line(
            f"A complaint ({known_type}) about {complained or 'an unnamed recipient'}.",
            REASON_LIMIT,
        ),
    )
    if known_type is None:
        reason = "The feedback report has no readable Feedback-Type."
        return replace(report, kind=ReportKind.UNPARSED, reason=reason)
    if known_type in NOT_COMPLAINTS:
        reason = f"A feedback report of type {known_type} is not a complaint."
        return replace(report, kind=ReportKind.UNPARSED, reason=reason)
    return report


# Automatic replies and non-standard bounces.


def _auto_reply_sign(message: Message) -> str | None:
    """Why MESSAGE is an automatic reply, or None. RFC 3834's Auto-Submitted with any
    value but "no", and the headers out-of-office responders add instead of it."""
    auto_submitted = _first_word(_header(message, "Auto-Submitted")).lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {one_line(auto_submitted, 40)}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated"):
        value = _header(message, name)
        if value and value.lower() not in ("no", "false", "0"):
            return f"{name}: {one_line(value, 40)}"
    for name in ("Precedence", "X-Precedence"):
        if _first_word(_header(message, name)).lower() == "auto_reply":
            return f"{name}: auto_reply"
    return None


def _from_mail_system(message: Message) -> bool:
    if _header(message, "Return-Path").replace(" ", "") == "<>":
        return True
    addresses = _addresses(_header(message, "From"))
    return any(address.partition("@")[0].lower() in MAIL_SYSTEM_SENDERS for address in addresses)


def _detected_failures(message: Message, size: int) -> tuple[tuple[FailedRecipient, ...], int]:
    """The failed recipients flufl.bounce's detectors find, and how many they named."""
    if size > MAX_SCANNED_BYTES:
        return (), 0
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector tripping over hostile mail means nothing was detected
        return (), 0
    found: dict[str, Severity] = {}
    for raw_addresses, kind in ((permanent, Severity.HARD), (temporary, Severity.SOFT)):
        for raw_address in sorted(raw_addresses):
            address = _plain_address(raw_address.decode("ascii", "replace"))
            if address is not None and len(found) < MAX_FAILED_RECIPIENTS:
                found.setdefault(address, kind)
    failed = tuple(
        FailedRecipient(address=address, status=None, severity=kind, diagnostic="")
        for address, kind in found.items()
    )
    return failed, len(temporary | permanent)


# The parts of a report and the returned original.


def _report(message: Message) -> tuple[str | None, list[Message]]:
    """The report type of a top-level multipart/report (taken from its parts when the
    parameter is missing or unknown) and its parts; (None, []) for any other mail."""
    if _content_type(message) != "multipart/report":
        return None, []
    payload = message.get_payload()
    parts = (
        [p for p in payload[:MAX_PARTS] if isinstance(p, Message)]
        if isinstance(payload, list)
        else []
    )
    parameter = message.get_param("report-type")
    declared = (
        _clean(collapse_rfc2231_value(parameter)).strip().lower() if parameter is not None else ""
    )
    if declared in ("delivery-status", "feedback-report"):
        return declared, parts
    types = {_content_type(p) for p in parts}
    if types.intersection(DELIVERY_STATUS_TYPES):
        return "delivery-status", parts
    if FEEDBACK_REPORT_TYPE in types:
        return "feedback-report", parts
    return one_line(declared, 40) or "unknown", parts


def _report_name(report_type: str) -> str:
    return REPORT_NAMES.get(report_type, f"{report_type} report")


def _returned_headers(parts: Iterator[Message] | list[Message]) -> Message | None:
    """The header fields of the original message returned among PARTS, if any."""
    for part in parts:
        content_type = _content_type(part)
        if content_type in RETURNED_MESSAGE_TYPES:
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        elif content_type in RETURNED_HEADERS_TYPES:
            return HeaderParser(policy=compat32).parsestr(_part_text(part))
    return None


def _walk(message: Message) -> Iterator[Message]:
    """MESSAGE's parts, breadth first, at most MAX_DEPTH deep and MAX_PARTS in all."""
    queue = [(message, 0)]
    seen = 0
    while queue and seen < MAX_PARTS:
        part, depth = queue.pop(0)
        seen += 1
        yield part
        payload = part.get_payload()
        if depth < MAX_DEPTH and isinstance(payload, list):
            queue.extend((child, depth + 1) for child in payload if isinstance(child, Message))


def _field_blocks(part: Message) -> list[Message]:
    """The blocks of header fields in a report part, in order. The email package splits a
    message/delivery-status payload into blocks itself; other message/* types arrive as
    one message whose body holds the remaining blocks."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return _parse_blocks(_part_text(part))
    blocks = []
    for item in payload:
        if isinstance(item, Message):
            blocks.append(item)
            body = _part_text(item)
            if body.strip():
                blocks.extend(_parse_blocks(body))
    return blocks


def _parse_blocks(text: str) -> list[Message]:
    parser = HeaderParser(policy=compat32)
    blocks, lines = [], []
    for line in [*text.splitlines(), ""]:
        if line.strip():
            lines.append(line)
        elif lines:
            blocks.append(parser.parsestr("\n".join(lines) + "\n"))
            lines = []
    return blocks


def _part_text(part: Message) -> str:
    body = part.get_payload(decode=True)
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    payload = part.get_payload()
    return payload if isinstance(payload, str) else ""


def _content_type(part: Message) -> str:
    try:
        return _clean(part.get_content_type())
    except Exception:  # an unreadable Content-Type is as good as none
        return "text/plain"


# Header fields and addresses.


def _clean(value: object) -> str:
    """A header value as one line of text: undecodable bytes replaced, folding undone."""
    if isinstance(value, Header):
        # compat32 wraps a field holding 8-bit bytes in a Header; its bytes are mostly UTF-8.
        text = "".join(_decoded(chunk, charset) for chunk, charset in decode_header(value))
    else:
        text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def _decoded(chunk: bytes | str, charset: str | None) -> str:
    if isinstance(chunk, str):
        return chunk
    try:
        return chunk.decode(charset or "utf-8", "replace")
    except LookupError:  # unknown-8bit, or a charset Python does not know
        return chunk.decode("utf-8", "replace")


def _header(message: Message | None, name: str) -> str:
    if message is None:
        return ""
    try:
        value = message.get(name)
    except Exception:  # a field the email package cannot decode reads as absent
        return ""
    return "" if value is None else _clean(value)


def _headers(message: Message, name: str) -> list[str]:
    try:
        values = message.get_all(name) or []
    except Exception:  # as in _header
        return []
    return [_clean(value) for value in values]


def _first_word(value: str) -> str:
    return value.split(";")[0].split("(")[0].strip().split(" ")[0]


def _plain_address(value: str) -> str | None:
    """VALUE if it is one plain address, with its domain lowercased; else None."""
    local, at, domain = value.strip().rpartition("@")
    if not at or not local or len(local) > 64:
        return None
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    address = f"{local}@{domain.lower()}"
    if len(address) > 254 or not _PLAIN_ADDRESS.fullmatch(address):
        return None
    if domain.rpartition(".")[2].isdigit():  # an IP address, not a domain name
        return None
    return address


def _recipient_address(value: str) -> str | None:
    """The address in a report's recipient field ("rfc822; user@example.com")."""
    address_type, separator, address = value.partition(";")
    if not separator:
        address = address_type
    elif address_type.strip().lower() not in RECIPIENT_ADDRESS_TYPES:
        return None
    return _angle_address(address)


def _angle_address(value: str) -> str | None:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return _plain_address(value) if value else None


def _addresses(value: str) -> list[str]:
    try:
        return [address for _, address in getaddresses([value]) if address]
    except Exception:  # a list getaddresses cannot read names no one
        return []


def _single_address(value: str) -> str | None:
    addresses = _addresses(value)
    return _plain_address(addresses[0]) if len(addresses) == 1 else None


def _return_path(original: Message | None) -> str | None:
    return _angle_address(_header(original, "Return-Path"))


def _message_id(original: Message | None) -> str | None:
    value = _header(original, "Message-ID")
    if len(value) <= MESSAGE_ID_LIMIT and _MESSAGE_ID.fullmatch(value):
        return value
    return None


def _unparsed(reason: str, message_id: str | None = None, sender: str | None = None) -> Report:
    return Report(
        ReportKind.UNPARSED,
        original_message_id=message_id,
        original_envelope_sender=sender,
        reason=one_line(reason, REASON_LIMIT),
    )
