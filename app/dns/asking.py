"""Asking DNS what receivers ask about a sending domain or IP, then judging the answers.

Every query goes to one configured server (MAILPOOLS_DNS_SERVER), or the
system's resolvers when none is set, with its own timeout: dnspython's async
resolver for our own lookups, and a plain resolver pointed at the same server
for checkdmarc, which follows SPF includes and DMARC report addresses itself
(in a thread, so it never blocks the event loop). A timeout, SERVFAIL or
refusal becomes `CouldNotAsk`, reported as "could not check", never as a
missing record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import dns.asyncresolver
import dns.exception
import dns.name
import dns.resolver
import dns.reversename

from app.dns import judging
from app.dns.judging import Check
from app.dns.targets import DkimTarget, DomainTarget, IpTarget, Platform

T = TypeVar("T")
# At most this many lookups in flight at once, so a full run never floods the resolver.
DEFAULT_CONCURRENCY = 20


class CouldNotAsk(Exception):
    """A lookup that got no usable answer; its text says why, for a person."""


def _failure_reason(error: Exception, timeout: float) -> str:
    if isinstance(error, dns.exception.Timeout):
        return f"timeout after {timeout:g} s"
    if isinstance(error, dns.resolver.NoNameservers):
        text = str(error)
        for rcode in ("SERVFAIL", "REFUSED", "NOTIMP", "FORMERR"):
            if f"answered {rcode}" in text:
                return f"the DNS server answered {rcode}"
        return "no DNS server could answer"
    return f"the lookup failed ({type(error).__name__})"


class _CheckdmarcResolver(dns.resolver.Resolver):
    """A plain resolver that remembers why a lookup failed, so a failed include is told
    apart from a missing one after checkdmarc has turned both into its own errors."""

    failures: list[str]

    def resolve(self, *args: Any, **kwargs: Any) -> dns.resolver.Answer:
        try:
            return super().resolve(*args, **kwargs)
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
            self.failures.append(_failure_reason(error, self.lifetime))
            raise


class Asker:
    """One configured server, one timeout, and a cap on lookups in flight."""

    def __init__(
        self, server: str | None, timeout: float, concurrency: int = DEFAULT_CONCURRENCY
    ) -> None:
        self.server = server
        self.timeout = timeout
        self.resolver = self._configure(dns.asyncresolver.Resolver, server, timeout)
        self._slots = asyncio.Semaphore(concurrency)
        self.queries = 0

    @staticmethod
    def _configure(kind: Callable[..., T], server: str | None, timeout: float) -> T:
        if server:
            host, _, port = server.rpartition(":")
            resolver: Any = kind(configure=False)
            resolver.nameservers = [host.strip("[]")]
            resolver.port = int(port)
        else:
            resolver = kind()
        resolver.lifetime = timeout
        resolver.timeout = timeout
        return resolver

    def plain_resolver(self) -> _CheckdmarcResolver:
        resolver = self._configure(_CheckdmarcResolver, self.server, self.timeout)
        resolver.failures = []
        return resolver

    async def ask(self, name: str, record_type: str) -> list[Any]:
        """The records of RECORD_TYPE at NAME; empty when there are none or NAME does not exist."""
        async with self._slots:
            self.queries += 1
            try:
                answer = await self.resolver.resolve(name, record_type, search=False)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                return []
            except dns.exception.DNSException as error:
                raise CouldNotAsk(_failure_reason(error, self.timeout)) from None
        return list(answer)

    async def ask_text(self, name: str) -> list[str]:
        """The TXT records at NAME, each with its strings joined."""
        records = await self.ask(name, "TXT")
        return [b"".join(record.strings).decode("utf-8", "replace") for record in records]

    async def ask_names(self, name: str, record_type: str) -> list[str]:
        return [
            record.to_text().rstrip(".").lower() for record in await self.ask(name, record_type)
        ]

    async def ask_addresses(self, name: str) -> list[str]:
        found = await asyncio.gather(self.ask(name, "A"), self.ask(name, "AAAA"))
        return [record.to_text() for records in found for record in records]


async def _attempt(name: str, work: Awaitable[Check]) -> Check:
    try:
        return await work
    except CouldNotAsk as reason:
        return judging.could_not_check(name, str(reason))


def _is_spf(record: str) -> bool:
    return record.lower() == "v=spf1" or record.lower().startswith("v=spf1 ")


def _is_dmarc(record: str) -> bool:
    return record.replace(" ", "").lower().startswith("v=dmarc1;") or record.strip() == "v=DMARC1"


def _checkdmarc() -> Any:
    """checkdmarc, imported on first use (it takes most of a second) with its process-wide
    answer cache turned off: that cache is keyed by name alone, not by server, and would
    hand a re-check after a fix the answer from before it."""
    import checkdmarc.dmarc
    import checkdmarc.spf
    import checkdmarc.utils

    # Only an ExpiringDict is read or written as a cache; a plain dict is neither.
    checkdmarc.utils.DNS_CACHE = {}
    return checkdmarc


def _organizational(domain: str) -> str:
    return _checkdmarc().utils.get_base_domain(domain)


def _by_checkdmarc(asker: Asker, parse: Callable[[Any], Any]) -> tuple[Any, str | None]:
    """Run PARSE(resolver) with a resolver bound to the configured server: its result, or
    None and the error's words; CouldNotAsk when one of its own lookups failed."""
    resolver = asker.plain_resolver()
    try:
        return parse(resolver), None
    except Exception as error:  # checkdmarc's errors have no common base; any is a refusal
        if resolver.failures:
            raise CouldNotAsk(resolver.failures[0]) from None
        return None, str(error).strip() or type(error).__name__


