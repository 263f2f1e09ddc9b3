"""The sender's database work, always in batches: claims, routing snapshots, results, stats.

One transaction per message tops out at a few hundred messages a second, so a
worker claims a whole batch in one statement and writes results back many at
a time. These functions are synchronous; the worker runs them in a thread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Row, bindparam, delete, func, insert, or_, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.selectable import Select
from sqlmodel import Session

from app.rules.routing import (
    USABLE_IP_STATES,
    RoutingDomain,
    RoutingIp,
    RoutingMessage,
    RoutingPool,
    RoutingWarmup,
    route_message,
)
from app.rules.status_codes import Severity
from app.services import contents, feedback, suppressions
from app.services.stats import add_daily_counts
from data.db import is_sqlite, session_scope
from data.models import (
    DkimKey,
    DkimKeyState,
    Domain,
    DomainDailyStat,
    IpAddress,
    IpDailyStat,
    Message,
    MessageContent,
    MessageKind,
    MessageStatus,
    Pool,
    SenderHost,
    UpkeepRun,
    Warmup,
    table_of,
)

MESSAGES = table_of(Message)
DOMAINS = table_of(Domain)
POOLS = table_of(Pool)
IPS = table_of(IpAddress)
WARMUPS = table_of(Warmup)
DKIM_KEYS = table_of(DkimKey)
CONTENTS = table_of(MessageContent)
SENDER_HOSTS = table_of(SenderHost)
UPKEEP_RUNS = table_of(UpkeepRun)

DOMAIN_COUNTERS = (
    "sent",
    "deferred",
    "bounced",
    "soft_bounced",
    "rejected",
    "campaign_sent",
    "broadcast_sent",
)
IP_COUNTERS = ("sent", "deferred", "bounced", "soft_bounced")
# Senders starting at the same moment may pick the same stats shard; one of them tries again.
SHARD_ATTEMPTS = 5
# What a claim reads of each due message to route it.
DUE_COLUMNS = (
    MESSAGES.c.id,
    MESSAGES.c.message_id,
    MESSAGES.c.domain_id,
    MESSAGES.c.kind,
    MESSAGES.c.routed_ip_id,
    MESSAGES.c.next_attempt_at,
)
CLAIMED_COLUMNS = (
    MESSAGES.c.id,
    MESSAGES.c.message_id,
    MESSAGES.c.domain_id,
    MESSAGES.c.from_addr,
    MESSAGES.c.to_addr,
    MESSAGES.c.subject,
    MESSAGES.c.kind,
    MESSAGES.c.attempts,
    MESSAGES.c.created_at,
    MESSAGES.c.content_id,
)


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    id: int
    message_id: str
    domain_id: int
    from_addr: str
    to_addr: str
    subject: str
    kind: str
    attempts: int
    created_at: datetime
    content_id: int | None = None
    # The submitted message, loaded with its batch; None means a generated body.
    content: bytes | None = None

    def view(self) -> RoutingMessage:
        return RoutingMessage(self.id, self.message_id, self.domain_id, self.kind)


@dataclass(frozen=True)
class RoutingState:
    domains: dict[int, RoutingDomain]
    pools: dict[int, RoutingPool]
    warmups: dict[int, RoutingWarmup]


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A domain's active DKIM key as stored; the sender parses each PEM once."""

    id: int
    domain: str
    selector: str
    private_key_pem: str


