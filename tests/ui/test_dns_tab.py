"""The DNS tab: the last checks as stored, and k checking again in a worker against the
configured DNS server while the console keeps answering."""

from __future__ import annotations

from app import settings
from app.demo import dns_zones
from app.demo.dns_server import LoopbackDns
from app.settings import Settings
from tests.pilot import settle, wait_for
from tests.ui.conftest import TERMINAL, make_console


def dns_text(app) -> str:
    pane = app.screen.query_one("#dns")
    return "\n".join(str(widget.render()) for widget in pane.query("Static"))


async def test_k_checks_again_and_the_tab_shows_what_was_found(world):
    records = dns_zones.demo_records(world)
    with (
        LoopbackDns(records) as server,
        settings.in_force(dns_zones.with_demo_dns(Settings(), server.port)),
    ):
        app = make_console(world, "alice")
        async with app.run_test(size=TERMINAL) as pilot:
            await settle(pilot)
            app.open_domain("news.acme.example", "dns")
            await settle(pilot)
            assert "No DNS check has run for this domain yet" in dns_text(app)
            await pilot.press("k")
            await wait_for(pilot, lambda: "DKIM" in dns_text(app))
            shown = dns_text(app)
            assert "no key record at" in shown
            assert "Publish a TXT record at" in shown
            assert "SPF" in shown and "authorizes the sending IPs" in shown
            # The key belongs to the DNS tab: on the others it does nothing.
            await pilot.press("1")
            await settle(pilot)
            asked = len(server.queries)
            await pilot.press("k")
            await settle(pilot)
            assert len(server.queries) == asked


async def test_mail_servers_says_when_a_check_is_not_ok(world):
    dns_zones.check_everything(world)
    app = make_console(world, "bruno")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("offers.bolt.example", "mail-servers")
        await settle(pilot)
        summary = str(app.screen.query_one("#dns-summary").render())
        assert summary == "DNS: SPF failing: see the DNS tab (3)"
        app.open_domain("bolt.example", "mail-servers")
        await settle(pilot)
        assert not app.screen.query("#dns-summary")
