"""Putting messages in the outbox: the one enqueue service for the CLI, the console, SMTP
submission and tests.

Every way in (`enqueue` by subject, `enqueue --eml` with a whole message, an
SMTP submission) ends in `_queue_many`, which holds the rules once: the message
kind, the From domain belonging to the sender's account, the transactional
pool's refusal of campaigns and broadcasts, and the account's hourly rate.
A refusal writes nothing. The SMTP submission server hands over the messages
that arrived together as one batch: every one is checked before any is
written, so each refusal stays its own, and the accepted ones are written with
one statement per table rather than a handful per message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Table, bindparam, insert, select, update
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
    return _queue_one(session, prepare_submission(login, raw=raw, recipients=recipients))


def prepare_submission(
    login: SubmissionLogin, *, raw: bytes, recipients: list[str]
) -> QueueRequest:
    """Read and check a submitted message as far as that needs no database (its size, its
    form, its From, its declared kind, its recipients), or refuse it in one sentence. The
    submission server runs this as the message arrives, before handing it to its writer."""
    limits = settings.current()
    message = contents.prepare(raw, max_bytes=limits.submission_max_bytes)
    _check_declared_kind(message, login.kind, f"credential {login.username}")
    return QueueRequest(
        _credential(login),
        kind=login.kind,
        from_addr=parse_address(message.from_addr, "from")[0],
        recipients=_recipients(recipients),
        subject=message.subject,
        content=message,
    )


def submit_many(
    connection: Connection, requests: list[QueueRequest]
) -> list[EnqueueResult | MailpoolsError]:
    """Queue prepared submissions in the caller's transaction: one result per request, in
    order, a refusal for those refused. A refused request writes nothing and changes
    nothing for the others."""
    return _queue_many(connection, requests)


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


@dataclass(frozen=True)
class QueueRequest:
    """One message to queue: COPIES copies to each of RECIPIENTS (already checked)."""

    queuer: Queuer
    kind: str
    from_addr: str
    recipients: list[str]
    subject: str
    copies: int = 1
    content: contents.PreparedMessage | None = None

    @property
    def domain_name(self) -> str:
        return self.from_addr.rpartition("@")[2]


# Read for every batch queued: Core, not an ORM load, as submission pays it per batch.
_DOMAIN_COLUMNS = (DOMAINS.c.id, DOMAINS.c.name, DOMAINS.c.account_id, DOMAINS.c.sending_mode)
_DOMAINS_BY_NAME = select(*_DOMAIN_COLUMNS).where(
    DOMAINS.c.name.in_(bindparam("names", expanding=True))
)
# A batch usually sends from one domain: a plain comparison skips expanding a list.
_DOMAIN_BY_NAME = select(*_DOMAIN_COLUMNS).where(DOMAINS.c.name == bindparam("name"))


def _domains_named(connection: Connection, requests: list[QueueRequest]) -> dict[str, Row]:
    """The domains the requests send from, by name: one query for the whole batch."""
    # A name that does not print matches nothing (and PostgreSQL refuses a NUL in a query).
    names = {policy.normalise_domain(request.domain_name) for request in requests}
    wanted = sorted(name for name in names if name.isprintable())
    if not wanted:
        return {}
    if len(wanted) == 1:
        rows = connection.execute(_DOMAIN_BY_NAME, {"name": wanted[0]})
    else:
        rows = connection.execute(_DOMAINS_BY_NAME, {"names": wanted})
    return {row.name: row for row in rows}


def _sending_domain(domains: dict[str, Row], request: QueueRequest) -> _SendingDomain:
    queuer, kind = request.queuer, request.kind
    if kind not in set(MessageKind):
        raise MailpoolsError(
            f"{kind!r} is not a message kind; use transactional, campaign or broadcast.",
            field="kind",
        )
    wanted = policy.normalise_domain(request.domain_name)
    row = domains.get(wanted)
    other_account = row is not None and row.account_id != queuer.account_id
    # Another account's domain is refused in the words used for one that does not exist,
    # so a refusal tells nothing about other accounts.
    if queuer.by_credential and (row is None or other_account):
        raise PermissionDenied(
            f"{one_line(wanted, 80)} is not a sending domain of this account.", field="from"
        )
    if row is None or (other_account and queuer.account_id is not None):
        raise no_such_domain(request.domain_name)
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


@dataclass(frozen=True, slots=True)
class _Accepted:
    """A request that passed every check, with what writing it needs."""

    position: int
    request: QueueRequest
    domain: _SendingDomain
    # Its recipients on the account's suppression list.
    listed: set[str]

    @property
    def queued_count(self) -> int:
        return (len(self.request.recipients) - len(self.listed)) * self.request.copies


def _queue_one(session: Session, request: QueueRequest) -> EnqueueResult:
    [result] = _queue_many(session.connection(), [request])
    if isinstance(result, MailpoolsError):
        raise result
    return result


def _queue(session: Session, queuer: Queuer, **request: Any) -> EnqueueResult:
    """The one place a single request enters the outbox; nothing is written unless all of it is."""
    return _queue_one(session, QueueRequest(queuer, **request))


def _queue_many(
    connection: Connection, requests: list[QueueRequest]
) -> list[EnqueueResult | MailpoolsError]:
    """The one place messages enter the outbox. Every request is checked first (its domain,
    then the hourly rate, with the suppression list read once for the batch); the accepted
    ones are then written together, so a refused one leaves nothing behind."""
    results: list[EnqueueResult | MailpoolsError | None] = [None] * len(requests)
    domains = _domains_named(connection, requests)
    checked: list[tuple[int, QueueRequest, _SendingDomain]] = []
    for position, request in enumerate(requests):
        try:
            checked.append((position, request, _sending_domain(domains, request)))
        except MailpoolsError as refusal:
            results[position] = refusal
    addresses: dict[int, set[str]] = {}
    for _, request, domain in checked:
        addresses.setdefault(domain.account_id, set()).update(request.recipients)
    listed = {
        account_id: suppressions.suppressed_among(connection, account_id, given)
        for account_id, given in addresses.items()
    }
    candidates = [
        _Accepted(position, request, domain, listed[domain.account_id] & set(request.recipients))
        for position, request, domain in checked
    ]
    now = clock.now()
    refusals = _count_against_hourly_limits(
        connection, [(each.domain.account_id, each.queued_count) for each in candidates], now
    )
    accepted = []
    for each, over_limit in zip(candidates, refusals, strict=True):
        if over_limit is None:
            accepted.append(each)
        else:
            results[each.position] = over_limit
    for each, result in zip(accepted, _write(connection, accepted, now), strict=True):
        results[each.position] = result
    return [result for result in results if result is not None]


def _write(connection: Connection, accepted: list[_Accepted], now: datetime) -> list[EnqueueResult]:
    """Store ACCEPTED's contents, messages and audit events: one statement per table (the
    messages in chunks) for the whole batch."""
    first_ids = [new_message_id(each.domain.name) for each in accepted]
    with_content = [
        (first_id, each.request.content)
        for first_id, each in zip(first_ids, accepted, strict=True)
        if each.request.content is not None
    ]
    content_ids = iter(
        contents.store_many(
            connection,
            [content.completed(first_id, now) for first_id, content in with_content],
            now,
        )
    )
    results: list[EnqueueResult] = []
    events: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for first_id, each in zip(first_ids, accepted, strict=True):
        request, domain, listed = each.request, each.domain, each.listed
        content_id = next(content_ids) if request.content is not None else None
        message_ids: list[str] = []
        first = True
        for recipient in request.recipients:
            suppressed = recipient in listed
            for _copy in range(request.copies):
                message_id = first_id if first else new_message_id(domain.name)
                first = False
                if len(message_ids) < RETURNED_IDS and not suppressed:
                    message_ids.append(message_id)
                rows.append(
                    _message_row(
                        request, domain, recipient, message_id, content_id, now, suppressed
                    )
                )
                if len(rows) >= _INSERT_CHUNK:
                    connection.execute(insert(MESSAGES), rows)
                    rows = []
        events.append(_enqueue_event(each, content_id))
        results.append(
            EnqueueResult(
                domain=domain.name,
                kind=request.kind,
                count=each.queued_count,
                message_ids=message_ids,
                suppressed=sorted(listed),
            )
        )
    if rows:
        connection.execute(insert(MESSAGES), rows)
    audit.record_many(connection, events)
    return results


def _message_row(
    request: QueueRequest,
    domain: _SendingDomain,
    recipient: str,
    message_id: str,
    content_id: int | None,
    now: datetime,
    suppressed: bool,
) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "domain_id": domain.id,
        "from_addr": request.from_addr,
        "to_addr": recipient,
        "subject": request.subject,
        "kind": request.kind,
        "status": (MessageStatus.SUPPRESSED if suppressed else MessageStatus.QUEUED).value,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
        "finished_at": now if suppressed else None,
        "last_reply": suppressions.NOT_SENT if suppressed else None,
        "content_id": content_id,
    }


def _enqueue_event(each: _Accepted, content_id: int | None) -> dict[str, Any]:
    request = each.request
    after: dict[str, object] = {
        "kind": request.kind,
        "count": each.queued_count,
        "to": request.recipients[0],
        "subject": request.subject,
    }
    if len(request.recipients) > 1:
        after["recipients"] = len(request.recipients)
    if each.listed:
        after["suppressed"] = sorted(each.listed)
    if content_id is not None:
        after["content_id"] = content_id
    return {
        "actor": request.queuer.name,
        "action": "message.enqueue",
        "entity": "domain",
        "entity_id": each.domain.name,
        "account_id": each.domain.account_id,
        "domain_id": each.domain.id,
        "after": after,
    }


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


_TAKE_FROM_HOUR = (
    update(HOURLY_COUNTS)
    .where(
        HOURLY_COUNTS.c.account_id == bindparam("h_account"),
        HOURLY_COUNTS.c.hour == bindparam("h_hour"),
    )
    .values(queued=HOURLY_COUNTS.c.queued - bindparam("h_taken"))
)


def _count_against_hourly_limits(
    connection: Connection, counts: list[tuple[int, int]], now: datetime
) -> list[MailpoolsError | None]:
    """Add each (account, count) of COUNTS, in order, to the account's messages this clock
    hour; one that would pass the account's limit is refused (its refusal in its place) and
    not counted. One statement per account, and a second only when a limit is reached."""
    limit = settings.current().account_hourly_limit
    hour = _hour_of(now)
    totals: dict[int, int] = {}
    for account_id, count in counts:
        totals[account_id] = totals.get(account_id, 0) + count
    refusals: list[MailpoolsError | None] = [None] * len(counts)
    for account_id, total in totals.items():
        if not total:
            continue
        # Added all at once, atomically (no other writer can slip in between a read and
        # the write); only when that passes the limit are the ones that do not fit found.
        queued = connection.execute(
            _ADD_TO_HOUR[connection.dialect.name],
            {"account_id": account_id, "hour": hour, "queued": total},
        ).scalar_one()
        if queued <= limit:
            continue
        so_far, taken = queued - total, 0
        for position, (each_account, count) in enumerate(counts):
            if each_account != account_id or not count:
                continue
            if so_far + count > limit:
                refusals[position] = _over_hourly_limit(limit, hour, now)
                taken += count
            else:
                so_far += count
        connection.execute(
            _TAKE_FROM_HOUR, {"h_account": account_id, "h_hour": hour, "h_taken": taken}
        )
    return refusals


def _over_hourly_limit(limit: int, hour: datetime, now: datetime) -> MailpoolsError:
    minutes = max(1, round((hour + timedelta(hours=1) - now).total_seconds() / 60))
    return MailpoolsError(
        f"This account has reached its limit of {limit:,} messages an hour; "
        f"try again in {minutes} minute{'s' if minutes != 1 else ''}.",
        field="rate",
    )
