"""The whole sending path against a bare aiosmtplib loop, side by side, on SQLite.

Both send the same 20,000 messages to the same aiosmtpd sink (its own
process) over the same connections: 8 per source IP of the domain's pool,
16 in all, with the IP of each message chosen by the same weighted routing.
The sender also claims, routes, adds List-Unsubscribe and its return path,
and records every result and the daily stats; the bare loop only talks SMTP,
with the same MAIL, RCPT and DATA calls. Neither signs: the demo inventory
gives every domain a DKIM key, which this benchmark takes away from the
sending domain, so both sides do the same work around SMTP (signing is
measured against a bare loop that signs too, in `dkim_signing`). The bare loop runs
before and after the sender and the ratio uses their mean, to damp a noisy
shared machine.
Target: the sender reaches at least 0.8 of the bare loop's messages per second.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict

import aiosmtplib
from sqlalchemy import delete, select

from app.rules.routing import choose_ip
from app.sender import SenderOptions, run_sender
from app.sender.delivery import render
from app.sender.store import ClaimedMessage, load_routing_state
from bench._sending_setup import SENDER_ADDRESS, seeded_database, sink_process
from data.db import session_scope
from data.models import DkimKey, Domain, Message

MESSAGES = int(os.environ.get("MAILPOOLS_BENCH_MESSAGES", "20000"))
PER_IP = 8
TOTAL = 16


def _plan(engine) -> dict[tuple[str, str], list[ClaimedMessage]]:
    """The queued messages grouped by the (IP address, hostname) routing gives each."""
    domain_name = SENDER_ADDRESS.split("@")[1]
    with session_scope(engine) as session:
        domain = session.exec(select(Domain).where(Domain.name == domain_name)).scalar_one()
        state = load_routing_state(session, [domain.id], frozenset())
        rows = session.execute(
            select(
                Message.id,
                Message.message_id,
                Message.domain_id,
                Message.from_addr,
                Message.to_addr,
                Message.subject,
                Message.kind,
                Message.attempts,
                Message.created_at,
            ).order_by(Message.id)
        ).all()
    pool = state.pools[domain.shared_pool_id]
    plan = defaultdict(list)
    for row in rows:
        message = ClaimedMessage(*row)
        ip = choose_ip(pool, message.message_id)
        plan[(ip.address, ip.hostname)].append(message)
    return plan


async def _bare_loop(port: int, plan) -> float:
    async def connection(address: str, hostname: str, share: list[ClaimedMessage]) -> None:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1",
            port=port,
            source_address=(address, 0),
            local_hostname=hostname,
            start_tls=False,
        )
        await client.connect()
        # The same three commands the sender issues (sendmail() adds address parsing on top),
        # so the ratio measures only what the sender adds around SMTP.
        for message in share:
            await client.mail(message.from_addr)
            await client.rcpt(message.to_addr)
            await client.data(render(message))
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(
        *(
            connection(address, hostname, messages[lane::PER_IP])
            for (address, hostname), messages in plan.items()
            for lane in range(PER_IP)
        )
    )
    return sum(len(m) for m in plan.values()) / (time.perf_counter() - started)


def _bare(port: int) -> tuple[float, float]:
    """Messages per second, and this process's CPU milliseconds per message."""
    with seeded_database(MESSAGES) as (_, engine):
        plan = _plan(engine)
        cpu = time.process_time()
        rate = asyncio.run(_bare_loop(port, plan))
        return rate, (time.process_time() - cpu) * 1000 / MESSAGES


def _without_signing(engine) -> None:
    """Take the sending domain's DKIM keys away: its mail then leaves unsigned, as the bare
    loop's does."""
    domain_name = SENDER_ADDRESS.split("@")[1]
    with session_scope(engine) as session:
        domain_id = session.exec(select(Domain.id).where(Domain.name == domain_name)).one()[0]
        session.execute(delete(DkimKey).where(DkimKey.domain_id == domain_id))


def _sender(port: int) -> tuple[float, float, int]:
    with seeded_database(MESSAGES) as (_, engine):
        _without_signing(engine)
        options = SenderOptions(
            relay=("127.0.0.1", port),
            until_empty=True,
            per_ip_concurrency=PER_IP,
            # One recipient domain, as in the bare loop: no other destination to keep
            # a connection free for, so it may use every connection of its IP.
            per_destination_concurrency=PER_IP,
            total_concurrency=TOTAL,
            batch_size=500,
        )
        started, cpu = time.perf_counter(), time.process_time()
        stats = asyncio.run(run_sender(engine, options))
        elapsed = time.perf_counter() - started
        return stats.sent / elapsed, (time.process_time() - cpu) * 1000 / stats.sent, stats.sent


def run() -> list[str]:
    with sink_process() as port:
        before, before_cpu = _bare(port)
        sender, sender_cpu, sent = _sender(port)
        after, after_cpu = _bare(port)
    baseline = (before + after) / 2
    ratio = sender / baseline
    verdict = "meets" if ratio >= 0.8 else "misses"
    return [
        f"{MESSAGES:,} messages, {TOTAL} connections ({PER_IP} per source IP), SQLite",
        f"bare aiosmtplib loop: {before:,.0f} msg/s before, {after:,.0f} msg/s after",
        "neither side signs: the sending domain's DKIM key is taken away (see dkim_signing)",
        f"sender (claim, route, return path and unsubscribe, bound SMTP, record): "
        f"{sender:,.0f} msg/s ({sent:,} sent)",
        f"ratio sender / bare loop: {ratio:.2f} ({verdict} the 0.8 target)",
        # CPU time per message says what each side costs itself, which a busy machine
        # (where the sink sets the pace) disturbs less than messages per second.
        f"CPU per message in the sending process: bare loop {before_cpu:.2f} / "
        f"{after_cpu:.2f} ms, sender {sender_cpu:.2f} ms "
        f"(ratio {(before_cpu + after_cpu) / 2 / sender_cpu:.2f})",
    ]
