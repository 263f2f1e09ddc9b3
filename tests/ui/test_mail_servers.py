"""The Mail Servers tab: the three ways, both request forms with good and bad input,
the pending state with its age, approval from the command line and the warm-up view."""

from __future__ import annotations

from sqlmodel import select

from app import clock
from app.services import pools
from app.services.requests import decisions, filing
from data.db import session_scope
from data.models import PoolRequest, RequestStatus, Warmup, WarmupHold
from tests.clock_moves import move_clock
from tests.command_line import Cli
from tests.factories import user
from tests.pilot import Toasts, settle, wait_for
from tests.ui.conftest import TERMINAL, add_daily_stats, make_console

GOOD_JUSTIFICATION = (
    "Invoices, payment receipts and password resets for Acme customers, "
    "each sent when the customer acts."
)


def content(app, selector: str) -> str:
    return str(app.screen.query_one(selector).content)


def requests_in(engine) -> list[PoolRequest]:
    with session_scope(engine) as session:
        return list(session.exec(select(PoolRequest).order_by(PoolRequest.id)))


async def open_mail_servers(pilot, domain: str, way: str) -> None:
    pilot.app.open_domain(domain, "mail-servers")
    await settle(pilot)
    pilot.app.screen.query_one("#ways").choose(way)
    await settle(pilot)


async def type_into(pilot, selector: str, text: str) -> None:
    pilot.app.screen.query_one(selector).focus()
    await pilot.press(*text)
    await settle(pilot)


async def click(pilot, selector: str) -> None:
    """Scroll the widget into view and click it, as a mouse user would."""
    pilot.app.screen.query_one(selector).scroll_visible(animate=False)
    await settle(pilot)
    await pilot.click(selector)


async def test_shared_way_shows_pool_ips_and_rates_against_limits(world):
    add_daily_stats(world, "acme.example", sent=1_000, bounced=45)
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("acme.example", "mail-servers")
        await settle(pilot)
        picker = app.screen.query_one("#ways")
        assert picker.selected == picker.current == "shared"
        assert "◉ Shared pool (now)" in str(picker.render())
        pool = content(app, "#shared-pool")
        assert "shared-a" in pool and "127.0.0.2" in pool and "mta2.shared-a.mailpools.test" in pool
        bounce = str(app.screen.query_one("#gauge-bounce").render())
        # 315 of 7,315 is 4.31%: near the 5% limit, not over it.
        assert "4.31%" in bounce and "limit 5.00%" in bounce and "near the limit" in bounce


