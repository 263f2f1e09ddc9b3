"""Each account's suppression list: the addresses its mail no longer goes to.

An address gets there by a hard bounce, a complaint, an unsubscribe request, soft
bounces in a row (`MAILPOOLS_SOFT_BOUNCE_LIMIT`), or by hand. Owners see and change
their own account's list; agents and admins every account's. A message to a listed
address is finished as suppressed when it is queued, or when the sender claims it
if the address was listed while it waited; both read the list for a whole batch
at once, never with a query per message.

Addresses are kept lowercased whole: receivers treat local parts without regard to
case, and one entry must cover every spelling a sender uses.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Insert, and_, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from app import clock, settings
from app.errors import MailpoolsError, NotFound
from app.rules import policy
from app.rules.formatting import one_line
from app.services import audit
from app.services.addresses import parse_address
from app.services.auth import is_staff, require_account_access
from app.services.lookups import get_account_for
from app.services.outcomes import Outcome
from data.models import (
    Account,
    Domain,
    FeedbackEvent,
    Message,
    MessageStatus,
    SoftBounceStreak,
    Suppression,
    SuppressionReason,
    User,
    saved_id,
    table_of,
)

SUPPRESSIONS = table_of(Suppression)
STREAKS = table_of(SoftBounceStreak)
MESSAGES = table_of(Message)
DOMAINS = table_of(Domain)
EVENTS = table_of(FeedbackEvent)

# A listing is for reading on a screen or piping into a script; past this, narrow it.
MAX_LISTED = 10_000

REASON_WORDS: dict[str, str] = {
    SuppressionReason.HARD_BOUNCE: "hard bounce",
    SuppressionReason.SOFT_BOUNCES: "soft bounces in a row",
    SuppressionReason.COMPLAINT: "complaint",
    SuppressionReason.UNSUBSCRIBE: "unsubscribed",
    SuppressionReason.MANUAL: "added by hand",
}


def reason_words(reason: str) -> str:
    """Why an address is listed, in words."""
    return REASON_WORDS.get(reason, reason)


@dataclass(frozen=True)
class SuppressionView:
    id: int
    account: str
    address: str
    reason: str
    note: str
    message_id: str | None
    created_at: datetime
    created_by: str

    @property
    def reason_words(self) -> str:
        return reason_words(self.reason)

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "account": self.account,
            "address": self.address,
            "reason": self.reason,
            "note": self.note,
            "message_id": self.message_id,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


def normalised(address: str) -> str:
    return address.strip().lower()


def list_suppressions(
    session: Session, actor: User, *, account: str | None = None, search: str = ""
) -> list[SuppressionView]:
    """The suppression list an actor may see, newest first: an owner's own account's;
    every account's (or ACCOUNT's) for agents. SEARCH keeps addresses containing it."""
    query = (
        select(
            SUPPRESSIONS,
            col(Account.name).label("account_name"),
            col(Message.message_id).label("message_header_id"),
        )
        .join(Account, col(Account.id) == SUPPRESSIONS.c.account_id)
        .outerjoin(Message, col(Message.id) == SUPPRESSIONS.c.message_id)
        .order_by(SUPPRESSIONS.c.created_at.desc(), SUPPRESSIONS.c.id.desc())
        .limit(MAX_LISTED)
    )
    if account is not None:
        query = query.where(
            SUPPRESSIONS.c.account_id == get_account_for(session, actor, account).id
        )
    elif not is_staff(actor):
        query = query.where(SUPPRESSIONS.c.account_id == actor.account_id)
    wanted = normalised(search)
    if wanted:
        if not wanted.isprintable():
            raise MailpoolsError("Search for printable text only.", field="search")
        pattern = "%" + wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(SUPPRESSIONS.c.address.like(pattern, escape="\\"))
    return [
        SuppressionView(
            id=row.id,
            account=row.account_name,
            address=row.address,
            reason=row.reason,
            note=row.note,
            message_id=row.message_header_id,
            created_at=row.created_at,
            created_by=row.created_by,
        )
        for row in session.execute(query)
    ]


def _account_for_change(session: Session, actor: User, account: str | None) -> Account:
    if account is not None:
        found = get_account_for(session, actor, account)
        require_account_access(actor, found.id)
        return found
    if is_staff(actor):
        raise MailpoolsError(
            "Name the account whose list to change (--account); agents belong to none.",
            field="account",
        )
    own = session.get(Account, actor.account_id)
    if own is None:
        raise NotFound(f"{actor.name} has no account.")
    return own


def add_suppression(
    session: Session, actor: User, address: str, *, reason: str, account: str | None = None
) -> Outcome:
    """List ADDRESS by hand, with the REASON a person gave (kept as the note)."""
    target = _account_for_change(session, actor, account)
    checked, _ = parse_address(address, "address")
    entry = normalised(checked)
    note = policy.validate_reason(
        reason, when_empty="Say why mail should stop going to this address (--reason)."
    )
    connection = session.connection()
    if _listed(connection, saved_id(target), [entry]):
        raise MailpoolsError(f"{entry} is already on {target.name}'s suppression list.")
    suppress(
        connection,
        account_id=saved_id(target),
        address=entry,
        reason=SuppressionReason.MANUAL,
        note=note,
        message_id=None,
        by=actor.name,
    )
    audit.record(
        session,
        actor=actor.name,
        action="suppression.add",
        entity="suppression",
        entity_id=entry,
        account_id=target.id,
        after={"address": entry, "reason": SuppressionReason.MANUAL.value, "note": note},
    )
    return Outcome(
        entry, f"{entry} is on {target.name}'s suppression list; no mail goes to it now."
    )


def remove_suppression(
    session: Session, actor: User, address: str, *, account: str | None = None
) -> Outcome:
    """Take ADDRESS off the list, so mail to it is sent again."""
    target = _account_for_change(session, actor, account)
    entry = normalised(address)
    # A name that does not print matches nothing (and PostgreSQL refuses a NUL in a query).
    found = (
        session.execute(
            select(SUPPRESSIONS).where(
                SUPPRESSIONS.c.account_id == target.id, SUPPRESSIONS.c.address == entry
            )
        ).first()
        if entry.isprintable()
        else None
    )
    if found is None:
        raise NotFound(f"{one_line(entry, 80)} is not on {target.name}'s suppression list.")
    connection = session.connection()
    connection.execute(delete(SUPPRESSIONS).where(SUPPRESSIONS.c.id == found.id))
    connection.execute(_END_STREAK, {"s_account": target.id, "s_address": entry})
    audit.record(
        session,
        actor=actor.name,
        action="suppression.remove",
        entity="suppression",
        entity_id=entry,
        account_id=target.id,
        before={"address": entry, "reason": found.reason, "note": found.note},
    )
    return Outcome(
        entry,
        f"{entry} is off {target.name}'s suppression list; mail to it is sent again. "
        f"It was listed for: {reason_words(found.reason)}.",
    )


# Core helpers for the paths that queue, claim and record feedback in bulk ---------------

_LISTED = select(SUPPRESSIONS.c.address).where(
    SUPPRESSIONS.c.account_id == bindparam("s_account"),
    SUPPRESSIONS.c.address.in_(bindparam("s_addresses", expanding=True)),
)


def _listed(connection: Connection, account_id: int, addresses: list[str]) -> set[str]:
    return set(
        connection.execute(_LISTED, {"s_account": account_id, "s_addresses": addresses}).scalars()
    )


def suppressed_among(connection: Connection, account_id: int, addresses: Iterable[str]) -> set[str]:
    """Which of ADDRESSES (as given, every spelling) the account's list holds: one query
    for all of them."""
    given = list(addresses)
    entries = {normalised(address) for address in given}
    if not entries:
        return set()
    listed = _listed(connection, account_id, list(entries))
    return {address for address in given if normalised(address) in listed}


def suppressed_messages(connection: Connection, message_ids: list[int]) -> dict[int, str]:
    """Of MESSAGE_IDS, those whose recipient is on their account's list, with the reason."""
    if not message_ids:
        return {}
    query = (
        select(MESSAGES.c.id, SUPPRESSIONS.c.reason)
        .join(DOMAINS, DOMAINS.c.id == MESSAGES.c.domain_id)
        .join(
            SUPPRESSIONS,
            and_(
                SUPPRESSIONS.c.account_id == DOMAINS.c.account_id,
                SUPPRESSIONS.c.address == func.lower(MESSAGES.c.to_addr),
            ),
        )
        .where(MESSAGES.c.id.in_(message_ids))
    )
    return {row.id: row.reason for row in connection.execute(query)}


