"""What receivers say about sent mail, recorded once and counted where the health rules read.

Two ways in, one rule. The sender hands over the bounces it heard in SMTP replies
(`record_reply_bounces`); the inbound listener hands over what came back by mail
to a message's signed return-path or unsubscribe address (`record_mail`), read by
`app.feedback.reports`. Either way the event is stored against the message, its
domain, pool and IP, counted into the daily stats of the domain and of the IP it
left from, on the day it was sent, and acted on:

- a hard bounce suppresses the recipient at once; a soft one counts towards
  `MAILPOOLS_SOFT_BOUNCE_LIMIT` soft bounces in a row;
- a bounce reported after the receiver accepted the message turns it from sent
  into bounced (the day's `sent` goes down as `bounced` or `soft_bounced` goes up),
  so a rate never counts one message twice;
- a complaint counts against the domain and IP and suppresses the recipient;
- an unsubscribe request suppresses the recipient.

`bounced` holds hard bounces only, the figure a pool's bounce limit is about; soft
ones are counted in `soft_bounced`. Each message is judged once per kind: a second
report of the same bounce or complaint is recognised and changes nothing.

A report the reader cannot understand, or one naming a message its address does not
(another account's, say), is kept whole for an agent (`events --unparsed`), never
attributed on a guess and never dropped.
"""

from __future__ import annotations

import functools
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Insert, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from app import clock
from app.errors import MailpoolsError
from app.feedback.reports import Report, ReportKind
from app.rules.formatting import one_line
from app.rules.return_path import MessageToken, TokenPurpose
from app.rules.status_codes import Severity, enhanced_code
from app.services import suppressions
from app.services.auth import is_staff, require_staff
from app.services.lookups import get_domain_for
from app.services.stats import add_daily_counts
from data.models import (
    Account,
    Domain,
    DomainDailyStat,
    FeedbackEvent,
    FeedbackKind,
    IpAddress,
    IpDailyStat,
    Message,
    MessageStatus,
    SuppressionReason,
    UnparsedReport,
    User,
    table_of,
)

EVENTS = table_of(FeedbackEvent)
UNPARSED = table_of(UnparsedReport)
MESSAGES = table_of(Message)
DOMAINS = table_of(Domain)
DOMAIN_STATS = table_of(DomainDailyStat)
IP_STATS = table_of(IpDailyStat)

# Enough of the receiver's words to act on; whole DSNs stay with the unparsed reports.
TEXT_LIMIT = 500
# The widest status code or feedback type the events table keeps.
CODE_LIMIT = 40
MAX_LISTED = 10_000

# The daily counter each kind of event adds to.
COUNTERS = {
    (FeedbackKind.BOUNCE, Severity.HARD): "bounced",
    (FeedbackKind.BOUNCE, Severity.SOFT): "soft_bounced",
    (FeedbackKind.COMPLAINT, None): "complaints",
    (FeedbackKind.UNSUBSCRIBE, None): "unsubscribes",
}
IP_COUNTED = {"bounced", "soft_bounced", "complaints"}

SUPPRESSION_FOR = {
    FeedbackKind.COMPLAINT: SuppressionReason.COMPLAINT,
    FeedbackKind.UNSUBSCRIBE: SuppressionReason.UNSUBSCRIBE,
}


@dataclass(frozen=True, slots=True)
class Heard:
    """What one mail to a listener address came to, for the listener's log."""

    # bounce, complaint, unsubscribe; or ignored, duplicate, unparsed, dropped.
    outcome: str
    summary: str
    # The domain whose health it may change (a hard bounce or a complaint), if any.
    judged_domain_id: int | None = None


@dataclass(frozen=True, slots=True)
class _Sent:
    """The message a report is about, with what its counts are keyed by."""

    id: int
    message_id: str
    account_id: int
    domain_id: int
    pool_id: int | None
    ip_id: int | None
    kind: str
    to_addr: str
    status: str
    finished_at: datetime | None

    @property
    def day(self) -> date:
        return (self.finished_at or clock.now()).date()


_SENT_COLUMNS = (
    MESSAGES.c.id,
    MESSAGES.c.message_id,
    DOMAINS.c.account_id,
    MESSAGES.c.domain_id,
    MESSAGES.c.pool_id,
    MESSAGES.c.ip_id,
    MESSAGES.c.kind,
    MESSAGES.c.to_addr,
    MESSAGES.c.status,
    MESSAGES.c.finished_at,
)


