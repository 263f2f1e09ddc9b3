"""The sender with DKIM signing and 20 KB messages against a bare loop that signs them itself.

Both send the same 20 KB campaign messages to the same aiosmtpd sink (its own
process) over the same connections: 8 per source IP of the domain's pool, 16
in all, routed alike. The bare loop signs each message with the domain's own
RSA key through `cryptography` and nothing more: a SHA-256 of the body and
one RSA signature over the headers, with no canonicalization, no return path
and no unsubscribe headers; the cost floor of a signed message. The sender
also claims, routes, canonicalizes, adds its return path and List-Unsubscribe,
signs, and records every result. The bare loop runs before and after the
sender and the ratio uses their mean, to damp a noisy shared machine.
Target: the sender reaches at least 0.75 of the bare loop's messages per second.

Messages carry the sender's fixed text today; this benchmark widens it to 20 KB
on both sides, so the size is the same whatever renders it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time

import aiosmtplib
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import select

from app.sender import SenderOptions, delivery, run_sender
from app.sender.delivery import render
from app.sender.signing import load_private_key
from app.sender.store import ClaimedMessage
from bench._sending_setup import SENDER_ADDRESS, seeded_database, sink_process
from bench.sender_throughput import PER_IP, TOTAL, _plan
from data.db import session_scope
from data.models import DkimKey, DkimKeyState, Domain

MESSAGES = int(os.environ.get("MAILPOOLS_BENCH_MESSAGES", "5000"))
MESSAGE_BYTES = 20 * 1024
TARGET = 0.75
# About 20 KB of text in 76-character lines, like a newsletter's quoted-printable part.
LINE = "Winter offers from Bolt: warm coats, good boots and long walks in the snow.\r\n"
BODY_20KB = LINE * (MESSAGE_BYTES // len(LINE))


def _domain_key(engine) -> tuple[str, str, rsa.RSAPrivateKey]:
    domain_name = SENDER_ADDRESS.split("@")[1]
    with session_scope(engine) as session:
        row = session.execute(
            select(DkimKey.selector, DkimKey.private_key_pem)
            .join(Domain, Domain.id == DkimKey.domain_id)  # type: ignore[arg-type]
            .where(Domain.name == domain_name)
            .where(DkimKey.state == DkimKeyState.ACTIVE)
        ).one()
    return domain_name, row.selector, load_private_key(row.private_key_pem)


def _signed_by_hand(message: bytes, domain: str, selector: str, key: rsa.RSAPrivateKey) -> bytes:
    head, _, body = message.partition(b"\r\n\r\n")
    body_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    header = (
        f"DKIM-Signature: v=1; a=rsa-sha256; d={domain}; s={selector}; "
        f"h=from:to:subject:date:message-id; bh={body_hash}; b="
    ).encode()
    signature = key.sign(head + b"\r\n" + header, padding.PKCS1v15(), hashes.SHA256())
    return header + base64.b64encode(signature) + b"\r\n" + message


async def _bare_loop(port: int, plan, domain: str, selector: str, key) -> float:
    async def connection(address: str, hostname: str, share: list[ClaimedMessage]) -> None:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1",
            port=port,
            source_address=(address, 0),
            local_hostname=hostname,
            start_tls=False,
        )
        await client.connect()
        for message in share:
            payload = _signed_by_hand(render(message), domain, selector, key)
            await client.mail(message.from_addr)
            await client.rcpt(message.to_addr)
            await client.data(payload)
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
        plan, key = _plan(engine), _domain_key(engine)
        cpu = time.process_time()
        rate = asyncio.run(_bare_loop(port, plan, *key))
        return rate, (time.process_time() - cpu) * 1000 / MESSAGES


def _sender(port: int) -> tuple[float, float, int]:
    with seeded_database(MESSAGES) as (_, engine):
        options = SenderOptions(
            relay=("127.0.0.1", port),
            until_empty=True,
            per_ip_concurrency=PER_IP,
            total_concurrency=TOTAL,
            batch_size=500,
        )
        started, cpu = time.perf_counter(), time.process_time()
        stats = asyncio.run(run_sender(engine, options))
        elapsed = time.perf_counter() - started
        return stats.sent / elapsed, (time.process_time() - cpu) * 1000 / stats.sent, stats.sent


def run() -> list[str]:
    plain_body = delivery.BODY
    delivery.BODY = BODY_20KB
    try:
        with sink_process() as port:
            before, before_cpu = _bare(port)
            sender, sender_cpu, sent = _sender(port)
            after, after_cpu = _bare(port)
    finally:
        delivery.BODY = plain_body
    baseline = (before + after) / 2
    ratio = sender / baseline
    verdict = "meets" if ratio >= TARGET else "misses"
    return [
        f"{MESSAGES:,} messages of 20 KB, {TOTAL} connections ({PER_IP} per source IP), "
        "RSA-2048, SQLite",
        f"bare loop signing with cryptography: {before:,.0f} msg/s before, "
        f"{after:,.0f} msg/s after",
        f"sender (claim, route, seal: unsubscribe, return path, DKIM; record): "
        f"{sender:,.0f} msg/s ({sent:,} sent)",
        f"ratio sender / bare loop: {ratio:.2f} ({verdict} the {TARGET} target)",
        # The sink has its own process; CPU time per message says what each side costs
        # itself, which a busy machine disturbs less than messages per second.
        f"CPU per message in the sending process: bare loop {before_cpu:.2f} / "
        f"{after_cpu:.2f} ms, sender {sender_cpu:.2f} ms "
        f"(ratio {(before_cpu + after_cpu) / 2 / sender_cpu:.2f})",
    ]
