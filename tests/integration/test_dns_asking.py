"""The DNS checks against a loopback DNS server: one zone per way of being broken, listed
and clean IPs, each answer by which a blocklist says it could not answer, a SERVFAIL and a
server that never answers."""

from __future__ import annotations

import pytest

from app.demo.dns_server import LoopbackDns
from app.dns.asking import (
    Asker,
    check_domain,
    check_ip,
)
from app.dns.targets import (
    DkimTarget,
    DomainTarget,
    IpTarget,
    Platform,
)

KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 300
OTHER_KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "y" * 300
PLATFORM = Platform(
    spf_include="_spf.platform.test",
    inbound_host="in.platform.test",
    dnsbl_zones=("bl.test",),
)
SENDING_IPS = ("127.0.0.10", "127.0.0.11")


def good_zone(domain: str) -> dict[tuple[str, str], list[str]]:
    return {
        (domain, "TXT"): ["v=spf1 include:_spf.platform.test -all"],
        (domain, "MX"): [f"10 mx.{domain}."],
        (f"mp1._domainkey.{domain}", "TXT"): [f"v=DKIM1; k=rsa; p={KEY}"],
        (f"_dmarc.{domain}", "TXT"): ["v=DMARC1; p=quarantine"],
        (f"bounces.{domain}", "CNAME"): ["in.platform.test."],
    }


def broken(domain: str, changes: dict[tuple[str, str], list[str] | None]) -> dict:
    """The good zone with the records in CHANGES (keyed by the name under the domain, ""
    for the domain itself, and the type) replaced, or removed when given None."""
    zone = good_zone(domain)
    for (under, record_type), values in changes.items():
        name = f"{under}.{domain}" if under else domain
        if values is None:
            zone.pop((name, record_type), None)
        else:
            zone[(name, record_type)] = values
    return zone


ZONES: dict[str, dict[tuple[str, str], list[str]]] = {
    "good.test": good_zone("good.test"),
    "nospf.test": broken("nospf.test", {("", "TXT"): None}),
    "twospf.test": broken(
        "twospf.test", {("", "TXT"): ["v=spf1 -all", "v=spf1 ip4:127.0.0.10 -all"]}
    ),
    "plusall.test": broken(
        "plusall.test", {("", "TXT"): ["v=spf1 include:_spf.platform.test +all"]}
    ),
    "missingip.test": broken("missingip.test", {("", "TXT"): ["v=spf1 ip4:127.0.0.10 -all"]}),
    "softall.test": broken(
        "softall.test", {("", "TXT"): ["v=spf1 include:_spf.platform.test ?all"]}
    ),
    "lookups.test": broken(
        "lookups.test",
        {("", "TXT"): ["v=spf1 " + " ".join(f"a:h{n}.lookups.test" for n in range(11)) + " -all"]},
    ),
    "nodkim.test": broken("nodkim.test", {("mp1._domainkey", "TXT"): None}),
    "otherkey.test": broken(
        "otherkey.test", {("mp1._domainkey", "TXT"): [f"v=DKIM1; p={OTHER_KEY}"]}
    ),
    "revoked.test": broken("revoked.test", {("mp1._domainkey", "TXT"): ["v=DKIM1; p="]}),
    "nodmarc.test": broken("nodmarc.test", {("_dmarc", "TXT"): None}),
    "pnone.test": broken("pnone.test", {("_dmarc", "TXT"): ["v=DMARC1; p=none"]}),
    "strict.test": broken(
        "strict.test", {("_dmarc", "TXT"): ["v=DMARC1; p=reject; aspf=s; adkim=s"]}
    ),
    "norp.test": broken("norp.test", {("bounces", "CNAME"): None}),
    "elsewhere.test": broken("elsewhere.test", {("bounces", "CNAME"): ["mail.elsewhere.example."]}),
    "nomx.test": broken("nomx.test", {("", "MX"): None}),
    "nullmx.test": broken("nullmx.test", {("", "MX"): ["0 ."]}),
}
PLATFORM_RECORDS = {
    ("_spf.platform.test", "TXT"): ["v=spf1 ip4:127.0.0.10 ip4:127.0.0.11 -all"],
    **{(f"h{n}.lookups.test", "A"): ["127.0.0.10"] for n in range(11)},
    # Reverse DNS: .10 is forward-confirmed as its EHLO name, .11 only points one way,
    # .12 is confirmed under another name, .13 has no PTR at all.
    ("10.0.0.127.in-addr.arpa", "PTR"): ["mta1.platform.test."],
    ("mta1.platform.test", "A"): ["127.0.0.10"],
    ("11.0.0.127.in-addr.arpa", "PTR"): ["mta2.platform.test."],
    ("12.0.0.127.in-addr.arpa", "PTR"): ["other.platform.test."],
    ("other.platform.test", "A"): ["127.0.0.12"],
    # The blocklist lists .11 with a reason; .20 to .22 get its three "could not answer".
    ("11.0.0.127.bl.test", "A"): ["127.0.0.2"],
    ("11.0.0.127.bl.test", "TXT"): ["Listed for spam traps, see https://bl.test/11"],
    ("20.0.0.127.bl.test", "A"): ["127.255.255.252"],
    ("21.0.0.127.bl.test", "A"): ["127.255.255.254"],
    ("22.0.0.127.bl.test", "A"): ["127.255.255.255"],
}