# Statements built once: the listener runs them for every report it hears.
_SENT_BY_ID = (
    select(*_SENT_COLUMNS)
    .join(DOMAINS, DOMAINS.c.id == MESSAGES.c.domain_id)
    .where(MESSAGES.c.id.in_(bindparam("f_ids", expanding=True)))
)
_MARK_BOUNCED = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("f_id"))
    .values(status=MessageStatus.BOUNCED.value, last_reply=bindparam("f_reply"))
)


@dataclass
class _Deferred:
    """A batch's writes that nothing later in the batch reads, made once for it: the
    messages marked bounced and the recipients suppressed (a statement each for the
    batch instead of two or three for every report). A soft bounce reads its address's
    streak, which a suppression ends, so listings waiting for that address are written
    before it is counted."""

    bounced: list[dict[str, object]] = field(default_factory=list)
    suppressed: list[suppressions.ToSuppress] = field(default_factory=list)

    def before_soft_bounce(self, connection: Connection, account_id: int, address: str) -> None:
        key = (account_id, suppressions.normalised(address))
        if any(entry.key == key for entry in self.suppressed):
            suppressions.suppress_many(connection, self.suppressed)
            self.suppressed = []

    def write(self, connection: Connection) -> None:
        if self.bounced:
            connection.execute(_MARK_BOUNCED, self.bounced)
            self.bounced = []
        suppressions.suppress_many(connection, self.suppressed)
        self.suppressed = []


def _sent_messages(connection: Connection, ids: list[int]) -> dict[int, _Sent]:
    rows = connection.execute(_SENT_BY_ID, {"f_ids": ids})
    return {row.id: _Sent(**row._mapping) for row in rows}


def _account_of_message_id(connection: Connection, header_id: str) -> int | None:
    query = (
        select(DOMAINS.c.account_id)
        .join(MESSAGES, MESSAGES.c.domain_id == DOMAINS.c.id)
        .where(MESSAGES.c.message_id == header_id)
    )
    return connection.execute(query).scalar()


# Reports by mail ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MailedReport:
    """One report as the listener read it: from RAW, mailed by MAIL_FROM to RCPT_TO, whose
    signed TOKEN names one message."""

    token: MessageToken
    report: Report
    raw: bytes
    mail_from: str
    rcpt_to: str


def record_mail(
    connection: Connection,
    token: MessageToken,
    report: Report,
    *,
    raw: bytes,
    mail_from: str,
    rcpt_to: str,
) -> Heard:
    """Record what REPORT, read from RAW mailed to RCPT_TO (whose signed TOKEN names one
    message), says about that message. One transaction, the caller's."""
    [heard] = record_mails(connection, [MailedReport(token, report, raw, mail_from, rcpt_to)])
    return heard


def record_mails(connection: Connection, mails: list[MailedReport]) -> list[Heard]:
    """Record each of MAILS as `record_mail` does, in order, in the caller's transaction:
    the messages they name read with one query, their events stored with one statement,
    and the daily counts they add written once for them all."""
    sent = _sent_messages(connection, sorted({mail.token.message_id for mail in mails}))
    judged = [_judge(connection, sent, mail) for mail in mails]
    events = [each for each in judged if isinstance(each, _Event)]
    recorded = iter(_record_events(connection, events))
    return [next(recorded) if isinstance(each, _Event) else each for each in judged]


@dataclass(frozen=True, slots=True)
class _Event:
    """What one report says happened to a sent message, to store and act on."""

    sent: _Sent
    kind: FeedbackKind
    source: str
    code: str | None
    text: str
    bounce: Severity | None = None
    by: str = "system"

    @property
    def key(self) -> tuple[int, str]:
        return self.sent.id, self.kind.value


