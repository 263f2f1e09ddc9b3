"""Spam complaints, e.g. from a mailbox provider's feedback loop, added to the daily stats.

A complaint counts against the domain and the IP that sent the message, on
the day it was sent, so warm-up days and pool health judge the mail that
caused it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, col, select

from app import clock
from app.errors import MailpoolsError, NotFound
from app.rules.formatting import one_line, plural
from app.services import audit, feedback
from app.services.auth import require_staff
from app.services.lookups import get_domain, get_ip
from app.services.stats import add_daily_counts
from data.models import (
    DomainDailyStat,
    IpDailyStat,
    Message,
    MessageStatus,
    User,
    saved_id,
    table_of,
)

# Feedback loops report within days; a date older than a year is a mistake, not a report.
MAX_COMPLAINT_AGE_DAYS = 365
# Far above any day's feedback-loop reports, and well inside the daily stats' columns.
MAX_COMPLAINTS_AT_ONCE = 1_000_000


@dataclass(frozen=True)
class ComplaintsRecorded:
    count: int
    domains: list[str]
    # Messages named that had a complaint on record already: not counted again.
    already: int = 0

    def as_json(self) -> dict:
        return {"complaints": self.count, "domains": self.domains, "already": self.already}

    @property
    def summary(self) -> str:
        said = (
            f"Recorded {plural(self.count, 'complaint')} against {', '.join(self.domains)}."
            if self.count
            else "Recorded no complaint."
        )
        if self.already:
            said += (
                f" {plural(self.already, 'message')} had a complaint on record already "
                "and counted once."
            )
        return said


def _normalise_message_id(value: str) -> str:
    cleaned = value.strip()
    if cleaned and not cleaned.startswith("<"):
        cleaned = f"<{cleaned}>"
    return cleaned


def record_complaints_for_messages(
    session: Session, actor: User, message_ids: list[str]
) -> ComplaintsRecorded:
    """One complaint for each sent message named by its Message-ID."""
    require_staff(actor, "record complaints")
    wanted = [_normalise_message_id(value) for value in message_ids if value.strip()]
    if not wanted:
        raise MailpoolsError("Name at least one Message-ID that was complained about.")
    found = {
        message.message_id: message
        for message in session.exec(
            select(Message).where(
                col(Message.message_id).in_([value for value in wanted if value.isprintable()])
            )
        )
    }
    missing = [value for value in wanted if value not in found]
    if missing:
        shown = one_line(", ".join(missing), 200)
        raise NotFound(f"No message has the Message-ID {shown}; nothing was recorded.")
    unsent = [value for value in wanted if found[value].status != MessageStatus.SENT]
    if unsent:
        raise MailpoolsError(
            f"Only sent messages can be complained about; {', '.join(unsent)} was not sent."
        )
    # Stored, counted on the day each message was sent and suppressed as a feedback
    # report's complaint would be; a message already complained about counts once.
    ordered = list(dict.fromkeys(wanted))
    heard = feedback.record_complaints_by_hand(
        session.connection(),
        [saved_id(found[value]) for value in ordered],
        by=actor.name,
        note=f"Recorded by {actor.name}.",
    )
    new = [
        found[value]
        for value, said in zip(ordered, heard, strict=True)
        if said.outcome != "duplicate"
    ]
    names = []
    for domain_id in sorted({message.domain_id for message in new}):
        messages = [m for m in new if m.domain_id == domain_id]
        name = messages[0].from_addr.rsplit("@", 1)[1]
        names.append(name)
        audit.record(
            session,
            actor=actor.name,
            action="complaints.record",
            entity="domain",
            entity_id=name,
            domain_id=domain_id,
            after={"complaints": len(messages), "message_ids": [m.message_id for m in messages]},
        )
    return ComplaintsRecorded(count=len(new), domains=names, already=len(ordered) - len(new))


def record_complaints_for_domain(
    session: Session,
    actor: User,
    domain_name: str,
    *,
    count: int,
    ip_address: str | None = None,
    day: date | None = None,
) -> ComplaintsRecorded:
    """COUNT complaints against a domain (and optionally the IP that sent the mail) on DAY."""
    require_staff(actor, "record complaints")
    if not 1 <= count <= MAX_COMPLAINTS_AT_ONCE:
        raise MailpoolsError(
            f"Record from 1 to {MAX_COMPLAINTS_AT_ONCE:,} complaints at a time.", field="count"
        )
    domain = get_domain(session, domain_name)
    day = day or clock.today()
    if day > clock.today():
        raise MailpoolsError(f"{day} is in the future; complaints are about mail already sent.")
    oldest = clock.today() - timedelta(days=MAX_COMPLAINT_AGE_DAYS)
    if day < oldest:
        raise MailpoolsError(
            f"{day} is more than {MAX_COMPLAINT_AGE_DAYS} days ago; "
            f"record complaints about mail sent from {oldest} on."
        )
    connection = session.connection()
    counts = Counter(complaints=count)
    add_daily_counts(
        connection, table_of(DomainDailyStat), "domain_id", day, {saved_id(domain): counts}
    )
    if ip_address:
        ip = get_ip(session, ip_address)
        add_daily_counts(connection, table_of(IpDailyStat), "ip_id", day, {saved_id(ip): counts})
    audit.record(
        session,
        actor=actor.name,
        action="complaints.record",
        entity="domain",
        entity_id=domain.name,
        account_id=domain.account_id,
        domain_id=domain.id,
        after={"complaints": count, "day": day, "ip": ip_address},
    )
    return ComplaintsRecorded(count=count, domains=[domain.name])
