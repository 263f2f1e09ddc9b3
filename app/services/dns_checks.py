"""DNS checks of sending domains and IPs: what to check, storing the results, acting on them.

A run reads its targets in one transaction, asks DNS outside any transaction
(a slow server must never hold the database), then stores every result with
its time and acts on them in another: a listed IP of a pool whose kind is in
MAILPOOLS_BLOCKLIST_ROTATION is taken out of rotation (never its pool's last
usable IP) and comes back after a clean check; a rotated DKIM key found
published becomes the key the sender signs with. Both are done by `system`
and audited.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app import clock, settings
from app.dns import judging
from app.dns.judging import Check, CheckState
from app.dns.targets import DkimTarget, DomainTarget, IpTarget, Platform
from app.rules.return_path import return_path_domain
from app.services import pools
from app.services.auth import require_staff
from app.services.lookups import get_domain_for, get_ip, may_see_account
from data.db import session_scope
from data.models import (
    DkimKey,
    DkimKeyState,
    DnsCheck,
    Domain,
    IpAddress,
    IpState,
    Pool,
    User,
    saved_id,
)

if TYPE_CHECKING:
    # The lookups load dnspython and checkdmarc, which take most of a second to import;
    # the console reads stored results without them.
    from app.dns.asking import Asker

DOMAIN = "domain"
IP = "ip"


@dataclass(frozen=True)
class StoredCheck:
    """One check as it was last run."""

    name: str
    state: str
    summary: str
    found: str
    expected: str
    fix: str
    details: dict[str, Any]
    checked_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "summary": self.summary,
            "found": self.found,
            "expected": self.expected,
            "fix": self.fix,
            **self.details,
            "checked_at": self.checked_at,
        }


@dataclass(frozen=True)
class SubjectChecks:
    """A domain's or an IP's checks, as last run (none when it was never checked)."""

    kind: str
    subject: str
    checks: list[StoredCheck] = field(default_factory=list)

    @property
    def state(self) -> str | None:
        if not self.checks:
            return None
        return str(judging.worst(_as_check(stored) for stored in self.checks))

    @property
    def checked_at(self) -> datetime | None:
        return max((check.checked_at for check in self.checks), default=None)

    def named(self, name: str) -> StoredCheck | None:
        return next((check for check in self.checks if check.name == name), None)

    @property
    def summary(self) -> str:
        """One line: what is wrong, worst first, or that all is well."""
        if not self.checks:
            return "not checked yet"
        order = [CheckState.FAILING, CheckState.ERROR, CheckState.WARNING]
        wrong = sorted(
            (check for check in self.checks if check.state != CheckState.OK),
            key=lambda check: order.index(CheckState(check.state)),
        )
        return ", ".join(_trouble(check) for check in wrong) or "all checks pass"

    def as_json(self) -> dict[str, Any]:
        return {
            "domain" if self.kind == DOMAIN else "address": self.subject,
            "state": self.state,
            "checked_at": self.checked_at,
            "checks": [check.as_json() for check in self.checks],
        }


def _label(name: str) -> str:
    labels = {"spf": "SPF", "dkim": "DKIM", "dkim-pending": "new DKIM key", "dmarc": "DMARC"}
    labels |= {"return-path": "return path", "mx": "MX", "ptr": "PTR"}
    return labels.get(name, name.removeprefix("dnsbl:"))


def _trouble(check: StoredCheck) -> str:
    if check.name.startswith("dnsbl:") and check.state == CheckState.FAILING:
        return f"listed on {_label(check.name)}"
    words = {"failing": "failing", "error": "could not be checked", "warning": "warning"}
    return f"{_label(check.name)} {words[check.state]}"


def _as_check(stored: StoredCheck) -> Check:
    return Check(stored.name, CheckState(stored.state), stored.summary)


def _stored(row: DnsCheck) -> StoredCheck:
    return StoredCheck(
        name=row.name,
        state=row.state,
        summary=row.summary,
        found=row.found,
        expected=row.expected,
        fix=row.fix,
        details=json.loads(row.details or "{}"),
        checked_at=row.checked_at,
    )


# What to check ------------------------------------------------------------------------


def configured_platform() -> Platform:
    current = settings.current()
    zones = tuple((current.dnsbl_zones or "").split(",")) if current.dnsbl_zones else ()
    return Platform(
        spf_include=current.spf_include, inbound_host=current.inbound_host, dnsbl_zones=zones
    )


def configured_asker() -> Asker:
    from app.dns.asking import Asker

    current = settings.current()
    return Asker(current.dns_server, current.dns_timeout)


@dataclass(frozen=True)
class Targets:
    domains: list[DomainTarget] = field(default_factory=list)
    ips: list[IpTarget] = field(default_factory=list)


def _domain_target(session: Session, domain: Domain) -> DomainTarget:
    pool_ids = {domain.shared_pool_id, domain.transactional_pool_id, domain.dedicated_pool_id}
    addresses = session.exec(
        select(IpAddress.address)
        .where(col(IpAddress.pool_id).in_([pool for pool in pool_ids if pool is not None]))
        .order_by(col(IpAddress.id))
    ).all()
    keys = session.exec(
        select(DkimKey)
        .where(DkimKey.domain_id == saved_id(domain))
        .where(col(DkimKey.state).in_([DkimKeyState.ACTIVE, DkimKeyState.PENDING]))
        .order_by(col(DkimKey.id))
    ).all()
    return DomainTarget(
        name=domain.name,
        sending_ips=tuple(addresses),
        dkim_keys=tuple(
            DkimTarget(key.selector, key.public_key, pending=key.state == DkimKeyState.PENDING)
            for key in keys
        ),
        return_path_domain=return_path_domain(settings.current().return_path_domain, domain.name),
    )


def _ip_target(ip: IpAddress) -> IpTarget:
    return IpTarget(ip.address, ip.hostname)


def domain_targets(session: Session, reader: User, name: str) -> Targets:
    """Domain NAME, if READER may see it (its owners and staff)."""
    return Targets(domains=[_domain_target(session, get_domain_for(session, reader, name))])


def ip_targets(session: Session, reader: User, address: str | None = None) -> Targets:
    """IP ADDRESS, or every IP in the inventory; staff only."""
    require_staff(reader, "check IPs")
    if address is not None:
        return Targets(ips=[_ip_target(get_ip(session, address))])
    ips = session.exec(select(IpAddress).order_by(col(IpAddress.id))).all()
    return Targets(ips=[_ip_target(ip) for ip in ips])


def all_targets(session: Session) -> Targets:
    """Every domain and every IP: the periodic run's targets."""
    domains = session.exec(select(Domain).order_by(col(Domain.id))).all()
    ips = session.exec(select(IpAddress).order_by(col(IpAddress.id))).all()
    return Targets(
        domains=[_domain_target(session, domain) for domain in domains],
        ips=[_ip_target(ip) for ip in ips],
    )


