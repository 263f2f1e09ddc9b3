"""Agents' changes to pools ask first: pausing, weighing, removing and reinstating
open a confirmation (Enter confirms, Esc cancels), keys typed into a field stay in
the field, and a removal reason must be one the owner can act on."""

from __future__ import annotations

from sqlmodel import Session, col, select
from textual.widgets import Button, DataTable, Input, Static

from app.console.app import MailpoolsConsole
from app.services import pools
from data.db import session_scope
from data.models import AuditEvent, Domain, DomainDailyStat, IpAddress
from screens.confirm_dialog import ConfirmDialog
from screens.pools import PoolsScreen
from screens.prompt_dialog import PromptDialog
from tests.agent_world import agent_world
from tests.factories import user
from tests.pilot import Toasts, settle


def _state(engine, address: str) -> str:
    with Session(engine) as session:
        return session.exec(select(IpAddress.state).where(IpAddress.address == address)).one()


def _status(engine, name: str) -> str:
    with Session(engine) as session:
        return session.exec(select(Domain.status).where(Domain.name == name)).one()


def _pool_changes(engine) -> list[str]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(AuditEvent.action).where(
                    col(AuditEvent.action).in_(
                        ["ip.pause", "ip.weight", "domain.remove", "domain.reinstate"]
                    )
                )
            )
        )


def _text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def _pools(app, pilot) -> PoolsScreen:
    await settle(pilot)
    await pilot.press("2")
    await settle(pilot)
    assert isinstance(app.screen, PoolsScreen)
    return app.screen


async def test_pausing_an_ip_asks_first_and_escape_or_cancel_change_nothing(sqlite_engine):
    agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "sam")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _pools(app, pilot)
        # The focus is on the pools table, not on the IPs: the question names the IP.
        assert screen.query_one("#pools-table", DataTable).has_focus
        await pilot.press("p")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        question = _text(dialog, "#confirm-question")
        assert question.startswith("Pause 127.0.0.2 of shared-a? It sends nothing until")
        assert "Its 33% of the pool's traffic goes to the other IP." in question
        confirm = dialog.query_one("#confirm-change", Button)
        assert confirm.has_focus and confirm.styles.text_style.reverse
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and _state(sqlite_engine, "127.0.0.2") == "active"

        await pilot.press("p")
        await settle(pilot)
        await pilot.press("tab")
        cancel = app.screen.query_one("#cancel-change", Button)
        assert cancel.has_focus and cancel.styles.text_style.reverse
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen and _state(sqlite_engine, "127.0.0.2") == "active"
        assert _pool_changes(sqlite_engine) == []

        await pilot.press("p")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert _state(sqlite_engine, "127.0.0.2") == "paused"
    assert _pool_changes(sqlite_engine) == ["ip.pause"]


async def test_keys_typed_into_a_field_stay_in_the_field(sqlite_engine):
    agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        await _pools(app, pilot)
        await pilot.press("w")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, PromptDialog)
        field = dialog.query_one(Input)
        field.value = ""
        await pilot.press(*"pudwr2")
        await settle(pilot)
        assert app.screen is dialog
        assert field.value == "pudwr2"
        await pilot.press("escape")
        await settle(pilot)
    assert _state(sqlite_engine, "127.0.0.2") == "active"
    assert _pool_changes(sqlite_engine) == []


async def test_changing_a_weight_asks_first_with_the_share_it_gives(sqlite_engine):
    agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "tess")
    async with app.run_test(size=(80, 24)) as pilot:
        await _pools(app, pilot)
        await pilot.press("w")
        await settle(pilot)
        prompt = app.screen
        prompt.query_one(Input).value = "0"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert (
            "Change the weight of 127.0.0.2 from 1 to 0? Its share of the pool's traffic "
            "goes from 33% to 0%." in _text(app.screen, "#confirm-question")
        )
        # Esc goes back to the field, to change the value or leave.
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is prompt and prompt.query_one(Input).has_focus
    assert _pool_changes(sqlite_engine) == []


async def test_a_removal_reason_must_be_one_the_owner_can_act_on(sqlite_engine):
    agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _pools(app, pilot)
        name = str(screen.query_one("#pool-domains", DataTable).get_row_at(0)[0])
        await pilot.press("d")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, PromptDialog)
        await pilot.press("x", "enter")
        await settle(pilot)
        assert app.screen is dialog
        assert "Write the reason in words the owner can act on" in _text(dialog, "#prompt-error")
        assert _status(sqlite_engine, name) == "active"
    assert _pool_changes(sqlite_engine) == []


async def test_reinstating_shows_the_rates_against_the_limits_and_warns_when_still_over(
    sqlite_engine,
):
    agent_world(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        offers = session.exec(select(Domain).where(Domain.name == "offers.bolt.example")).one()
        # Its week in the world bounced 1.5%; make it 13%, well over shared-a's 5%.
        for stat in session.exec(
            select(DomainDailyStat).where(DomainDailyStat.domain_id == offers.id)
        ):
            stat.bounced = 900
            session.add(stat)
    with session_scope(sqlite_engine) as session:
        for name in ("offers.bolt.example", "acme.example"):
            pools.remove_domain(
                session, user(session, "tess"), name, reason="Bounces far over the limit."
            )
    app = MailpoolsConsole(sqlite_engine, "sam")
    toasts = Toasts()
    async with app.run_test(size=(120, 40), message_hook=toasts) as pilot:
        screen = await _pools(app, pilot)
        members = screen.query_one("#pool-domains", DataTable)
        names = [str(members.get_row_at(row)[0]) for row in range(members.row_count)]

        members.move_cursor(row=names.index("offers.bolt.example"))
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        question = _text(app.screen, "#confirm-question")
        assert "Over the last 7 days in shared-a" in question
        assert "against a limit of 5.00%" in question
        assert "⚠ Still over shared-a's limits: the next health check will likely remove " in (
            question
        )
        await pilot.press("escape")
        await settle(pilot)
        assert _status(sqlite_engine, "offers.bolt.example") == "removed"

        members.move_cursor(row=names.index("acme.example"))
        await pilot.press("r")
        await settle(pilot)
        question = _text(app.screen, "#confirm-question")
        assert "bounces 0.50% against a limit of 5.00%" in question
        assert "Still over" not in question
        assert "Reinstate acme.example in shared-a?" in question
        await pilot.press("enter")
        await settle(pilot)
        assert _status(sqlite_engine, "acme.example") == "active"

        members.move_cursor(row=names.index("offers.bolt.example"))
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
    assert _status(sqlite_engine, "offers.bolt.example") == "active"
    assert any("still over shared-a's limits" in toast for toast in toasts.messages)
