"""Whole messages handed to mailpools: checked, completed, stored once, purged when done.

A submitted message (SMTP submission or `enqueue --eml`) is parsed with the
standard `email` package, refused in one sentence if it is not a message this
sender can pass on, completed with a Message-ID and a Date when it has none,
and stored compressed, once however many recipients share it. Every queued
copy points at it; it is deleted some days after the last of them finished.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.headerregistry import AddressHeader, BaseHeader
from email.parser import BytesParser
from email.utils import format_datetime
from functools import lru_cache

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from app.errors import MailpoolsError
from app.services import audit
from data.models import Message, MessageContent, MessageStatus, table_of

CONTENTS = table_of(MessageContent)
MESSAGES = table_of(Message)
# States a message never leaves (retention deletes messages in them, too).
FINAL_STATUSES = (
    MessageStatus.SENT,
    MessageStatus.BOUNCED,
    MessageStatus.REJECTED,
    MessageStatus.SUPPRESSED,
)
# A message may name its stream (kind), as Postmark's X-PM-Message-Stream does.
STREAM_HEADER = "X-Mailpools-Stream"
# Headers that steer delivery (hidden recipients, the stream) and never travel with the message.
_DELIVERY_HEADERS = (b"bcc", STREAM_HEADER.lower().encode("ascii"))
_PARSER = BytesParser(policy=policy.compat32)
_RECIPIENT_FIELDS = ("to", "cc", "bcc")
_PURGE_CHUNK = 500
# zlib's fastest level: for mail text it packs about as small as the default (244
# bytes against 238 for a 2 KB message) in two thirds of the time, paid per submission.
_LEVEL = 1
_STORE = insert(CONTENTS).returning(CONTENTS.c.id)
# Many in one statement, the ids in the order given.
_STORE_MANY = insert(CONTENTS).returning(CONTENTS.c.id, sort_by_parameter_order=True)


@dataclass(frozen=True)
class PreparedMessage:
    """A checked message: its From, subject and recipients, and its bytes (CRLF lines)."""

    from_addr: str
    subject: str
    # The To, Cc and Bcc fields as written, read only by `enqueue --eml`.
    recipient_fields: tuple[tuple[str, str], ...]
    headers: bytes
    body: bytes
    missing: list[str] = field(default_factory=list)
    # The kind the message says it is (its X-Mailpools-Stream header), if it says.
    declared_kind: str | None = None

    def header_recipients(self) -> list[str]:
        """The addresses in the To, Cc and Bcc headers."""
        recipients: list[str] = []
        for name, value in self.recipient_fields:
            header = _address_header(name.capitalize(), value)
            recipients.extend(address.addr_spec for address in header.addresses)
        return recipients

    def completed(self, message_id: str, moment: datetime) -> bytes:
        """The message as it will be sent: a missing Message-ID or Date added at the top."""
        added = b""
        if "message-id" in self.missing:
            added += f"Message-ID: {message_id}\r\n".encode("ascii")
        if "date" in self.missing:
            added += f"Date: {format_datetime(moment)}\r\n".encode("ascii")
        return added + self.headers + self.body


def size_refusal(size: int, limit: int) -> MailpoolsError:
    return MailpoolsError(
        f"The message is {readable_size(size)}, over this server's limit of {readable_size(limit)}.",
        field="size",
    )


def readable_size(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 100 * 1024 else f"{size:,} bytes"


def _malformed(reason: str) -> MailpoolsError:
    return MailpoolsError(f"The message is malformed: {reason}.", field="content")


def prepare(raw: bytes, *, max_bytes: int) -> PreparedMessage:
    """Check RAW (an RFC 5322 message) and split it for storage, or refuse it in one sentence."""
    if len(raw) > max_bytes:
        raise size_refusal(len(raw), max_bytes)
    data = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not data.strip() or data.startswith(b"\r\n"):
        raise _malformed("it has no header lines")
    end = data.find(b"\r\n\r\n")
    if end < 0:
        headers, body = data if data.endswith(b"\r\n") else data + b"\r\n", b"\r\n"
    else:
        headers, body = data[: end + 2], data[end + 2 :]
    if not headers.isascii():
        raise _malformed("its header lines hold 8-bit characters (encode them as RFC 2047 words)")
    parsed = _PARSER.parsebytes(headers + b"\r\n", headersonly=True)
    if parsed.defects:
        raise _malformed(f"its header lines cannot be read ({type(parsed.defects[0]).__name__})")
    # Raw values, and a structured parse only of the fields read: parsing costs per field.
    fields = [(name.lower(), _unfold(str(value))) for name, value in parsed.raw_items()]
    return PreparedMessage(
        from_addr=_single_from([value for name, value in fields if name == "from"]),
        subject=_unfolded(_subject(fields))[:998],
        recipient_fields=tuple(
            (name, value) for name, value in fields if name in _RECIPIENT_FIELDS
        ),
        headers=_without_delivery_headers(headers),
        body=body,
        missing=[name for name in ("message-id", "date") if name not in dict(fields)],
        declared_kind=_unfolded(dict(fields).get(STREAM_HEADER.lower(), "")).lower() or None,
    )


def _unfold(value: str) -> str:
    # A folded field continues after a line break followed by white space (RFC 5322 2.2.3).
    return value.replace("\r\n", "").replace("\n", "")


def _unfolded(value: str) -> str:
    return " ".join(value.split())


def _subject(fields: list[tuple[str, str]]) -> str:
    value = dict(fields).get("subject", "")
    # Only an encoded word (RFC 2047) needs the full parse to be read.
    return str(policy.default.header_factory("subject", value)) if "=?" in value else value


def _address_header(name: str, value: str) -> AddressHeader:
    header = policy.default.header_factory(name, value)
    # The factory builds a BaseHeader mixed with the field's kind, here AddressHeader.
    if not isinstance(header, AddressHeader) or not isinstance(header, BaseHeader):
        raise _malformed(f"its {name} header is not a list of addresses")
    if header.defects:
        raise _malformed(f"its {name} header is not a list of addresses")
    return header


def _single_from(values: list[str]) -> str:
    if len(values) != 1:
        raise _malformed("it needs exactly one From header")
    return _from_address(values[0])


@lru_cache(maxsize=1024)
def _from_address(value: str) -> str:
    """The address in a From field's VALUE. Parsing one costs about a millisecond, and a
    sender's From is the same message after message, so recent answers are remembered."""
    try:
        header = _address_header("from", value)
    except MailpoolsError:
        raise _malformed("its From header is not an address") from None
    addresses = header.addresses
    if len(addresses) != 1 or not addresses[0].domain:
        raise _malformed("its From header must name exactly one address")
    return addresses[0].addr_spec


