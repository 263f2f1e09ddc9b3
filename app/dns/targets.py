"""What the DNS checks compare DNS with: plain facts read from the database beforehand."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DkimTarget:
    selector: str
    public_key: str
    pending: bool


@dataclass(frozen=True)
class DomainTarget:
    """What a domain's checks compare DNS with, read from the database beforehand."""

    name: str
    sending_ips: tuple[str, ...]
    dkim_keys: tuple[DkimTarget, ...]
    return_path_domain: str


@dataclass(frozen=True)
class IpTarget:
    address: str
    hostname: str  # what the sender says in EHLO from this address


@dataclass(frozen=True)
class Platform:
    """What the platform publishes for its customers to point at."""

    spf_include: str | None = None
    inbound_host: str | None = None
    dnsbl_zones: tuple[str, ...] = ()