NOT_SENT = "not sent: the recipient is on the account's suppression list"


def suppression_reply(reason: str) -> str:
    """What a message suppressed while it waited says, with why its recipient is listed."""
    return f"{NOT_SENT} ({reason_words(reason)})"


@functools.cache
def _list_statement(dialect: str) -> Insert:
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    return insert(SUPPRESSIONS).on_conflict_do_nothing(
        index_elements=[SUPPRESSIONS.c.account_id, SUPPRESSIONS.c.address]
    )


@functools.cache
def _list_one_statement(dialect: str) -> Insert:
    # RETURNING says whether the row went in.
    return _list_statement(dialect).returning(SUPPRESSIONS.c.id)


_END_STREAK = delete(STREAKS).where(
    STREAKS.c.account_id == bindparam("s_account"), STREAKS.c.address == bindparam("s_address")
)


@dataclass(frozen=True, slots=True)
class ToSuppress:
    """One address to list for an account, with why, what caused it and who."""

    account_id: int
    address: str
    reason: SuppressionReason
    note: str
    message_id: int | None
    by: str

    @property
    def key(self) -> tuple[int, str]:
        return self.account_id, normalised(self.address)

    def row(self, now: datetime) -> dict[str, object]:
        return {
            "account_id": self.account_id,
            "address": normalised(self.address),
            "reason": self.reason.value,
            "note": self.note,
            "message_id": self.message_id,
            "created_at": now,
            "created_by": self.by,
        }