async def check_spf(asker: Asker, target: DomainTarget, platform: Platform) -> Check:
    parse_spf_record = _checkdmarc().spf.parse_spf_record
    records = [r for r in await asker.ask_text(target.name) if _is_spf(r)]
    parsed, error = None, None
    if len(records) == 1:
        parsed, error = await asyncio.to_thread(
            _by_checkdmarc,
            asker,
            lambda resolver: parse_spf_record(
                records[0],
                target.name,
                resolver=resolver,
                timeout=asker.timeout,
                retries=0,
                ignore_too_many_lookups=True,
            ),
        )
    return judging.judge_spf(
        target.name, records, parsed, error, list(target.sending_ips), platform.spf_include
    )


async def check_dmarc(asker: Asker, target: DomainTarget) -> Check:
    parse_dmarc_record = _checkdmarc().dmarc.parse_dmarc_record
    organizational = _organizational(target.name)
    record_name = f"_dmarc.{target.name}"
    records = [r for r in await asker.ask_text(record_name) if _is_dmarc(r)]
    if not records and organizational != target.name:
        record_name = f"_dmarc.{organizational}"
        records = [r for r in await asker.ask_text(record_name) if _is_dmarc(r)]
    tags, error = None, None
    if len(records) == 1:
        parsed, error = await asyncio.to_thread(
            _by_checkdmarc,
            asker,
            lambda resolver: parse_dmarc_record(
                records[0], target.name, resolver=resolver, timeout=asker.timeout, retries=0
            ),
        )
        tags = parsed["tags"] if parsed else None
    names = {
        target.name: organizational,
        target.return_path_domain: _organizational(target.return_path_domain),
    }
    return judging.judge_dmarc(
        target.name, record_name, records, tags, error, target.return_path_domain, names
    )


async def check_dkim(asker: Asker, target: DomainTarget, key: DkimTarget) -> Check:
    record_name = f"{key.selector}._domainkey.{target.name}"
    records = await asker.ask_text(record_name)
    name = "dkim-pending" if key.pending else "dkim"
    return judging.judge_dkim(name, record_name, records, key.public_key, pending=key.pending)