async def test_the_ways_are_chosen_with_arrow_keys_or_the_mouse(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("acme.example", "mail-servers")
        await settle(pilot)
        picker = app.screen.query_one("#ways")
        picker.focus()
        await pilot.press("right")
        await settle(pilot)
        assert picker.selected == "transactional"
        assert app.screen.query_one("#way-details").current == "way-transactional"
        assert app.screen.query("#transactional-form")
        await pilot.press("left", "left")
        await settle(pilot)
        assert picker.selected == "dedicated"
        text = str(picker.render())
        await pilot.click("#ways", offset=(2 + text.index("Shared"), 1))
        await settle(pilot)
        assert picker.selected == "shared"
        await pilot.click("#ways", offset=(2 + text.index("Transactional"), 1))
        await settle(pilot)
        assert picker.selected == "transactional"
        assert picker.current == "shared"


async def test_removed_domain_says_why_when_and_what_next(world):
    with session_scope(world) as session:
        pools.remove_domain(
            session, user(session, "sam"), "news.acme.example", reason="Bounces at 9% for a week."
        )
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("news.acme.example", "mail-servers")
        await settle(pilot)
        notice = content(app, "#removed-notice")
        assert "Removed from shared-b now" in notice
        assert "Bounces at 9% for a week." in notice
        assert "ask support to reinstate" in notice


async def test_transactional_needs_the_transactional_service(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await open_mail_servers(pilot, "news.acme.example", "transactional")
        assert "not used with the transactional service" in content(
            app, "#transactional-ineligible"
        )
        assert not app.screen.query("#transactional-form")


async def test_transactional_form_refuses_bad_input_next_to_each_field(world):
    add_daily_stats(world, "acme.example", days=30, sent=100, campaign=40, broadcast=10)
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await open_mail_servers(pilot, "acme.example", "transactional")
        warning = content(app, "#transactional-warning")
        assert "campaigns and broadcasts from it stop working" in warning
        assert "1,200 campaign and 300 broadcast emails" in warning

        await type_into(pilot, "#justification", "test stuff")
        assert "at least 6 words" in content(app, "#justification-error")
        await click(pilot, "#submit-transactional")
        await settle(pilot)
        assert "at least 6 words" in content(app, "#justification-error")

        app.screen.query_one("#justification").text = GOOD_JUSTIFICATION
        await settle(pilot)
        assert "✓" in content(app, "#justification-error")
        await type_into(pilot, "#confirmation", "acme.exampel")
        assert "Does not match" in content(app, "#confirmation-error")
        await click(pilot, "#submit-transactional")
        await settle(pilot)
        assert "Type the domain name exactly" in content(app, "#confirmation-error")

        app.screen.query_one("#confirmation").value = "ACME.example"
        await settle(pilot)
        await click(pilot, "#submit-transactional")
        await settle(pilot)
        assert "acknowledge" in content(app, "#acknowledge-error")
        assert requests_in(world) == []


async def test_transactional_request_is_filed_and_shows_pending_with_its_age(world, monkeypatch):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await open_mail_servers(pilot, "acme.example", "transactional")
        app.screen.query_one("#justification").text = GOOD_JUSTIFICATION
        app.screen.query_one("#confirmation").value = "acme.example"
        app.screen.query_one("#acknowledge").value = True
        await settle(pilot)
        await click(pilot, "#submit-transactional")
        await settle(pilot)
        [request] = requests_in(world)
        assert request.kind == "transactional" and request.status == RequestStatus.PENDING
        await open_mail_servers(pilot, "acme.example", "transactional")
        assert "filed now" in content(app, "#pending-transactional")

        move_clock("2026-11-26T11:00:00")
        await pilot.press("r")
        await settle(pilot)
        app.screen.query_one("#ways").choose("transactional")
        await settle(pilot)
        assert f"Request #{request.id}" in content(app, "#pending-transactional")
        assert "filed 2 hours ago" in content(app, "#pending-transactional")


async def test_dedicated_form_shows_eligibility_and_cost_as_the_owner_types(world):
    add_daily_stats(world, "news.acme.example", sent=3_000)
    add_daily_stats(world, "acme.example", sent=1_000)
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await open_mail_servers(pilot, "news.acme.example", "dedicated")
        await type_into(pilot, "#volume", "40k")
        eligibility = content(app, "#eligibility")
        assert "Not eligible: 40,000 a week" in eligibility
        assert "measured recently: 21,000/week" in eligibility
        app.screen.query_one("#volume").value = "80,000"
        await settle(pilot)
        assert "Eligible: 80,000 a week across 1 domain" in content(app, "#eligibility")
        assert "3 of your 3 free Premium IPs left — this request: $0/month" in content(app, "#cost")
        app.screen.query_one("#ips").value = "4"
        await settle(pilot)
        assert "this request: $50/month" in content(app, "#cost")
        app.screen.query_one("#domains").select("acme.example")
        await settle(pilot)
        assert "across 2 domains" in content(app, "#eligibility")
        assert "measured recently: 28,000/week" in content(app, "#eligibility")
        app.screen.query_one("#volume").value = "lots"
        await settle(pilot)
        assert "not a number of emails" in content(app, "#volume-error")


async def test_dedicated_form_refuses_low_volume_next_to_the_field_and_files_nothing(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await open_mail_servers(pilot, "news.acme.example", "dedicated")
        app.screen.query_one("#volume").value = "30k"
        await settle(pilot)
        await click(pilot, "#submit-dedicated")
        await settle(pilot)
        assert "at least 50,000 emails a week" in content(app, "#volume-error")
        app.screen.query_one("#volume").value = "80k"
        app.screen.query_one("#ips").value = "99"
        await settle(pilot)
        await click(pilot, "#submit-dedicated")
        await settle(pilot)
        assert "between 1 and 10" in content(app, "#ips-error")
        assert requests_in(world) == []


async def test_dedicated_request_approved_from_the_command_line_shows_the_warm_up(
    world, monkeypatch
):
    app = make_console(world, "alice", poll_seconds=0.1)
    toasts = Toasts()
    async with app.run_test(size=TERMINAL, message_hook=toasts) as pilot:
        await settle(pilot)
        await open_mail_servers(pilot, "news.acme.example", "dedicated")
        app.screen.query_one("#volume").value = "80k"
        await settle(pilot)
        await click(pilot, "#submit-dedicated")
        await settle(pilot)
        [request] = requests_in(world)
        assert "pending review" in content(app, "#pending-dedicated")

        Cli(str(world.url), monkeypatch).ok("requests", "approve", str(request.id), "--as", "sam")

        await wait_for(pilot, lambda: any("approved" in title for title in toasts.titles))
        await wait_for(pilot, lambda: app.screen.query("#warmup-status"))
        await settle(pilot)
        status = content(app, "#warmup-status")
        assert "day 1 of about 42" in status
        assert "Today 2% of messages go out from the dedicated IPs" in status
        assert "in 42 days" in status
        assert app.screen.query_one("#ways").selected == "dedicated"
        chart = str(app.screen.query_one("#warmup-chart").render())
        assert "today: day 1" in chart and "day 42" in chart


async def test_warm_up_view_shows_progress_held_days_and_completion(world, monkeypatch):
    with session_scope(world) as session:
        request = filing.request_dedicated(
            session, user(session, "alice"), ["news.acme.example"], weekly_volume=50_000
        ).subject
    with session_scope(world) as session:
        decisions.approve(session, user(session, "sam"), request.id)
    with session_scope(world) as session:
        warmup = session.exec(select(Warmup)).one()
        warmup.current_day = 12
        warmup.held_days = 1
        session.add(warmup)
        session.add(
            WarmupHold(
                warmup_id=warmup.id,
                day=warmup.started_on,
                reason="Bounce rate 6.2% over the 5.0% limit.",
            )
        )
        warmup_id = warmup.id
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("news.acme.example", "mail-servers")
        await settle(pilot)
        status = content(app, "#warmup-status")
        assert "day 12 of about 45" in status
        assert "in 34 days (30 Dec 2026)" in status
        assert "Bounce rate 6.2% over the 5.0% limit." in content(app, "#warmup-holds")

    with session_scope(world) as session:
        warmup = session.get(Warmup, warmup_id)
        warmup.state = "complete"
        warmup.current_day = 45
        warmup.completed_at = clock.now()
        session.add(warmup)
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("news.acme.example", "mail-servers")
        await settle(pilot)
        assert "all sending now uses the dedicated IPs" in content(app, "#warmup-status")


async def test_domain_can_ask_to_join_the_accounts_existing_dedicated_ips(world):
    with session_scope(world) as session:
        request = filing.request_dedicated(
            session, user(session, "alice"), ["news.acme.example"], weekly_volume="60k"
        ).subject
    with session_scope(world) as session:
        decisions.approve(session, user(session, "sam"), request.id)
    add_daily_stats(world, "news.acme.example", sent=6_000)
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await open_mail_servers(pilot, "acme.example", "dedicated")
        app.screen.query_one("#pool").value = "acme-dedicated-1"
        await settle(pilot)
        assert app.screen.query_one("#new-ips-fields").display is False
        app.screen.query_one("#volume").value = "10k"
        await settle(pilot)
        assert "Eligible: 52,000 a week with acme-dedicated-1's 42,000/week" in content(
            app, "#eligibility"
        )
        assert "$0/month" in content(app, "#cost")
        await click(pilot, "#submit-dedicated")
        await settle(pilot)
        filed = requests_in(world)[-1]
        assert filed.status == RequestStatus.PENDING and filed.dedicated_pool_id is not None
        assert "to join acme-dedicated-1" in content(app, "#pending-dedicated")


async def test_ctrl_s_files_the_form_being_typed_in(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await open_mail_servers(pilot, "news.acme.example", "dedicated")
        await type_into(pilot, "#volume", "75k")
        await pilot.press("ctrl+s")
        await settle(pilot)
        [request] = requests_in(world)
        assert request.expected_weekly_volume == 75_000 and request.ip_count == 1
        assert "pending review" in content(app, "#pending-dedicated")


async def test_a_denied_request_shows_its_reason_above_a_fresh_form(world, monkeypatch):
    with session_scope(world) as session:
        request = filing.request_transactional(
            session,
            user(session, "alice"),
            "acme.example",
            justification=GOOD_JUSTIFICATION,
            confirmation="acme.example",
        ).subject
    Cli(str(world.url), monkeypatch).ok(
        "requests",
        "deny",
        str(request.id),
        "--reason",
        "Half its mail is newsletters.",
        "--as",
        "tess",
    )
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await open_mail_servers(pilot, "acme.example", "transactional")
        texts = [str(widget.content) for widget in app.screen.query("#way-transactional Static")]
        assert any(
            f"Your last request (#{request.id}) was denied now: Half its mail is newsletters."
            in text
            for text in texts
        )
        assert app.screen.query("#transactional-form")