def suppress(
    connection: Connection,
    *,
    account_id: int,
    address: str,
    reason: SuppressionReason,
    note: str,
    message_id: int | None,
    by: str,
) -> bool:
    """List ADDRESS for the account unless it is already; True when it was added. A listed
    address needs no soft-bounce streak any more."""
    entry = ToSuppress(account_id, address, reason, note, message_id, by)
    added = connection.execute(
        _list_one_statement(connection.dialect.name), entry.row(clock.now())
    ).first()
    connection.execute(_END_STREAK, {"s_account": account_id, "s_address": entry.key[1]})
    return added is not None


def suppress_many(connection: Connection, entries: list[ToSuppress]) -> None:
    """`suppress` for each of ENTRIES, with one statement for the listings and one for the
    streaks they end, as the feedback recording of a batch of reports needs."""
    if not entries:
        return
    now = clock.now()
    connection.execute(
        _list_statement(connection.dialect.name), [entry.row(now) for entry in entries]
    )
    connection.execute(
        _END_STREAK,
        [
            {"s_account": account_id, "s_address": address}
            for account_id, address in dict.fromkeys(entry.key for entry in entries)
        ],
    )


_STREAK_SO_FAR = select(STREAKS.c.count.label("so_far"), STREAKS.c.last_message_id).where(
    STREAKS.c.account_id == bindparam("s_account"), STREAKS.c.address == bindparam("s_address")
)
_ACCEPTED_BETWEEN = (
    select(MESSAGES.c.id)
    .join(DOMAINS, DOMAINS.c.id == MESSAGES.c.domain_id)
    .where(
        MESSAGES.c.to_addr == bindparam("s_to"),
        DOMAINS.c.account_id == bindparam("s_account"),
        MESSAGES.c.id > bindparam("s_after"),
        MESSAGES.c.id < bindparam("s_before"),
        MESSAGES.c.status == MessageStatus.SENT.value,
        ~select(EVENTS.c.id)
        .where(EVENTS.c.message_id == MESSAGES.c.id, EVENTS.c.kind == "bounce")
        .exists(),
    )
    .limit(1)
)


@functools.cache
def _streak_statement(dialect: str) -> Insert:
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    statement = insert(STREAKS)
    return statement.on_conflict_do_update(
        index_elements=[STREAKS.c.account_id, STREAKS.c.address],
        set_={
            "count": statement.excluded.count,
            "last_message_id": statement.excluded.last_message_id,
            "updated_at": statement.excluded.updated_at,
        },
    )


def note_soft_bounce(
    connection: Connection, *, account_id: int, message_id: int, to_addr: str
) -> bool:
    """Count a soft bounce of MESSAGE_ID towards its recipient's streak; True when the streak
    reached the limit and the address was suppressed.

    "In a row" means no message to the address was accepted without bouncing between the
    streak's last soft bounce and this one; an accepted message in between starts a new
    streak. Reports that arrive out of order simply add to the streak.
    """
    entry = normalised(to_addr)
    streak = connection.execute(
        _STREAK_SO_FAR, {"s_account": account_id, "s_address": entry}
    ).first()
    count = 1
    if streak is not None:
        between = {
            "s_to": to_addr,
            "s_account": account_id,
            "s_after": streak.last_message_id,
            "s_before": message_id,
        }
        broken = (
            message_id > streak.last_message_id
            and connection.execute(_ACCEPTED_BETWEEN, between).first() is not None
        )
        count = 1 if broken else streak.so_far + 1
    limit = settings.current().soft_bounce_limit
    if count >= limit:
        return suppress(
            connection,
            account_id=account_id,
            address=entry,
            reason=SuppressionReason.SOFT_BOUNCES,
            note=f"{count} soft bounces in a row",
            message_id=message_id,
            by="system",
        )
    last = max(message_id, streak.last_message_id) if streak is not None else message_id
    connection.execute(
        _streak_statement(connection.dialect.name),
        {
            "account_id": account_id,
            "address": entry,
            "count": count,
            "last_message_id": last,
            "updated_at": clock.now(),
        },
    )
    return False
