"""The demo's DNS: what its domains and IPs publish, a few of them wrongly on purpose.

acme.example asks receivers to do nothing with failing mail (DMARC p=none),
news.acme.example never published its DKIM key, offers.bolt.example's SPF
record names one IP only, 127.0.0.5 is on the demo's blocklist and
127.0.0.7's reverse name does not lead back to it. Everything else is as the
DNS tab would tell an owner to publish it.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from app.demo.dns_server import LoopbackDns
from app.dns.asking import Asker
from app.dns.targets import Platform
from app.rules.return_path import return_path_domain
from app.services import dkim, dns_checks
from app.settings import Settings
from data.db import session_scope
from data.models import DkimKey, DkimKeyState, Domain, IpAddress

SPF_INCLUDE = "_spf.mailpools.test"
INBOUND_HOST = "in.mailpools.test"
BLOCKLIST = "bl.mailpools.test"
LISTED = {"127.0.0.5": "Sent to spam traps on 24 Nov; see https://bl.mailpools.test/127.0.0.5"}
ONE_WAY_PTR = "127.0.0.7"
PLATFORM = Platform(spf_include=SPF_INCLUDE, inbound_host=INBOUND_HOST, dnsbl_zones=(BLOCKLIST,))
# Each broken domain's one changed record: where ({domain}, or {dkim} for its key's name),
# its type, and what it holds instead (None: nothing).
BROKEN_DOMAINS = {
    "acme.example": ("_dmarc.{domain}", "TXT", ["v=DMARC1; p=none; rua=mailto:dmarc@acme.example"]),
    "news.acme.example": ("{dkim}", "TXT", None),
    "offers.bolt.example": ("{domain}", "TXT", ["v=spf1 ip4:127.0.0.2 -all"]),
}

DNS_TIMEOUT_SECONDS = 3.0

Records = dict[tuple[str, str], list[str]]


def _domain_records(name: str, key: DkimKey) -> Records:
    records: Records = {
        (name, "TXT"): [f"v=spf1 include:{SPF_INCLUDE} -all"],
        (name, "MX"): [f"10 mx.{name}."],
        (dkim.record_name(key.selector, name), "TXT"): [dkim.record_text(key.public_key)],
        (f"_dmarc.{name}", "TXT"): ["v=DMARC1; p=quarantine"],
        (return_path_domain(None, name), "CNAME"): [f"{INBOUND_HOST}."],
    }
    broken = BROKEN_DOMAINS.get(name)
    if broken is not None:
        template, record_type, values = broken
        where = template.format(domain=name, dkim=dkim.record_name(key.selector, name))
        if values is None:
            del records[(where, record_type)]
        else:
            records[(where, record_type)] = values
    return records


def _ip_records(ip: IpAddress) -> Records:
    reverse = ".".join(reversed(ip.address.split("."))) + ".in-addr.arpa"
    records: Records = {(reverse, "PTR"): [f"{ip.hostname}."]}
    if ip.address != ONE_WAY_PTR:
        records[(ip.hostname, "A")] = [ip.address]
    reason = LISTED.get(ip.address)
    if reason is not None:
        listing = ".".join(reversed(ip.address.split("."))) + f".{BLOCKLIST}"
        records[(listing, "A")] = ["127.0.0.2"]
        records[(listing, "TXT")] = [reason]
    return records


def demo_records(engine: Engine) -> Records:
    """Every record the demo's DNS server answers, from the domains and IPs in ENGINE."""
    records: Records = {(SPF_INCLUDE, "TXT"): ["v=spf1 ip4:127.0.0.0/24 -all"]}
    with session_scope(engine) as session:
        keys = session.exec(
            select(Domain.name, DkimKey)
            .join(DkimKey, col(DkimKey.domain_id) == Domain.id)
            .where(DkimKey.state == DkimKeyState.ACTIVE)
        ).all()
        for name, key in keys:
            records.update(_domain_records(name, key))
        for ip in session.exec(select(IpAddress)):
            records.update(_ip_records(ip))
    return records


def with_demo_dns(configured: Settings, port: int) -> Settings:
    """CONFIGURED with the demo's checks pointed at its DNS server on PORT."""
    return replace(
        configured,
        dns_server=f"127.0.0.1:{port}",
        spf_include=SPF_INCLUDE,
        inbound_host=INBOUND_HOST,
        dnsbl_zones=BLOCKLIST,
    )


def check_everything(engine: Engine) -> None:
    """Every domain's and IP's DNS checks, as the sender runs them, against a DNS server
    answering the demo's records; the results stored and acted on."""
    with LoopbackDns(demo_records(engine)) as server:
        with session_scope(engine) as session:
            targets = dns_checks.all_targets(session)
        asker = Asker(f"127.0.0.1:{server.port}", timeout=DNS_TIMEOUT_SECONDS)
        # A loop of its own in a thread of its own: callers may already be inside one
        # (the tests that build their world from an async test).
        with ThreadPoolExecutor(max_workers=1) as thread:
            run = thread.submit(asyncio.run, dns_checks.ask(targets, asker, PLATFORM))
            results = run.result()
    with session_scope(engine) as session:
        dns_checks.record(session, results)
