"""Putting messages in the outbox: the one enqueue service for the CLI, the console, SMTP
submission and tests.

Every way in (`enqueue` by subject, `enqueue --eml` with a whole message, an
SMTP submission) ends in `_queue`, which holds the rules once: the message
kind, the From domain belonging to the sender's account, the transactional
pool's refusal of campaigns and broadcasts, and the account's hourly rate.
A refusal writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Session

from app import clock, settings
from app.errors import MailpoolsError, PermissionDenied
from app.rules import policy
from app.rules.formatting import one_line, plural
from app.services import audit, contents, suppressions
from app.services.addresses import parse_address
from app.services.credentials import SubmissionLogin
from app.services.lookups import no_such_domain
from data.models import (
    AccountHourlyCount,
    Domain,
    Message,
    MessageKind,
    MessageStatus,
    User,
    table_of,
)

MAX_COUNT = 1_000_000
RETURNED_IDS = 1_000
MAX_SUBJECT_LENGTH = 998
_INSERT_CHUNK = 5_000
# Suppressed recipients a summary names before it counts the rest.
SUMMARY_NAMES = 5
MESSAGES = table_of(Message)
DOMAINS = table_of(Domain)
HOURLY_COUNTS = table_of(AccountHourlyCount)


@dataclass(frozen=True)
class EnqueueResult:
    domain: str
    kind: str
    count: int
    # The Message-IDs of the first RETURNED_IDS messages queued.
    message_ids: list[str]
    # Recipients on the account's suppression list: their messages were finished at once,
    # as suppressed, and are not among the COUNT queued.
    suppressed: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "domain": self.domain,
            "kind": self.kind,
            "count": self.count,
            "message_ids": self.message_ids,
            "suppressed": self.suppressed,
        }

    @property
    def summary(self) -> str:
        said = f"Queued {plural(self.count, f'{self.kind} message')} from {self.domain}."
        if self.suppressed:
            named = ", ".join(self.suppressed[:SUMMARY_NAMES])
            more = len(self.suppressed) - SUMMARY_NAMES
            if more > 0:
                named += f" and {more:,} more"
            said += f" Not sent to {named}: on the account's suppression list."
        return said


@dataclass(frozen=True)
class Queuer:
    """Who queues: a person, or a submission credential, acting for one account."""

    name: str
    account_id: int | None
    # How a refusal names them: "bruno", "credential bolt-campaign-1a2b3c4d".
    described: str
    by_credential: bool = False


def _person(actor: User) -> Queuer:
    # Agents and admins have no account, so they cannot send as a customer.
    return Queuer(actor.name, actor.account_id, actor.name)


def _credential(login: SubmissionLogin) -> Queuer:
    return Queuer(
        f"credential:{login.username}",
        login.account_id,
        f"credential {login.username}",
        by_credential=True,
    )


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
    """Queue COUNT messages with a generated body from FROM_ADDR's domain, which ACTOR's
    account must own."""
    if not 1 <= count <= MAX_COUNT:
        raise MailpoolsError(
            f"Queue between 1 and {MAX_COUNT:,} messages at a time.", field="count"
        )
    sender, _ = parse_address(from_addr, "from")
    recipient, _ = parse_address(to_addr, "to")
    subject = " ".join((subject or "").split())
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise MailpoolsError(
            f"The subject is longer than {MAX_SUBJECT_LENGTH} characters.", field="subject"
        )
    return _queue(
        session,
        _person(actor),
        kind=kind,
        from_addr=sender,
        recipients=[recipient],
        copies=count,
        subject=subject,
    )


def enqueue_message(session: Session, actor: User, *, raw: bytes, kind: str) -> EnqueueResult:
    """Queue a whole message (`enqueue --eml`): one copy to each address in its To, Cc
    and Bcc headers, with the same checks as an SMTP submission."""
    limits = settings.current()
    message = contents.prepare(raw, max_bytes=limits.submission_max_bytes)
    _check_declared_kind(message, kind, f"--kind {kind}")
    named = message.header_recipients()
    if not named:
        raise MailpoolsError(
            "The message names no recipient: give it a To, Cc or Bcc header.", field="to"
        )
    return _queue(
        session,
        _person(actor),
        kind=kind,
        from_addr=parse_address(message.from_addr, "from")[0],
        recipients=_recipients(named),
        subject=message.subject,
        content=message,
    )


def submit(
    session: Session, login: SubmissionLogin, *, raw: bytes, recipients: list[str]
) -> EnqueueResult:
    """Queue a message handed over by SMTP submission: one copy to each envelope recipient,
    of the kind the credential sends."""
    limits = settings.current()
    message = contents.prepare(raw, max_bytes=limits.submission_max_bytes)
    _check_declared_kind(message, login.kind, f"credential {login.username}")
    return _queue(
        session,
        _credential(login),
        kind=login.kind,
        from_addr=parse_address(message.from_addr, "from")[0],
        recipients=_recipients(recipients),
        subject=message.subject,
        content=message,
    )


def _check_declared_kind(message: contents.PreparedMessage, kind: str, source: str) -> None:
    declared = message.declared_kind
    if declared is not None and declared != kind:
        raise MailpoolsError(
            f"The message says it is {_with_article(declared)} ({contents.STREAM_HEADER}), "
            f"but {source} sends {kind} messages only.",
            field="kind",
        )


def _with_article(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def check_recipient_count(count: int) -> None:
    limit = settings.current().submission_max_recipients
    if count > limit:
        raise MailpoolsError(
            f"A message may have at most {limit} recipients; send the rest separately.",
            field="recipients",
        )


def _recipients(addresses: list[str]) -> list[str]:
    check_recipient_count(len(addresses))
    return [parse_address(address, "to")[0] for address in addresses]


@dataclass(frozen=True, slots=True)
class _SendingDomain:
    id: int
    name: str
    account_id: int


# Read for every message queued: Core, not an ORM load, as submission pays it per message.
_DOMAIN_BY_NAME = select(
    DOMAINS.c.id, DOMAINS.c.name, DOMAINS.c.account_id, DOMAINS.c.sending_mode
).where(DOMAINS.c.name == bindparam("name"))


def _sending_domain(
    connection: Connection, queuer: Queuer, domain_name: str, kind: str
) -> _SendingDomain:
    if kind not in set(MessageKind):
        raise MailpoolsError(
            f"{kind!r} is not a message kind; use transactional, campaign or broadcast.",
            field="kind",
        )
    wanted = policy.normalise_domain(domain_name)
    # A name that does not print matches nothing (and PostgreSQL refuses a NUL in a query).
    row = (
        connection.execute(_DOMAIN_BY_NAME, {"name": wanted}).first()
        if wanted.isprintable()
        else None
    )
    other_account = row is not None and row.account_id != queuer.account_id
    # Another account's domain is refused in the words used for one that does not exist,
    # so a refusal tells nothing about other accounts.
    if queuer.by_credential and (row is None or other_account):
        raise PermissionDenied(
            f"{one_line(wanted, 80)} is not a sending domain of this account.", field="from"
        )
    if row is None or (other_account and queuer.account_id is not None):
        raise no_such_domain(domain_name)
    domain = _SendingDomain(row.id, row.name, row.account_id)
    if queuer.account_id is None:
        raise PermissionDenied(
            f"{queuer.described} may only send from their own account's domains; "
            f"{domain.name} is not one of them.",
            field="from",
        )
    refusal = policy.refusal_for_kind(row.sending_mode, kind, domain.name)
    if refusal:
        raise MailpoolsError(refusal, field="kind")
    return domain


def _queue(
    session: Session,
    queuer: Queuer,
    *,
    kind: str,
    from_addr: str,
    recipients: list[str],
    subject: str,
    copies: int = 1,
    content: contents.PreparedMessage | None = None,
) -> EnqueueResult:
    """The one place messages enter the outbox; nothing is written unless all of it is."""
    domain_name = from_addr.rpartition("@")[2]
    # One connection for every statement: asking the session for it each time costs.
    connection = session.connection()
    domain = _sending_domain(connection, queuer, domain_name, kind)
    listed = suppressions.suppressed_among(connection, domain.account_id, recipients)
    count = len(recipients) * copies
    now = clock.now()
    queued_count = (len(recipients) - len(listed)) * copies
    if queued_count:
        _count_against_hourly_limit(connection, domain.account_id, queued_count, now)
    ids = [new_message_id(domain.name) for _ in range(min(count, _INSERT_CHUNK))]
    content_id = (
        contents.store(connection, content.completed(ids[0], now), now) if content else None
    )
    message_ids: list[str] = []
    pairs = ((recipient, copy) for recipient in recipients for copy in range(copies))
    written = 0
    while written < count:
        rows = []
        for _ in range(min(_INSERT_CHUNK, count - written)):
            recipient, _copy = next(pairs)
            message_id = ids[written] if written < len(ids) else new_message_id(domain.name)
            written += 1
            suppressed = recipient in listed
            if len(message_ids) < RETURNED_IDS and not suppressed:
                message_ids.append(message_id)
            rows.append(
                {
                    "message_id": message_id,
                    "domain_id": domain.id,
                    "from_addr": from_addr,
                    "to_addr": recipient,
                    "subject": subject,
                    "kind": kind,
                    "status": (
                        MessageStatus.SUPPRESSED if suppressed else MessageStatus.QUEUED
                    ).value,
                    "attempts": 0,
                    "created_at": now,
                    "next_attempt_at": now,
                    "finished_at": now if suppressed else None,
                    "last_reply": suppressions.NOT_SENT if suppressed else None,
                    "content_id": content_id,
                }
            )
        connection.execute(insert(MESSAGES), rows)
    after: dict[str, object] = {
        "kind": kind,
        "count": queued_count,
        "to": recipients[0],
        "subject": subject,
    }
    if len(recipients) > 1:
        after["recipients"] = len(recipients)
    if listed:
        after["suppressed"] = sorted(listed)
    if content_id is not None:
        after["content_id"] = content_id
    audit.record_at_once(
        connection,
        actor=queuer.name,
        action="message.enqueue",
        entity="domain",
        entity_id=domain.name,
        account_id=domain.account_id,
        domain_id=domain.id,
        after=after,
    )
    return EnqueueResult(
        domain=domain.name,
        kind=kind,
        count=queued_count,
        message_ids=message_ids,
        suppressed=sorted(listed),
    )


def _add_to_hour(insert_into: Callable[[Table], Any]) -> Any:
    statement = insert_into(HOURLY_COUNTS)
    return statement.on_conflict_do_update(
        index_elements=[HOURLY_COUNTS.c.account_id, HOURLY_COUNTS.c.hour],
        set_={"queued": HOURLY_COUNTS.c.queued + statement.excluded.queued},
    ).returning(HOURLY_COUNTS.c.queued)


# Built once: the statement object costs more to build than to run.
_ADD_TO_HOUR = {
    "sqlite": _add_to_hour(sqlite_insert),
    "postgresql": _add_to_hour(postgresql_insert),
}


def _hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _count_against_hourly_limit(
    connection: Connection, account_id: int, count: int, now: datetime
) -> None:
    """Add COUNT to the account's messages this clock hour, or refuse if that passes its limit."""
    limit = settings.current().account_hourly_limit
    hour = _hour_of(now)
    queued = connection.execute(
        _ADD_TO_HOUR[connection.dialect.name],
        {"account_id": account_id, "hour": hour, "queued": count},
    ).scalar_one()
    if queued > limit:
        minutes = max(1, round((hour + timedelta(hours=1) - now).total_seconds() / 60))
        raise MailpoolsError(
            f"This account has reached its limit of {limit:,} messages an hour; "
            f"try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            field="rate",
        )
