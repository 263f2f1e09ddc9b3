"""The delivery worker: claim, route, send over bound connections, record, repeat.

One asyncio task claims batches (in a thread, under a lease) and routes each
message; a fixed set of lanes sends them, each lane holding one SMTP
connection for one (IP, destination) at a time, within the total, per-IP and
per-destination concurrency limits (a destination never takes all of an IP's
connections, so one that stalls leaves the IP's others moving); a writer task
records results within a few milliseconds, all that are waiting in one
transaction, and at once when a connection needs one recorded; another renews
the leases.

Every database touch retries with backoff and logs, so the worker rides out
a database restart. A message is started only while its lease has time left,
and a lease that could not be renewed before it ran out, and went to another
worker meanwhile, is given up: that message is neither sent nor recorded here.

Delivery guarantee: at least once. A message is marked sent only after the
server accepted it, and a claimed message whose worker dies returns to the
queue when its lease expires. A worker killed between the server's 250 and
the write-back therefore causes that message to be sent again; no message is
ever lost. A connection starts its next message only once the one before the
last it delivered is recorded, so a kill leaves at most two messages per
connection delivered but unrecorded: the one whose result was being written,
and the one on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import aiosmtplib
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from app import clock, settings
from app.rules.routing import Action, Route, RoutingIp, route_message
from app.rules.status_codes import Severity, reply_severity
from app.sender import store
from app.sender.binding import check_bindings, check_chosen_addresses, sending_addresses
from app.sender.delivery import (
    ConnectionBroken,
    Reply,
    Timeouts,
    close_quietly,
    open_connection,
    render,
    send_one,
)
from app.sender.destinations import Destination, MxDestinations, RelayDestinations, Unreachable
from app.sender.outgoing import Outgoing, configured_outgoing
from app.sender.tls import OPPORTUNISTIC, TlsPolicy
from app.services.senders import HEARTBEAT
from data.models import MessageStatus

log = logging.getLogger("mailpools.sender")

# Messages a lane sends before letting other (IP, destination) pairs have a turn.
LANE_TURN = 100
# Connections to one destination that fail in a row, with none opening between,
# before the rest of its queue is deferred: one bad connection defers nothing.
CONNECT_FAILURES_BEFORE_DEFERRING = 3
# When stopping, how long messages in the middle of being sent may take to finish
# before their connections are closed and they go back to the queue.
STOP_GRACE_SECONDS = 5.0
# The periodic DNS checks' name among the tasks one sender at a time runs.
DNS_CHECKS_TURN = "dns_checks"
# How long a result may wait for others to share its write-back, unless a connection
# needs it recorded before its next message (see Sender._writer).
WRITE_BACK_LINGER_SECONDS = 0.01
# Batches of finished messages the upkeep deletes each time it runs (see app.services.retention).
PRUNE_BATCHES_PER_TURN = 10
# What a database outage looks like from here: the driver's errors and the pool's.
DATABASE_ERRORS = (SQLAlchemyError, OSError)


def _recipient_domain(message: store.ClaimedMessage) -> str:
    return message.to_addr.rsplit("@", 1)[1].lower()


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _configured_tls_domains() -> frozenset[str]:
    return frozenset(filter(None, (settings.current().tls_required_domains or "").split(",")))


def _configured_ca_file() -> str | None:
    return settings.current().tls_ca_file


@dataclass
class SenderOptions:
    # Relay mode: every message to this smarthost. None: direct mode (MX lookups).
    relay: tuple[str, int] | None = None
    nameservers: list[str] | None = None
    dns_port: int = 53
    smtp_port: int = 25
    worker_id: str = field(default_factory=default_worker_id)
    batch_size: int = 500
    lease_seconds: float = 300.0
    total_concurrency: int = 16
    per_ip_concurrency: int = 4
    # Connections from one IP to one destination; None: one fewer than per IP.
    per_destination_concurrency: int | None = None
    connect_timeout: float = 10.0
    greeting_timeout: float = 30.0
    # Each SMTP command (EHLO, MAIL, RCPT, RSET, QUIT).
    smtp_timeout: float = 30.0
    data_timeout: float = 60.0
    backoff_base_seconds: float = 60.0
    backoff_max_seconds: float = 3600.0
    max_age_seconds: float = 3 * 86400.0
    poll_seconds: float = 1.0
    until_empty: bool = False
    bind_check_seconds: float = 60.0
    maintenance_seconds: float = 300.0
    # Every domain's and IP's DNS checks, this often (checked at maintenance); None: never.
    dns_check_seconds: float | None = None
    idle_connection_seconds: float = 30.0
    # Most results written in one transaction.
    flush_size: int = 250
    # The longest wait between tries while the database does not answer.
    database_retry_max_seconds: float = 10.0
    # Stop after finishing this many messages (benchmarks); None: no limit.
    max_messages: int | None = None
    # Recipient domains reached only over verified TLS; the rest get TLS when offered.
    tls_required_domains: frozenset[str] = field(default_factory=_configured_tls_domains)
    tls_ca_file: str | None = field(default_factory=_configured_ca_file)
    # Relay mode: the smarthost only over verified TLS.
    relay_requires_tls: bool = False
    # The IPs this host sends from (--ips); None: every pool IP bound here.
    ips: frozenset[str] | None = None
    hostname: str = field(default_factory=socket.gethostname)
    heartbeat_seconds: float = HEARTBEAT.total_seconds()

    def tls_policy(self, destination: Destination) -> TlsPolicy:
        required = (
            self.relay_requires_tls
            if self.relay
            else destination.name.lower() in self.tls_required_domains
        )
        return TlsPolicy(required=True, ca_file=self.tls_ca_file) if required else OPPORTUNISTIC

    def validate(self, labels: dict[str, str] | None = None) -> None:
        """Refuse any number out of its range before anything starts.

        LABELS names each field as the person wrote it (the command line's
        `--lease`); without it, fields are named in words.
        """
        from app.errors import MailpoolsError

        for name, (lowest, highest) in OPTION_RANGES.items():
            value = getattr(self, name)
            if value is None:
                continue
            label = (labels or {}).get(name, name.replace("_", " "))
            if not math.isfinite(value) or not lowest <= value <= highest:
                raise MailpoolsError(
                    f"{label} must be from {lowest:,} to {highest:,}, not {value}."
                )
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise MailpoolsError(
                f"{(labels or {}).get('backoff_max_seconds', 'the longest backoff')} must be at "
                f"least {(labels or {}).get('backoff_base_seconds', 'the first backoff')} "
                f"({self.backoff_base_seconds:g} seconds)."
            )


# Every numeric option's range, lowest and highest allowed. A loop that waits
# NaN seconds never ends, and a hundred million connections exhaust memory.
OPTION_RANGES: dict[str, tuple[float, float]] = {
    "smtp_port": (1, 65_535),
    "dns_port": (1, 65_535),
    "batch_size": (1, 10_000),
    "total_concurrency": (1, 1_000),
    "per_ip_concurrency": (1, 100),
    "per_destination_concurrency": (1, 100),
    "flush_size": (1, 10_000),
    "lease_seconds": (1, 86_400),
    "connect_timeout": (1, 600),
    "greeting_timeout": (1, 3_600),
    "smtp_timeout": (1, 3_600),
    "data_timeout": (1, 3_600),
    "backoff_base_seconds": (1, 86_400),
    "backoff_max_seconds": (1, 30 * 86_400),
    "max_age_seconds": (60, 30 * 86_400),
}


@dataclass
class SenderStats:
    started: float = field(default_factory=time.monotonic)
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    bounced: int = 0
    rejected: int = 0
    held: int = 0
    # Claimed, then finished unsent: the recipient was suppressed while the message waited.
    suppressed: int = 0
    released: int = 0
    reclaimed: int = 0
    in_flight: int = 0
    connections_opened: int = 0
    # Claimed messages given up because their lease went to another worker.
    lost_leases: int = 0
    # Due messages routed to another host's IP, left for it.
    handed_over: int = 0
    unbound: frozenset[str] = frozenset()
    # The IPs this sender sends from.
    addresses: frozenset[str] = frozenset()
    # Asked to drain: it finished what it held and claimed nothing more.
    drained: bool = False

    @property
    def finished(self) -> int:
        return self.sent + self.deferred + self.bounced + self.rejected + self.held

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def sent_per_second(self) -> float:
        return self.sent / self.elapsed


@dataclass(slots=True)
class _Job:
    message: store.ClaimedMessage
    route: Route


# (source IP, where its mail goes, recipient domain): one queue each. The
# recipient domain counts as the destination for the per-destination limit,
# so in relay mode too one slow domain cannot take all of an IP's connections.
Key = tuple[RoutingIp, Destination, str]


class _DatabaseRetry:
    """Backoff for one kind of database work, logging each failure and the recovery."""

    def __init__(self, what: str, longest: float) -> None:
        self.what = what
        self.longest = longest
        self.failures = 0
        # When the last try failed (monotonic); minus infinity: never.
        self.failed_at = -math.inf

    def failed(self, error: BaseException) -> float:
        """Note a failure; return the seconds to wait before the next try."""
        delay = min(0.25 * 2**self.failures, self.longest)
        self.failures += 1
        self.failed_at = time.monotonic()
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        log.warning(
            "%s failed (%s); retrying in %.1f s (%d failures in a row)",
            self.what,
            reason[0] if reason else type(error).__name__,
            delay,
            self.failures,
        )
        return delay

    def succeeded(self) -> None:
        if self.failures:
            log.warning("%s works again after %d failed tries", self.what, self.failures)
        self.failures = 0

    def forget(self) -> None:
        """The work is no longer needed (nothing left to do): no failure stands."""
        self.failures = 0


class Sender:
    def __init__(
        self,
        engine: Engine,
        options: SenderOptions,
        stop_event: asyncio.Event,
        progress: Callable[[SenderStats], None] | None = None,
    ) -> None:
        options.validate()
        self.engine = engine
        self.options = options
        self.stop_event = stop_event
        self.progress = progress
        self.stats = SenderStats()
        self.destinations: RelayDestinations | MxDestinations
        if options.relay:
            self.destinations = RelayDestinations(*options.relay)
        else:
            self.destinations = MxDestinations(
                nameservers=options.nameservers,
                dns_port=options.dns_port,
                smtp_port=options.smtp_port,
            )
        self.timeouts = Timeouts(
            connect=options.connect_timeout,
            greeting=options.greeting_timeout,
            command=options.smtp_timeout,
            data=options.data_timeout,
        )
        self.per_destination = options.per_destination_concurrency or max(
            1, options.per_ip_concurrency - 1
        )
        retry_cap = options.database_retry_max_seconds
        self.claim_retry = _DatabaseRetry("claiming messages", retry_cap)
        self.write_retry = _DatabaseRetry("recording results", retry_cap)
        # Renewing must not wait so long that the leases it protects run out.
        self.renew_retry = _DatabaseRetry(
            "renewing leases", min(retry_cap, options.lease_seconds / 6)
        )
        self.upkeep_retry = _DatabaseRetry("upkeep (IP bindings, warm-ups, health)", retry_cap)
        self.queues: OrderedDict[Key, deque[_Job]] = OrderedDict()
        self.ip_lanes: Counter[str] = Counter()
        self.key_lanes: Counter[Key] = Counter()
        self.idle: dict[tuple[RoutingIp, Destination], list[tuple[aiosmtplib.SMTP, float]]] = {}
        self.connect_failures: Counter[tuple[RoutingIp, Destination]] = Counter()
        # Every claimed message not yet written back: its id -> when its lease runs
        # out (monotonic), as far as this worker knows.
        self.leases: dict[int, float] = {}
        self.outcomes: list[store.Outcome] = []
        # Messages whose sending a stop cut short; released with the unsent ones.
        self.interrupted: list[int] = []
        self.pending = 0
        self.closing = False
        self.writer_stopping = False
        self.work = asyncio.Event()
        self.room = asyncio.Event()
        self.drained = asyncio.Event()
        self.flush_now = asyncio.Event()
        # When the oldest result still waiting for the writer came in (monotonic), and
        # whether a connection waits for one to be recorded before its next message.
        self.oldest_waiting = 0.0
        self.record_wanted = False
        # Set, and replaced by a fresh one, each time a batch of results is recorded.
        self.batch_recorded = asyncio.Event()
        self.unbound: frozenset[str] = frozenset()
        self.addresses: frozenset[str] = frozenset()
        self.draining = False
        # The daily stats rows this sender adds to: its own once announced; until then
        # (the database away at start) the shared ones, which count just as well.
        self.shard = 0
        self.outgoing: Outgoing | None = None
        self.next_dns_check = 0.0
        self.dns_checks: asyncio.Task[None] | None = None
        # The DNS checks' write-back, never cancelled: a stop waits for its transaction.
        self.dns_write: asyncio.Future[list[str]] | None = None

    # The main loop -----------------------------------------------------------------

    async def run(self) -> SenderStats:
        # At start a database error ends the run: a wrong URL or a missing schema is
        # better told at once. From here on, every database touch retries.
        self.outgoing = await asyncio.to_thread(configured_outgoing, self.engine)
        if self.options.ips is not None:
            await asyncio.to_thread(check_chosen_addresses, self.engine, self.options.ips)
        await self._use_bindings(await asyncio.to_thread(check_bindings, self.engine))
        await self._announce()
        await self._maintenance()
        lanes = [asyncio.create_task(self._lane()) for _ in range(self.options.total_concurrency)]
        writer = asyncio.create_task(self._writer())
        renewer = asyncio.create_task(self._renewer())
        reporter = asyncio.create_task(self._report(self.progress)) if self.progress else None
        try:
            await self._claim_loop()
        finally:
            self.closing = True
            self.work.set()
            await self._finish_lanes(lanes)
            await self._release_unsent()
            # Ask the writer to finish rather than cancelling it: cancelled inside a
            # write, its thread would go on committing after this run returned.
            self.writer_stopping = True
            self.flush_now.set()
            await writer
            await self._close_idle(everything=True)
            for task in (renewer, reporter):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await self._finish_dns_checks()
            if self.options.until_empty and not self.stop_event.is_set():
                await self._maintenance()
            await self._withdraw()
            if self.progress:
                self.progress(self.stats)
        return self.stats

    async def _finish_lanes(self, lanes: list[asyncio.Task[None]]) -> None:
        """Let messages being sent finish; when stopping, give a stalled server only a short grace."""
        if self.stop_event.is_set():
            _, stalled = await asyncio.wait(lanes, timeout=STOP_GRACE_SECONDS)
            for lane in stalled:
                lane.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)

    async def _claim_loop(self) -> None:
        options = self.options
        lease = timedelta(seconds=options.lease_seconds)
        next_bind_check = time.monotonic() + options.bind_check_seconds
        next_maintenance = time.monotonic() + options.maintenance_seconds
        next_heartbeat = time.monotonic() + options.heartbeat_seconds
        # --until-empty: what it last said it waits for (other senders' claims or leases).
        waiting_for: tuple[int, int] | None = None
        while not self.stop_event.is_set():
            moment = time.monotonic()
            if moment >= next_bind_check:
                next_bind_check = moment + await self._check_bindings()
            if moment >= next_maintenance:
                next_maintenance = moment + await self._maintenance()
            if moment >= next_heartbeat:
                next_heartbeat = moment + await self._announce()
            await self._close_idle()
            if self.draining:
                if self.pending == 0:
                    self.stats.drained = True
                    return
                self.drained.clear()
                await self._wait(self.drained, options.poll_seconds)
                continue
            if self.pending >= options.batch_size:
                self.room.clear()
                await self._wait(self.room, options.poll_seconds)
                continue
            if self.renew_retry.failures:
                # Claim nothing until the leases in hand are renewed: the database has
                # just been away, and the renewal tells which messages are still ours.
                await self._wait(None, options.poll_seconds)
                continue
            claim_started = time.monotonic()
            try:
                claim = await asyncio.to_thread(
                    store.claim_batch,
                    self.engine,
                    worker_id=options.worker_id,
                    size=options.batch_size,
                    now=clock.now(),
                    lease=lease,
                    unbound_addresses=self.unbound,
                    own_addresses=self.addresses,
                    reclaim=self._may_reclaim(),
                )
            except DATABASE_ERRORS as error:
                # Keep sending what is claimed meanwhile.
                await self._wait(None, self.claim_retry.failed(error))
                continue
            self.claim_retry.succeeded()
            if claim.draining:
                log.warning("asked to drain: finishing the messages in hand, claiming none")
                self.draining = True
                continue
            self.stats.reclaimed += claim.reclaimed
            self.stats.suppressed += claim.suppressed
            self.stats.handed_over += claim.handed_over
            if claim.messages:
                waiting_for = None
                expires = claim_started + options.lease_seconds
                for message in claim.messages:
                    self.leases[message.id] = expires
                await self._dispatch(claim)
                continue
            if claim.suppressed or claim.handed_over:
                # A batch of only suppressed messages, or of other hosts' messages, says
                # nothing about what is left.
                continue
            if options.until_empty and self.pending == 0:
                # Done only when nothing is left that this sender could send: neither due
                # messages another sender's claim has locked this moment (it may leave
                # them, or hand them over to this host), nor leased ones (their sender may
                # die, and they come back when the lease expires). Mail for other hosts'
                # IPs is theirs, whether they run or not.
                left = await self._left_here()
                if left is None:
                    continue
                if left == (0, 0):
                    return
                if left != waiting_for:
                    due, leased = left
                    if leased:
                        log.warning(
                            "%d messages are leased to other senders; waiting for them to be "
                            "sent, or for their leases to expire and be taken over",
                            leased,
                        )
                    if due:
                        log.warning(
                            "%d due messages are being claimed by other senders; waiting "
                            "for what they leave",
                            due,
                        )
                    waiting_for = left
                await self._wait(None, options.poll_seconds)
                continue
            # Nothing due: look again after the poll interval, or as soon as the
            # messages in hand are all done (so --until-empty exits promptly).
            self.drained.clear()
            await self._wait(self.drained if self.pending else None, options.poll_seconds)

    def _may_reclaim(self) -> bool:
        """Whether this sender may take back other senders' expired leases.

        Not for one lease after the database failed it: leases run out during an
        outage though their senders live, and each renews its own within a sixth of a
        lease of the database's return. Taken back before that, a message delivered
        while the database was away would be sent again. A dead sender's messages
        come back a lease later than otherwise, and only after an outage.
        """
        retries = (self.claim_retry, self.write_retry, self.renew_retry, self.upkeep_retry)
        last_failure = max(retry.failed_at for retry in retries)
        return time.monotonic() > last_failure + self.options.lease_seconds

    async def _left_here(self) -> tuple[int, int] | None:
        """(due, leased): what keeps --until-empty waiting (store.left_for); None when the
        database cannot say."""
        try:
            left = await asyncio.to_thread(
                store.left_for,
                self.engine,
                worker_id=self.options.worker_id,
                own_addresses=self.addresses,
                now=clock.now(),
            )
        except DATABASE_ERRORS as error:
            await self._wait(None, self.claim_retry.failed(error))
            return None
        self.claim_retry.succeeded()
        return left

    async def _wait(self, event: asyncio.Event | None, seconds: float) -> None:
        """Until EVENT, a stop request, or SECONDS pass."""
        waiters = [asyncio.create_task(self.stop_event.wait())]
        if event is not None:
            waiters.append(asyncio.create_task(event.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _dispatch(self, claim: store.Claim) -> None:
        now = clock.now()
        state = claim.state
        assert self.outgoing is not None, "run() prepares the outgoing mail first"
        self.outgoing.use_keys(claim.keys)
        self.stats.claimed += len(claim.messages)
        self.pending += len(claim.messages)
        routed = [
            (
                message,
                route_message(
                    message.view(),
                    state.domains[message.domain_id],
                    state.pools,
                    state.warmups,
                    now,
                ),
            )
            for message in claim.messages
        ]
        # One lookup per recipient domain in the batch, all at once.
        recipient_domains = sorted(
            {_recipient_domain(m) for m, route in routed if route.action == Action.SEND}
        )
        resolved = dict(
            zip(
                recipient_domains,
                await asyncio.gather(*(self.destinations.resolve(d) for d in recipient_domains)),
                strict=True,
            )
        )
        for message, route in routed:
            if route.action == Action.SEND:
                recipient_domain = _recipient_domain(message)
                destination = resolved[recipient_domain]
                if isinstance(destination, Unreachable):
                    self._finish(message, route, Reply(destination.code, destination.text))
                    continue
                assert route.ip is not None, "a route that sends always names its IP"
                key = (route.ip, destination, recipient_domain)
                queue = self.queues.get(key)
                if queue is None:
                    queue = self.queues[key] = deque()
                queue.append(_Job(message, route))
            elif route.action == Action.DEFER:
                self._defer(message, route, route.reason, retry_at=route.retry_at)
            elif route.action == Action.HOLD:
                self._record(
                    message,
                    route,
                    MessageStatus.HELD,
                    f"held: {route.reason}",
                    None,
                    attempts=message.attempts,
                )
            else:
                self._record(
                    message,
                    route,
                    MessageStatus.REJECTED,
                    route.reason,
                    "rejected",
                    attempts=message.attempts,
                    finished=now,
                )
        self.work.set()

    # Leases ------------------------------------------------------------------------

    def _lease_allows(self, job: _Job) -> bool:
        """Whether JOB's lease leaves time to send it: more than a renewal interval.

        Renewals come every third of the lease, so a lease shorter than that
        means renewals are failing; the message waits for the next one.
        """
        expires = self.leases.get(job.message.id, 0.0)
        return expires - time.monotonic() > self.options.lease_seconds / 3

    async def _renewer(self) -> None:
        options = self.options
        delay = options.lease_seconds / 3
        while True:
            await asyncio.sleep(delay)
            held = list(self.leases)
            if not held:
                # Nothing to protect, so nothing for claims to wait for either.
                self.renew_retry.forget()
                delay = options.lease_seconds / 3
                continue
            started = time.monotonic()
            try:
                renewed = await asyncio.to_thread(
                    store.renew_leases,
                    self.engine,
                    held,
                    worker_id=options.worker_id,
                    until=clock.now() + timedelta(seconds=options.lease_seconds),
                )
            except DATABASE_ERRORS as error:
                delay = self.renew_retry.failed(error)
                continue
            self.renew_retry.succeeded()
            expires = started + options.lease_seconds
            for message_id in renewed:
                if message_id in self.leases:
                    self.leases[message_id] = expires
            self._give_up(set(held) - renewed)
            self.work.set()
            delay = options.lease_seconds / 3

    def _give_up(self, message_ids: set[int]) -> None:
        """Forget messages that are no longer this worker's: written back, or taken over.

        One written back meanwhile is simply gone from the leases; one still
        queued here went to another worker while the database was away, and is
        dropped unsent.
        """
        if not message_ids:
            return
        for message_id in message_ids:
            self.leases.pop(message_id, None)
        lost = 0
        for key, queue in list(self.queues.items()):
            kept = deque(job for job in queue if job.message.id not in message_ids)
            lost += len(queue) - len(kept)
            self.queues[key] = kept
        if lost:
            log.warning("%d claimed messages went to another sender; they are not sent here", lost)
            self.stats.lost_leases += lost
            self.pending -= lost
            self.room.set()
            if self.pending == 0:
                self.drained.set()

    # Lanes -------------------------------------------------------------------------

    def _pick_key(self) -> Key | None:
        if self.stop_event.is_set():
            return None
        for key in list(self.queues):
            queue = self.queues[key]
            if not queue:
                del self.queues[key]
                continue
            if self.ip_lanes[key[0].address] >= self.options.per_ip_concurrency:
                continue
            if self.key_lanes[key] >= min(len(queue), self.per_destination):
                continue
            if not self._lease_allows(queue[0]):
                continue
            self.queues.move_to_end(key)
            return key
        return None

    async def _lane(self) -> None:
        while True:
            key = self._pick_key()
            if key is None:
                if self.closing:
                    return
                self.work.clear()
                await self.work.wait()
                continue
            ip, destination, _ = key
            self.ip_lanes[ip.address] += 1
            self.key_lanes[key] += 1
            client = self._take_idle((ip, destination))
            try:
                client = await self._serve(key, client)
            finally:
                self.ip_lanes[ip.address] -= 1
                self.key_lanes[key] -= 1
                if client is not None:
                    self.idle.setdefault((ip, destination), []).append((client, time.monotonic()))
                self.work.set()

    async def _serve(self, key: Key, client: aiosmtplib.SMTP | None) -> aiosmtplib.SMTP | None:
        """Send up to a turn's worth of KEY's messages; return the connection if still usable."""
        ip, destination, _ = key
        served = 0
        # The last two messages this connection delivered whose results may still be
        # unwritten: the older must be recorded before another message is sent.
        older: int | None = None
        newer: int | None = None
        while served < LANE_TURN and not self.stop_event.is_set():
            if older is not None:
                await self._until_recorded(older)
                older = None
                continue
            queue = self.queues.get(key)
            if not queue or not self._lease_allows(queue[0]):
                break
            if client is None:
                # The connection opens before a message is taken, so a connection that
                # fails (refused, or a greeting that never comes) had no message on it.
                client = await self._connect(key)
                if client is None:
                    return None
                continue
            job = queue.popleft()
            served += 1
            try:
                assert self.outgoing is not None, "run() prepares the outgoing mail first"
                payload = self.outgoing.seal(job.message, render(job.message))
                mail_from = self.outgoing.return_path(job.message)
                reply = await send_one(client, job.message, payload, self.timeouts.data, mail_from)
            except asyncio.CancelledError:
                # Stopping, and the server did not answer within the grace: the message
                # goes back to the queue (it may have arrived: at least once).
                client.close()
                self.interrupted.append(job.message.id)
                raise
            except ConnectionBroken as broken:
                client.close()
                client = None
                reply = broken.reply
            except Exception as error:
                # Whatever went wrong, the message is answered for (deferred) rather than
                # left leased, and the connection is not trusted again.
                log.exception("sending %s failed unexpectedly", job.message.message_id)
                client.close()
                client = None
                reply = Reply(None, f"sending failed: {error!r}")
            self._finish(job.message, job.route, reply)
            if reply.accepted:
                older, newer = newer, job.message.id
        return client

    async def _until_recorded(self, message_id: int) -> None:
        """Wait until MESSAGE_ID's result is written back (its lease is gone), or stopping.

        Sending goes on meanwhile (the caller has one message on the wire while the
        previous result is written), but never further ahead than that.
        """
        while message_id in self.leases and not self.stop_event.is_set():
            # The connection waits on this result: the writer lingers no longer.
            self.record_wanted = True
            self.flush_now.set()
            waiters = [
                asyncio.ensure_future(self.batch_recorded.wait()),
                asyncio.ensure_future(self.stop_event.wait()),
            ]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def _connect(self, key: Key) -> aiosmtplib.SMTP | None:
        """A new connection for KEY, or None; a destination failing again and again
        has the rest of KEY's queue deferred."""
        ip, destination, _ = key
        connection_key = (ip, destination)
        try:
            client = await open_connection(
                ip, destination, self.timeouts, self.options.tls_policy(destination)
            )
        except Exception as error:  # refused, unreachable, timed out, or worse
            self.connect_failures[connection_key] += 1
            failures = self.connect_failures[connection_key]
            log.warning(
                "cannot connect from %s to %s (%d in a row): %s",
                ip.address,
                destination.name,
                failures,
                error,
            )
            if failures >= CONNECT_FAILURES_BEFORE_DEFERRING:
                reply = Reply(
                    None, f"cannot connect from {ip.address} to {destination.name}: {error}"
                )
                queue = self.queues.get(key)
                while queue:
                    job = queue.popleft()
                    self._finish(job.message, job.route, reply)
            return None
        self.connect_failures.pop(connection_key, None)
        self.stats.connections_opened += 1
        return client

    def _take_idle(self, connection_key: tuple[RoutingIp, Destination]) -> aiosmtplib.SMTP | None:
        connections = self.idle.get(connection_key)
        while connections:
            client, _ = connections.pop()
            if client.is_connected:
                return client
        return None

    async def _close_idle(self, everything: bool = False) -> None:
        limit = time.monotonic() - self.options.idle_connection_seconds
        closing: list[aiosmtplib.SMTP] = []
        for key, connections in list(self.idle.items()):
            keep = [
                (c, t) for c, t in connections if not everything and t >= limit and c.is_connected
            ]
            closing.extend(c for c, t in connections if (c, t) not in keep)
            if keep:
                self.idle[key] = keep
            else:
                del self.idle[key]
        if closing:
            await asyncio.gather(*(close_quietly(client) for client in closing))

    # Outcomes ----------------------------------------------------------------------

    def _finish(self, message: store.ClaimedMessage, route: Route, reply: Reply) -> None:
        if reply.accepted:
            self._record(
                message,
                route,
                MessageStatus.SENT,
                str(reply),
                "sent",
                attempts=message.attempts + 1,
                finished=clock.now(),
                tls_version=reply.tls,
            )
        elif reply.permanent:
            # Hard bounces count against the pool's limit; soft ones (mailbox full, a
            # policy block) apart, by the same rule as bounces reported later by mail.
            hard = reply_severity(str(reply)) == Severity.HARD
            self._record(
                message,
                route,
                MessageStatus.BOUNCED,
                str(reply),
                "bounced" if hard else "soft_bounced",
                attempts=message.attempts + 1,
                finished=clock.now(),
            )
        else:
            self._defer(message, route, str(reply))

    def _defer(
        self,
        message: store.ClaimedMessage,
        route: Route,
        reason: str | None,
        retry_at: datetime | None = None,
    ) -> None:
        now = clock.now()
        attempts = message.attempts + 1
        delay = min(
            self.options.backoff_base_seconds * 2 ** (attempts - 1),
            self.options.backoff_max_seconds,
        )
        next_attempt = now + timedelta(seconds=delay)
        if retry_at is not None and retry_at > next_attempt:
            next_attempt = retry_at
        if (next_attempt - message.created_at).total_seconds() > self.options.max_age_seconds:
            hours = self.options.max_age_seconds / 3600
            self._record(
                message,
                route,
                MessageStatus.BOUNCED,
                f"gave up after {attempts} attempts over {hours:g} hours; last reply: {reason}",
                # Only ever told "try later": nothing said against the address.
                "soft_bounced",
                attempts=attempts,
                finished=now,
            )
            return
        self._record(
            message,
            route,
            MessageStatus.QUEUED,
            reason,
            "deferred",
            attempts=attempts,
            next_attempt=next_attempt,
        )

    def _record(
        self,
        message: store.ClaimedMessage,
        route: Route,
        status: MessageStatus,
        reply: str | None,
        counter: str | None,
        *,
        attempts: int,
        finished: datetime | None = None,
        next_attempt: datetime | None = None,
        tls_version: str | None = None,
    ) -> None:
        self.outcomes.append(
            store.Outcome(
                message=message,
                status=status,
                reply=reply,
                attempts=attempts,
                next_attempt_at=next_attempt or finished or clock.now(),
                finished_at=finished,
                pool_id=route.pool_id,
                ip_id=route.ip.id if route.ip else None,
                counter=counter,
                tls_version=tls_version,
            )
        )
        tally = {
            MessageStatus.SENT: "sent",
            MessageStatus.BOUNCED: "bounced",
            MessageStatus.REJECTED: "rejected",
            MessageStatus.HELD: "held",
            MessageStatus.QUEUED: "deferred",
        }[status]
        setattr(self.stats, tally, getattr(self.stats, tally) + 1)
        self.pending -= 1
        self.room.set()
        if self.pending == 0:
            self.drained.set()
        # Written back within a few milliseconds (with whatever else came in meanwhile),
        # so a worker killed now leaves few sent-but-unrecorded messages.
        if len(self.outcomes) == 1:
            self.oldest_waiting = time.monotonic()
            self.flush_now.set()
        elif len(self.outcomes) >= self.options.flush_size:
            self.flush_now.set()
        limit = self.options.max_messages
        if limit is not None and self.stats.finished >= limit:
            self.stop_event.set()

    async def _writer(self) -> None:
        """Record results as they come; while stopping, until all are or time runs out."""
        give_up_at: float | None = None
        while True:
            if not self.outcomes:
                if self.writer_stopping:
                    return
                self.flush_now.clear()
                await self.flush_now.wait()
                continue
            linger = self.oldest_waiting + WRITE_BACK_LINGER_SECONDS - time.monotonic()
            if (
                linger > 0
                and not self.writer_stopping
                and not self.record_wanted
                and len(self.outcomes) < self.options.flush_size
            ):
                # Results one at a time cost a whole transaction each, about a millisecond
                # of this process's time; a short wait lets the writer take several at once.
                self.flush_now.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.flush_now.wait(), linger)
                continue
            self.record_wanted = False
            if self.writer_stopping and give_up_at is None:
                give_up_at = time.monotonic() + self._shutdown_patience()
            batch = self.outcomes[: self.options.flush_size]
            del self.outcomes[: self.options.flush_size]
            try:
                dropped = await asyncio.to_thread(
                    store.write_outcomes,
                    self.engine,
                    batch,
                    worker_id=self.options.worker_id,
                    day=clock.today(),
                    shard=self.shard,
                )
            except Exception as error:
                # Keep the results and try again; if this worker dies first, the
                # leases expire and the messages are sent again (at least once).
                if not isinstance(error, DATABASE_ERRORS):
                    log.exception("recording %d results failed unexpectedly", len(batch))
                self.outcomes[:0] = batch
                delay = self.write_retry.failed(error)
                if give_up_at is not None and time.monotonic() + delay > give_up_at:
                    log.error(
                        "%d results could not be recorded; their messages go back to the "
                        "queue when their leases expire",
                        len(self.outcomes),
                    )
                    return
                await asyncio.sleep(delay)
                continue
            self.write_retry.succeeded()
            for outcome in batch:
                self.leases.pop(outcome.message.id, None)
            self.batch_recorded.set()
            self.batch_recorded = asyncio.Event()
            if dropped:
                log.warning(
                    "%d results were not recorded: their leases had gone to another sender",
                    dropped,
                )
                self.stats.lost_leases += dropped

    def _shutdown_patience(self) -> float:
        """How long stopping keeps trying the database: no longer than a lease, at most a minute."""
        return min(self.options.lease_seconds, 60.0)

    async def _release_unsent(self) -> None:
        unsent = [job.message.id for queue in self.queues.values() for job in queue]
        unsent += self.interrupted
        self.queues.clear()
        self.interrupted = []
        if not unsent:
            return
        self.pending -= len(unsent)
        give_up_at = time.monotonic() + self._shutdown_patience()
        while True:
            try:
                released = await asyncio.to_thread(
                    store.release, self.engine, unsent, worker_id=self.options.worker_id
                )
            except DATABASE_ERRORS as error:
                delay = self.write_retry.failed(error)
                if time.monotonic() + delay > give_up_at:
                    log.error(
                        "%d unsent messages could not be released; they go back to the "
                        "queue when their leases expire",
                        len(unsent),
                    )
                    return
                await asyncio.sleep(delay)
                continue
            self.write_retry.succeeded()
            break
        for message_id in unsent:
            self.leases.pop(message_id, None)
        self.stats.released += released

    # Upkeep ------------------------------------------------------------------------

    async def _check_bindings(self) -> float:
        """Probe the pool IPs; return the seconds until the next check (sooner after a failure)."""
        try:
            await self._use_bindings(await asyncio.to_thread(check_bindings, self.engine))
        except DATABASE_ERRORS as error:
            return self.upkeep_retry.failed(error)
        self.upkeep_retry.succeeded()
        return self.options.bind_check_seconds

    async def _use_bindings(self, unbound: frozenset[str]) -> None:
        self.unbound = self.stats.unbound = unbound
        self.addresses = self.stats.addresses = await asyncio.to_thread(
            sending_addresses, self.engine, self.options.ips, unbound
        )

    async def _announce(self) -> float:
        """Tell the other senders and the agents this one runs, and from which IPs; learn
        whether it is asked to drain. Returns the seconds until the next time."""
        try:
            announced = await asyncio.to_thread(
                store.announce,
                self.engine,
                worker_id=self.options.worker_id,
                hostname=self.options.hostname,
                addresses=self.addresses,
                now=clock.now(),
            )
            self.shard = announced.shard
            if announced.draining:
                if not self.draining:
                    log.warning("asked to drain: finishing the messages in hand, claiming none")
                self.draining = True
        except DATABASE_ERRORS as error:
            return self.upkeep_retry.failed(error)
        self.upkeep_retry.succeeded()
        return self.options.heartbeat_seconds

    async def _withdraw(self) -> None:
        """Stopping: this sender's IPs are no longer served (their mail waits, and shows)."""
        try:
            await asyncio.to_thread(store.withdraw, self.engine, worker_id=self.options.worker_id)
        except DATABASE_ERRORS as error:
            # Its announcement goes silent by itself soon enough.
            log.warning("could not say this sender stopped: %s", error)

    async def _maintenance(self) -> float:
        """Judge finished warm-up days and domain health from the daily stats;
        return the seconds until the next time (sooner after a failure)."""
        from app.services.health import check_domain_health
        from app.services.retention import prune_finished
        from app.services.warmups import evaluate_warmups

        try:
            await asyncio.to_thread(evaluate_warmups, self.engine)
            await asyncio.to_thread(check_domain_health, self.engine)
            # A few batches a turn: a year of backlog goes over some turns, and sending
            # waits on the database for one batch at a time at most.
            await asyncio.to_thread(
                prune_finished,
                self.engine,
                keep_days=settings.current().message_retention_days,
                now=clock.now(),
                max_batches=PRUNE_BATCHES_PER_TURN,
            )
        except DATABASE_ERRORS as error:
            return self.upkeep_retry.failed(error)
        self.upkeep_retry.succeeded()
        self._start_dns_checks()
        return self.options.maintenance_seconds

    def _start_dns_checks(self) -> None:
        """Start the periodic DNS checks when they are due and none are running: in a task
        of their own, so slow lookups never hold up claiming and sending."""
        every = self.options.dns_check_seconds
        running = self.dns_checks is not None and not self.dns_checks.done()
        if every is None or running or self.closing or time.monotonic() < self.next_dns_check:
            return
        self.next_dns_check = time.monotonic() + every
        self.dns_checks = asyncio.create_task(self._run_dns_checks(), name="DNS checks")

    async def _finish_dns_checks(self) -> None:
        """A stop cuts the lookups short, but never a write-back already under way; a run
        that ends because the queue is empty lets the checks finish."""
        if self.dns_checks is not None:
            if self.stop_event.is_set():
                self.dns_checks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.dns_checks
        if self.dns_write is not None:
            await asyncio.gather(self.dns_write, return_exceptions=True)

    async def _run_dns_checks(self) -> None:
        from app.services import dns_checks

        every = self.options.dns_check_seconds
        assert every is not None, "DNS checks started while switched off"
        try:
            # Every sender looks when its own interval is up, but the checks are about the
            # whole inventory: only the first to look since the last run does them. A tenth
            # of slack, so the sender that ran them last, looking again an interval later
            # by its own clock, is not turned away by a few seconds.
            mine = await asyncio.to_thread(
                store.take_upkeep_turn,
                self.engine,
                name=DNS_CHECKS_TURN,
                now=clock.now(),
                every=timedelta(seconds=every * 0.9),
            )
            if not mine:
                log.info("DNS checks: another sender ran them less than %.0f s ago", every)
                return
            targets = await asyncio.to_thread(dns_checks.read_every_target, self.engine)
            results = await dns_checks.ask(targets)
            self.dns_write = asyncio.ensure_future(
                asyncio.to_thread(dns_checks.store, self.engine, results)
            )
            done = await asyncio.shield(self.dns_write)
        except DATABASE_ERRORS as error:
            log.warning("DNS checks could not be read or stored: %s", error)
            return
        for sentence in done:
            log.info("DNS checks: %s", sentence)

    async def _report(self, progress: Callable[[SenderStats], None]) -> None:
        while True:
            await asyncio.sleep(1)
            self.stats.in_flight = self.pending
            progress(replace(self.stats))


async def run_sender(
    engine: Engine,
    options: SenderOptions,
    stop_event: asyncio.Event | None = None,
    progress: Callable[[SenderStats], None] | None = None,
) -> SenderStats:
    """Run the worker until STOP_EVENT is set (or, with until_empty, until nothing is due)."""
    return await Sender(engine, options, stop_event or asyncio.Event(), progress).run()
