"""Hearing back: the suppression list.

mailpools suppressions list [--account A] [--search TEXT] [--json] [--as USER]
mailpools suppressions add ADDRESS --reason TEXT [--account A] --as USER
mailpools suppressions remove ADDRESS [--account A] --as USER
"""

from __future__ import annotations

from app.cli.common import (
    acting_user,
    add_as_option,
    add_json_option,
    command,
    group,
    local_reader,
    print_json,
    print_table,
    transaction,
)
from app.rules.formatting import table_time
from app.services import suppressions


def register(subparsers) -> None:
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
    with transaction() as session:
        outcome = suppressions.remove_suppression(
            session, acting_user(session, args), args.address, account=args.account
        )
    print(outcome.summary)
    return 0
