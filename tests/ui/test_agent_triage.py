"""The triage queue and the decide screen, driven with Pilot on a real database."""

from __future__ import annotations

from sqlmodel import Session, select
from textual.widgets import DataTable, Input, Select, SelectionList, Static

from app.console.app import MailpoolsConsole
from app.services.requests.filing import request_transactional
from app.services.requests.listing import to_view
from data.db import session_scope
from data.models import IpAddress, Notification, PoolRequest
from screens.decide_request import DecideRequestScreen
from screens.triage import TriageScreen
from tests.agent_world import JUSTIFICATION, agent_world
from tests.factories import user
from tests.pilot import settle, wait_for


def _rows(screen) -> list[str]:
    table = screen.query_one("#triage-table", DataTable)
    return [
        str(table.coordinate_to_cell_key((row, 0)).row_key.value) for row in range(table.row_count)
    ]


def _text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def _status(engine, request_id: int) -> PoolRequest:
    with Session(engine) as session:
        return session.get(PoolRequest, request_id)


async def test_agents_open_on_the_queue_oldest_first_with_details(sqlite_engine, monkeypatch):
    ids = agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TriageScreen)
        assert _rows(screen) == [str(ids["bolt"]), str(ids["acme"])]
        detail = _text(screen, "#triage-detail")
        assert "bolt (standard) · filed 3 days ago by bruno" in detail
        assert "Asks for 2 dedicated IPs, expecting 70,000/week; measured 42,630" in detail
        await pilot.press("down")
        detail = _text(screen, "#triage-detail")
        assert "Justification: Receipts, password resets" in detail
        assert "transactional request denied by tess: Campaign traffic" in detail
        assert "bounce 0.50%/5.00%" in detail


async def test_filter_by_kind_and_account_and_search_by_domain(sqlite_engine, monkeypatch):
    ids = agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "tess")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.query_one("#triage-kind", Select).value = "transactional"
        await settle(pilot)
        assert _rows(screen) == [str(ids["acme"])]
        screen.query_one("#triage-kind", Select).clear()
        screen.query_one("#triage-account", Select).value = "bolt"
        await settle(pilot)
        assert _rows(screen) == [str(ids["bolt"])]
        await pilot.press("escape")
        await settle(pilot)
        assert len(_rows(screen)) == 2
        await pilot.press("slash")
        await pilot.press(*"offers")
        await pilot.press("enter")
        await settle(pilot)
        assert _rows(screen) == [str(ids["bolt"])]
        await pilot.press("slash")
        await pilot.press(*"zzz")
        await pilot.press("enter")
        await settle(pilot)
        assert _rows(screen) == []
        assert "No pending request matches" in _text(screen, "#triage-status")


async def test_approving_a_dedicated_request_with_changed_ips_after_confirmation(
    sqlite_engine, monkeypatch
):
    ids = agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DecideRequestScreen)
        choices = screen.query_one(SelectionList)
        assert choices.selected == ["127.0.0.21", "127.0.0.22"]
        assert "$100/month" in _text(screen, "#decide-cost")
        # Swap one suggested IP for another, and one too many first.
        choices.select("127.0.0.25")
        await pilot.click("#approve")
        await settle(pilot)
        assert "Choose exactly 2 IPs" in _text(screen, "#decide-ips-error")
        assert not screen.query_one("#decide-confirm").display
        choices.deselect("127.0.0.22")
        # A button ignores clicks during its short pressed effect; a person clicks after it.
        approve = screen.query_one("#approve")
        await wait_for(pilot, lambda: not approve.has_class("-active"))
        await pilot.click("#approve")
        await settle(pilot)
        assert screen.query_one("#decide-confirm").display
        assert "bolt gets 127.0.0.21, 127.0.0.25" in _text(screen, "#confirm-text")
        assert _status(sqlite_engine, ids["bolt"]).status == "pending"
        await pilot.click("#confirm")
        await settle(pilot)
        assert isinstance(app.screen, TriageScreen)
        assert _rows(app.screen) == [str(ids["acme"])]
    assert _status(sqlite_engine, ids["bolt"]).status == "approved"
    with Session(sqlite_engine) as session:
        owned = session.exec(
            select(IpAddress.address).where(IpAddress.account_id.is_not(None))
        ).all()
    assert sorted(owned) == ["127.0.0.20", "127.0.0.21", "127.0.0.25"]


