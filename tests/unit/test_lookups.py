"""Finding things by the names people type, and picking pools for new members."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from app.errors import NotFound
from app.services import pools
from app.services.lookups import (
    get_account,
    get_domain,
    get_ip,
    get_pool,
    pick_shared_pool,
    pick_transactional_pool,
)
from data.db import session_scope
from data.models import Domain
from tests.factories import build_world, user


@pytest.fixture
def world(engine):
    build_world(engine)
    return engine


@pytest.mark.parametrize(
    "typed", ["acme.example", "ACME.example", "acme.example.", " acme.example "]
)
def test_a_domain_is_found_however_it_is_typed(world, typed):
    with Session(world) as session:
        assert get_domain(session, typed).name == "acme.example"


def test_what_is_not_found_is_named(world):
    with Session(world) as session:
        with pytest.raises(NotFound, match="no sending domain named 'x.example'"):
            get_domain(session, "x.example")
        with pytest.raises(NotFound, match="no account named 'x'"):
            get_account(session, "x")
        with pytest.raises(NotFound, match="no pool named 'x'"):
            get_pool(session, "x")
        with pytest.raises(NotFound, match="no IP address '10.0.0.1' in the inventory"):
            get_ip(session, "10.0.0.1")
        assert get_ip(session, " 127.0.0.20 ").hostname == "d20.dedicated.mailpools.test"


def test_the_least_used_shared_pool_is_picked_and_removed_domains_do_not_count(world):
    with Session(world) as session:
        # The demo puts four domains in shared-a and three in shared-b.
        assert pick_shared_pool(session).name == "shared-b"
        shared_a = get_pool(session, "shared-a")
        in_a = session.exec(
            select(Domain.name).where(Domain.shared_pool_id == shared_a.id).order_by(Domain.name)
        ).all()
    assert len(in_a) == 4
    for name in in_a[:2]:
        with session_scope(world) as session:
            pools.remove_domain(session, user(session, "sam"), name, reason="Bounces.")
    with Session(world) as session:
        assert pick_shared_pool(session).name == "shared-a"


def test_the_transactional_pool_is_picked(world):
    with Session(world) as session:
        assert pick_transactional_pool(session).name == "transactional"