def _judge(
    connection: Connection, messages: dict[int, _Sent], mail: MailedReport
) -> Heard | _Event:
    """The event MAIL reports, or what became of it if it reports none (kept for an agent,
    ignored, dropped)."""
    token, report, rcpt_to = mail.token, mail.report, mail.rcpt_to
    sent = messages.get(token.message_id)

    def keep(reason: str) -> Heard:
        _keep_unparsed(
            connection, sent, mail.raw, mail_from=mail.mail_from, rcpt_to=rcpt_to, reason=reason
        )
        return Heard("unparsed", reason)

    if sent is None:
        # A genuine token of a message no longer kept: nothing to attribute it to.
        return Heard("dropped", f"Mail to {rcpt_to} names message {token.message_id}, not kept.")
    if report.kind == ReportKind.AUTO_REPLY:
        return Heard("ignored", f"An automatic reply about {sent.message_id}: {report.reason}")
    if report.kind == ReportKind.UNPARSED:
        return keep(report.reason or "The mail could not be read as a report.")
    named = report.original_message_id
    if named is not None and named != sent.message_id:
        other = _account_of_message_id(connection, named)
        whose = (
            "another account's message"
            if other not in (None, sent.account_id)
            else "another message"
        )
        return keep(
            f"Its address names {sent.message_id}, but the report is about {one_line(named, 120)}, "
            f"{whose}; not counted against either."
        )
    if sent.status not in (MessageStatus.SENT, MessageStatus.BOUNCED):
        return keep(f"It is about {sent.message_id}, which was never sent ({sent.status}).")
    expected = (
        TokenPurpose.UNSUBSCRIBE if report.kind == ReportKind.UNSUBSCRIBE else TokenPurpose.BOUNCE
    )
    if token.purpose != expected:
        return keep(f"A {report.kind.value} sent to a {token.purpose.name.lower()} address.")
    if report.kind == ReportKind.BOUNCE:
        # Each message has one recipient; the report's own spelling of it may differ (a
        # forward, an alias), and the signed address already says which message it was.
        wanted = sent.to_addr.lower()
        failure = next((f for f in report.failed if f.address.lower() == wanted), report.failed[0])
        return _Event(
            sent,
            FeedbackKind.BOUNCE,
            "report",
            failure.status,
            failure.diagnostic or report.reason,
            bounce=failure.severity,
        )
    if report.kind == ReportKind.COMPLAINT:
        return _Event(sent, FeedbackKind.COMPLAINT, "report", report.feedback_type, report.reason)
    return _Event(sent, FeedbackKind.UNSUBSCRIBE, "report", None, report.reason)


def _record_events(connection: Connection, events: list[_Event]) -> list[Heard]:
    """Store EVENTS, each unless its message already has one of its kind (in the database
    or earlier in EVENTS), act on the new ones and count them into the daily stats."""
    new = _insert_events(connection, events)
    counted: list[tuple[_Sent, Counter]] = []
    deferred = _Deferred()
    heard = []
    for event in events:
        if event.key in new:
            new.discard(event.key)
            heard.append(_act(connection, event, counted, deferred))
        else:
            heard.append(
                Heard(
                    "duplicate",
                    f"A second {event.kind.value} report for {event.sent.message_id}; "
                    "counted once.",
                )
            )
    deferred.write(connection)
    _count(connection, counted)
    return heard


def _act(
    connection: Connection,
    event: _Event,
    counted: list[tuple[_Sent, Counter]],
    deferred: _Deferred,
) -> Heard:
    """Act on a newly stored EVENT, and add what it counts to COUNTED, which the caller
    writes into the daily stats (once for a whole batch)."""
    sent, kind, bounce, text = event.sent, event.kind, event.bounce, event.text
    counter = COUNTERS[(kind, bounce)]
    counts = Counter({counter: 1})
    if kind == FeedbackKind.BOUNCE and sent.status == MessageStatus.SENT:
        # Accepted, then bounced: the receiver's later word replaces its first.
        counts["sent"] -= 1
        deferred.bounced.append({"f_id": sent.id, "f_reply": one_line(text, TEXT_LIMIT)})
    counted.append((sent, counts))
    _suppress(connection, sent, kind, bounce, text, event.by, deferred)
    judged = counter in ("bounced", "complaints")
    words = f"{bounce.value} bounce" if bounce else kind.value
    return Heard(
        kind.value,
        f"A {words} for {sent.message_id} to {sent.to_addr}.",
        judged_domain_id=sent.domain_id if judged else None,
    )


def _suppress(
    connection: Connection,
    sent: _Sent,
    kind: FeedbackKind,
    bounce: Severity | None,
    text: str,
    by: str,
    deferred: _Deferred,
) -> None:
    if bounce == Severity.SOFT:
        deferred.before_soft_bounce(connection, sent.account_id, sent.to_addr)
        suppressions.note_soft_bounce(
            connection, account_id=sent.account_id, message_id=sent.id, to_addr=sent.to_addr
        )
        return
    reason = SUPPRESSION_FOR.get(kind, SuppressionReason.HARD_BOUNCE)
    deferred.suppressed.append(
        suppressions.ToSuppress(
            account_id=sent.account_id,
            address=sent.to_addr,
            reason=reason,
            note=one_line(text, TEXT_LIMIT),
            message_id=sent.id,
            by=by,
        )
    )