@pytest.fixture(scope="module")
def dns_server():
    records = dict(PLATFORM_RECORDS)
    for zone in ZONES.values():
        records.update(zone)
    with LoopbackDns(records, servfail={"servfail.test", "_dmarc.servfail.test"}) as server:
        yield server


def target(domain: str, *keys: DkimTarget) -> DomainTarget:
    return DomainTarget(
        name=domain,
        sending_ips=SENDING_IPS,
        dkim_keys=keys or (DkimTarget("mp1", KEY, pending=False),),
        return_path_domain=f"bounces.{domain}",
    )


async def domain_checks(server: LoopbackDns, domain: str, *keys: DkimTarget) -> dict:
    asker = Asker(f"127.0.0.1:{server.port}", timeout=2.0)
    checks = await check_domain(asker, target(domain, *keys), PLATFORM)
    return {check.name: check for check in checks}


async def test_a_correct_domain_passes_every_check(dns_server):
    checks = await domain_checks(dns_server, "good.test")
    assert list(checks) == ["spf", "dkim", "dmarc", "return-path", "mx"]
    assert {name: check.state for name, check in checks.items()} == dict.fromkeys(checks, "ok")
    assert "-all" in checks["spf"].summary
    assert checks["dmarc"].details["dkim_aligned"] and checks["dmarc"].details["spf_aligned"]


@pytest.mark.parametrize(
    ("domain", "check", "state", "words"),
    [
        ("nospf.test", "spf", "failing", "no SPF record"),
        ("twospf.test", "spf", "failing", "2 SPF records"),
        ("plusall.test", "spf", "failing", "+all"),
        ("missingip.test", "spf", "failing", "does not authorize 127.0.0.11"),
        ("softall.test", "spf", "warning", "?all"),
        ("lookups.test", "spf", "failing", "11 DNS-querying terms"),
        ("nodkim.test", "dkim", "failing", "no key record at mp1._domainkey.nodkim.test"),
        ("otherkey.test", "dkim", "failing", "holds another key"),
        ("revoked.test", "dkim", "failing", "revoked"),
        ("nodmarc.test", "dmarc", "failing", "no DMARC record"),
        ("pnone.test", "dmarc", "warning", "p=none"),
        ("strict.test", "dmarc", "ok", "SPF not aligned"),
        ("norp.test", "return-path", "failing", "no CNAME or MX"),
        ("elsewhere.test", "return-path", "failing", "not at in.platform.test"),
        ("nomx.test", "mx", "failing", "no MX record"),
        ("nullmx.test", "mx", "failing", "null MX"),
    ],
)
async def test_each_way_of_being_broken_is_named(dns_server, domain, check, state, words):
    checks = await domain_checks(dns_server, domain)
    found = checks[check]
    assert found.state == state
    assert words in found.summary
    if state != "ok":
        assert found.expected and found.fix
    others = {name: c.state for name, c in checks.items() if name != check}
    assert set(others.values()) == {"ok"}


