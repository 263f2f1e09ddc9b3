"""Sending from the command line.

mailpools sender [--until-empty] [--relay HOST:PORT [--relay-tls]] [--concurrency N] [--per-ip N] ...
mailpools enqueue --from ADDR --to ADDR --kind KIND [--subject S] [--count N] --as USER
mailpools enqueue --eml FILE|- --kind KIND --as USER
mailpools complaints record (--message-id ID ... | --domain D --count N [--ip A] [--day D]) --as USER
mailpools warmup show DOMAIN [--json]
mailpools messages prune [--days N] [--batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import re
import signal
import socket
import sys
import time
from datetime import date
from pathlib import Path

from app import clock, settings
from app.cli.arguments import seconds, whole_number
from app.cli.common import (
    acting_user,
    add_as_option,
    add_json_option,
    command,
    engine,
    group,
    local_reader,
    print_json,
    print_table,
    transaction,
)
from app.errors import MailpoolsError
from app.rules.formatting import one_line, percent
from app.rules.numbers import whole_number_or_none
from app.sender import SenderOptions, SenderStats, run_sender
from app.services import complaints, outbox, senders, warmups

# A century, and a batch that still fits one transaction comfortably.
MAX_RETENTION_DAYS = 36_500
MAX_PRUNE_BATCH = 100_000


def register(subparsers) -> None:
    sender = command(
        subparsers,
        "sender",
        _sender,
        "run the delivery worker (Ctrl-C or SIGTERM stops it cleanly)",
    )
    sender.add_argument(
        "--until-empty",
        action="store_true",
        help=(
            "exit once nothing is left that this sender could send (for scripts, cron): "
            "messages a stopped sender left leased are waited for until their lease "
            "expires, then sent; mail for other hosts' IPs is theirs"
        ),
    )
    sender.add_argument(
        "--relay",
        metavar="HOST:PORT",
        help="send everything to this smarthost (default: MX lookups)",
    )
    sender.add_argument(
        "--relay-tls",
        action="store_true",
        help="reach the smarthost only over STARTTLS with a verified certificate "
        "(MAILPOOLS_TLS_CA_FILE names your own CA)",
    )
    sender.add_argument(
        "--nameserver",
        metavar="IP[:PORT]",
        help="DNS server for MX lookups in direct mode (default: the system's)",
    )
    sender.add_argument(
        "--smtp-port",
        type=whole_number,
        default=25,
        help="port of MX hosts in direct mode (default 25)",
    )
    sender.add_argument(
        "--concurrency", type=whole_number, default=16, help="connections in total (16)"
    )
    sender.add_argument(
        "--per-ip", type=whole_number, default=4, help="connections per source IP (4)"
    )
    sender.add_argument(
        "--per-destination",
        type=whole_number,
        help=(
            "connections from one source IP to one recipient domain (default: one fewer than "
            "--per-ip, so a slow domain always leaves the IP a connection for the others)"
        ),
    )
    sender.add_argument(
        "--batch", type=whole_number, default=500, help="messages claimed at a time (500)"
    )
    sender.add_argument("--lease", type=seconds, default=300, help="seconds a claim is held (300)")
    sender.add_argument(
        "--connect-timeout", type=seconds, default=10, help="seconds to open a connection (10)"
    )
    sender.add_argument(
        "--greeting-timeout",
        type=seconds,
        default=30,
        help="seconds to wait for the server's greeting (30)",
    )
    sender.add_argument(
        "--timeout", type=seconds, default=30, help="seconds to wait for each SMTP command (30)"
    )
    sender.add_argument(
        "--data-timeout",
        type=seconds,
        default=60,
        help="seconds to send a message's content and hear the server's answer (60)",
    )
    sender.add_argument(
        "--backoff", type=seconds, default=60, help="first retry delay in seconds, doubling (60)"
    )
    sender.add_argument(
        "--max-backoff", type=seconds, default=3600, help="longest retry delay in seconds (3600)"
    )
    sender.add_argument(
        "--max-age",
        type=seconds,
        default=3 * 86400,
        help="seconds after which a deferred message bounces (259200: three days)",
    )
    sender.add_argument(
        "--ips",
        nargs="+",
        metavar="ADDRESS",
        help=(
            "send only from these of the IPs bound here (default: every pool IP bound here); "
            "mail routed to other IPs is left to the hosts that have them"
        ),
    )
    sender.add_argument(
        "--drain",
        action="store_true",
        help=(
            "instead of sending: ask the senders running on this host to finish the mail they "
            "hold, claim nothing new and exit, and wait until they have"
        ),
    )
    sender.add_argument(
        "--host",
        metavar="NAME",
        help="with --drain: the host whose senders drain (default: this one)",
    )
    sender.add_argument("--quiet", action="store_true", help="no progress line")

    enqueue = command(subparsers, "enqueue", _enqueue, "queue messages from one of your domains")
    enqueue.add_argument("--from", dest="from_addr", metavar="ADDR")
    enqueue.add_argument("--to", dest="to_addr", metavar="ADDR")
    enqueue.add_argument(
        "--eml",
        metavar="FILE",
        help="a whole message (RFC 5322; - reads standard input), one copy to each of its "
        "To, Cc and Bcc addresses, instead of --from, --to, --subject and --count",
    )
    enqueue.add_argument(
        "--kind", required=True, choices=["transactional", "campaign", "broadcast"]
    )
    enqueue.add_argument("--subject", metavar="S")
    enqueue.add_argument("--count", type=whole_number, metavar="N")
    add_as_option(enqueue)
    add_json_option(enqueue)

    complaint_group = group(subparsers, "complaints", "spam complaints from feedback loops")
    record = command(
        complaint_group, "record", _complaints_record, "count complaints against domains and IPs"
    )
    record.add_argument(
        "--message-id",
        dest="message_ids",
        action="append",
        default=[],
        metavar="ID",
        help="a complained-about message's Message-ID (repeatable)",
    )
    record.add_argument("--domain", metavar="D", help="or: a domain, with --count")
    record.add_argument(
        "--count", type=whole_number, metavar="N", help="complaints against --domain"
    )
    record.add_argument("--ip", metavar="ADDRESS", help="the IP that sent the mail (with --domain)")
    record.add_argument("--day", metavar="YYYY-MM-DD", help="the day the mail was sent (today)")
    add_as_option(record)
    add_json_option(record)

    messages_group = group(subparsers, "messages", "the queue's messages")
    prune = command(
        messages_group,
        "prune",
        _messages_prune,
        "delete messages that finished long enough ago, a batch per transaction",
    )
    prune.add_argument(
        "--days",
        type=whole_number,
        metavar="N",
        help="keep messages finished in the last N days (default: MAILPOOLS_MESSAGE_RETENTION_DAYS)",
    )
    prune.add_argument(
        "--batch", type=whole_number, metavar="N", help="messages per transaction (1000)"
    )

    warmups = group(subparsers, "warmup", "dedicated IP warm-ups")
    show = command(
        warmups, "show", _warmup_show, "the plan, current day, held days and expected completion"
    )
    show.add_argument("domain", metavar="DOMAIN")
    add_json_option(show)
    add_as_option(show, required=False)


DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# The sender's options as the command line names them, for refusals.
OPTION_LABELS = {
    "smtp_port": "--smtp-port",
    "dns_port": "the port in --nameserver",
    "batch_size": "--batch",
    "total_concurrency": "--concurrency",
    "per_ip_concurrency": "--per-ip",
    "per_destination_concurrency": "--per-destination",
    "lease_seconds": "--lease",
    "connect_timeout": "--connect-timeout",
    "greeting_timeout": "--greeting-timeout",
    "smtp_timeout": "--timeout",
    "data_timeout": "--data-timeout",
    "backoff_base_seconds": "--backoff",
    "backoff_max_seconds": "--max-backoff",
    "max_age_seconds": "--max-age",
}


def _host_port(value: str, option: str, default_port: int | None = None) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host:
        if default_port is None:
            raise MailpoolsError(f"{option} needs HOST:PORT, e.g. 127.0.0.1:2525; got {value!r}.")
        return value, default_port
    number = whole_number_or_none(port)
    if number is None or not 0 < number < 65536:
        raise MailpoolsError(f"{option} has no valid port in {value!r}; use HOST:PORT.")
    return host.strip("[]"), number


def _require_ip_address(host: str, value: str) -> None:
    # The resolver takes a nameserver's address only, never a name it would have to look up.
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise MailpoolsError(
            "--nameserver needs an IP address, such as 127.0.0.1 or 127.0.0.1:5353, "
            f"not {one_line(repr(value), 60)}."
        ) from None


def _sender(args) -> int:
    if args.drain:
        return _drain(args.host or socket.gethostname())
    if args.host:
        raise MailpoolsError("--host goes with --drain: a sender always runs as this host.")
    options = SenderOptions(
        relay=_host_port(args.relay, "--relay") if args.relay else None,
        relay_requires_tls=args.relay_tls,
        smtp_port=args.smtp_port,
        until_empty=args.until_empty,
        total_concurrency=args.concurrency,
        per_ip_concurrency=args.per_ip,
        per_destination_concurrency=args.per_destination,
        batch_size=args.batch,
        lease_seconds=args.lease,
        connect_timeout=args.connect_timeout,
        greeting_timeout=args.greeting_timeout,
        smtp_timeout=args.timeout,
        data_timeout=args.data_timeout,
        backoff_base_seconds=args.backoff,
        backoff_max_seconds=args.max_backoff,
        max_age_seconds=args.max_age,
        ips=_addresses(args.ips) if args.ips else None,
        dns_check_seconds=settings.current().dns_check_minutes * 60 or None,
    )
    if args.relay_tls and not args.relay:
        raise MailpoolsError("--relay-tls needs --relay HOST:PORT: it is about the smarthost.")
    if args.nameserver:
        host, port = _host_port(args.nameserver, "--nameserver", default_port=53)
        _require_ip_address(host, args.nameserver)
        options.nameservers = [host]
        options.dns_port = port
    options.validate(OPTION_LABELS)
    logging.basicConfig(level=logging.WARNING, format="mailpools sender: %(message)s")
    progress = None if args.quiet else ProgressLine(sys.stderr.isatty())
    stats = asyncio.run(_run_until_signalled(options, progress))
    if progress:
        progress.finish()
    print(
        f"sent {stats.sent}, deferred {stats.deferred}, bounced {stats.bounced}, "
        f"rejected {stats.rejected}, held {stats.held}, released {stats.released} "
        f"in {stats.elapsed:.1f}s ({stats.sent_per_second:.0f} sent/s); "
        f"claimed {stats.claimed}, left {stats.handed_over} for other hosts"
        + ("; drained" if stats.drained else "")
    )
    return 0


def _addresses(values: list[str]) -> frozenset[str]:
    """--ips as written, each checked to be an IP address (the inventory check comes later)."""
    addresses = set()
    for value in values:
        try:
            addresses.add(str(ipaddress.ip_address(value)))
        except ValueError:
            raise MailpoolsError(
                f"--ips takes IP addresses such as 127.0.0.2, not {one_line(repr(value), 60)}."
            ) from None
    return frozenset(addresses)


def _drain(hostname: str) -> int:
    with transaction() as session:
        actor = local_reader(session, argparse.Namespace())
        worker_ids = senders.drain(session, actor, hostname)
    print(f"draining {len(worker_ids)} sender(s) on {hostname}: {', '.join(worker_ids)}")
    running = worker_ids
    while running:
        time.sleep(1)
        with transaction() as session:
            running = senders.still_running(session, worker_ids)
    print(f"drained: no sender runs on {hostname} any more")
    return 0


async def _run_until_signalled(options: SenderOptions, progress) -> SenderStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        return await run_sender(engine(), options, stop, progress)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


class ProgressLine:
    """Totals and rates once a second: one rewritten line on a terminal, a line every 10 s
    otherwise, and the last totals at the end either way."""

    def __init__(self, terminal: bool) -> None:
        self.terminal = terminal
        self.last_sent = 0
        self.last_time = time.monotonic()
        self.last_printed = 0.0
        # The latest line not yet printed (off a terminal, lines are printed 10 s apart).
        self.unprinted: str | None = None

    def __call__(self, stats: SenderStats) -> None:
        moment = time.monotonic()
        interval = max(moment - self.last_time, 1e-9)
        current = (stats.sent - self.last_sent) / interval
        self.last_sent, self.last_time = stats.sent, moment
        unbound = f"  unbound IPs: {', '.join(sorted(stats.unbound))}" if stats.unbound else ""
        line = (
            f"sent {stats.sent:,} ({current:,.0f}/s now, {stats.sent_per_second:,.0f}/s average)  "
            f"deferred {stats.deferred:,}  bounced {stats.bounced:,}  rejected {stats.rejected:,}  "
            f"held {stats.held:,}  in flight {stats.in_flight:,}{unbound}"
        )
        if self.terminal:
            print(f"\r\x1b[2K{line}", end="", file=sys.stderr, flush=True)
        elif moment - self.last_printed >= 10:
            print(line, file=sys.stderr, flush=True)
            self.last_printed = moment
            self.unprinted = None
        else:
            self.unprinted = line

    def finish(self) -> None:
        if self.terminal:
            print(file=sys.stderr)
        elif self.unprinted is not None:
            print(self.unprinted, file=sys.stderr, flush=True)


def _read_message(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as error:
        raise MailpoolsError(
            f"Cannot read {one_line(name, 200)}: {error.strerror or error}."
        ) from None


def _enqueue(args) -> int:
    if args.eml is not None:
        given = [
            option
            for option, value in (
                ("--from", args.from_addr),
                ("--to", args.to_addr),
                ("--subject", args.subject),
                ("--count", args.count),
            )
            if value is not None
        ]
        if given:
            raise MailpoolsError(
                f"--eml takes the sender, recipients and subject from the message; "
                f"leave out {', '.join(given)}."
            )
        raw = _read_message(args.eml)
        with transaction() as session:
            result = outbox.enqueue_message(
                session, acting_user(session, args), raw=raw, kind=args.kind
            )
    else:
        if not args.from_addr or not args.to_addr:
            raise MailpoolsError("Give --from and --to, or a whole message with --eml FILE.")
        with transaction() as session:
            result = outbox.enqueue(
                session,
                acting_user(session, args),
                from_addr=args.from_addr,
                to_addr=args.to_addr,
                kind=args.kind,
                subject=args.subject or "",
                count=1 if args.count is None else args.count,
            )
    if args.json:
        print_json(result.as_json())
    else:
        print(result.summary)
    return 0


def _complaints_record(args) -> int:
    if args.message_ids and (args.domain or args.count):
        raise MailpoolsError("Give either --message-id or --domain with --count, not both.")
    with transaction() as session:
        actor = acting_user(session, args)
        if args.message_ids:
            result = complaints.record_complaints_for_messages(session, actor, args.message_ids)
        elif args.domain and args.count is not None:
            result = complaints.record_complaints_for_domain(
                session,
                actor,
                args.domain,
                count=args.count,
                ip_address=args.ip,
                day=_day(args.day),
            )
        else:
            raise MailpoolsError(
                "Say what was complained about: --message-id ID, or --domain D --count N."
            )
    if args.json:
        print_json(result.as_json())
    else:
        print(result.summary)
    return 0


def _messages_prune(args) -> int:
    from app.services.retention import DEFAULT_BATCH, prune_finished

    if args.days is not None and not 1 <= args.days <= MAX_RETENTION_DAYS:
        raise MailpoolsError(f"--days must be from 1 to {MAX_RETENTION_DAYS:,}.")
    if args.batch is not None and not 1 <= args.batch <= MAX_PRUNE_BATCH:
        raise MailpoolsError(f"--batch must be from 1 to {MAX_PRUNE_BATCH:,}.")
    days = args.days or settings.current().message_retention_days
    pruned = prune_finished(
        engine(),
        keep_days=days,
        now=clock.now(),
        batch=args.batch or DEFAULT_BATCH,
        actor="operator",
    )
    print(pruned.summary)
    return 0


def _day(value: str | None) -> date | None:
    if not value:
        return None
    # Only YYYY-MM-DD: date.fromisoformat also takes 20261126 and week dates like 2026-W48-4.
    try:
        if not DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise MailpoolsError(
            f"--day must be a date like 2026-11-26, not {one_line(repr(value), 40)}."
        ) from None


def _warmup_show(args) -> int:
    with transaction() as session:
        status = warmups.warmup_status(session, local_reader(session, args), args.domain)
    if args.json:
        print_json(status.as_json())
        return 0
    print(
        f"{status.domain}: warm-up of {status.pool}, {status.state}, day {status.current_day} "
        f"of {status.planned_days} (started {status.started_on}, "
        f"{status.expected_weekly_volume:,} a week expected)"
    )
    print(f"Today's dedicated share: {percent(status.today_share)}")
    if status.expected_completion:
        print(f"Expected completion: {status.expected_completion}")
    elif status.completed_at:
        print(f"Completed: {status.completed_at:%Y-%m-%d %H:%M} UTC")
    if status.held:
        print(f"Held days ({len(status.held)}):")
        for held in status.held:
            print(f"  {held.day}  {held.reason}")
    else:
        print("Held days: none")
    print()
    rows = [
        [number, percent(share), "<- today" if number == status.current_day else ""]
        for number, share in enumerate(status.shares, start=1)
    ]
    print_table(["day", "dedicated share", ""], rows)
    return 0