async def check_return_path(asker: Asker, target: DomainTarget, platform: Platform) -> Check:
    cnames, exchanges = await asyncio.gather(
        asker.ask_names(target.return_path_domain, "CNAME"),
        asker.ask(target.return_path_domain, "MX"),
    )
    hosts = [record.exchange.to_text().rstrip(".").lower() for record in exchanges]
    return judging.judge_return_path(
        target.return_path_domain, cnames, hosts, platform.inbound_host
    )


async def check_mx(asker: Asker, target: DomainTarget) -> Check:
    records = await asker.ask(target.name, "MX")
    exchanges = [
        (record.preference, record.exchange.to_text(omit_final_dot=True).lower() or ".")
        for record in records
    ]
    return judging.judge_mx(target.name, exchanges)


async def check_domain(asker: Asker, target: DomainTarget, platform: Platform) -> list[Check]:
    """Every check of one domain, in the order they are shown."""
    dkim_checks = [
        _attempt("dkim-pending" if key.pending else "dkim", check_dkim(asker, target, key))
        for key in target.dkim_keys
    ]
    return list(
        await asyncio.gather(
            _attempt("spf", check_spf(asker, target, platform)),
            *dkim_checks,
            _attempt("dmarc", check_dmarc(asker, target)),
            _attempt("return-path", check_return_path(asker, target, platform)),
            _attempt("mx", check_mx(asker, target)),
        )
    )


def _listing_name(address: str, zone: str) -> str:
    reverse = dns.reversename.from_address(address)
    labels = reverse.relativize(
        dns.name.from_text("in-addr.arpa" if "." in address else "ip6.arpa")
    )
    return f"{labels.to_text()}.{zone}"


async def check_ptr(asker: Asker, target: IpTarget) -> Check:
    names = await asker.ask_names(dns.reversename.from_address(target.address).to_text(), "PTR")
    forward = dict(zip(names, await asyncio.gather(*map(asker.ask_addresses, names)), strict=True))
    return judging.judge_ptr(target.address, target.hostname, names, forward)


async def check_dnsbl(asker: Asker, target: IpTarget, zone: str) -> Check:
    name = _listing_name(target.address, zone)
    answers = [record.to_text() for record in await asker.ask(name, "A")]
    listed = answers and not set(answers) & set(judging.DNSBL_NOT_ANSWERED)
    reasons = await asker.ask_text(name) if listed else []
    return judging.judge_dnsbl(target.address, zone, answers, reasons)


async def check_ip(asker: Asker, target: IpTarget, platform: Platform) -> list[Check]:
    """The IP's reverse DNS, then its standing on each blocklist zone."""
    zone_checks = [
        _attempt(judging.dnsbl_check_name(zone), check_dnsbl(asker, target, zone))
        for zone in platform.dnsbl_zones
    ]
    return list(await asyncio.gather(_attempt("ptr", check_ptr(asker, target)), *zone_checks))


async def check_all(
    asker: Asker,
    domains: Iterable[DomainTarget],
    ips: Iterable[IpTarget],
    platform: Platform,
) -> tuple[dict[str, list[Check]], dict[str, list[Check]]]:
    """Every domain's and IP's checks, the lookups capped by the asker's concurrency."""
    domain_list, ip_list = list(domains), list(ips)
    if domain_list:
        # Its first import takes most of a second: never on the event loop.
        await asyncio.to_thread(_checkdmarc)
    results = await asyncio.gather(
        *(check_domain(asker, target, platform) for target in domain_list),
        *(check_ip(asker, target, platform) for target in ip_list),
    )
    by_domain = {t.name: r for t, r in zip(domain_list, results[: len(domain_list)], strict=True)}
    by_ip = {t.address: r for t, r in zip(ip_list, results[len(domain_list) :], strict=True)}
    return by_domain, by_ip
