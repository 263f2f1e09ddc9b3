"""Putting messages in the outbox: the one enqueue service for the CLI, the console and tests."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import insert
from sqlmodel import Session

from app import clock
from app.errors import MailpoolsError, PermissionDenied
from app.rules import policy
from app.rules.formatting import one_line
from app.services import audit
from app.services.lookups import get_domain_for
from data.models import Domain, Message, MessageKind, MessageStatus, User, table_of

MAX_COUNT = 1_000_000
RETURNED_IDS = 1_000
MAX_SUBJECT_LENGTH = 998
_INSERT_CHUNK = 5_000
_ADDRESS = re.compile(
    r"^[^@\s<>()\[\],;:\"\\]+@([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+)$"
)


@dataclass(frozen=True)
class EnqueueResult:
    domain: str
    kind: str
    count: int
    # The Message-IDs of the first RETURNED_IDS messages queued.
    message_ids: list[str]

    def as_json(self) -> dict:
        return {
            "domain": self.domain,
            "kind": self.kind,
            "count": self.count,
            "message_ids": self.message_ids,
        }


def parse_address(value: str | None, field: str) -> tuple[str, str]:
    """Return (address, domain) or refuse an address that SMTP cannot carry.

    An internationalised domain is accepted and carried in its ASCII (punycode)
    form; the local part must be ASCII, as this sender does not use SMTPUTF8.
    """
    raw = (value or "").strip()
    if not raw:
        raise MailpoolsError(f"Give the {field} address, e.g. news@example.com.", field=field)
    local, at, domain = raw.rpartition("@")
    address = f"{local}{at}{policy.normalise_domain(domain)}" if at else raw
    if len(address) > 320:
        raise MailpoolsError(f"The {field} address is longer than 320 characters.", field=field)
    if len(local) > 64:
        # RFC 5321's limit: receiving servers refuse longer ones.
        raise MailpoolsError(
            f"The {field} address's local part (before the @) is longer than 64 characters.",
            field=field,
        )
    match = _ADDRESS.match(address)
    if not match or not address.isascii():
        raise MailpoolsError(
            f"{one_line(repr(raw), 80)} is not an email address this sender can use (local-part@domain, "
            "ASCII local part, no spaces).",
            field=field,
        )
    return address, match.group(1).lower()


def new_message_id(domain_name: str) -> str:
    return f"<{uuid.uuid4().hex}@{domain_name}>"


def enqueue(
    session: Session,
    actor: User,
    *,
    from_addr: str,
    to_addr: str,
    kind: str,
    subject: str = "",
    count: int = 1,
) -> EnqueueResult:
    """Queue COUNT messages from FROM_ADDR's domain, which ACTOR's account must own
    (agents and admins have no account, so they cannot send as a customer).

    A campaign or broadcast from a domain in the transactional pool is refused
    here, with the reason, before anything is written.
    """
    if kind not in set(MessageKind):
        raise MailpoolsError(
            f"{kind!r} is not a message kind; use transactional, campaign or broadcast.",
            field="kind",
        )
    if not 1 <= count <= MAX_COUNT:
        raise MailpoolsError(
            f"Queue between 1 and {MAX_COUNT:,} messages at a time.", field="count"
        )
    sender, sender_domain = parse_address(from_addr, "from")
    recipient, _ = parse_address(to_addr, "to")
    subject = " ".join((subject or "").split())
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise MailpoolsError(
            f"The subject is longer than {MAX_SUBJECT_LENGTH} characters.", field="subject"
        )
    domain: Domain = get_domain_for(session, actor, sender_domain)
    if actor.account_id is None or actor.account_id != domain.account_id:
        raise PermissionDenied(
            f"{actor.name} may only send from their own account's domains; "
            f"{domain.name} is not one of them.",
            field="from",
        )
    refusal = policy.refusal_for_kind(domain.sending_mode, kind, domain.name)
    if refusal:
        raise MailpoolsError(refusal, field="kind")

    now = clock.now()
    message_ids: list[str] = []
    table = table_of(Message)
    for start in range(0, count, _INSERT_CHUNK):
        rows = []
        for _ in range(min(_INSERT_CHUNK, count - start)):
            message_id = new_message_id(domain.name)
            if len(message_ids) < RETURNED_IDS:
                message_ids.append(message_id)
            rows.append(
                {
                    "message_id": message_id,
                    "domain_id": domain.id,
                    "from_addr": sender,
                    "to_addr": recipient,
                    "subject": subject,
                    "kind": kind,
                    "status": MessageStatus.QUEUED.value,
                    "attempts": 0,
                    "created_at": now,
                    "next_attempt_at": now,
                }
            )
        session.execute(insert(table), rows)
    audit.record(
        session,
        actor=actor.name,
        action="message.enqueue",
        entity="domain",
        entity_id=domain.name,
        account_id=domain.account_id,
        domain_id=domain.id,
        after={"kind": kind, "count": count, "to": recipient, "subject": subject},
    )
    return EnqueueResult(
        domain=domain.name,
        kind=kind,
        count=count,
        message_ids=message_ids,
    )