def record_complaints_by_hand(
    connection: Connection, message_ids: list[int], *, by: str, note: str
) -> list[Heard]:
    """Complaints a person passes on for sent messages (their ids): stored, counted and
    their recipients suppressed exactly as a feedback report's would be, once per message.
    One transaction, the caller's."""
    sent = _sent_messages(connection, message_ids)
    return _record_events(
        connection,
        [
            _Event(sent[message_id], FeedbackKind.COMPLAINT, "manual", None, note, by=by)
            for message_id in message_ids
        ],
    )


@functools.cache
def _insert_event_statement(dialect: str) -> Insert:
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    # RETURNING says whether the row went in: an insert's row count is not to be trusted
    # on every driver (PostgreSQL's can read -1).
    return (
        insert(EVENTS)
        .on_conflict_do_nothing(index_elements=[EVENTS.c.message_id, EVENTS.c.kind])
        .returning(EVENTS.c.message_id, EVENTS.c.kind)
    )


def _insert_events(connection: Connection, events: list[_Event]) -> set[tuple[int, str]]:
    """Store EVENTS with one statement, each unless its message already has one of its
    kind; the (message, kind) of those that went in."""
    if not events:
        return set()
    now = clock.now()
    rows = connection.execute(
        _insert_event_statement(connection.dialect.name),
        [
            {
                "at": now,
                "kind": event.kind.value,
                "severity": event.bounce.value if event.bounce else None,
                "source": event.source,
                "message_id": event.sent.id,
                "account_id": event.sent.account_id,
                "domain_id": event.sent.domain_id,
                "pool_id": event.sent.pool_id,
                "ip_id": event.sent.ip_id,
                "message_kind": event.sent.kind,
                "recipient": event.sent.to_addr,
                "code": event.code[:CODE_LIMIT] if event.code else None,
                "text": one_line(event.text or "", TEXT_LIMIT),
            }
            for event in events
        ],
    )
    return {(row.message_id, row.kind) for row in rows}


def _count(connection: Connection, counted: list[tuple[_Sent, Counter]]) -> None:
    by_day: dict[date, tuple[dict[int, Counter], dict[int, Counter]]] = {}
    for sent, counts in counted:
        domains, ips = by_day.setdefault(sent.day, ({}, {}))
        domains.setdefault(sent.domain_id, Counter()).update(counts)
        ip_counts = Counter({k: v for k, v in counts.items() if k in IP_COUNTED or k == "sent"})
        if sent.ip_id is not None and ip_counts:
            ips.setdefault(sent.ip_id, Counter()).update(ip_counts)
    for day, (domains, ips) in by_day.items():
        add_daily_counts(connection, DOMAIN_STATS, "domain_id", day, domains)
        add_daily_counts(connection, IP_STATS, "ip_id", day, ips)


def _keep_unparsed(
    connection: Connection,
    sent: _Sent | None,
    raw: bytes,
    *,
    mail_from: str,
    rcpt_to: str,
    reason: str,
) -> None:
    connection.execute(
        insert(UNPARSED).values(
            at=clock.now(),
            message_id=sent.id if sent else None,
            account_id=sent.account_id if sent else None,
            mail_from=one_line(mail_from, 320),
            rcpt_to=one_line(rcpt_to, 320),
            reason=one_line(reason, 2_000),
            size=len(raw),
            content=zlib.compress(raw),
        )
    )


# Bounces heard in SMTP replies --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplyBounce:
    message_id: int
    reply: str
    severity: Severity


def record_reply_bounces(connection: Connection, bounces: list[ReplyBounce]) -> None:
    """Store the bounces the sender heard and suppress their recipients; the sender's own
    write-back counts them into the daily stats, as it counts what it sent."""
    if not bounces:
        return
    sent = _sent_messages(connection, [bounce.message_id for bounce in bounces])
    known = [b for b in bounces if b.message_id in sent]
    _insert_events(
        connection,
        [
            _Event(
                sent[b.message_id],
                FeedbackKind.BOUNCE,
                "reply",
                enhanced_code(b.reply.partition(" ")[2]),
                b.reply,
                bounce=b.severity,
            )
            for b in known
        ],
    )
    deferred = _Deferred()
    for b in known:
        _suppress(
            connection,
            sent[b.message_id],
            FeedbackKind.BOUNCE,
            b.severity,
            b.reply,
            "system",
            deferred,
        )
    deferred.write(connection)


