"""Pilot tests of the console: a real SQLite database with the demo inventory."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from app import clock
from app.console.app import MailpoolsConsole
from app.services.notifications import notify
from data.db import make_engine, session_scope
from data.models import Domain, DomainDailyStat
from tests.clock_moves import TEST_NOW
from tests.factories import build_world

TERMINAL = (100, 30)


@pytest.fixture(scope="session")
def world_template(sqlite_template, tmp_path_factory) -> Path:
    """The demo inventory applied once per test worker; each test gets a copy."""
    path = tmp_path_factory.mktemp("world") / "world.db"
    shutil.copyfile(sqlite_template, path)
    with clock.frozen_at(TEST_NOW):
        engine = make_engine(f"sqlite:///{path}")
        build_world(engine)
        engine.dispose()
    return path


@pytest.fixture
def world(world_template, tmp_path):
    path = tmp_path / "mailpools.db"
    shutil.copyfile(world_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def add_daily_stats(
    engine,
    domain_name: str,
    *,
    days: int = 7,
    sent: int = 0,
    bounced: int = 0,
    complaints: int = 0,
    campaign: int = 0,
    broadcast: int = 0,
    ending: date | None = None,
) -> None:
    """The same counts on each of DAYS days ending today: history without sending anything."""
    last = ending or clock.today()
    with session_scope(engine) as session:
        domain = session.exec(select(Domain).where(Domain.name == domain_name)).one()
        for offset in range(days):
            session.add(
                DomainDailyStat(
                    domain_id=domain.id,
                    day=last - timedelta(days=offset),
                    sent=sent,
                    bounced=bounced,
                    complaints=complaints,
                    campaign_sent=campaign,
                    broadcast_sent=broadcast,
                )
            )


def make_console(engine, user: str, **kwargs) -> MailpoolsConsole:
    kwargs.setdefault("theme", "textual-dark")
    return MailpoolsConsole(engine, user, **kwargs)


def notify_removal(engine, domain_name: str) -> None:
    """Tell the domain's owner it was removed from its pool: a notice that names a domain."""
    with session_scope(engine) as session:
        domain = session.exec(select(Domain).where(Domain.name == domain_name)).one()
        notify(
            session,
            account_id=domain.account_id,
            domains=[domain],
            kind="domain_removed",
            title=f"{domain_name} was removed from its pool",
        )
