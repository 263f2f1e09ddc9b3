"""`mailpools inventory apply FILE`."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from app import settings
from app.cli.common import (
    acting_user,
    add_json_option,
    command,
    engine,
    group,
    print_json,
    transaction,
)
from app.services.dkim import make_missing_keys
from app.services.inventory import apply_inventory, load_file

# Seconds between two lines of key-making progress.
PROGRESS_SECONDS = 5.0


@dataclass
class KeyProgress:
    """A line on stderr every few seconds while keys are made, which for thousands of new
    domains takes minutes."""

    last_printed: float

    def __call__(self, made: int, waiting: int) -> None:
        moment = time.monotonic()
        if moment - self.last_printed >= PROGRESS_SECONDS:
            print(f"made {made:,} of {waiting:,} DKIM keys", file=sys.stderr, flush=True)
            self.last_printed = moment


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
        who = actor.name if actor else "operator"
    # New domains' DKIM keys, made once the file is committed (see apply_inventory), each
    # stored in its own transaction. Any other domain still without a key gets one too,
    # so a run cut short is finished by applying the file again.
    if report.keyless and not args.json:
        # Thousands of new domains take minutes of key making: say so before it starts.
        print(
            f"making DKIM keys for {len(report.keyless)} new domain(s); the file is applied, "
            "and a domain's mail leaves unsigned until its key is made",
            flush=True,
        )
    keyed = make_missing_keys(
        engine(), who, progress=None if args.json else KeyProgress(time.monotonic())
    )
    if args.json:
        print_json({**report.as_json(), "dkim_keys_made": keyed})
        return 0
    for line in report.created:
        print(f"created  {line}")
    for line in report.updated:
        print(f"updated  {line}")
    if not report.changed:
        print(f"no changes ({report.unchanged} entries already match {args.file})")
    for line in report.missing:
        print(f"kept     {line} (in the database, not in {args.file}; not deleted)")
    if keyed:
        print(f"made DKIM keys for {len(keyed)} domain(s)")
    return 0
