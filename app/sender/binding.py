"""Whether this host can send from each pool IP, and which IPs it sends from: a message
never leaves from an address its route did not choose, so mail routed to an IP that is not
bound here is not claimed here; it waits for a host that has the IP."""

from __future__ import annotations

import logging
import socket

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from app import clock
from app.errors import MailpoolsError
from app.services import audit
from data.db import session_scope
from data.models import IpAddress

log = logging.getLogger("mailpools.sender")


def is_bound_locally(address: str) -> bool:
    """True when a socket can bind ADDRESS on this host (every 127.0.0.0/8 address can)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


def check_bindings(engine: Engine) -> frozenset[str]:
    """Probe every IP that belongs to a pool, record the result, and return the unbound ones.

    A change of state is audited (by the system) so agents can see when an
    address appeared or disappeared on the sending host.
    """
    now = clock.now()
    unbound: set[str] = set()
    with session_scope(engine) as session:
        for ip in session.exec(select(IpAddress).where(col(IpAddress.pool_id).is_not(None))):
            bound = is_bound_locally(ip.address)
            if not bound:
                unbound.add(ip.address)
            # The first check of a bound address is not news; losing or regaining one is.
            if ip.bound != bound and (ip.bound is not None or not bound):
                audit.record(
                    session,
                    actor=audit.SYSTEM_ACTOR,
                    action="ip.bound" if bound else "ip.unbound",
                    entity="ip",
                    entity_id=ip.address,
                    account_id=ip.account_id,
                    before={"bound": ip.bound},
                    after={"bound": bound},
                )
                if not bound:
                    log.warning(
                        "IP %s (%s) is not bound on this host: its messages wait for a host that has it",
                        ip.address,
                        ip.hostname,
                    )
            ip.bound = bound
            ip.bound_checked_at = now
            session.add(ip)
    return frozenset(unbound)


def check_chosen_addresses(engine: Engine, chosen: frozenset[str]) -> None:
    """Refuse an address in CHOSEN (--ips) that is not in the inventory or not bound here:
    a host that claimed mail for it could never send that mail."""
    with session_scope(engine) as session:
        known = set(
            session.exec(select(IpAddress.address).where(col(IpAddress.address).in_(chosen)))
        )
    unknown = sorted(chosen - known)
    if unknown:
        raise MailpoolsError(
            f"--ips names {', '.join(unknown)}, not an IP address of the inventory; "
            "add it with mailpools inventory apply first."
        )
    unbound = sorted(address for address in chosen if not is_bound_locally(address))
    if unbound:
        raise MailpoolsError(
            f"--ips names {', '.join(unbound)}, not bound on this host, so no mail could "
            "leave from it; bind it here or leave it out."
        )


def sending_addresses(
    engine: Engine, chosen: frozenset[str] | None, unbound: frozenset[str]
) -> frozenset[str]:
    """The IPs this host sends from: the pool IPs bound here, narrowed to CHOSEN when given."""
    if chosen is not None:
        return chosen - unbound
    with session_scope(engine) as session:
        pooled = set(
            session.exec(select(IpAddress.address).where(col(IpAddress.pool_id).is_not(None)))
        )
    return frozenset(pooled - unbound)
