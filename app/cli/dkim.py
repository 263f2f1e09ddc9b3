"""`mailpools dkim show|rotate|confirm`: each domain's DKIM keys and their DNS records."""

from __future__ import annotations

from app import settings
from app.cli.common import (
    acting_user,
    add_as_option,
    add_json_option,
    command,
    group,
    local_reader,
    print_json,
    transaction,
)
from app.services import dkim
from app.services.dkim import DkimRecord, DkimStatus


def register(subparsers) -> None:
    actions = group(subparsers, "dkim", "DKIM keys and the DNS records that publish them")
    show = command(actions, "show", _show, "the TXT record to publish for a domain's DKIM key")
    show.add_argument("domain", metavar="DOMAIN")
    add_as_option(show, required=False)
    add_json_option(show)
    rotate = command(
        actions,
        "rotate",
        _rotate,
        "make a new key under a new selector; mail stays signed with the old one until confirmed",
    )
    rotate.add_argument("domain", metavar="DOMAIN")
    add_as_option(rotate)
    add_json_option(rotate)
    confirm = command(
        actions,
        "confirm",
        _confirm,
        "sign with the new key once DNS serves its record (MAILPOOLS_DNS_SERVER is asked)",
    )
    confirm.add_argument("domain", metavar="DOMAIN")
    add_as_option(confirm)
    add_json_option(confirm)


def _print_record(record: DkimRecord) -> None:
    print(f"  name:   {record.name}")
    print("  type:   TXT")
    print(f"  value:  {record.record}")
    strings = " ".join(f'"{part}"' for part in dkim.txt_strings(record.record))
    print(f"  zone:   {record.name}. IN TXT ( {strings} )")


def _print_status(status: DkimStatus) -> None:
    print(f"{status.active.domain} is signed with selector {status.active.selector}.")
    if status.pending:
        print(f"New key {status.pending.selector}, waiting for its record to be published:")
        _print_record(status.pending)
        print(f"Then: mailpools dkim confirm {status.active.domain}")
        print(f"Record of the key in use ({status.active.selector}):")
    else:
        print("Publish this record:")
    _print_record(status.active)


def _show(args) -> int:
    with transaction() as session:
        status = dkim.dkim_status(session, local_reader(session, args), args.domain)
    if args.json:
        print_json(status.as_json())
    else:
        _print_status(status)
    return 0


def _rotate(args) -> int:
    with transaction() as session:
        outcome = dkim.rotate(session, acting_user(session, args), args.domain)
    if args.json:
        print_json(outcome.subject.as_json())
    else:
        print(outcome.summary)
        assert outcome.subject.pending is not None, "a rotation always leaves a pending key"
        _print_record(outcome.subject.pending)
    return 0


def _confirm(args) -> int:
    # Ask DNS outside any transaction: a slow lookup must not hold the database.
    with transaction() as session:
        status = dkim.dkim_status(session, acting_user(session, args), args.domain)
    published = (
        dkim.lookup_txt(status.pending.name, settings.current().dns_server)
        if status.pending
        else []
    )
    with transaction() as session:
        outcome = dkim.confirm_rotation(session, acting_user(session, args), args.domain, published)
    if args.json:
        print_json(outcome.subject.as_json())
    else:
        print(outcome.summary)
    return 0
