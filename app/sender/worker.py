"""The delivery worker: claim, route, send over bound connections, record, repeat.

One asyncio task claims batches (in a thread, under a lease) and routes each
message; a fixed set of lanes sends them, each lane holding one SMTP
connection for one (IP, destination) at a time, within the per-IP and total
concurrency limits; a writer task records results in batches.

Delivery guarantee: at least once. A message is marked sent only after the
server accepted it, and a claimed message whose worker dies returns to the
queue when its lease expires. A worker killed between the server's 250 and
the write-back therefore causes that message to be sent again; no message is
ever lost.
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
from sqlalchemy.exc import OperationalError

from app import clock, settings
from app.rules.routing import Action, Route, RoutingIp, route_message
from app.sender import store
from app.sender.binding import check_bindings
from app.sender.delivery import (
    ConnectionBroken,
    Reply,
    close_quietly,
    open_connection,
    render,
    send_one,
)
from app.sender.destinations import Destination, MxDestinations, RelayDestinations, Unreachable
from app.sender.outgoing import Outgoing, configured_outgoing
from app.sender.tls import OPPORTUNISTIC, TlsPolicy
from data.models import MessageStatus

log = logging.getLogger("mailpools.sender")

# Messages a lane sends before letting other (IP, destination) pairs have a turn.
LANE_TURN = 100


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
    smtp_timeout: float = 30.0
    backoff_base_seconds: float = 60.0
    backoff_max_seconds: float = 3600.0
    max_age_seconds: float = 3 * 86400.0
    poll_seconds: float = 1.0
    until_empty: bool = False
    bind_check_seconds: float = 60.0
    maintenance_seconds: float = 300.0
    idle_connection_seconds: float = 30.0
    flush_size: int = 250
    flush_seconds: float = 0.2
    # Stop after finishing this many messages (benchmarks); None: no limit.
    max_messages: int | None = None
    # Recipient domains reached only over verified TLS; the rest get TLS when offered.
    tls_required_domains: frozenset[str] = field(default_factory=_configured_tls_domains)
    tls_ca_file: str | None = field(default_factory=_configured_ca_file)
    # Relay mode: the smarthost only over verified TLS.
    relay_requires_tls: bool = False

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
    "flush_size": (1, 10_000),
    "lease_seconds": (1, 86_400),
    "smtp_timeout": (1, 3_600),
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
    released: int = 0
    reclaimed: int = 0
    in_flight: int = 0
    connections_opened: int = 0
    unbound: frozenset[str] = frozenset()

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


Key = tuple[RoutingIp, Destination]


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
        self.queues: OrderedDict[Key, deque[_Job]] = OrderedDict()
        self.ip_lanes: Counter[str] = Counter()
        self.key_lanes: Counter[Key] = Counter()
        self.idle: dict[Key, list[tuple[aiosmtplib.SMTP, float]]] = {}
        self.outcomes: list[store.Outcome] = []
        self.pending = 0
        self.closing = False
        self.writer_stopping = False
        self.work = asyncio.Event()
        self.room = asyncio.Event()
        self.drained = asyncio.Event()
        self.flush_now = asyncio.Event()
        self.write_lock = asyncio.Lock()
        self.unbound: frozenset[str] = frozenset()
        self.outgoing: Outgoing | None = None

    # The main loop -----------------------------------------------------------------

    async def run(self) -> SenderStats:
        self.outgoing = await asyncio.to_thread(configured_outgoing, self.engine)
        await self._check_bindings()
        await self._maintenance()
        lanes = [asyncio.create_task(self._lane()) for _ in range(self.options.total_concurrency)]
        writer = asyncio.create_task(self._writer())
        reporter = asyncio.create_task(self._report(self.progress)) if self.progress else None
        try:
            await self._claim_loop()
        finally:
            self.closing = True
            self.work.set()
            await asyncio.gather(*lanes, return_exceptions=True)
            await self._release_unsent()
            # Ask the writer to finish rather than cancelling it: cancelled inside a
            # write, its thread would go on committing after this run returned, and
            # a cancellation that meets a set flush_now inside wait_for can be lost.
            self.writer_stopping = True
            self.flush_now.set()
            await writer
            await self._flush_all()
            await self._close_idle(everything=True)
            if reporter:
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
            if self.options.until_empty and not self.stop_event.is_set():
                await self._maintenance()
            if self.progress:
                self.progress(self.stats)
        return self.stats

    async def _claim_loop(self) -> None:
        options = self.options
        lease = timedelta(seconds=options.lease_seconds)
        next_bind_check = time.monotonic() + options.bind_check_seconds
        next_maintenance = time.monotonic() + options.maintenance_seconds
        next_renewal = time.monotonic() + options.lease_seconds / 3
        while not self.stop_event.is_set():
            moment = time.monotonic()
            if moment >= next_bind_check:
                await self._check_bindings()
                next_bind_check = moment + options.bind_check_seconds
            if moment >= next_maintenance:
                await self._maintenance()
                next_maintenance = moment + options.maintenance_seconds
            if moment >= next_renewal:
                await asyncio.to_thread(
                    store.renew_leases,
                    self.engine,
                    worker_id=options.worker_id,
                    until=clock.now() + lease,
                )
                next_renewal = moment + options.lease_seconds / 3
            await self._close_idle()
            if self.pending >= options.batch_size:
                self.room.clear()
                await self._wait(self.room, options.poll_seconds)
                continue
            try:
                claim = await asyncio.to_thread(
                    store.claim_batch,
                    self.engine,
                    worker_id=options.worker_id,
                    size=options.batch_size,
                    now=clock.now(),
                    lease=lease,
                    unbound_addresses=self.unbound,
                )
            except OperationalError as error:
                # A database restart or a long lock: keep sending what is claimed, retry soon.
                log.warning("claiming messages failed, retrying: %s", error.orig or error)
                await self._wait(self.room, options.poll_seconds * 5)
                continue
            self.stats.reclaimed += claim.reclaimed
            if claim.messages:
                await self._dispatch(claim)
                continue
            if options.until_empty and self.pending == 0:
                return
            # Nothing due: look again after the poll interval, or as soon as the
            # messages in hand are all done (so --until-empty exits promptly).
            self.drained.clear()
            await self._wait(self.drained if self.pending else None, options.poll_seconds)

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
                destination = resolved[_recipient_domain(message)]
                if isinstance(destination, Unreachable):
                    self._finish(message, route, Reply(destination.code, destination.text))
                    continue
                assert route.ip is not None, "a route that sends always names its IP"
                key = (route.ip, destination)
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
            if self.key_lanes[key] >= len(queue):
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
            ip, destination = key
            self.ip_lanes[ip.address] += 1
            self.key_lanes[key] += 1
            client = self._take_idle(key)
            try:
                client = await self._serve(key, client)
            finally:
                self.ip_lanes[ip.address] -= 1
                self.key_lanes[key] -= 1
                if client is not None:
                    self.idle.setdefault(key, []).append((client, time.monotonic()))
                self.work.set()

    async def _serve(self, key: Key, client: aiosmtplib.SMTP | None) -> aiosmtplib.SMTP | None:
        """Send up to a turn's worth of KEY's messages; return the connection if still usable."""
        ip, destination = key
        queue = self.queues.get(key)
        served = 0
        while queue and served < LANE_TURN and not self.stop_event.is_set():
            job = queue.popleft()
            served += 1
            if client is None:
                try:
                    client = await open_connection(
                        ip,
                        destination,
                        self.options.smtp_timeout,
                        self.options.tls_policy(destination),
                    )
                    self.stats.connections_opened += 1
                except Exception as error:  # refused, unreachable, timed out, or worse
                    reply = Reply(
                        None, f"cannot connect from {ip.address} to {destination.name}: {error}"
                    )
                    self._finish(job.message, job.route, reply)
                    # The same connection would fail the same way for the rest of the queue.
                    while queue:
                        other = queue.popleft()
                        self._finish(other.message, other.route, reply)
                    return None
            try:
                assert self.outgoing is not None, "run() prepares the outgoing mail first"
                payload = self.outgoing.seal(job.message, render(job.message))
                mail_from = self.outgoing.return_path(job.message)
                reply = await send_one(client, job.message, payload, mail_from)
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
        return client

    def _take_idle(self, key: Key) -> aiosmtplib.SMTP | None:
        connections = self.idle.get(key)
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
            self._record(
                message,
                route,
                MessageStatus.BOUNCED,
                str(reply),
                "bounced",
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
                "bounced",
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
        if len(self.outcomes) >= self.options.flush_size:
            self.flush_now.set()
        limit = self.options.max_messages
        if limit is not None and self.stats.finished >= limit:
            self.stop_event.set()

    async def _writer(self) -> None:
        while not self.writer_stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flush_now.wait(), self.options.flush_seconds)
            self.flush_now.clear()
            await self._flush()

    async def _flush(self) -> None:
        async with self.write_lock:
            if not self.outcomes:
                return
            batch, self.outcomes = self.outcomes, []
            try:
                await asyncio.to_thread(
                    store.write_outcomes,
                    self.engine,
                    batch,
                    worker_id=self.options.worker_id,
                    day=clock.today(),
                )
            except Exception:
                # Keep the results and try again; if this worker dies first, the
                # leases expire and the messages are sent again (at least once).
                log.exception("recording %d results failed; retrying", len(batch))
                self.outcomes[:0] = batch
                await asyncio.sleep(1)

    async def _flush_all(self) -> None:
        for _ in range(30):
            if not self.outcomes:
                return
            await self._flush()
        log.error("%d results could not be recorded; their leases will expire", len(self.outcomes))

    async def _release_unsent(self) -> None:
        unsent = [job.message.id for queue in self.queues.values() for job in queue]
        self.queues.clear()
        if not unsent:
            return
        released = await asyncio.to_thread(
            store.release, self.engine, unsent, worker_id=self.options.worker_id
        )
        self.stats.released += released
        self.pending -= len(unsent)

    # Upkeep ------------------------------------------------------------------------

    async def _check_bindings(self) -> None:
        self.unbound = await asyncio.to_thread(check_bindings, self.engine)
        self.stats.unbound = self.unbound

    async def _maintenance(self) -> None:
        """Judge finished warm-up days and domain health from the daily stats."""
        from app.services.health import check_domain_health
        from app.services.warmups import evaluate_warmups

        await asyncio.to_thread(evaluate_warmups, self.engine)
        await asyncio.to_thread(check_domain_health, self.engine)

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
