"""`mailpools domains list|show`."""

from __future__ import annotations

from app.cli.common import (
    add_as_option,
    add_json_option,
    command,
    group,
    local_reader,
    print_json,
    print_table,
    transaction,
)
from app.rules.formatting import percent, short_count, whole_percent
from app.rules.rates import Level, RateAgainstLimit
from app.services.domains import DomainSummary, domain_detail, list_domains
from data.models import WarmupState


def register(subparsers) -> None:
    actions = group(subparsers, "domains", "sending domains")
    listing = command(
        actions, "list", _list, "list sending domains with their way of sending and rates"
    )
    listing.add_argument("--account", metavar="A", help="only this account's domains")
    add_as_option(listing, required=False)
    add_json_option(listing)
    show = command(
        actions, "show", _show, "show one domain: way of sending, pool, IPs, status, rates, warm-up"
    )
    show.add_argument("domain", metavar="DOMAIN")
    add_as_option(show, required=False)
    add_json_option(show)


def _rate(rate: RateAgainstLimit) -> str:
    mark = " !" if rate.level == Level.OVER else ""
    return f"{percent(rate.value)}{mark}"


def _warmup(summary: DomainSummary) -> str:
    if summary.warmup is None:
        return ""
    progress = summary.warmup
    if progress.state == WarmupState.COMPLETE:
        return "complete"
    return f"day {progress.day}/{progress.planned_days} ({whole_percent(progress.dedicated_share)})"


def _list(args) -> int:
    with transaction() as session:
        actor = local_reader(session, args)
        domains = list_domains(session, actor, account=args.account)
    if args.json:
        print_json([d.as_json() for d in domains])
        return 0
    print_table(
        [
            "DOMAIN",
            "ACCOUNT",
            "SENDS FROM",
            "POOL",
            "STATUS",
            "7-DAY",
            "BOUNCE",
            "COMPLAINT",
            "WARM-UP",
        ],
        [
            [
                d.name,
                d.account,
                d.sending_mode,
                d.pool or "-",
                d.status,
                short_count(d.volume_7d),
                _rate(d.rates_7d.bounce),
                _rate(d.rates_7d.complaint),
                _warmup(d),
            ]
            for d in domains
        ],
    )
    return 0


def _show(args) -> int:
    with transaction() as session:
        actor = local_reader(session, args)
        detail = domain_detail(session, actor, args.domain)
    if args.json:
        print_json(detail.as_json())
        return 0
    s = detail.summary
    lines = [
        ("domain", s.name),
        ("account", f"{s.account} ({s.plan})"),
        ("transactional service", "yes" if s.transactional_service else "no"),
        ("sends from", f"{s.sending_mode} — pool {s.pool or '-'}"),
        (
            "status",
            s.status
            if not s.removed_reason
            else f"{s.status}: {s.removed_reason} ({detail.removed_at:%Y-%m-%d %H:%M} UTC)",
        ),
        ("7-day volume", f"{s.volume_7d:,}"),
        (
            "bounce rate",
            f"{_rate(s.rates_7d.bounce)} (limit {percent(s.rates_7d.bounce.limit or 0)})",
        ),
        (
            "complaint rate",
            f"{_rate(s.rates_7d.complaint)} (limit {percent(s.rates_7d.complaint.limit or 0)})",
        ),
    ]
    if s.warmup and s.warmup.state == WarmupState.COMPLETE:
        lines.append(("warm-up", _warmup(s)))
    elif s.warmup:
        lines.append(("warm-up", f"{_warmup(s)}, {s.warmup.held_days} held days, {s.warmup.state}"))
    if detail.open_request_id:
        lines.append(("open request", f"#{detail.open_request_id}"))
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"{label.ljust(width)}  {value}")
    print("IPs:")
    for ip in detail.ips:
        print(f"  {ip.address:<16} {ip.hostname}  {ip.state}, weight {ip.weight}")
    if detail.shared_ips:
        print(f"shared IPs still used during the warm-up ({detail.shared_pool}):")
        for ip in detail.shared_ips:
            print(f"  {ip.address:<16} {ip.hostname}  {ip.state}, weight {ip.weight}")
    return 0