async def test_a_failing_record_says_what_to_publish(dns_server):
    checks = await domain_checks(dns_server, "nodkim.test")
    assert checks["dkim"].expected == f"v=DKIM1; k=rsa; p={KEY}"
    assert checks["dkim"].fix.startswith("Publish a TXT record at mp1._domainkey.nodkim.test")
    spf = (await domain_checks(dns_server, "missingip.test"))["spf"]
    assert spf.found == "v=spf1 ip4:127.0.0.10 -all"
    assert spf.expected == "v=spf1 include:_spf.platform.test -all"


async def test_during_a_rotation_both_selectors_are_checked(dns_server):
    checks = await domain_checks(
        dns_server,
        "good.test",
        DkimTarget("mp1", KEY, pending=False),
        DkimTarget("mp2", OTHER_KEY, pending=True),
    )
    assert checks["dkim"].state == "ok"
    assert checks["dkim-pending"].state == "warning"
    assert "not published at mp2._domainkey.good.test yet" in checks["dkim-pending"].summary


async def test_a_servfail_is_reported_as_could_not_check(dns_server):
    checks = await domain_checks(dns_server, "servfail.test")
    for name in ("spf", "dmarc", "mx"):
        assert checks[name].state == "error"
        assert checks[name].summary == "could not check: the DNS server answered SERVFAIL"


async def test_a_server_that_never_answers_is_a_timeout_not_a_missing_record():
    with LoopbackDns({}, silent=True) as server:
        asker = Asker(f"127.0.0.1:{server.port}", timeout=0.3)
        checks = await check_domain(asker, target("good.test"), PLATFORM)
        ip_checks = await check_ip(asker, IpTarget("127.0.0.11", "mta2.platform.test"), PLATFORM)
    for check in checks + ip_checks:
        assert check.state == "error"
        assert check.summary == "could not check: timeout after 0.3 s"


async def ip_checks(server: LoopbackDns, address: str, hostname: str) -> dict:
    asker = Asker(f"127.0.0.1:{server.port}", timeout=2.0)
    checks = await check_ip(asker, IpTarget(address, hostname), PLATFORM)
    return {check.name: check for check in checks}


@pytest.mark.parametrize(
    ("address", "state", "confirmed", "words"),
    [
        ("127.0.0.10", "ok", True, "forward-confirmed as mta1.platform.test"),
        ("127.0.0.11", "failing", False, "does not resolve back to 127.0.0.11"),
        ("127.0.0.12", "warning", True, "EHLO mta3.platform.test"),
        ("127.0.0.13", "failing", False, "no PTR record"),
    ],
)
async def test_reverse_dns_is_forward_confirmed_and_matches_ehlo(
    dns_server, address, state, confirmed, words
):
    hostname = {"127.0.0.10": "mta1.platform.test", "127.0.0.11": "mta2.platform.test"}
    checks = await ip_checks(dns_server, address, hostname.get(address, "mta3.platform.test"))
    assert checks["ptr"].state == state
    assert checks["ptr"].details["forward_confirmed"] is confirmed
    assert words in checks["ptr"].summary


async def test_a_listed_ip_shows_zone_answer_and_reason(dns_server):
    listing = (await ip_checks(dns_server, "127.0.0.11", "mta2.platform.test"))["dnsbl:bl.test"]
    assert listing.state == "failing"
    assert listing.details == {
        "zone": "bl.test",
        "answer": "127.0.0.2",
        "reason": "Listed for spam traps, see https://bl.test/11",
        "listed": True,
    }
    clean = (await ip_checks(dns_server, "127.0.0.10", "mta1.platform.test"))["dnsbl:bl.test"]
    assert (clean.state, clean.details["listed"]) == ("ok", False)


@pytest.mark.parametrize(
    "address", ["127.0.0.20", "127.0.0.21", "127.0.0.22"], ids=["252", "254", "255"]
)
async def test_a_blocklists_error_answers_are_could_not_check_never_listed(dns_server, address):
    listing = (await ip_checks(dns_server, address, "mta1.platform.test"))["dnsbl:bl.test"]
    assert listing.state == "error"
    assert listing.details["listed"] is False
    assert listing.summary.startswith("could not check: bl.test answered 127.255.255.25")
    asked = [name for name, kind in dns_server.queries if kind == "TXT" and "bl.test" in name]
    assert not any(name.startswith(address.split(".")[-1] + ".") for name in asked)