# Asking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Results:
    domains: dict[str, list[Check]]
    ips: dict[str, list[Check]]
    checked_at: datetime


async def ask(
    targets: Targets, asker: Asker | None = None, platform: Platform | None = None
) -> Results:
    """Run every check of TARGETS against the configured DNS server (or ASKER's), comparing
    with what the configured platform (or PLATFORM) publishes."""
    from app.dns.asking import check_all

    asker = asker or configured_asker()
    checked_at = clock.now()
    domains, ips = await check_all(
        asker, targets.domains, targets.ips, platform or configured_platform()
    )
    return Results(domains, ips, checked_at)


# Storing and acting -------------------------------------------------------------------


def _replace(session: Session, kind: str, subject: str, checks: list[Check], at: datetime) -> None:
    session.execute(
        delete(DnsCheck)
        .where(col(DnsCheck.subject_kind) == kind)
        .where(col(DnsCheck.subject) == subject)
    )
    for check in checks:
        session.add(
            DnsCheck(
                subject_kind=kind,
                subject=subject,
                name=check.name,
                state=check.state,
                summary=check.summary,
                found=check.found,
                expected=check.expected,
                fix=check.fix,
                details=json.dumps(dict(check.details), sort_keys=True),
                checked_at=at,
            )
        )


def _rotation_kinds() -> set[str]:
    configured = settings.current().blocklist_rotation
    return set() if configured == "none" else set(configured.split(","))


def _act_on_listings(session: Session, address: str, checks: list[Check]) -> str | None:
    listings = [check for check in checks if check.name.startswith("dnsbl:")]
    ip = session.exec(select(IpAddress).where(IpAddress.address == address)).first()
    if ip is None or not listings:
        return None
    pool = session.get(Pool, ip.pool_id) if ip.pool_id else None
    if pool is None or pool.kind not in _rotation_kinds():
        return None
    listed = [str(check.details["zone"]) for check in listings if check.details.get("listed")]
    if listed:
        return pools.take_listed_ip_out(session, ip, listed)
    clean = all(check.state == CheckState.OK for check in listings)
    if clean and ip.state == IpState.BLOCKLISTED:
        return pools.bring_delisted_ip_back(session, ip)
    return None


