"""The DNS checks of 1,000 domains and 100 IPs against bare dnspython queries.

A loopback DNS server in its own process serves a correct zone for every
domain (SPF through the platform's include, DKIM key, DMARC, return-path
CNAME, MX) and, for every IP, a forward-confirmed PTR and one blocklist zone
that does not list it. The checks run as the sender runs them: dnspython's
async resolver, at most 20 lookups in flight, checkdmarc reading SPF and DMARC
in threads, every record judged. The baseline sends the very queries the
server saw during the checks (checkdmarc's own included), in the same order,
through a bare async resolver with the same 20 in flight, and nothing more.
It runs before and after the checks and the ratio uses their mean.
Target: the checks reach at least 0.5 of the bare queries' rate.

While the checks run, a ticker on the same event loop measures its longest
stall: the console and the sender share their loop with these checks, so a
long stall would be felt there.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import dns.asyncresolver

from app.dns.asking import (
    DEFAULT_CONCURRENCY,
    Asker,
    check_all,
)
from app.dns.judging import CheckState
from app.dns.targets import (
    DkimTarget,
    DomainTarget,
    IpTarget,
    Platform,
)

DOMAINS = int(os.environ.get("MAILPOOLS_BENCH_DOMAINS", "1000"))
IPS = 100
TARGET = 0.5
ROOT = Path(__file__).resolve().parent.parent
KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "Q" * 348
PLATFORM = Platform(
    spf_include="_spf.bench.test", inbound_host="in.bench.test", dnsbl_zones=("bl.bench.test",)
)


def _address(n: int) -> str:
    return f"127.0.{n // 250 + 1}.{n % 250 + 1}"


def _world() -> tuple[list[list], list[DomainTarget], list[IpTarget]]:
    addresses = [_address(n) for n in range(IPS)]
    records: list[list] = [["_spf.bench.test", "TXT", ["v=spf1 ip4:127.0.0.0/16 -all"]]]
    domains = []
    for n in range(DOMAINS):
        name = f"d{n}.bench.test"
        records += [
            [name, "TXT", ["v=spf1 include:_spf.bench.test -all"]],
            [name, "MX", [f"10 mx.{name}."]],
            [f"mp1._domainkey.{name}", "TXT", [f"v=DKIM1; k=rsa; p={KEY}"]],
            [f"_dmarc.{name}", "TXT", ["v=DMARC1; p=quarantine"]],
            [f"bounces.{name}", "CNAME", ["in.bench.test."]],
        ]
        domains.append(
            DomainTarget(
                name=name,
                sending_ips=tuple(addresses[n % IPS : n % IPS + 2]),
                dkim_keys=(DkimTarget("mp1", KEY, pending=False),),
                return_path_domain=f"bounces.{name}",
            )
        )
    ips = []
    for n, address in enumerate(addresses):
        host = f"mta{n}.bench.test"
        reverse = ".".join(reversed(address.split("."))) + ".in-addr.arpa"
        records += [[reverse, "PTR", [f"{host}."]], [host, "A", [address]]]
        ips.append(IpTarget(address, host))
    return records, domains, ips


@contextmanager
def _server(records: list[list]):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(records, file)
    process = subprocess.Popen(
        [sys.executable, "-m", "bench._dns_server", file.name],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(process.stdout.readline())

        def queries() -> list[tuple[str, str]]:
            process.stdin.write("queries\n")
            process.stdin.flush()
            return [tuple(q) for q in json.loads(process.stdout.readline())]

        yield port, queries
    finally:
        process.communicate("\n", timeout=30)
        os.unlink(file.name)


async def _checks(port: int, domains, ips) -> tuple[float, float, int]:
    asker = Asker(f"127.0.0.1:{port}", timeout=5.0)
    longest_stall = 0.0
    running = True

    async def ticker() -> None:
        nonlocal longest_stall
        while running:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            longest_stall = max(longest_stall, time.perf_counter() - before - 0.01)

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    by_domain, by_ip = await check_all(asker, domains, ips, PLATFORM)
    elapsed = time.perf_counter() - started
    running = False
    await ticking
    checks = [c for found in (*by_domain.values(), *by_ip.values()) for c in found]
    not_ok = [c for c in checks if c.state != CheckState.OK]
    assert not not_ok, f"the benchmark's zones should all pass: {not_ok[:3]}"
    return elapsed, longest_stall, len(checks)


async def _bare(port: int, queries: list[tuple[str, str]]) -> float:
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.lifetime = 5.0
    slots = asyncio.Semaphore(DEFAULT_CONCURRENCY)

    async def one(name: str, kind: str) -> None:
        async with slots:
            try:
                await resolver.resolve(name, kind, search=False)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                pass

    started = time.perf_counter()
    await asyncio.gather(*(one(name, kind) for name, kind in queries))
    return time.perf_counter() - started


def run() -> list[str]:
    records, domains, ips = _world()
    with _server(records) as (port, queries):
        asyncio.run(_checks(port, domains[:20], ips[:5]))  # warm up: imports, first threads
        queries()
        elapsed, stall, checks = asyncio.run(_checks(port, domains, ips))
        seen = queries()
        before = asyncio.run(_bare(port, seen))
        after = asyncio.run(_bare(port, seen))
        queries()
    baseline = (before + after) / 2
    ratio = baseline / elapsed
    verdict = "meets" if ratio >= TARGET else "misses"
    load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
    return [
        f"{DOMAINS:,} domains and {IPS} IPs, {checks:,} checks, {len(seen):,} queries, "
        f"{DEFAULT_CONCURRENCY} in flight, server in its own process",
        f"bare dnspython queries: {before:.2f} s before, {after:.2f} s after",
        f"DNS checks (lookups, checkdmarc, judging): {elapsed:.2f} s",
        f"ratio checks / bare queries: {ratio:.2f} ({verdict} the {TARGET} target)",
        f"longest event-loop stall during the checks: {stall * 1000:.0f} ms",
        f"load average: {load}",
    ]