# Reading them back ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EventView:
    id: int
    at: datetime
    kind: str
    severity: str | None
    source: str
    account: str
    domain: str
    ip: str | None
    message_kind: str
    recipient: str
    message_id: str
    code: str | None
    text: str

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "at": self.at,
            "kind": self.kind,
            "severity": self.severity,
            "source": self.source,
            "account": self.account,
            "domain": self.domain,
            "ip": self.ip,
            "message_kind": self.message_kind,
            "recipient": self.recipient,
            "message_id": self.message_id,
            "code": self.code,
            "text": self.text,
        }


def list_events(
    session: Session,
    actor: User,
    *,
    domain: str | None = None,
    kind: str | None = None,
    limit: int = 500,
) -> list[EventView]:
    """Events newest first: an owner's own account's, every account's for agents."""
    if kind is not None and kind not in set(FeedbackKind):
        raise MailpoolsError(
            f"{one_line(repr(kind), 40)} is not an event kind; use bounce, complaint or unsubscribe.",
            field="kind",
        )
    if not 1 <= limit <= MAX_LISTED:
        raise MailpoolsError(f"List from 1 to {MAX_LISTED:,} events.", field="limit")
    query = (
        select(
            EVENTS,
            col(Account.name).label("account_name"),
            col(Domain.name).label("domain_name"),
            col(IpAddress.address).label("ip_address"),
            col(Message.message_id).label("header_id"),
        )
        .join(Account, col(Account.id) == EVENTS.c.account_id)
        .join(Domain, col(Domain.id) == EVENTS.c.domain_id)
        .join(Message, col(Message.id) == EVENTS.c.message_id)
        .outerjoin(IpAddress, col(IpAddress.id) == EVENTS.c.ip_id)
        .order_by(EVENTS.c.at.desc(), EVENTS.c.id.desc())
        .limit(limit)
    )
    if domain is not None:
        query = query.where(EVENTS.c.domain_id == get_domain_for(session, actor, domain).id)
    elif not is_staff(actor):
        query = query.where(EVENTS.c.account_id == actor.account_id)
    if kind is not None:
        query = query.where(EVENTS.c.kind == kind)
    return [
        EventView(
            id=row.id,
            at=row.at,
            kind=row.kind,
            severity=row.severity,
            source=row.source,
            account=row.account_name,
            domain=row.domain_name,
            ip=row.ip_address,
            message_kind=row.message_kind,
            recipient=row.recipient,
            message_id=row.header_id,
            code=row.code,
            text=row.text,
        )
        for row in session.execute(query)
    ]


@dataclass(frozen=True)
class UnparsedView:
    id: int
    at: datetime
    rcpt_to: str
    mail_from: str
    reason: str
    size: int
    message_id: int | None

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "at": self.at,
            "rcpt_to": self.rcpt_to,
            "mail_from": self.mail_from,
            "reason": self.reason,
            "size": self.size,
            "message": self.message_id,
        }


def list_unparsed(session: Session, actor: User, *, limit: int = 500) -> list[UnparsedView]:
    """Reports kept for a person to read, newest first; for agents and admins, as they may
    hold any account's mail."""
    require_staff(actor, "read the reports that could not be understood")
    if not 1 <= limit <= MAX_LISTED:
        raise MailpoolsError(f"List from 1 to {MAX_LISTED:,} reports.", field="limit")
    query = (
        select(
            UNPARSED.c.id,
            UNPARSED.c.at,
            UNPARSED.c.rcpt_to,
            UNPARSED.c.mail_from,
            UNPARSED.c.reason,
            UNPARSED.c.size,
            UNPARSED.c.message_id,
        )
        .order_by(UNPARSED.c.at.desc(), UNPARSED.c.id.desc())
        .limit(limit)
    )
    return [UnparsedView(*row) for row in session.execute(query)]


def count_unparsed(session: Session, actor: User) -> int:
    """How many reports are kept for a person to read; for agents and admins."""
    require_staff(actor, "read the reports that could not be understood")
    return session.execute(select(func.count()).select_from(UNPARSED)).scalar_one()


def unparsed_content(session: Session, actor: User, report_id: int) -> bytes:
    require_staff(actor, "read the reports that could not be understood")
    content = session.execute(select(UNPARSED.c.content).where(UNPARSED.c.id == report_id)).scalar()
    if content is None:
        raise MailpoolsError(f"There is no kept report {report_id}.")
    return zlib.decompress(content)
