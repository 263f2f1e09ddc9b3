"""`mailpools dns check`, `mailpools ips check`, `mailpools checks run`: what receivers see in DNS.

Each asks the configured DNS server (MAILPOOLS_DNS_SERVER), stores the results
with their time, and prints them; `checks run` re-checks every domain and IP,
for cron.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.cli.common import (
    add_as_option,
    add_json_option,
    command,
    engine,
    group,
    local_reader,
    print_json,
    transaction,
)

if TYPE_CHECKING:
    from app.services.dns_checks import SubjectChecks


def register(subparsers) -> None:
    dns = group(subparsers, "dns", "what receivers find in a sending domain's DNS")
    check = command(
        dns, "check", _dns_check, "check a domain's SPF, DKIM, DMARC, return path and MX records"
    )
    check.add_argument("domain", metavar="DOMAIN")
    add_as_option(check, required=False)
    add_json_option(check)

    ips = group(subparsers, "ips", "the IP inventory")
    ip_check = command(
        ips, "check", _ips_check, "check an IP's (or every IP's) reverse DNS and blocklists"
    )
    ip_check.add_argument("address", metavar="ADDRESS", nargs="?")
    add_as_option(ip_check, required=False)
    add_json_option(ip_check)

    checks = group(subparsers, "checks", "periodic checks")
    run = command(checks, "run", _checks_run, "re-check every domain's and IP's DNS now")
    add_as_option(run, required=False)
    add_json_option(run)


def _print_subject(subject: SubjectChecks) -> None:
    when = f" (checked {subject.checked_at:%Y-%m-%d %H:%M} UTC)" if subject.checked_at else ""
    print(f"{subject.subject}: {subject.summary}{when}")
    for check in subject.checks:
        print(f"  {check.name:<14} {check.state:<8} {check.summary}")
        if check.state == "ok":
            continue
        for label, text in (("found", check.found), ("expected", check.expected)):
            if text:
                print(f"  {'':<14} {label + ':':<9} {text}")
        if check.fix:
            print(f"  {'':<14} fix:      {check.fix}")


def _dns_check(args) -> int:
    # Loaded by the commands that check: DNS and checkdmarc are slow to import.
    from app.services import dns_checks

    with transaction() as session:
        targets = dns_checks.domain_targets(session, local_reader(session, args), args.domain)
    done = dns_checks.run_checks(engine(), targets)
    with transaction() as session:
        subject = dns_checks.domain_checks(
            session, local_reader(session, args), targets.domains[0].name
        )
    if args.json:
        print_json(subject.as_json())
        return 0
    _print_subject(subject)
    for sentence in done:
        print(sentence)
    return 0


def _ips_check(args) -> int:
    from app.services import dns_checks

    with transaction() as session:
        targets = dns_checks.ip_targets(session, local_reader(session, args), args.address)
    done = dns_checks.run_checks(engine(), targets)
    with transaction() as session:
        subjects = dns_checks.ip_checks(session, local_reader(session, args), args.address)
    if args.json:
        print_json([subject.as_json() for subject in subjects])
        return 0
    for subject in subjects:
        _print_subject(subject)
    for sentence in done:
        print(sentence)
    return 0


def _checks_run(args) -> int:
    from app.services import dns_checks

    with transaction() as session:
        reader = local_reader(session, args)
        # Every IP is staff's to see; asking for them refuses an owner here, in one sentence.
        dns_checks.ip_targets(session, reader, None)
        targets = dns_checks.all_targets(session)
    done = dns_checks.run_checks(engine(), targets)
    with transaction() as session:
        reader = local_reader(session, args)
        failing = dns_checks.failing_domains(session, reader)
        listed = dns_checks.listed_ips(session, reader)
    if args.json:
        print_json(
            {
                "domains": len(targets.domains),
                "ips": len(targets.ips),
                "failing_domains": [subject.subject for subject in failing],
                "listed_ips": [subject.subject for subject in listed],
                "actions": done,
            }
        )
        return 0
    print(
        f"Checked {len(targets.domains)} domains and {len(targets.ips)} IPs: "
        f"{len(failing)} domains failing a check, {len(listed)} IPs on a blocklist."
    )
    for sentence in done:
        print(sentence)
    return 0
