"""Every console screen at 80×24 and 120×40, over the demo world under its own and long names."""

from __future__ import annotations

import pytest

from app.services import credentials
from data.db import session_scope
from data.models import SubmissionCredential
from tests.factories import user
from tests.pilot import settle
from tests.snapshots.worlds import VIEWS, domain_name
from tests.ui.conftest import make_console

# Each screen is reached by a step taking the pilot and the world, whose names it uses.


def at_domain(domain: str, tab: str, way: str | None = None):
    async def run_before(pilot, world: str) -> None:
        await settle(pilot)
        pilot.app.open_domain(domain_name(world, domain), tab)
        await settle(pilot)
        if way is not None:
            pilot.app.screen.query_one("#ways").choose(way)
            await settle(pilot)

    return run_before


def pressing(*keys: str):
    async def run_before(pilot, _world: str) -> None:
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    return run_before


def with_credentials(*keys: str):
    """Two credentials of acme, one revoked, under fixed names (real ones end in random hex)."""

    async def run_before(pilot, _world: str) -> None:
        await settle(pilot)
        engine = pilot.app.engine
        with session_scope(engine) as session:
            alice = user(session, "alice")
            for number, kind in enumerate(("transactional", "campaign"), start=1):
                created = credentials.create_credential(session, alice, kind=kind).subject
                row = session.get(SubmissionCredential, created.credential.id)
                row.username = f"acme-{kind}-0000000{number}"
                session.add(row)
            session.flush()
            credentials.revoke_credential(session, alice, created.credential.id)
        await pilot.press(*keys)
        await settle(pilot)

    return run_before


SCREENS = {
    "home": ("alice", pressing()),
    "overview": ("alice", at_domain("news.acme.example", "overview")),
    "mail-servers-shared": ("alice", at_domain("acme.example", "mail-servers", "shared")),
    "transactional-form": ("alice", at_domain("acme.example", "mail-servers", "transactional")),
    "dedicated-form": ("alice", at_domain("acme.example", "mail-servers", "dedicated")),
    "transactional-pending": (
        "alice",
        at_domain("billing.acme.example", "mail-servers", "transactional"),
    ),
    "warm-up": ("carla", at_domain("corvid.example", "mail-servers", "dedicated")),
    "removed": ("bruno", at_domain("offers.bolt.example", "mail-servers", "shared")),
    "dns": ("alice", at_domain("acme.example", "dns")),
    "activity": ("carla", at_domain("corvid.example", "activity")),
    "inbox": ("carla", pressing("i")),
    "inbox-domain-choice": ("carla", pressing("i", "enter")),
    "help": ("alice", pressing("question_mark")),
    "credentials": ("alice", with_credentials("c")),
}


@pytest.mark.parametrize(("world", "size"), VIEWS)
@pytest.mark.parametrize("screen", list(SCREENS))
def test_console_screen(snap_compare, demo_engine, screen, world, size):
    user, step = SCREENS[screen]

    async def run_before(pilot) -> None:
        await step(pilot, world)

    app = make_console(demo_engine, user)
    assert snap_compare(app, terminal_size=size, run_before=run_before)
