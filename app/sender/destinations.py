"""Where a recipient's mail goes: one smarthost (relay mode) or the domain's MX hosts.

Direct mode follows the usual rules: MX records in preference order; a domain
with no MX record receives at its own A/AAAA addresses (the implicit MX); a
"null MX" (RFC 7505) or a domain that does not exist is a permanent failure;
a DNS timeout or server failure is temporary, so the message is deferred.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import dns.asyncresolver
import dns.exception
import dns.name
import dns.resolver

DNS_CACHE_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Destination:
    """The hosts to try, in order, for one recipient domain."""

    name: str
    hosts: tuple[tuple[str, int], ...]
    # Each host's name (the MX name, or the smarthost as given), which a verified TLS
    # certificate must match; by position, like HOSTS.
    host_names: tuple[str, ...] = field(default=(), compare=False)

    def host_name(self, position: int) -> str:
        return self.host_names[position] if position < len(self.host_names) else self.name


@dataclass(frozen=True, slots=True)
class Unreachable:
    """No destination: CODE and TEXT read like the SMTP reply a server would have given."""

    code: int
    text: str

    @property
    def permanent(self) -> bool:
        return self.code >= 500


class RelayDestinations:
    """Relay mode: every message goes to one smarthost."""

    def __init__(self, host: str, port: int) -> None:
        self.destination = Destination(f"relay {host}:{port}", ((host, port),), (host,))

    async def resolve(self, recipient_domain: str) -> Destination | Unreachable:
        return self.destination


class MxDestinations:
    """Direct mode: MX lookups with dnspython, cached for a few minutes."""

    def __init__(
        self,
        *,
        nameservers: list[str] | None = None,
        dns_port: int = 53,
        smtp_port: int = 25,
        lifetime: float = 5.0,
    ) -> None:
        if nameservers:
            self.resolver = dns.asyncresolver.Resolver(configure=False)
            self.resolver.nameservers = list(nameservers)
            self.resolver.port = dns_port
        else:
            self.resolver = dns.asyncresolver.Resolver()
        self.resolver.lifetime = lifetime
        self.smtp_port = smtp_port
        self._cache: dict[str, tuple[float, Destination | Unreachable]] = {}

    async def resolve(self, recipient_domain: str) -> Destination | Unreachable:
        domain = recipient_domain.lower().rstrip(".")
        cached = self._cache.get(domain)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        result = await self._lookup(domain)
        # Temporary failures are not cached: the next try asks again.
        if not (isinstance(result, Unreachable) and not result.permanent):
            self._cache[domain] = (time.monotonic() + DNS_CACHE_SECONDS, result)
        return result

    async def _lookup(self, domain: str) -> Destination | Unreachable:
        try:
            answer = await self.resolver.resolve(domain, "MX")
        except dns.resolver.NXDOMAIN:
            return Unreachable(550, f"5.1.2 recipient domain {domain} does not exist")
        except dns.resolver.NoAnswer:
            return await self._implicit_mx(domain)
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
            return Unreachable(451, f"4.4.3 MX lookup for {domain} failed: {error}")
        records = sorted(answer, key=lambda record: record.preference)
        if len(records) == 1 and records[0].exchange == dns.name.root:
            return Unreachable(556, f"5.1.10 {domain} accepts no mail (null MX)")
        hosts: dict[tuple[str, int], str] = {}
        temporary = None
        for record in records:
            exchange = record.exchange.to_text(omit_final_dot=True)
            try:
                addresses = await self._addresses(exchange)
            except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
                temporary = error
                continue
            for address in addresses:
                hosts.setdefault((address, self.smtp_port), exchange.lower())
        if hosts:
            return Destination(domain, tuple(hosts), tuple(hosts.values()))
        if temporary is not None:
            return Unreachable(451, f"4.4.3 resolving the MX hosts of {domain} failed: {temporary}")
        return Unreachable(451, f"4.4.4 no MX host of {domain} has an address")

    async def _implicit_mx(self, domain: str) -> Destination | Unreachable:
        try:
            addresses = await self._addresses(domain)
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
            return Unreachable(451, f"4.4.3 address lookup for {domain} failed: {error}")
        if not addresses:
            return Unreachable(550, f"5.1.2 {domain} has no MX and no address record")
        return Destination(
            domain,
            tuple((address, self.smtp_port) for address in addresses),
            tuple(domain for _ in addresses),
        )

    async def _addresses(self, host: str) -> list[str]:
        """The host's IPv4 then IPv6 addresses; empty when it has neither."""
        addresses: list[str] = []
        for record_type in ("A", "AAAA"):
            try:
                answer = await self.resolver.resolve(host, record_type)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            addresses.extend(record.to_text() for record in answer)
        return addresses