async def test_denying_needs_a_reason_and_tells_the_owner(sqlite_engine, monkeypatch):
    ids = agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        screen = app.screen
        assert not screen.query_one("#decide-ips-box").display
        await pilot.click("#deny")
        await settle(pilot)
        assert "A denial needs a reason" in _text(screen, "#decide-reason-error")
        assert screen.query_one("#decide-reason", Input).has_focus
        await pilot.press(*"Still sends newsletters")
        await pilot.press("enter")
        await settle(pilot)
        assert "acme is told: “Still sends newsletters”" in _text(screen, "#confirm-text")
        await pilot.click("#cancel")
        await settle(pilot)
        assert _status(sqlite_engine, ids["acme"]).status == "pending"
        await pilot.click("#deny")
        await settle(pilot)
        await pilot.click("#confirm")
        await settle(pilot)
        assert isinstance(app.screen, TriageScreen)
    request = _status(sqlite_engine, ids["acme"])
    assert (request.status, request.decision_reason) == ("denied", "Still sends newsletters")
    with Session(sqlite_engine) as session:
        told = session.exec(select(Notification).where(Notification.kind == "request_denied")).all()
    assert [n.body for n in told][-1] == "Still sends newsletters"


async def test_two_agents_deciding_at_once_one_wins_the_other_sees_who(sqlite_engine, monkeypatch):
    ids = agent_world(sqlite_engine)
    sam_app = MailpoolsConsole(sqlite_engine, "sam")
    tess_app = MailpoolsConsole(sqlite_engine, "tess")
    async with sam_app.run_test(size=(120, 40)) as sam, tess_app.run_test(size=(120, 40)) as tess:
        for app, pilot in ((sam_app, sam), (tess_app, tess)):
            await settle(pilot)
            await pilot.press("down", "enter")
            await settle(pilot)
            await pilot.click("#approve")
            await settle(pilot)
            assert app.screen.query_one("#decide-confirm").display
        await sam.click("#confirm")
        await settle(sam)
        await tess.click("#confirm")
        await settle(tess)
        screen = tess_app.screen
        assert isinstance(screen, DecideRequestScreen)
        assert f"Request #{ids['acme']} was already approved by sam." in _text(
            screen, "#decide-error"
        )
        assert screen.query_one("#approve").disabled and screen.query_one("#deny").disabled
        assert not screen.query_one("#decide-confirm").display
    with Session(sqlite_engine) as session:
        decided = to_view(session, session.get(PoolRequest, ids["acme"]))
    assert (decided.status, decided.reviewer) == ("approved", "sam")


async def test_owners_never_reach_the_agents_screens(sqlite_engine, monkeypatch):
    agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert not isinstance(app.screen, TriageScreen)
        start = type(app.screen)
        for key in "12345":
            await pilot.press(key)
            await settle(pilot)
            assert type(app.screen) is start
        # Even a triage screen opened by hand shows the services' refusal, not the queue.
        app.push_screen(TriageScreen())
        await settle(pilot)
        assert _rows(app.screen) == []
        assert "Only support agents and admins may triage requests" in _text(
            app.screen, "#triage-status"
        )


def _file_for_bolt(engine) -> int:
    with session_scope(engine) as session:
        return request_transactional(
            session,
            user(session, "bruno"),
            "bolt.example",
            justification=JUSTIFICATION,
            confirmation="bolt.example",
        ).subject.id


async def test_the_queue_picks_up_new_requests_by_itself(sqlite_engine, monkeypatch):
    ids = agent_world(sqlite_engine)
    monkeypatch.setattr("screens.triage.QUEUE_REFRESH_SECONDS", 0.5)
    app = MailpoolsConsole(sqlite_engine, "sam")
    before = [str(ids["bolt"]), str(ids["acme"])]
    async with app.run_test(size=(120, 40)) as pilot:
        # The refresh keeps starting workers, so wait for the queue rather than for quiet;
        # the screen is current a moment before its table is mounted.
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, TriageScreen)
                and bool(app.screen.query("#triage-table"))
                and _rows(app.screen) == before
            ),
        )
        filed = _file_for_bolt(sqlite_engine)
        # No key is pressed: only the screen's own refresh can bring the new request in.
        await wait_for(pilot, lambda: str(filed) in _rows(app.screen))
        assert _rows(app.screen) == [*before, str(filed)]


async def test_ctrl_r_reloads_the_queue(sqlite_engine, monkeypatch):
    ids = agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        filed = _file_for_bolt(sqlite_engine)
        await settle(pilot)
        assert str(filed) not in _rows(app.screen)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert _rows(app.screen) == [str(ids["bolt"]), str(ids["acme"]), str(filed)]