@dataclass(frozen=True)
class Claim:
    messages: list[ClaimedMessage]
    state: RoutingState
    reclaimed: int
    # The active DKIM key of each domain in the batch that has one, by domain id.
    keys: dict[int, StoredKey] = field(default_factory=dict)
    # Claimed messages whose recipient was suppressed while they waited: finished, not sent.
    suppressed: int = 0
    # Due messages routed to another host's IP: recorded as theirs and left queued.
    handed_over: int = 0
    # This sender has been asked to drain: nothing was claimed.
    draining: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed message; written back in batches."""

    message: ClaimedMessage
    status: str
    reply: str | None
    attempts: int
    next_attempt_at: datetime | None
    finished_at: datetime | None
    pool_id: int | None
    ip_id: int | None
    # The daily counter this outcome adds to: sent, deferred, bounced, rejected, or None.
    counter: str | None
    # For a sent message: the TLS version it left over, or None when it went in clear.
    tls_version: str | None = None


def claim_batch(
    engine: Engine,
    *,
    worker_id: str,
    size: int,
    now: datetime,
    lease: timedelta,
    unbound_addresses: frozenset[str],
    own_addresses: frozenset[str],
    reclaim: bool = True,
) -> Claim:
    """Lease up to SIZE due messages to WORKER_ID and read what routing needs, in one transaction.

    Only messages this host can send are leased: those routed to one of OWN_ADDRESSES,
    and those whose route sends no mail (held, rejected, deferred for want of an IP).
    A message not routed yet, or routed to an IP that left its pool's rotation, is
    routed here: one routed to another host's IP is handed over (its routed IP
    recorded, left queued) without being leased. Messages whose lease expired (their
    worker died) go back to the queue first, unless RECLAIM is false. On PostgreSQL concurrent workers skip
    each other's locked rows; on SQLite the transaction begins IMMEDIATE, so claims
    simply queue.

    A sender asked to drain (`mailpools sender --drain`) claims nothing: the flag is read
    here, one primary-key lookup a batch, so a busy sender notices it at its next claim
    rather than at its next heartbeat.
    """
    with session_scope(engine) as session:
        # Core statements go through the connection, whose types know an UPDATE's rowcount.
        connection = session.connection()
        if connection.execute(
            select(SENDER_HOSTS.c.draining).where(SENDER_HOSTS.c.worker_id == worker_id)
        ).scalar_one_or_none():
            return Claim(messages=[], state=RoutingState({}, {}, {}), reclaimed=0, draining=True)
        # Not this worker's own: it still holds those in memory and renews them once
        # the database answers again, so taking them back could send them twice.
        reclaimed = 0
        if reclaim:
            reclaimed = connection.execute(
                update(MESSAGES)
                .where(MESSAGES.c.status == MessageStatus.SENDING.value)
                .where(MESSAGES.c.lease_expires_at < now)
                .where(MESSAGES.c.lease_owner != worker_id)
                .values(status=MessageStatus.QUEUED.value, lease_owner=None, lease_expires_at=None)
            ).rowcount
        own_ips, stray_ips = _own_and_stray_ips(connection, own_addresses)
        due = _due_for(own_ips | stray_ips, now, size, lock=not is_sqlite(engine))
        candidates = connection.execute(due).all()
        state = load_routing_state(
            session, {row.domain_id for row in candidates}, unbound_addresses
        )
        leased_ids, handed_over = _split_by_host(candidates, state, own_ips, now)
        if handed_over:
            connection.execute(
                update(MESSAGES)
                .where(MESSAGES.c.id == bindparam("h_id"))
                .values(routed_ip_id=bindparam("h_ip")),
                [{"h_id": message_id, "h_ip": ip_id} for message_id, ip_id in handed_over],
            )
        rows: list[Row] = []
        by_ip: dict[int | None, list[int]] = {}
        for message_id, ip_id in leased_ids:
            by_ip.setdefault(ip_id, []).append(message_id)
        # One statement per routed IP (a host has a few): a bulk UPDATE cannot return rows.
        for ip_id, message_ids in by_ip.items():
            rows += connection.execute(
                update(MESSAGES)
                .where(MESSAGES.c.id.in_(message_ids))
                .values(
                    status=MessageStatus.SENDING.value,
                    lease_owner=worker_id,
                    lease_expires_at=now + lease,
                    routed_ip_id=ip_id,
                )
                .returning(*CLAIMED_COLUMNS)
            ).all()
        listed = _finish_suppressed(connection, [row.id for row in rows], now)
        rows = [row for row in rows if row.id not in listed]
        loaded = load_contents(connection, {row.content_id for row in rows} - {None})
        messages = sorted(
            (
                ClaimedMessage(
                    row.id,
                    row.message_id,
                    row.domain_id,
                    row.from_addr,
                    row.to_addr,
                    row.subject,
                    row.kind,
                    row.attempts,
                    row.created_at,
                    row.content_id,
                    loaded.get(row.content_id),
                )
                for row in rows
            ),
            key=lambda m: m.id,
        )
        keys = load_signing_keys(connection, {m.domain_id for m in messages})
    return Claim(
        messages=messages,
        state=state,
        reclaimed=reclaimed,
        keys=keys,
        suppressed=len(listed),
        handed_over=len(handed_over),
    )


def _due_for(ip_ids: set[int], now: datetime, size: int, *, lock: bool) -> Select:
    """The first SIZE due messages, in due order, among those not routed yet and those
    routed to each of IP_IDS: one bounded range of ix_messages_unrouted_due or
    ix_messages_routed_due each, so however much mail waits for other hosts' IPs, a claim
    never reads it.

    With LOCK (PostgreSQL), each range locks its rows as it reads them and skips those
    other claims hold: concurrent senders each take rows of their own in one pass. Picking
    ids first and locking them afterwards would have every sender pick the same first
    ids, lose most of them to whoever locked them first and scan again. Each range is a
    CTE of its own because PostgreSQL refuses FOR UPDATE in a branch of a UNION. A range
    locks up to SIZE rows even when earlier rows of other ranges fill the batch; those
    are unlocked when the claim commits, a moment later, and a range with due mail is
    rarely more than the unrouted one and a few retries."""
    ranges = []
    for number, routed in enumerate(
        [MESSAGES.c.routed_ip_id.is_(None)]
        + [MESSAGES.c.routed_ip_id == ip_id for ip_id in sorted(ip_ids)]
    ):
        first = (
            select(*DUE_COLUMNS)
            .where(MESSAGES.c.status == MessageStatus.QUEUED.value)
            .where(routed)
            .where(MESSAGES.c.next_attempt_at <= now)
            .order_by(MESSAGES.c.next_attempt_at, MESSAGES.c.id)
            .limit(size)
        )
        if lock:
            first = first.with_for_update(skip_locked=True)
        ranges.append(select(first.cte(f"due_{number}")))
    due = union_all(*ranges).subquery("due")
    return select(due).order_by(due.c.next_attempt_at, due.c.id).limit(size)


def _own_and_stray_ips(
    connection: Connection, own_addresses: frozenset[str]
) -> tuple[set[int], set[int]]:
    """The ids of this host's pool IPs, and of the IPs out of any pool's rotation (no pool,
    paused, blocklisted or weighing nothing): mail routed to those is routed again."""
    own: set[int] = set()
    stray: set[int] = set()
    for ip in connection.execute(
        select(IPS.c.id, IPS.c.address, IPS.c.pool_id, IPS.c.state, IPS.c.weight)
    ):
        in_rotation = ip.pool_id is not None and ip.state in USABLE_IP_STATES and ip.weight > 0
        if not in_rotation:
            stray.add(ip.id)
        elif ip.address in own_addresses:
            own.add(ip.id)
    return own, stray


def _split_by_host(
    candidates: Sequence[Row], state: RoutingState, own_ips: set[int], now: datetime
) -> tuple[list[tuple[int, int | None]], list[tuple[int, int]]]:
    """Route each candidate: (message id, routed IP id) pairs to lease here, and pairs to
    hand over to the host that owns their IP."""
    leased: list[tuple[int, int | None]] = []
    handed_over: list[tuple[int, int]] = []
    for row in candidates:
        route = route_message(
            RoutingMessage(row.id, row.message_id, row.domain_id, row.kind),
            state.domains[row.domain_id],
            state.pools,
            state.warmups,
            now,
        )
        # A route with an IP chose it (sent from it, or deferred because it is unbound).
        if route.ip is None or route.ip.id in own_ips:
            leased.append((row.id, route.ip.id if route.ip else None))
        else:
            handed_over.append((row.id, route.ip.id))
    return leased, handed_over


def _finish_suppressed(connection: Connection, message_ids: list[int], now: datetime) -> set[int]:
    """Finish as suppressed the claimed messages whose recipients were listed while they
    waited (one query for the batch); return their ids."""
    listed = suppressions.suppressed_messages(connection, message_ids)
    if listed:
        connection.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id == bindparam("s_id"))
            .values(
                status=MessageStatus.SUPPRESSED.value,
                finished_at=now,
                lease_owner=None,
                lease_expires_at=None,
                last_reply=bindparam("s_reply"),
            ),
            [
                {"s_id": message_id, "s_reply": suppressions.suppression_reply(reason)}
                for message_id, reason in listed.items()
            ],
        )
    return set(listed)


def load_signing_keys(connection: Connection, domain_ids: Iterable[int]) -> dict[int, StoredKey]:
    ids = list(domain_ids)
    if not ids:
        return {}
    rows = connection.execute(
        select(
            DKIM_KEYS.c.id,
            DKIM_KEYS.c.domain_id,
            DOMAINS.c.name,
            DKIM_KEYS.c.selector,
            DKIM_KEYS.c.private_key_pem,
        )
        .join(DOMAINS, DOMAINS.c.id == DKIM_KEYS.c.domain_id)
        .where(DKIM_KEYS.c.domain_id.in_(ids))
        .where(DKIM_KEYS.c.state == DkimKeyState.ACTIVE.value)
        .order_by(DKIM_KEYS.c.id)
    ).all()
    # Ordered by id, so the newest active key wins should two ever be active at once.
    return {
        row.domain_id: StoredKey(row.id, row.name, row.selector, row.private_key_pem)
        for row in rows
    }


def load_contents(connection: Connection, content_ids: set[int]) -> dict[int, bytes]:
    """The contents one batch uses, each once however many of its messages share it."""
    if not content_ids:
        return {}
    rows = connection.execute(
        select(CONTENTS.c.id, CONTENTS.c.data).where(CONTENTS.c.id.in_(sorted(content_ids)))
    )
    return {content_id: contents.unpack(data) for content_id, data in rows}


def load_routing_state(
    session: Session, domain_ids: Iterable[int], unbound_addresses: frozenset[str]
) -> RoutingState:
    ids = list(domain_ids)
    domains = {}
    if ids:
        for row in session.execute(select(DOMAINS).where(DOMAINS.c.id.in_(ids))).mappings():
            domains[row["id"]] = RoutingDomain(
                id=row["id"],
                name=row["name"],
                status=row["status"],
                sending_mode=row["sending_mode"],
                shared_pool_id=row["shared_pool_id"],
                transactional_pool_id=row["transactional_pool_id"],
                dedicated_pool_id=row["dedicated_pool_id"],
                removed_reason=row["removed_reason"],
            )
    ips_by_pool: dict[int, list[RoutingIp]] = {}
    ip_rows = session.execute(
        select(IPS).where(IPS.c.pool_id.is_not(None)).order_by(IPS.c.id)
    ).mappings()
    for row in ip_rows:
        ips_by_pool.setdefault(row["pool_id"], []).append(
            RoutingIp(
                id=row["id"],
                address=row["address"],
                hostname=row["hostname"],
                state=row["state"],
                weight=row["weight"],
                bound=row["address"] not in unbound_addresses,
            )
        )
    pools = {
        row["id"]: RoutingPool(
            row["id"], row["name"], row["kind"], tuple(ips_by_pool.get(row["id"], ()))
        )
        for row in session.execute(select(POOLS)).mappings()
    }
    warmups = {}
    for row in session.execute(select(WARMUPS).order_by(WARMUPS.c.id)).mappings():
        warmups[row["pool_id"]] = RoutingWarmup(
            pool_id=row["pool_id"],
            state=row["state"],
            current_day=row["current_day"],
            planned_days=row["planned_days"],
        )
    return RoutingState(domains=domains, pools=pools, warmups=warmups)


_WRITE_BACK = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("b_id"))
    .where(MESSAGES.c.lease_owner == bindparam("b_owner"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next", type_=MESSAGES.c.next_attempt_at.type),
        finished_at=bindparam("b_finished", type_=MESSAGES.c.finished_at.type),
        pool_id=bindparam("b_pool"),
        ip_id=bindparam("b_ip"),
        last_reply=bindparam("b_reply"),
        sent_over_tls=bindparam("b_over_tls"),
        tls_version=bindparam("b_tls_version"),
        lease_owner=None,
        lease_expires_at=None,
    )
)


def write_outcomes(
    engine: Engine, outcomes: list[Outcome], *, worker_id: str, day: date, shard: int = 0
) -> int:
    """Record a batch of results and add them to the day's per-domain and per-IP stats, in
    the rows of SHARD (the sender's own, so concurrent senders never wait for each other
    there).

    Only messages still leased to WORKER_ID are written: one whose lease expired
    and went to another worker is that worker's now, and this result is dropped
    rather than written over its lease. Returns how many were dropped.
    """
    if not outcomes:
        return 0
    # A bare connection rather than an ORM session: the writer runs this every few
    # messages, and the session's own bookkeeping cost about a third of a write.
    with engine.begin() as connection:
        still_ours = _still_leased(connection, [o.message.id for o in outcomes], worker_id)
        kept = [outcome for outcome in outcomes if outcome.message.id in still_ours]
        if kept:
            connection.execute(_WRITE_BACK, [_write_back_row(o, worker_id) for o in kept])
            feedback.record_reply_bounces(
                connection,
                [
                    feedback.ReplyBounce(
                        o.message.id,
                        o.reply or "",
                        Severity.HARD if o.counter == "bounced" else Severity.SOFT,
                    )
                    for o in kept
                    if o.status == MessageStatus.BOUNCED
                ],
            )
            domain_counts, ip_counts = _daily_counts(kept)
            add_daily_counts(
                connection, table_of(DomainDailyStat), "domain_id", day, domain_counts, shard
            )
            add_daily_counts(connection, table_of(IpDailyStat), "ip_id", day, ip_counts, shard)
    return len(outcomes) - len(kept)


def _still_leased(connection: Connection, message_ids: list[int], worker_id: str) -> set[int]:
    """Which of MESSAGE_IDS are leased to WORKER_ID, locked until the transaction ends."""
    query = _STILL_LEASED[connection.dialect.name == "sqlite"]
    found: set[int] = set()
    for start in range(0, len(message_ids), 500):
        chunk = message_ids[start : start + 500]
        found.update(connection.execute(query, {"l_ids": chunk, "l_owner": worker_id}).scalars())
    return found


# Built once: constructing a statement costs more than running it on a handful of
# rows, and the writer runs this every few messages. Keyed by "is it SQLite".
_STILL_LEASED_QUERY = (
    select(MESSAGES.c.id)
    .where(MESSAGES.c.id.in_(bindparam("l_ids", expanding=True)))
    .where(MESSAGES.c.lease_owner == bindparam("l_owner"))
    .where(MESSAGES.c.status == MessageStatus.SENDING.value)
)
_STILL_LEASED = {True: _STILL_LEASED_QUERY, False: _STILL_LEASED_QUERY.with_for_update()}


def _write_back_row(outcome: Outcome, worker_id: str) -> dict[str, object]:
    return {
        "b_id": outcome.message.id,
        "b_owner": worker_id,
        "b_status": outcome.status,
        "b_attempts": outcome.attempts,
        "b_next": outcome.next_attempt_at,
        "b_finished": outcome.finished_at,
        "b_pool": outcome.pool_id,
        "b_ip": outcome.ip_id,
        "b_reply": outcome.reply,
        "b_over_tls": (outcome.tls_version is not None)
        if outcome.status == MessageStatus.SENT
        else None,
        "b_tls_version": outcome.tls_version,
    }


def _daily_counts(outcomes: list[Outcome]) -> tuple[dict[int, Counter], dict[int, Counter]]:
    domain_counts: dict[int, Counter] = {}
    ip_counts: dict[int, Counter] = {}
    for outcome in outcomes:
        if outcome.counter is None:
            continue
        counts = domain_counts.setdefault(outcome.message.domain_id, Counter())
        counts[outcome.counter] += 1
        if outcome.counter == "sent" and outcome.message.kind == MessageKind.CAMPAIGN:
            counts["campaign_sent"] += 1
        if outcome.counter == "sent" and outcome.message.kind == MessageKind.BROADCAST:
            counts["broadcast_sent"] += 1
        if outcome.ip_id is not None and outcome.counter in IP_COUNTERS:
            ip_counts.setdefault(outcome.ip_id, Counter())[outcome.counter] += 1
    return domain_counts, ip_counts


def release(engine: Engine, message_ids: list[int], *, worker_id: str) -> int:
    """Give claimed but unsent messages back to the queue, as they were."""
    if not message_ids:
        return 0
    released = 0
    with session_scope(engine) as session:
        connection = session.connection()
        for start in range(0, len(message_ids), 500):
            chunk = message_ids[start : start + 500]
            released += connection.execute(
                update(MESSAGES)
                .where(MESSAGES.c.id.in_(chunk))
                .where(MESSAGES.c.lease_owner == worker_id)
                .where(MESSAGES.c.status == MessageStatus.SENDING.value)
                .values(status=MessageStatus.QUEUED.value, lease_owner=None, lease_expires_at=None)
            ).rowcount
    return released


def renew_leases(
    engine: Engine, message_ids: list[int], *, worker_id: str, until: datetime
) -> set[int]:
    """Extend the leases of MESSAGE_IDS that WORKER_ID still holds; return those it renewed.

    A message missing from the answer went back to the queue or to another
    worker while this one could not renew it: it is no longer this worker's to send.
    """
    renewed: set[int] = set()
    with session_scope(engine) as session:
        connection = session.connection()
        for start in range(0, len(message_ids), 500):
            renewed.update(
                connection.execute(
                    update(MESSAGES)
                    .where(MESSAGES.c.id.in_(message_ids[start : start + 500]))
                    .where(MESSAGES.c.status == MessageStatus.SENDING.value)
                    .where(MESSAGES.c.lease_owner == worker_id)
                    .values(lease_expires_at=until)
                    .returning(MESSAGES.c.id)
                ).scalars()
            )
    return renewed


def left_for(
    engine: Engine, *, worker_id: str, own_addresses: frozenset[str], now: datetime
) -> tuple[int, int]:
    """What a sender whose claim found nothing could still have to send: (due, leased).

    DUE counts the due queued messages it may claim (not routed yet, or routed to one
    of OWN_ADDRESSES or to an IP out of rotation): after an empty claim these are rows
    another sender's claim has locked for now (PostgreSQL skips them), and that claim
    may yet leave them, or hand them over to this host. LEASED counts the messages
    other senders hold that it could send once their lease ran out. Messages routed
    to another host's IPs are left out: this one could never send them.
    """
    with session_scope(engine) as session:
        connection = session.connection()
        own_ips, stray_ips = _own_and_stray_ips(connection, own_addresses)
        ours = or_(
            MESSAGES.c.routed_ip_id.is_(None), MESSAGES.c.routed_ip_id.in_(own_ips | stray_ips)
        )
        due = connection.execute(
            select(func.count())
            .select_from(MESSAGES)
            .where(MESSAGES.c.status == MessageStatus.QUEUED.value)
            .where(MESSAGES.c.next_attempt_at <= now)
            .where(ours)
        ).scalar_one()
        leased = connection.execute(
            select(func.count())
            .select_from(MESSAGES)
            .where(MESSAGES.c.status == MessageStatus.SENDING.value)
            .where(MESSAGES.c.lease_owner != worker_id)
            .where(ours)
        ).scalar_one()
    return due, leased


@dataclass(frozen=True, slots=True)
class Announcement:
    # Asked to finish what it holds and claim nothing new.
    draining: bool
    # The rows of the daily stats this sender adds to.
    shard: int


def announce(
    engine: Engine, *, worker_id: str, hostname: str, addresses: frozenset[str], now: datetime
) -> Announcement:
    """Say that WORKER_ID runs on HOSTNAME and sends from ADDRESSES; return whether it has
    been asked to drain, and its stats shard (given the first time it announces)."""
    for _ in range(SHARD_ATTEMPTS - 1):
        try:
            return _announce(engine, worker_id, hostname, addresses, now)
        except IntegrityError:
            # Another sender starting at the same moment took the same shard; the next
            # try sees it.
            continue
    return _announce(engine, worker_id, hostname, addresses, now)


def _announce(
    engine: Engine, worker_id: str, hostname: str, addresses: frozenset[str], now: datetime
) -> Announcement:
    with session_scope(engine) as session:
        connection = session.connection()
        found = connection.execute(
            update(SENDER_HOSTS)
            .where(SENDER_HOSTS.c.worker_id == worker_id)
            .values(hostname=hostname, addresses=" ".join(sorted(addresses)), last_seen_at=now)
            .returning(SENDER_HOSTS.c.draining, SENDER_HOSTS.c.shard)
        ).one_or_none()
        if found is not None:
            return Announcement(found.draining, found.shard)
        # Shard 0 is everything but the senders; a stopped sender's number is free again.
        held = set(connection.execute(select(SENDER_HOSTS.c.shard)).scalars())
        shard = next(number for number in range(1, len(held) + 2) if number not in held)
        connection.execute(
            insert(SENDER_HOSTS).values(
                worker_id=worker_id,
                hostname=hostname,
                addresses=" ".join(sorted(addresses)),
                started_at=now,
                last_seen_at=now,
                draining=False,
                shard=shard,
            )
        )
    return Announcement(False, shard)


def withdraw(engine: Engine, *, worker_id: str) -> None:
    """WORKER_ID stops: it no longer sends from its addresses."""
    with session_scope(engine) as session:
        session.connection().execute(
            delete(SENDER_HOSTS).where(SENDER_HOSTS.c.worker_id == worker_id)
        )


def take_upkeep_turn(engine: Engine, *, name: str, now: datetime, every: timedelta) -> bool:
    """Whether this sender is the one to run the periodic task NAME now: it is when no
    sender started it within EVERY. The start is recorded by the same statement that
    tells, so of several senders asking at once exactly one is told yes (on PostgreSQL
    the others wait for its row, then see the new start)."""
    with session_scope(engine) as session:
        connection = session.connection()
        taken = connection.execute(
            update(UPKEEP_RUNS)
            .where(UPKEEP_RUNS.c.name == name)
            .where(UPKEEP_RUNS.c.started_at <= now - every)
            .values(started_at=now)
        ).rowcount
        if taken:
            return True
        insert_new = sqlite_insert if is_sqlite(engine) else postgresql_insert
        # Told by the row returned: an INSERT's rowcount is not reliable on every driver.
        inserted = connection.execute(
            insert_new(UPKEEP_RUNS)
            .values(name=name, started_at=now)
            .on_conflict_do_nothing()
            .returning(UPKEEP_RUNS.c.name)
        ).scalar_one_or_none()
        return inserted is not None