def _act_on_dkim(session: Session, domain: str, checks: list[Check]) -> str | None:
    pending = next((c for c in checks if c.name == "dkim-pending"), None)
    if pending is None or pending.state != CheckState.OK:
        return None
    # Imported here: the DKIM service loads the key handling the console never needs.
    from app.services import dkim

    return dkim.switch_when_published(session, domain, str(pending.details["selector"]))


def record(session: Session, results: Results) -> list[str]:
    """Store RESULTS (each replacing its subject's previous ones) and act on them; what
    was done, a sentence each."""
    done = []
    for domain, checks in results.domains.items():
        _replace(session, DOMAIN, domain, checks, results.checked_at)
        done.append(_act_on_dkim(session, domain, checks))
    for address, checks in results.ips.items():
        _replace(session, IP, address, checks, results.checked_at)
        done.append(_act_on_listings(session, address, checks))
    return [sentence for sentence in done if sentence]


def run_checks(engine: Engine, targets: Targets, asker: Asker | None = None) -> list[str]:
    """Check TARGETS, store the results and act on them; the lookups hold no transaction."""
    return store(engine, asyncio.run(ask(targets, asker)))


def read_every_target(engine: Engine) -> Targets:
    """Every domain and IP, for the periodic run (which calls this in a thread)."""
    with session_scope(engine) as session:
        return all_targets(session)


def store(engine: Engine, results: Results) -> list[str]:
    """`record` in a transaction of its own, for the periodic run (in a thread)."""
    with session_scope(engine) as session:
        return record(session, results)


# Reading ------------------------------------------------------------------------------


def _checks_of(session: Session, kind: str, subjects: Iterable[str]) -> dict[str, SubjectChecks]:
    wanted = list(subjects)
    found: dict[str, SubjectChecks] = {name: SubjectChecks(kind, name) for name in wanted}
    rows = session.exec(
        select(DnsCheck)
        .where(DnsCheck.subject_kind == kind)
        .where(col(DnsCheck.subject).in_(wanted))
        .order_by(col(DnsCheck.id))
    ).all()
    for row in rows:
        found[row.subject].checks.append(_stored(row))
    return found


def domain_checks(session: Session, reader: User, name: str) -> SubjectChecks:
    """Domain NAME's checks as last run; its owners and staff may read them."""
    domain = get_domain_for(session, reader, name)
    return _checks_of(session, DOMAIN, [domain.name])[domain.name]


def ip_checks(session: Session, reader: User, address: str | None = None) -> list[SubjectChecks]:
    """IP ADDRESS's checks (or every IP's) as last run; staff only."""
    require_staff(reader, "see IP checks")
    if address is not None:
        addresses = [get_ip(session, address).address]
    else:
        addresses = list(session.exec(select(IpAddress.address).order_by(col(IpAddress.id))))
    return list(_checks_of(session, IP, addresses).values())


def failing_domains(session: Session, reader: User) -> list[SubjectChecks]:
    """Domains READER may see with a failing check, by name."""
    names = session.exec(
        select(DnsCheck.subject)
        .where(DnsCheck.subject_kind == DOMAIN)
        .where(DnsCheck.state == CheckState.FAILING)
        .distinct()
    ).all()
    domains = session.exec(
        select(Domain).where(col(Domain.name).in_(names)).order_by(col(Domain.name))
    ).all()
    visible = [d.name for d in domains if may_see_account(reader, d.account_id)]
    return list(_checks_of(session, DOMAIN, visible).values())


def listed_ips(session: Session, reader: User) -> list[SubjectChecks]:
    """IPs found on a blocklist at their last check, by address; staff only."""
    require_staff(reader, "see blocklisted IPs")
    addresses = session.exec(
        select(DnsCheck.subject)
        .where(DnsCheck.subject_kind == IP)
        .where(col(DnsCheck.name).startswith("dnsbl:"))
        .where(DnsCheck.state == CheckState.FAILING)
        .distinct()
        .order_by(col(DnsCheck.subject))
    ).all()
    return list(_checks_of(session, IP, addresses).values())
