"""`mailpools request …` to file requests, `mailpools requests …` to review them."""

from __future__ import annotations

from app import clock
from app.cli.arguments import whole_number
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
from app.rules.formatting import age
from app.services.outcomes import Outcome
from app.services.requests.decisions import approve, deny
from app.services.requests.filing import request_dedicated, request_transactional
from app.services.requests.listing import list_requests, to_view
from data.models import PoolRequest


def register(subparsers) -> None:
    filing = group(subparsers, "request", "file a transactional-pool or dedicated-IP request")
    transactional = command(
        filing,
        "transactional",
        _request_transactional,
        "ask for a domain to join the transactional pool",
    )
    transactional.add_argument("domain", metavar="DOMAIN")
    transactional.add_argument(
        "--reason", required=True, metavar="TEXT", help="what the domain will send, and to whom"
    )
    transactional.add_argument(
        "--confirm", required=True, metavar="DOMAIN", help="type the domain name again to confirm"
    )
    add_as_option(transactional)
    add_json_option(transactional)

    dedicated = command(
        filing, "dedicated", _request_dedicated, "ask for dedicated IPs for one or more domains"
    )
    dedicated.add_argument("domains", nargs="+", metavar="DOMAIN")
    dedicated.add_argument(
        "--volume",
        required=True,
        metavar="N",
        help="expected emails per week across the domains (80000, 80,000 or 80k)",
    )
    dedicated.add_argument(
        "--ips",
        type=whole_number,
        default=1,
        metavar="K",
        help="how many dedicated IPs (default 1)",
    )
    dedicated.add_argument(
        "--join", metavar="POOL", help="put the domains on this existing dedicated IP group instead"
    )
    add_as_option(dedicated)
    add_json_option(dedicated)

    review = group(subparsers, "requests", "list and review requests")
    listing = command(review, "list", _list, "list requests, oldest first")
    listing.add_argument("--status", choices=["pending", "approved", "denied"])
    listing.add_argument("--kind", choices=["transactional", "dedicated"])
    listing.add_argument("--account", metavar="A")
    listing.add_argument("--domain", metavar="DOMAIN")
    add_as_option(listing, required=False)
    add_json_option(listing)
    approving = command(review, "approve", _approve, "approve a request (agents and admins)")
    approving.add_argument("id", type=whole_number, metavar="ID")
    approving.add_argument(
        "--ip",
        action="append",
        dest="ips",
        metavar="ADDRESS",
        help="allocate this free IP (repeat); default: suggested from the free inventory",
    )
    add_as_option(approving)
    add_json_option(approving)
    denying = command(review, "deny", _deny, "deny a request with a reason the requester will read")
    denying.add_argument("id", type=whole_number, metavar="ID")
    denying.add_argument("--reason", required=True, metavar="TEXT")
    add_as_option(denying)
    add_json_option(denying)


def _print_outcome(session, outcome: Outcome[PoolRequest], args) -> int:
    if args.json:
        print_json(to_view(session, outcome.subject).as_json())
    else:
        print(outcome.summary)
    return 0


def _request_transactional(args) -> int:
    with transaction() as session:
        actor = acting_user(session, args)
        outcome = request_transactional(
            session, actor, args.domain, justification=args.reason, confirmation=args.confirm
        )
        return _print_outcome(session, outcome, args)


def _request_dedicated(args) -> int:
    with transaction() as session:
        actor = acting_user(session, args)
        outcome = request_dedicated(
            session,
            actor,
            args.domains,
            weekly_volume=args.volume,
            ip_count=args.ips,
            join_pool=args.join,
        )
        return _print_outcome(session, outcome, args)


def _list(args) -> int:
    with transaction() as session:
        actor = local_reader(session, args)
        views = list_requests(
            session,
            actor,
            status=args.status,
            kind=args.kind,
            account_name=args.account,
            domain_name=args.domain,
        )
    if args.json:
        print_json([view.as_json() for view in views])
        return 0
    now = clock.now()
    rows = []
    for view in views:
        if view.kind == "transactional":
            detail = view.justification or ""
            detail = detail if len(detail) <= 50 else detail[:49] + "…"
        else:
            detail = f"{view.expected_weekly_volume:,}/week, {view.ip_count} IP(s), ${(view.monthly_cost_cents or 0) / 100:,.0f}/month"
        rows.append(
            [
                f"#{view.id}",
                view.kind,
                view.status,
                view.account,
                ", ".join(view.domains),
                age(view.created_at, now),
                view.reviewer or "",
                detail,
            ]
        )
    print_table(["ID", "KIND", "STATUS", "ACCOUNT", "DOMAINS", "FILED", "REVIEWER", "DETAIL"], rows)
    return 0


def _approve(args) -> int:
    with transaction() as session:
        actor = acting_user(session, args)
        outcome = approve(session, actor, args.id, ip_addresses=args.ips)
        return _print_outcome(session, outcome, args)


def _deny(args) -> int:
    with transaction() as session:
        actor = acting_user(session, args)
        outcome = deny(session, actor, args.id, reason=args.reason)
        return _print_outcome(session, outcome, args)
