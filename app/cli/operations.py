"""Agents' operations for scripting: pools and IPs, removing domains, pausing warm-ups.

mailpools pools list [--json]
mailpools ips list [--pool P] [--json]
mailpools ips pause|resume ADDRESS --as USER
mailpools ips weight ADDRESS N --as USER
mailpools domains remove DOMAIN --reason TEXT --as USER
mailpools domains reinstate DOMAIN --as USER
mailpools warmup pause|resume DOMAIN --as USER
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
from app.rules.formatting import percent, whole_percent
from app.services import flags, pools, warmups


def register(subparsers) -> None:
    pools = group(subparsers, "pools", "shared, transactional and dedicated pools")
    pools_list = command(
        pools, "list", _pools_list, "list pools with IPs, domains, thresholds and today's rates"
    )
    add_json_option(pools_list)
    add_as_option(pools_list, required=False)

    ips = group(subparsers, "ips", "the IP inventory")
    listing = command(
        ips, "list", _ips_list, "list IPs with pool, state, weight, bound and blocklisted"
    )
    listing.add_argument("--pool", metavar="P", help="only this pool's IPs")
    add_json_option(listing)
    add_as_option(listing, required=False)
    for name, handler, help_text in (
        ("pause", _ip_pause, "stop sending from an IP until it is resumed"),
        ("resume", _ip_resume, "let a paused IP send again"),
    ):
        action = command(ips, name, handler, help_text)
        action.add_argument("address", metavar="ADDRESS")
        add_as_option(action)
    weight = command(
        ips, "weight", _ip_weight, "set an IP's share of its pool's traffic (0 takes none)"
    )
    weight.add_argument("address", metavar="ADDRESS")
    weight.add_argument("weight", metavar="N")
    add_as_option(weight)

    domains = group(subparsers, "domains", "sending domains")
    remove = command(
        domains, "remove", _domain_remove, "take a domain out of its pool; its mail is held"
    )
    remove.add_argument("domain", metavar="DOMAIN")
    remove.add_argument("--reason", required=True, metavar="TEXT", help="why; the owner reads it")
    add_as_option(remove)
    reinstate = command(
        domains, "reinstate", _domain_reinstate, "put a removed domain back in its pool"
    )
    reinstate.add_argument("domain", metavar="DOMAIN")
    add_as_option(reinstate)

    warmups = group(subparsers, "warmup", "dedicated IP warm-ups")
    warmup_list = command(
        warmups, "list", _warmup_list, "list warm-ups in progress: day, share, held days"
    )
    add_json_option(warmup_list)
    add_as_option(warmup_list, required=False)
    for name, handler, help_text in (
        ("pause", _warmup_pause, "stop a domain's warm-up from advancing"),
        ("resume", _warmup_resume, "let a paused warm-up advance again"),
    ):
        action = command(warmups, name, handler, help_text)
        action.add_argument("domain", metavar="DOMAIN")
        add_as_option(action)

    flagged = command(
        subparsers,
        "flags",
        _flags,
        "dedicated IPs under the weekly minimum; domains near their limits",
    )
    add_json_option(flagged)
    add_as_option(flagged, required=False)


def _yes_no(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def _domain_count(pool: pools.PoolReport) -> str:
    count = str(len(pool.domains))
    if pool.warming_beside:
        return f"{count} + {len(pool.warming_beside)} warming beside it"
    return count


def _pools_list(args) -> int:
    with transaction() as session:
        listed = pools.list_pools(session, local_reader(session, args))
    if args.json:
        print_json([pool.as_json() for pool in listed])
        return 0
    print_table(
        [
            "POOL",
            "KIND",
            "ACCOUNT",
            "IPS",
            "DOMAINS",
            "MAX BOUNCE",
            "MAX COMPLAINT",
            "SENT TODAY",
            "BOUNCE",
            "COMPLAINT",
        ],
        [
            [
                pool.name,
                pool.kind,
                pool.account or "-",
                ", ".join(f"{ip.address} ({ip.state})" for ip in pool.ips) or "-",
                _domain_count(pool),
                percent(pool.thresholds.max_bounce_rate),
                percent(pool.thresholds.max_complaint_rate),
                pool.today.sent,
                percent(pool.today.bounce_rate),
                percent(pool.today.complaint_rate),
            ]
            for pool in listed
        ],
    )
    return 0


def _ips_list(args) -> int:
    with transaction() as session:
        ips = pools.list_ips(session, local_reader(session, args), pool_name=args.pool)
    if args.json:
        print_json([ip.as_json() for ip in ips])
        return 0
    print_table(
        [
            "ADDRESS",
            "HOSTNAME",
            "POOL",
            "ACCOUNT",
            "STATE",
            "WEIGHT",
            "BOUND",
            "BLOCKLISTED",
            "SENT TODAY",
        ],
        [
            [
                ip.address,
                ip.hostname,
                ip.pool or "free",
                ip.account or "-",
                ip.state,
                ip.weight,
                _yes_no(ip.bound),
                _yes_no(ip.blocklisted),
                ip.sent_today,
            ]
            for ip in ips
        ],
    )
    return 0


def _ip_pause(args) -> int:
    with transaction() as session:
        outcome = pools.pause_ip(session, acting_user(session, args), args.address)
    print(outcome.summary)
    return 0


def _ip_resume(args) -> int:
    with transaction() as session:
        outcome = pools.resume_ip(session, acting_user(session, args), args.address)
    print(outcome.summary)
    return 0


def _ip_weight(args) -> int:
    with transaction() as session:
        outcome = pools.set_ip_weight(
            session, acting_user(session, args), args.address, args.weight
        )
    print(outcome.summary)
    return 0


def _domain_remove(args) -> int:
    with transaction() as session:
        outcome = pools.remove_domain(
            session, acting_user(session, args), args.domain, reason=args.reason
        )
    print(outcome.summary)
    return 0


def _domain_reinstate(args) -> int:
    with transaction() as session:
        outcome = pools.reinstate_domain(session, acting_user(session, args), args.domain)
    print(outcome.summary)
    return 0


def _warmup_pause(args) -> int:
    with transaction() as session:
        outcome = warmups.pause_warmup(session, acting_user(session, args), args.domain)
    print(outcome.summary)
    return 0


def _warmup_resume(args) -> int:
    with transaction() as session:
        outcome = warmups.resume_warmup(session, acting_user(session, args), args.domain)
    print(outcome.summary)
    return 0


def _warmup_list(args) -> int:
    with transaction() as session:
        listed = warmups.list_warmups(session, local_reader(session, args))
    if args.json:
        print_json([view.as_json() for view in listed])
        return 0
    print_table(
        ["GROUP", "ACCOUNT", "DOMAINS", "STATE", "DAY", "SHARE", "HELD", "IPS"],
        [
            [
                view.pool,
                view.account,
                ", ".join(view.domains),
                view.state,
                f"{view.day}/{view.planned_days}",
                whole_percent(view.today_share),
                view.held_days,
                ", ".join(view.ips),
            ]
            for view in listed
        ],
    )
    return 0


def _flags(args) -> int:
    with transaction() as session:
        reader = local_reader(session, args)
        low_volume = flags.low_volume_dedicated_ips(session, reader)
        near = flags.domains_near_thresholds(session, reader)
    if args.json:
        print_json(
            {
                "low_volume_dedicated_ips": [flag.as_json() for flag in low_volume],
                "domains_near_thresholds": [flag.as_json() for flag in near],
            }
        )
        return 0
    print("Dedicated IPs under the weekly minimum:")
    print_table(
        ["IP", "GROUP", "ACCOUNT", "SENT 7 DAYS", "DOMAINS"],
        [[f.address, f.pool, f.account, f.weekly_volume, ", ".join(f.domains)] for f in low_volume],
    )
    print("\nDomains close to their pool's thresholds:")
    print_table(
        ["DOMAIN", "ACCOUNT", "POOL", "BOUNCE", "COMPLAINT", "SENT", "OF LIMIT"],
        [
            [
                f.name,
                f.account,
                f.pool,
                percent(f.rates.bounce_rate),
                percent(f.rates.complaint_rate),
                f.rates.sent,
                whole_percent(f.rates.closeness),
            ]
            for f in near
        ],
    )
    return 0
