"""`mailpools audit`: who changed what, when, from what to what."""

from __future__ import annotations

import json

from app.cli.arguments import whole_number
from app.cli.common import (
    add_as_option,
    add_json_option,
    command,
    local_reader,
    print_json,
    print_table,
    transaction,
)
from app.services.audit import list_events


def register(subparsers) -> None:
    audit = command(subparsers, "audit", _audit, "list audit events, newest first")
    audit.add_argument("--account", metavar="A")
    audit.add_argument("--domain", metavar="DOMAIN")
    audit.add_argument("--user", metavar="USER", help="events by this actor")
    audit.add_argument(
        "--kind",
        metavar="ACTION",
        help="events whose action starts with this, e.g. request or domain.remove",
    )
    audit.add_argument("--limit", type=whole_number, default=200)
    add_as_option(audit, required=False)
    add_json_option(audit)


def _audit(args) -> int:
    with transaction() as session:
        actor = local_reader(session, args)
        events = list_events(
            session,
            actor,
            account=args.account,
            domain=args.domain,
            user=args.user,
            kind=args.kind,
            limit=args.limit,
        )
    if args.json:
        print_json([event.as_json() for event in events])
        return 0
    print_table(
        ["WHEN (UTC)", "WHO", "WHAT", "ON", "BEFORE", "AFTER"],
        [
            [
                f"{e.at:%Y-%m-%d %H:%M:%S}",
                e.actor,
                e.action,
                f"{e.entity} {e.entity_id}",
                _short(e.before),
                _short(e.after),
            ]
            for e in events
        ],
    )
    return 0


def _short(state: dict | None) -> str:
    if not state:
        return ""
    text = json.dumps(state, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 60 else text[:59] + "…"
