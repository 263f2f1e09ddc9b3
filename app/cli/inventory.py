"""`mailpools inventory apply FILE`."""

from __future__ import annotations

from app import settings
from app.cli.common import acting_user, add_json_option, command, group, print_json, transaction
from app.services.inventory import apply_inventory, load_file


def register(subparsers) -> None:
    actions = group(subparsers, "inventory", "pools, IPs, accounts, domains and users as code")
    apply = command(actions, "apply", _apply, "create or update everything a TOML file describes")
    apply.add_argument("file", metavar="FILE")
    apply.add_argument(
        "--as",
        dest="as_user",
        metavar="USER",
        help="the acting agent or admin (default: the local operator)",
    )
    add_json_option(apply)


def _apply(args) -> int:
    sections = load_file(args.file)
    with transaction() as session:
        actor = acting_user(session, args) if args.as_user or settings.current().user else None
        report = apply_inventory(session, actor, sections)
    if args.json:
        print_json(report.as_json())
        return 0
    for line in report.created:
        print(f"created  {line}")
    for line in report.updated:
        print(f"updated  {line}")
    if not report.changed:
        print(f"no changes ({report.unchanged} entries already match {args.file})")
    for line in report.missing:
        print(f"kept     {line} (in the database, not in {args.file}; not deleted)")
    return 0