def _without_delivery_headers(headers: bytes) -> bytes:
    """HEADERS without Bcc and stream fields (a field runs on over lines starting with white space)."""
    lowered = headers.lower()
    if not any(name in lowered for name in _DELIVERY_HEADERS):
        return headers
    kept: list[bytes] = []
    dropping = False
    for line in headers.splitlines(keepends=True):
        if line[:1] not in (b" ", b"\t"):
            name = line.split(b":", 1)[0].strip().lower()
            dropping = name in _DELIVERY_HEADERS
        if not dropping:
            kept.append(line)
    return b"".join(kept)


def store(connection: Connection, data: bytes, moment: datetime) -> int:
    """Keep DATA compressed, once; returns the id each queued copy refers to."""
    result = connection.execute(
        _STORE, {"data": zlib.compress(data, _LEVEL), "size": len(data), "created_at": moment}
    )
    return int(result.scalar_one())


def store_many(connection: Connection, data: list[bytes], moment: datetime) -> list[int]:
    """Keep each of DATA compressed, once, with one statement; returns their ids in order."""
    if not data:
        return []
    rows = [
        {"data": zlib.compress(each, _LEVEL), "size": len(each), "created_at": moment}
        for each in data
    ]
    return [int(each) for each in connection.execute(_STORE_MANY, rows).scalars()]


def unpack(data: bytes) -> bytes:
    return zlib.decompress(data)


def purge_finished(session: Session, *, retention_days: int, now: datetime) -> int:
    """Delete contents RETENTION_DAYS after every message using them finished; returns how many.

    The maintenance command `mailpools content purge` runs this (from cron, say);
    the finished messages keep their rows, without content.
    """
    cutoff = now - timedelta(days=retention_days)
    in_use = (
        select(MESSAGES.c.content_id)
        .where(MESSAGES.c.content_id.is_not(None))
        .where(
            or_(
                MESSAGES.c.status.not_in([status.value for status in FINAL_STATUSES]),
                MESSAGES.c.finished_at.is_(None),
                MESSAGES.c.finished_at >= cutoff,
            )
        )
    )
    connection = session.connection()
    doomed = list(
        connection.execute(
            select(CONTENTS.c.id)
            .where(CONTENTS.c.created_at < cutoff)
            .where(CONTENTS.c.id.not_in(in_use))
        ).scalars()
    )
    for start in range(0, len(doomed), _PURGE_CHUNK):
        chunk = doomed[start : start + _PURGE_CHUNK]
        connection.execute(
            update(MESSAGES).where(MESSAGES.c.content_id.in_(chunk)).values(content_id=None)
        )
        connection.execute(delete(CONTENTS).where(CONTENTS.c.id.in_(chunk)))
    if doomed:
        audit.record(
            session,
            actor=audit.SYSTEM_ACTOR,
            action="content.purge",
            entity="message_content",
            entity_id=len(doomed),
            after={"deleted": len(doomed), "finished_before": cutoff.isoformat()},
        )
    return len(doomed)
