"""The inbound listener against a bare aiosmtpd server that only counts, side by side.

The same client (aiosmtplib, 4 plain connections) mails 10,000 reports about sent
messages, each to its message's signed return-path address: nine in ten delivery
status notifications (hard and soft bounces in turn), one in ten feedback reports.
`mailpools inbound` (its own process, on SQLite) reads each, checks its token, and
records it: the event, the daily counts of the domain and the IP, the suppression,
the health check of the domain. The bare server (its own process) only counts.
The two take turns, ROUNDS times, the listener each time on a fresh copy of the
seeded database, and the ratio is of their medians: a run that another tenant of
the machine slows down then moves neither side.
Target: the listener reaches at least 0.4 of the bare server's messages per second.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from email.message import Message as EmailMessage
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from pathlib import Path

import aiosmtplib
from sqlalchemy import String, cast, func, select, update

from app import clock
from app.rules.return_path import TokenPurpose, return_path_domain, token_address
from app.services.secrets import RETURN_PATH_SECRET, server_secret
from bench._sending_setup import SENDER_ADDRESS, seed
from bench.submission import _server
from data.db import make_engine, session_scope
from data.models import FeedbackEvent, IpAddress, Message, MessageStatus, UnparsedReport, table_of

REPORTS = int(os.environ.get("MAILPOOLS_BENCH_MESSAGES", "10000"))
CONNECTIONS = 4
ROUNDS = 3
CRLF = compat32.clone(linesep="\r\n")


def _fields(subtype: str, fields: list[tuple[str, str]], groups: bool) -> MIMEBase:
    if groups:
        part = MIMEBase("message", subtype)
        blocks = []
        for block in [fields[:1], fields[1:]]:
            group = EmailMessage()
            for name, value in block:
                group[name] = value
            blocks.append(group)
        part.set_payload(blocks)
        return part
    part = MIMEText("".join(f"{n}: {v}\n" for n, v in fields), "plain", "us-ascii")
    part.set_type(f"message/{subtype}")
    del part["Content-Transfer-Encoding"]
    return part


def report(number: int, message_id: str, recipient: str, to: str) -> bytes:
    """A DSN (hard or soft) or, one time in ten, a feedback report about one message."""
    returned = MIMEText(
        f"From: {SENDER_ADDRESS}\nTo: {recipient}\nSubject: Winter sale\nMessage-ID: {message_id}\n",
        "rfc822-headers",
        "us-ascii",
    )
    del returned["Content-Transfer-Encoding"]
    if number % 10 == 9:
        kind = "feedback-report"
        machine = _fields(
            kind,
            [
                ("Feedback-Type", "abuse"),
                ("Version", "1"),
                ("Original-Rcpt-To", f"<{recipient}>"),
                ("Original-Mail-From", f"<{to}>"),
            ],
            groups=False,
        )
    else:
        kind = "delivery-status"
        status, said = (
            ("5.1.1", "550 5.1.1 No such user")
            if number % 2
            else ("4.2.2", "452 4.2.2 Mailbox full")
        )
        machine = _fields(
            kind,
            [
                ("Reporting-MTA", "dns; mx.sink.test"),
                ("Final-Recipient", f"rfc822; {recipient}"),
                ("Action", "failed"),
                ("Status", status),
                ("Diagnostic-Code", f"smtp; {said}"),
            ],
            groups=True,
        )
    whole = MIMEMultipart("report", report_type=kind)
    whole["From"] = "Mail Delivery System <mailer-daemon@mx.sink.test>"
    whole["To"] = to
    whole["Subject"] = "Delivery report"
    whole.attach(MIMEText("A report about a message you sent.\n", "plain", "us-ascii"))
    whole.attach(machine)
    whole.attach(returned)
    return whole.as_bytes(policy=CRLF)


def _seed(url: str) -> list[tuple[str, bytes]]:
    """Sent messages to report on, and the reports, each with the address it goes to."""
    engine = seed(url, REPORTS)
    messages = table_of(Message)
    with session_scope(engine) as session:
        ip_id = session.execute(
            select(IpAddress.id).where(IpAddress.address == "127.0.0.2")
        ).scalar_one()
        # As if the sender had sent them all, each to its own reader, from one IP.
        session.connection().execute(
            update(messages).values(
                status=MessageStatus.SENT.value,
                finished_at=clock.now(),
                ip_id=ip_id,
                to_addr="reader" + cast(messages.c.id, String) + "@sink.test",
            )
        )
        secret = server_secret(session, RETURN_PATH_SECRET)
        rows = session.execute(
            select(messages.c.id, messages.c.message_id, messages.c.to_addr)
        ).all()
    engine.dispose()
    domain = return_path_domain(None, SENDER_ADDRESS.rpartition("@")[2])
    mail = []
    for number, (message_id, header_id, recipient) in enumerate(rows):
        to = token_address(secret, TokenPurpose.BOUNCE, message_id, domain)
        mail.append((to, report(number, header_id, recipient, to)))
    return mail


async def _send(port: int, mail: list[tuple[str, bytes]]) -> float:
    async def connection(share: list[tuple[str, bytes]]) -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60) as client:
            for to, content in share:
                await client.sendmail("", [to], content)

    shares = [mail[i::CONNECTIONS] for i in range(CONNECTIONS)]
    started = time.perf_counter()
    await asyncio.gather(*(connection(share) for share in shares))
    return len(mail) / (time.perf_counter() - started)


def _bare(mail) -> float:
    with _server([sys.executable, "-m", "bench._counting_server"], {}) as (port, said):
        rate = asyncio.run(_send(port, mail))
    assert said and int(said[-1]) == len(mail), f"the counting server saw {said}"
    return rate


def _inbound(url: str, mail) -> tuple[float, int]:
    command = [sys.executable, "-m", "app.cli", "inbound", "--port", "0", "--quiet"]
    with _server(command, {"MAILPOOLS_DATABASE_URL": url}) as (port, _):
        rate = asyncio.run(_send(port, mail))
    engine = make_engine(url)
    with session_scope(engine) as session:
        counted = session.execute(select(func.count()).select_from(FeedbackEvent)).scalar_one()
        kept = session.execute(select(func.count()).select_from(UnparsedReport)).scalar_one()
    engine.dispose()
    return rate, counted + kept


def run() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="mailpools-bench-") as name:
        seeded = Path(name) / "seeded.db"
        mail = _seed(f"sqlite:///{seeded}")
        size = sum(len(content) for _, content in mail) // len(mail)
        bare: list[float] = []
        inbound: list[float] = []
        for round_number in range(ROUNDS):
            bare.append(_bare(mail))
            database = Path(name) / f"round-{round_number}.db"
            shutil.copyfile(seeded, database)
            rate, recorded = _inbound(f"sqlite:///{database}", mail)
            assert recorded == len(mail), f"round {round_number + 1} recorded {recorded:,}"
            inbound.append(rate)
    ratio = statistics.median(inbound) / statistics.median(bare)
    verdict = "meets" if ratio >= 0.4 else "misses"

    def rates(runs: list[float]) -> str:
        return f"{statistics.median(runs):,.0f} msg/s (runs {', '.join(f'{r:,.0f}' for r in runs)})"

    return [
        f"{len(mail):,} reports of about {size:,} bytes (9 in 10 DSNs, 1 in 10 feedback "
        f"reports), {CONNECTIONS} plain connections, SQLite; medians of {ROUNDS} alternating runs",
        f"bare aiosmtpd that only counts: {rates(bare)}",
        f"mailpools inbound (read, check token, record, count, suppress): {rates(inbound)}, "
        f"each run recording all {len(mail):,}",
        f"ratio inbound / bare server: {ratio:.2f} ({verdict} the 0.4 target)",
    ]
