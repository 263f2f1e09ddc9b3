"""The Suppressions view at 80×24 and 120×40, for an owner and for an agent, with addresses
at 30-character domains (the longest names the table must keep readable)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from app import clock
from app.services import suppressions
from data.db import session_scope
from data.models import Account, SuppressionReason
from tests.factories import user
from tests.pilot import settle
from tests.ui.conftest import make_console

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
LONG_DOMAIN = "northwind-traders-mail.example"
OTHER_LONG_DOMAIN = "fabrikam-customer-care.example"
# What receivers said, as the inbound listener keeps it.
HEARD = [
    ("acme", f"maria.lopez@{LONG_DOMAIN}", SuppressionReason.HARD_BOUNCE, "5.1.1 no such user"),
    ("acme", f"returns@{OTHER_LONG_DOMAIN}", SuppressionReason.COMPLAINT, "abuse"),
    ("acme", f"j.smith@{LONG_DOMAIN}", SuppressionReason.UNSUBSCRIBE, "unsubscribe request"),
    (
        "bolt",
        f"orders@{OTHER_LONG_DOMAIN}",
        SuppressionReason.SOFT_BOUNCES,
        "3 soft bounces in a row",
    ),
]


def listed_world(engine) -> None:
    """Entries a few days apart: some heard from receivers, one added by hand."""
    start = clock.now()
    with session_scope(engine) as session:
        accounts = dict(session.exec(select(Account.name, Account.id)).all())
        for days, (account, address, reason, note) in enumerate(HEARD, start=1):
            with clock.frozen_at(start - timedelta(days=days)):
                suppressions.suppress(
                    session.connection(),
                    account_id=accounts[account],
                    address=address,
                    reason=reason,
                    note=note,
                    message_id=None,
                    by="system",
                )
        suppressions.add_suppression(
            session, user(session, "alice"), f"legal@{LONG_DOMAIN}", reason="Asked by letter"
        )


def opened(engine):
    async def run_before(pilot) -> None:
        await settle(pilot)
        listed_world(engine)
        await pilot.press("s")
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("viewer", ["alice", "sam"])
def test_suppressions_screen(snap_compare, demo_engine, viewer, size):
    app = make_console(demo_engine, viewer)
    assert snap_compare(app, terminal_size=size, run_before=opened(demo_engine))
