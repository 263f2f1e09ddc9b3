"""Hearing back: the inbound listener, what receivers said, and the suppression list.

The services are imported by the commands that use them: reading reports brings in the
bounce detectors, which every other command (and the console) would pay for at start.

mailpools inbound [--host 127.0.0.1] [--port 25] [--quiet]
mailpools events [--domain D] [--kind bounce|complaint|unsubscribe] [--unparsed] [--limit N] [--json]
mailpools suppressions list [--account A] [--search TEXT] [--json] [--as USER]
mailpools suppressions add ADDRESS --reason TEXT [--account A] --as USER
mailpools suppressions remove ADDRESS [--account A] --as USER
"""

from __future__ import annotations

import asyncio
import logging

from app.cli.arguments import whole_number
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
    serve_until_signalled,
    transaction,
)
from app.errors import MailpoolsError
from app.rules.formatting import one_line, table_time
from data.db import checkpoints_in_background


def register(subparsers) -> None:
    inbound = command(
        subparsers,
        "inbound",
        _inbound,
        "take bounces, complaints and unsubscribe mail (Ctrl-C or SIGTERM stops it)",
    )
    inbound.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    inbound.add_argument(
        "--port", type=whole_number, default=25, help="port (25; 0 picks a free one)"
    )
    inbound.add_argument(
        "--quiet", action="store_true", help="log only problems, not each report heard"
    )

    events = command(
        subparsers, "events", _events, "bounces, complaints and unsubscribes, newest first"
    )
    events.add_argument("--domain", metavar="D", help="only this domain's")
    events.add_argument("--kind", choices=["bounce", "complaint", "unsubscribe"])
    events.add_argument(
        "--unparsed", action="store_true", help="the reports kept because they could not be read"
    )
    events.add_argument("--limit", type=whole_number, default=500, help="at most N (500)")
    add_json_option(events)
    add_as_option(events, required=False)

    listed = group(subparsers, "suppressions", "addresses an account's mail no longer goes to")
    listing = command(
        listed, "list", _list, "your account's suppression list (agents: every account's)"
    )
    listing.add_argument("--account", metavar="A", help="only this account's list")
    listing.add_argument("--search", metavar="TEXT", help="addresses containing TEXT")
    add_json_option(listing)
    add_as_option(listing, required=False)
    add = command(listed, "add", _add, "stop mail going to an address")
    add.add_argument("address", metavar="ADDRESS")
    add.add_argument("--reason", required=True, metavar="TEXT", help="why, in words")
    add.add_argument("--account", metavar="A", help="whose list (agents must say)")
    add_as_option(add)
    remove = command(listed, "remove", _remove, "let mail go to a suppressed address again")
    remove.add_argument("address", metavar="ADDRESS")
    remove.add_argument("--account", metavar="A", help="whose list (agents must say)")
    add_as_option(remove)


def _list(args) -> int:
    from app.services import suppressions

    with transaction() as session:
        views = suppressions.list_suppressions(
            session, local_reader(session, args), account=args.account, search=args.search or ""
        )
    if args.json:
        print_json([view.as_json() for view in views])
        return 0
    if not views:
        print("No suppressed addresses.")
        return 0
    rows = [
        [view.address, view.account, view.reason_words, view.note, table_time(view.created_at)]
        for view in views
    ]
    print_table(["address", "account", "why", "note", "since"], rows)
    return 0


def _add(args) -> int:
    from app.services import suppressions

    with transaction() as session:
        outcome = suppressions.add_suppression(
            session,
            acting_user(session, args),
            args.address,
            reason=args.reason,
            account=args.account,
        )
    print(outcome.summary)
    return 0


def _remove(args) -> int:
    from app.services import suppressions

    with transaction() as session:
        outcome = suppressions.remove_suppression(
            session, acting_user(session, args), args.address, account=args.account
        )
    print(outcome.summary)
    return 0


def _inbound(args) -> int:
    from app.inbound.server import serve_inbound

    if not 0 <= args.port <= 65_535:
        raise MailpoolsError(f"--port must be from 0 to 65,535, not {args.port}.")
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="mailpools inbound: %(message)s",
    )
    # aiosmtpd narrates every command at INFO; the reports heard are what matters here.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # The bounce detectors log each one that fails on odd mail, which is read anyway.
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

    async def main() -> None:
        try:
            server = await serve_inbound(engine(), args.host, args.port)
        except OSError as error:
            raise MailpoolsError(
                f"Cannot listen on {args.host}:{args.port}: {error.strerror or error}."
            ) from None
        print(f"mailpools inbound listening on {args.host}:{server.port}", flush=True)
        await serve_until_signalled(server)

    with checkpoints_in_background(engine()):
        asyncio.run(main())
    return 0


def _events(args) -> int:
    from app.services import feedback

    if args.unparsed and (args.domain or args.kind):
        raise MailpoolsError(
            "--unparsed lists every kept report; give it without --domain or --kind."
        )
    with transaction() as session:
        reader = local_reader(session, args)
        if args.unparsed:
            kept = feedback.list_unparsed(session, reader, limit=args.limit)
        else:
            found = feedback.list_events(
                session, reader, domain=args.domain, kind=args.kind, limit=args.limit
            )
    if args.unparsed:
        if args.json:
            print_json([view.as_json() for view in kept])
        elif not kept:
            print("No reports were kept unread.")
        else:
            rows = [
                [
                    view.id,
                    table_time(view.at),
                    view.rcpt_to,
                    f"{view.size:,}",
                    one_line(view.reason, 80),
                ]
                for view in kept
            ]
            print_table(["id", "at", "to", "bytes", "why kept"], rows)
        return 0
    if args.json:
        print_json([view.as_json() for view in found])
    elif not found:
        print("No bounces, complaints or unsubscribes yet.")
    else:
        rows = [
            [
                table_time(view.at),
                f"{view.severity} bounce" if view.severity else view.kind,
                view.domain,
                view.recipient,
                view.ip or "",
                view.code or "",
                one_line(view.text, 60),
            ]
            for view in found
        ]
        print_table(["at", "what", "domain", "recipient", "ip", "code", "said"], rows)
    return 0
