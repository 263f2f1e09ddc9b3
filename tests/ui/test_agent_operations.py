"""Pools, warm-ups, flags and the audit log, driven with Pilot on a real database."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select
from textual.widgets import DataTable, Input, Select, Static

from app import clock
from app.console.app import MailpoolsConsole
from app.sender import store
from app.services.outbox import enqueue
from data.db import session_scope
from data.models import AuditEvent, Domain, IpAddress, Pool, Warmup
from screens.audit_log import AuditLogScreen
from screens.confirm_dialog import ConfirmDialog
from screens.flags import FlagsScreen
from screens.pools import PoolsScreen
from screens.prompt_dialog import PromptDialog
from screens.warmups import WarmupsScreen
from tests.agent_world import agent_world
from tests.factories import user
from tests.pilot import Toasts, settle


def _keys(screen, selector: str) -> list[str]:
    table = screen.query_one(selector, DataTable)
    return [
        str(table.coordinate_to_cell_key((row, 0)).row_key.value) for row in range(table.row_count)
    ]


def _text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def _ip(engine, address: str) -> IpAddress:
    with Session(engine) as session:
        return session.exec(select(IpAddress).where(IpAddress.address == address)).one()


def _domain(engine, name: str) -> Domain:
    with Session(engine) as session:
        return session.exec(select(Domain).where(Domain.name == name)).one()


async def _open(app, pilot, key: str, screen_type):
    await settle(pilot)
    await pilot.press(key)
    await settle(pilot)
    assert isinstance(app.screen, screen_type)
    return app.screen


async def test_pools_show_ips_and_members_and_pause_resume_an_ip(sqlite_engine, monkeypatch):
    agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "sam")
    toasts = Toasts()
    async with app.run_test(size=(120, 40), message_hook=toasts) as pilot:
        screen = await _open(app, pilot, "2", PoolsScreen)
        assert _keys(screen, "#pools-table") == [
            "shared-a",
            "shared-b",
            "transactional",
            "corvid-dedicated-1",
        ]
        assert _keys(screen, "#pool-ips") == ["127.0.0.2", "127.0.0.3"]
        assert "limits: bounce 5.00%, complaints 0.30% over 7 days" in _text(
            screen, "#pool-summary"
        )
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")
        await settle(pilot)
        assert _ip(sqlite_engine, "127.0.0.2").state == "paused"
        assert "127.0.0.2 is paused: it sends nothing until it is resumed." in toasts.messages
        # The other IP is now the pool's last one taking traffic: refused before any
        # confirmation, nothing changes.
        screen.query_one("#pool-ips", DataTable).move_cursor(row=1)
        await pilot.press("p")
        await settle(pilot)
        assert app.screen is screen
        assert any("no IP to send from" in toast for toast in toasts.messages)
        assert _ip(sqlite_engine, "127.0.0.3").state == "active"
        screen.query_one("#pool-ips", DataTable).move_cursor(row=0)
        await pilot.press("u")
        await settle(pilot)
        assert _ip(sqlite_engine, "127.0.0.2").state == "active"
        await pilot.press("u")
        await settle(pilot)
        assert any("127.0.0.2 is active, not paused" in toast for toast in toasts.messages)
        await pilot.press("down")
        await settle(pilot)
        assert _keys(screen, "#pool-ips") == ["127.0.0.4", "127.0.0.5"]


async def test_a_shared_pool_counts_the_domains_warming_beside_it(sqlite_engine, monkeypatch):
    agent_world(sqlite_engine)
    with Session(sqlite_engine) as session:
        corvid = session.exec(select(Domain).where(Domain.name == "corvid.example")).one()
        shared = session.get(Pool, corvid.shared_pool_id)
        assert shared is not None
        on_shared = session.exec(select(Domain).where(Domain.shared_pool_id == shared.id)).all()
        own = [d.name for d in on_shared if d.sending_mode == "shared"]
        beside = [d.name for d in on_shared if d.sending_mode == "dedicated"]
    assert "corvid.example" in beside
    app = MailpoolsConsole(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(app, pilot, "2", PoolsScreen)
        pools = screen.query_one("#pools-table", DataTable)
        pools.move_cursor(row=_keys(screen, "#pools-table").index(shared.name))
        await settle(pilot)
        assert str(pools.get_cell(shared.name, "domains")) == f"{len(own)} + {len(beside)}"
        warming = f"+ {len(beside)} domain{'s' if len(beside) > 1 else ''} warming beside it"
        assert warming in _text(screen, "#pool-summary")
        assert _keys(screen, "#pool-domains") == sorted(own) + sorted(beside)
        members = screen.query_one("#pool-domains", DataTable)
        assert str(members.get_cell("corvid.example", "status")) == "warming"


async def test_changing_an_ip_weight_refuses_bad_input_in_the_dialog(sqlite_engine, monkeypatch):
    agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "tess")
    toasts = Toasts()
    async with app.run_test(size=(120, 40), message_hook=toasts) as pilot:
        await _open(app, pilot, "2", PoolsScreen)
        await pilot.press("w")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, PromptDialog)
        assert dialog.query_one(Input).value == "1"
        dialog.query_one(Input).value = "heavy"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog
        assert "whole number from 0 to 100, not 'heavy'" in _text(dialog, "#prompt-error")
        dialog.query_one(Input).value = "5"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert "from 1 to 5? Its share of the pool's traffic goes from 33% to 71%." in _text(
            app.screen, "#confirm-question"
        )
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PoolsScreen)
        assert "127.0.0.2 now has weight 5." in toasts.messages
    assert _ip(sqlite_engine, "127.0.0.2").weight == 5


async def test_removing_a_domain_needs_a_reason_and_reinstating_brings_it_back(
    sqlite_engine, monkeypatch
):
    agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "sam")
    toasts = Toasts()
    async with app.run_test(size=(120, 40), message_hook=toasts) as pilot:
        screen = await _open(app, pilot, "2", PoolsScreen)
        name = _keys(screen, "#pool-domains")[0]
        await pilot.press("d")
        await settle(pilot)
        dialog = app.screen
        await pilot.press("enter")
        await settle(pilot)
        assert "Say why the domain is removed" in _text(dialog, "#prompt-error")
        assert _domain(sqlite_engine, name).status == "active"
        await pilot.press(*"Complaints over the limit all week")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert "is told: “Complaints over the limit all week”" in _text(
            app.screen, "#confirm-question"
        )
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PoolsScreen)
        assert _domain(sqlite_engine, name).removed_reason == "Complaints over the limit all week"
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")
        await settle(pilot)
        assert _domain(sqlite_engine, name).status == "active"
        await pilot.press("r")
        await settle(pilot)
        assert any(f"{name} is not removed from its pool" in toast for toast in toasts.messages)
    with Session(sqlite_engine) as session:
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.actor == "sam")).all()
    assert actions[-2:] == ["domain.remove", "domain.reinstate"]


async def test_warmups_pause_and_resume(sqlite_engine, monkeypatch):
    agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "sam")
    toasts = Toasts()
    async with app.run_test(size=(120, 40), message_hook=toasts) as pilot:
        screen = await _open(app, pilot, "3", WarmupsScreen)
        table = screen.query_one(DataTable)
        assert table.row_count == 1
        assert "corvid-dedicated-1 · corvid · expects 60,000/week" in _text(
            screen, "#warmup-detail"
        )
        await pilot.press("p")
        await settle(pilot)
        with Session(sqlite_engine) as session:
            assert session.exec(select(Warmup)).one().state == "paused"
        assert "paused" in str(table.get_row_at(0)[2])
        await pilot.press("p")
        await settle(pilot)
        assert any("already paused" in toast for toast in toasts.messages)
        await pilot.press("u")
        await settle(pilot)
        with Session(sqlite_engine) as session:
            assert session.exec(select(Warmup)).one().state == "running"


async def test_flags_show_low_volume_ips_and_domains_near_limits(sqlite_engine, monkeypatch):
    agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "root")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(app, pilot, "4", FlagsScreen)
        assert _keys(screen, "#low-volume") == ["127.0.0.20"]
        assert _keys(screen, "#near-thresholds") == ["news.acme.example"]
        assert _text(screen, "#near-title").endswith("thresholds: 1")
        assert _text(screen, "#low-volume-title").endswith("domains: 1")


async def test_audit_log_filters_by_user_kind_account_and_domain(sqlite_engine, monkeypatch):
    agent_world(sqlite_engine)
    app = MailpoolsConsole(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(app, pilot, "5", AuditLogScreen)
        table = screen.query_one(DataTable)
        everything = table.row_count
        assert everything > 20
        screen.query_one("#audit-user", Select).value = "tess"
        await settle(pilot)
        assert [str(table.get_row_at(r)[2]) for r in range(table.row_count)] == [
            "request.transactional.deny"
        ]
        assert "Campaign traffic seen" in _text(screen, "#audit-detail")
        assert 'before: {"status": "pending"}' in _text(screen, "#audit-detail")
        screen.query_one("#audit-user", Select).clear()
        screen.query_one("#audit-kind", Select).value = "request"
        screen.query_one("#audit-account", Select).value = "acme"
        await settle(pilot)
        assert {str(table.get_row_at(r)[4]) for r in range(table.row_count)} == {"acme"}
        assert {str(table.get_row_at(r)[2]).split(".")[0] for r in range(table.row_count)} == {
            "request"
        }
        await pilot.press("escape")
        await settle(pilot)
        assert table.row_count == everything
        await pilot.press("slash")
        await pilot.press(*"nowhere.example", "enter")
        await settle(pilot)
        assert table.row_count == 0
        assert "no sending domain named 'nowhere.example'" in _text(screen, "#audit-status")
        screen.query_one("#audit-domain", Input).value = "offers.bolt.example"
        await pilot.press("slash", "enter")
        await settle(pilot)
        assert table.row_count >= 2
        assert {str(table.get_row_at(r)[3]) for r in range(table.row_count)} == {
            "offers.bolt.example"
        }


async def test_help_lists_the_agents_keys_for_agents_only(sqlite_engine, monkeypatch):
    agent_world(sqlite_engine)
    for name, shown in (("sam", True), ("alice", False)):
        app = MailpoolsConsole(sqlite_engine, name)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("question_mark")
            await settle(pilot)
            keys = app.screen.query_one("#help-keys", Static).content
            rows = [str(cell) for column in keys.columns for cell in column.cells]
            assert ("Triage, Pools, Warm-ups, Flags, Audit" in rows) is shown


async def test_audit_log_leaves_out_messages_unless_asked_and_can_leave_out_a_kind(
    sqlite_engine, monkeypatch
):
    agent_world(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        for _ in range(3):
            enqueue(
                session,
                user(session, "alice"),
                from_addr="news@news.acme.example",
                to_addr="reader@example.org",
                kind="campaign",
            )
    app = MailpoolsConsole(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(app, pilot, "5", AuditLogScreen)
        table = screen.query_one(DataTable)

        def actions() -> list[str]:
            return [str(table.get_row_at(r)[2]) for r in range(table.row_count)]

        assert actions() and "message.enqueue" not in actions()
        changes = len(actions())
        kinds = screen.query_one("#audit-kind", Select)
        kinds.value = "*"
        await settle(pilot)
        assert actions()[:3] == ["message.enqueue"] * 3 and len(actions()) == changes + 3
        kinds.value = "-request"
        await settle(pilot)
        assert actions() and not any(a.startswith(("request", "message")) for a in actions())
        kinds.value = "message"
        await settle(pilot)
        assert actions() == ["message.enqueue"] * 3


async def test_flags_show_mail_waiting_for_a_sender_with_its_ip(sqlite_engine, monkeypatch):
    agent_world(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        enqueue(
            session,
            user(session, "bruno"),
            from_addr="deals@offers.bolt.example",
            to_addr="someone@dest.test",
            kind="campaign",
            count=40,
        )
    # A sender on mx3 sends from 127.0.0.3 only: it takes its share and leaves 127.0.0.2's.
    store.announce(
        sqlite_engine,
        worker_id="mx3:1",
        hostname="mx3.test",
        addresses=frozenset({"127.0.0.3"}),
        now=clock.now(),
    )
    claim = store.claim_batch(
        sqlite_engine,
        worker_id="mx3:1",
        size=100,
        now=clock.now(),
        lease=timedelta(minutes=5),
        unbound_addresses=frozenset(),
        own_addresses=frozenset({"127.0.0.3"}),
    )
    assert claim.messages and claim.handed_over
    app = MailpoolsConsole(sqlite_engine, "sam")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(app, pilot, "4", FlagsScreen)
        assert _text(screen, "#senders") == (
            f"Mail waiting for a sender with its IP: 127.0.0.2 {claim.handed_over} since now\n"
            "Senders running: mx3.test (1 IP)"
        )
