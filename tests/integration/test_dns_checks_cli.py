"""`mailpools dns check`, `ips check` and `checks run` against a loopback DNS server, on both
databases: results stored with their time, listed IPs taken out of rotation and brought
back by the system, a rotated DKIM key switched to once its record is published."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlmodel import col, select

from app import settings
from app.demo.dns_server import LoopbackDns
from app.demo.sink import LoopbackSink
from app.sender import run_sender
from app.services import dkim, dns_checks
from data.db import session_scope
from data.models import AuditEvent
from tests.clock_moves import move_clock
from tests.command_line import Cli
from tests.factories import build_world, user
from tests.sending_world import relay_options

SHARED_IPS = [f"127.0.0.{n}" for n in range(2, 8)]
CHECKED_AT = "2026-11-26T09:00:00+00:00"


@pytest.fixture
def cli(engine, database_url, monkeypatch):
    build_world(engine)
    monkeypatch.setenv("MAILPOOLS_SPF_INCLUDE", "_spf.mailpools.test")
    monkeypatch.setenv("MAILPOOLS_INBOUND_HOST", "in.mailpools.test")
    monkeypatch.setenv("MAILPOOLS_DNSBL_ZONES", "bl.test")
    monkeypatch.setenv("MAILPOOLS_DNS_TIMEOUT", "2")
    return Cli(database_url, monkeypatch)


def published(cli: Cli, domain: str) -> dict[tuple[str, str], list[str]]:
    """Every record DOMAIN needs, as `dkim show` tells its owner to publish them."""
    shown = cli.json("dkim", "show", domain)
    return {
        (domain, "TXT"): ["v=spf1 include:_spf.mailpools.test -all"],
        (domain, "MX"): [f"10 mx.{domain}."],
        (shown["name"], "TXT"): [shown["record"]],
        (f"_dmarc.{domain}", "TXT"): ["v=DMARC1; p=reject"],
        (f"bounces.{domain}", "CNAME"): ["in.mailpools.test."],
    }


def platform(listed: dict[str, str] | None = None) -> dict[tuple[str, str], list[str]]:
    """The platform's SPF record, each shared IP's forward-confirmed PTR, and the blocklist
    answers for LISTED (address: answer)."""
    records = {
        ("_spf.mailpools.test", "TXT"): ["v=spf1 ip4:127.0.0.0/24 -all"],
    }
    for address in SHARED_IPS:
        last = address.rsplit(".", 1)[1]
        name = f"mta{last}.mailpools.test"
        records[(f"{last}.0.0.127.in-addr.arpa", "PTR")] = [f"{name}."]
        records[(name, "A")] = [address]
    for address, answer in (listed or {}).items():
        name = ".".join(reversed(address.split("."))) + ".bl.test"
        records[(name, "A")] = [answer]
        records[(name, "TXT")] = [f"{address} sent to spam traps"]
    return records


def serve(cli: Cli, records: dict, **options) -> LoopbackDns:
    server = LoopbackDns(records, **options)
    cli.monkeypatch.setenv("MAILPOOLS_DNS_SERVER", f"127.0.0.1:{server.port}")
    return server


def states(subject: dict) -> dict[str, str]:
    return {check["name"]: check["state"] for check in subject["checks"]}


def test_a_domain_published_as_told_passes_and_its_results_are_kept(cli):
    with serve(cli, {**platform(), **published(cli, "acme.example")}):
        result = cli.json("dns", "check", "acme.example", "--as", "alice")
    assert result["domain"] == "acme.example"
    assert result["state"] == "ok"
    assert states(result) == dict.fromkeys(["spf", "dkim", "dmarc", "return-path", "mx"], "ok")
    assert result["checked_at"] == CHECKED_AT
    # Nothing answers any more, yet what was found is still shown with its time.
    text = cli.ok("dns", "check", "news.acme.example", "--as", "alice")
    assert "news.acme.example:" in text and "could not be checked" in text


def test_a_domain_with_no_records_is_told_what_to_publish(cli):
    with serve(cli, platform()):
        result = cli.json("dns", "check", "news.acme.example", "--as", "alice")
        text = cli.ok("dns", "check", "news.acme.example", "--as", "alice")
    assert set(states(result).values()) == {"failing"}
    spf = next(check for check in result["checks"] if check["name"] == "spf")
    assert spf["expected"] == "v=spf1 include:_spf.mailpools.test -all"
    assert spf["fix"] == (
        "Publish one TXT record at news.acme.example: v=spf1 include:_spf.mailpools.test -all"
    )
    assert "fix:" in text and "expected:" in text


def test_owners_check_only_their_own_domains(cli):
    with serve(cli, platform()):
        refusal = cli.refused("dns", "check", "acme.example", "--as", "bruno")
        assert "acme.example" in refusal
        assert "Only support agents" in cli.refused("ips", "check", "--as", "bruno")
        assert "Only support agents" in cli.refused("checks", "run", "--as", "bruno")


def test_a_servfail_and_a_silent_server_are_could_not_check(cli):
    with serve(cli, platform(), servfail={"acme.example", "_dmarc.acme.example"}):
        result = cli.json("dns", "check", "acme.example", "--as", "alice")
    assert states(result)["spf"] == "error"
    assert result["checks"][0]["summary"] == "could not check: the DNS server answered SERVFAIL"
    cli.monkeypatch.setenv("MAILPOOLS_DNS_TIMEOUT", "0.2")
    with serve(cli, {}, silent=True):
        [ip] = cli.json("ips", "check", "127.0.0.2", "--as", "sam")
    assert set(states(ip).values()) == {"error"}
    assert {check["summary"] for check in ip["checks"]} == {"could not check: timeout after 0.2 s"}
    assert ip_state(cli, "127.0.0.2") == "active"


def ip_state(cli: Cli, address: str) -> str:
    return next(ip["state"] for ip in cli.json("ips", "list") if ip["address"] == address)


def audit_of(engine, action: str) -> list[AuditEvent]:
    with session_scope(engine) as session:
        return list(
            session.exec(
                select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))
            )
        )


def test_a_listed_ip_leaves_rotation_and_a_clean_check_brings_it_back(cli, engine):
    with serve(cli, platform({"127.0.0.2": "127.0.0.2"})):
        [ip] = cli.json("ips", "check", "127.0.0.2", "--as", "sam")
    listing = next(check for check in ip["checks"] if check["name"] == "dnsbl:bl.test")
    assert (listing["state"], listing["zone"], listing["answer"], listing["listed"]) == (
        "failing",
        "bl.test",
        "127.0.0.2",
        True,
    )
    assert listing["reason"] == "127.0.0.2 sent to spam traps"
    ptr = next(check for check in ip["checks"] if check["name"] == "ptr")
    assert ptr["forward_confirmed"] is True
    assert ip_state(cli, "127.0.0.2") == "blocklisted"
    [taken_out] = audit_of(engine, "ip.blocklisted")
    assert (taken_out.actor, taken_out.entity_id) == ("system", "127.0.0.2")
    assert json.loads(taken_out.after or "{}")["zones"] == ["bl.test"]

    with serve(cli, platform()):
        said = cli.ok("ips", "check", "127.0.0.2", "--as", "sam")
    assert "back in rotation (active)" in said
    assert ip_state(cli, "127.0.0.2") == "active"
    [back] = audit_of(engine, "ip.delisted")
    assert (back.actor, json.loads(back.after or "{}")) == ("system", {"state": "active"})


def test_a_pool_keeps_its_last_usable_ip_even_when_listed(cli):
    both = {"127.0.0.2": "127.0.0.2", "127.0.0.3": "127.0.0.4"}
    with serve(cli, platform(both)):
        said = cli.ok("checks", "run", "--as", "sam")
        summary = cli.json("checks", "run", "--as", "sam")
    states_now = {address: ip_state(cli, address) for address in both}
    assert sorted(states_now.values()) == ["active", "blocklisted"]
    kept = next(address for address, state in states_now.items() if state == "active")
    assert f"{kept} is listed on bl.test but stays in rotation" in said
    assert summary["listed_ips"] == ["127.0.0.2", "127.0.0.3"]
    assert (summary["domains"], summary["ips"]) == (7, 12)


@pytest.mark.parametrize("answer", ["127.255.255.252", "127.255.255.254", "127.255.255.255"])
def test_a_blocklists_refusal_never_takes_an_ip_out(cli, answer):
    with serve(cli, platform({"127.0.0.2": answer})):
        [ip] = cli.json("ips", "check", "127.0.0.2", "--as", "sam")
    listing = next(check for check in ip["checks"] if check["name"] == "dnsbl:bl.test")
    assert (listing["state"], listing["listed"]) == ("error", False)
    assert ip_state(cli, "127.0.0.2") == "active"


def test_a_dedicated_pools_listed_ip_stays_unless_configured(cli):
    cli.monkeypatch.setenv("MAILPOOLS_BLOCKLIST_ROTATION", "none")
    with serve(cli, platform({"127.0.0.2": "127.0.0.2"})):
        cli.json("ips", "check", "127.0.0.2", "--as", "sam")
    assert ip_state(cli, "127.0.0.2") == "active"


def test_a_rotated_key_is_signed_with_once_its_record_is_published(cli, engine):
    cli.ok("dkim", "rotate", "acme.example", "--as", "sam")
    status = cli.json("dkim", "show", "acme.example")
    old, new = status["signing_selector"], status["selector"]
    records = {**platform(), **published(cli, "acme.example")}
    # `dkim show` names the waiting key: publish the one in use instead, as before.
    del records[(status["name"], "TXT")]
    with session_scope(engine) as session:
        active = dkim.dkim_status(session, None, "acme.example").active
    records[(active.name, "TXT")] = [active.record]
    with serve(cli, records):
        result = cli.json("dns", "check", "acme.example", "--as", "alice")
    assert states(result)["dkim"] == "ok"
    assert states(result)["dkim-pending"] == "warning"
    assert cli.json("dkim", "show", "acme.example")["signing_selector"] == old

    records[(status["name"], "TXT")] = [status["record"]]
    with serve(cli, records):
        said = cli.ok("dns", "check", "acme.example", "--as", "alice")
    assert f"now signed with {new}" in said
    assert cli.json("dkim", "show", "acme.example")["signing_selector"] == new
    [confirmed] = audit_of(engine, "dkim.confirmed")
    assert confirmed.actor == "system"


def test_the_sender_runs_every_check_in_its_maintenance(cli, engine):
    with (
        serve(cli, {**platform({"127.0.0.4": "127.0.0.2"}), **published(cli, "bolt.example")}),
        LoopbackSink() as sink,
        settings.in_force(settings.Settings.load()),
    ):
        asyncio.run(run_sender(engine, relay_options(sink, dns_check_seconds=3600)))
    assert ip_state(cli, "127.0.0.4") == "blocklisted"
    with session_scope(engine) as session:
        checked = dns_checks.domain_checks(session, user(session, "bruno"), "bolt.example")
    assert (checked.state, checked.summary) == ("ok", "all checks pass")
    assert checked.checked_at is not None and checked.checked_at.isoformat() == CHECKED_AT


def test_senders_share_the_periodic_checks_one_run_an_interval(cli, engine):
    """The checks are about the whole inventory: a sender that starts within the interval
    of another's run leaves them be; one that starts after it runs them."""
    options = {"dns_check_seconds": 3600}
    records = {**platform(), **published(cli, "bolt.example")}
    with serve(cli, records), LoopbackSink() as sink, settings.in_force(settings.Settings.load()):
        asyncio.run(run_sender(engine, relay_options(sink, **options)))
    assert ip_state(cli, "127.0.0.4") == "active"

    listed = {**platform({"127.0.0.4": "127.0.0.2"}), **published(cli, "bolt.example")}
    move_clock("2026-11-26T09:50:00")
    with serve(cli, listed), LoopbackSink() as sink, settings.in_force(settings.Settings.load()):
        asyncio.run(run_sender(engine, relay_options(sink, **options)))
    assert ip_state(cli, "127.0.0.4") == "active"

    move_clock("2026-11-26T10:05:00")
    with serve(cli, listed), LoopbackSink() as sink, settings.in_force(settings.Settings.load()):
        asyncio.run(run_sender(engine, relay_options(sink, **options)))
    assert ip_state(cli, "127.0.0.4") == "blocklisted"
