"""The running senders, and the mail that waits because no running sender owns its IP.

Each sender announces itself every HEARTBEAT (its host name, the IPs it sends
from, when it was last seen). One not seen for SILENT_AFTER is taken for
stopped: the messages routed to its IPs wait for it, never leaving from
another address, and agents see them on the Flags screen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from app import clock
from app.errors import MailpoolsError
from app.services import audit
from app.services.auth import require_staff
from data.models import IpAddress, Message, MessageStatus, SenderHost, User

HEARTBEAT = timedelta(seconds=15)
# Four missed heartbeats: a sender busy with a slow database is not taken for stopped.
SILENT_AFTER = 4 * HEARTBEAT


@dataclass(frozen=True)
class RunningSender:
    worker_id: str
    hostname: str
    addresses: list[str]
    started_at: datetime
    last_seen_at: datetime
    draining: bool

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class WaitingForSender:
    """Due messages routed to an IP that no running sender sends from."""

    address: str
    count: int
    # The earliest moment one of them was due.
    since: datetime

    def as_json(self) -> dict:
        return asdict(self)


def _live_rows(session: Session) -> list[SenderHost]:
    seen_since = clock.now() - SILENT_AFTER
    return list(
        session.exec(
            select(SenderHost)
            .where(SenderHost.last_seen_at >= seen_since)
            .order_by(SenderHost.hostname, SenderHost.worker_id)
        )
    )


def running_senders(session: Session, actor: User) -> list[RunningSender]:
    """The senders seen within SILENT_AFTER, by host name."""
    require_staff(actor, "see the running senders")
    return [
        RunningSender(
            row.worker_id,
            row.hostname,
            row.addresses.split(),
            row.started_at,
            row.last_seen_at,
            row.draining,
        )
        for row in _live_rows(session)
    ]


def waiting_for_a_sender(session: Session, actor: User) -> list[WaitingForSender]:
    """Per IP, the due queued messages routed to it while no running sender sends from it."""
    require_staff(actor, "see the mail waiting for a sender")
    live = {address for row in _live_rows(session) for address in row.addresses.split()}
    rows = session.exec(
        select(IpAddress.address, func.count(), func.min(Message.next_attempt_at))
        .join(IpAddress, col(IpAddress.id) == col(Message.routed_ip_id))
        .where(Message.status == MessageStatus.QUEUED)
        .where(Message.next_attempt_at <= clock.now())
        .where(col(IpAddress.address).not_in(live))
        .group_by(IpAddress.address)
    )
    waiting = [WaitingForSender(address, count, since) for address, count, since in rows]
    return sorted(waiting, key=lambda w: (w.since, w.address))


def drain(session: Session, actor: User, hostname: str) -> list[str]:
    """Ask every running sender on HOSTNAME to finish the mail it holds, claim nothing
    new and exit; returns their worker ids. Refused when none is running there."""
    rows = [row for row in _live_rows(session) if row.hostname == hostname]
    if not rows:
        raise MailpoolsError(f"No sender is running on {hostname}: there is nothing to drain.")
    for row in rows:
        if row.draining:
            continue
        row.draining = True
        session.add(row)
        audit.record(
            session,
            actor=actor.name,
            action="sender.drain",
            entity="sender",
            entity_id=row.worker_id,
            before={"draining": False},
            after={"draining": True},
        )
    return [row.worker_id for row in rows]


def still_running(session: Session, worker_ids: list[str]) -> list[str]:
    """Which of WORKER_IDS are still announced and not silent."""
    live = {row.worker_id for row in _live_rows(session)}
    return [worker_id for worker_id in worker_ids if worker_id in live]
