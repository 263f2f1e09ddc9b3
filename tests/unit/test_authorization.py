"""Who may do what, enforced by the services whatever the interface does."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from app import clock
from app.errors import MailpoolsError, NotFound, PermissionDenied
from app.services import notifications, pools
from app.services.auth import get_user, is_staff, require_account_access, require_staff
from app.services.inventory import apply_inventory, parse
from app.services.lookups import get_account
from app.services.requests import decisions, filing, listing
from data.db import session_scope
from data.models import User
from tests.database_state import database_state
from tests.factories import build_world, user

JUSTIFICATION = "Password resets and order receipts for customers who bought from our shop."


@pytest.fixture
def world(engine):
    build_world(engine)
    return engine


def refused_without_change(engine, action, *, match=None, error=PermissionDenied):
    before = database_state(engine)
    with pytest.raises(error, match=match) as refused:
        action()
    assert database_state(engine) == before
    return refused.value


def as_user(engine, name, action):
    """Run ACTION(session, actor) as NAME in one transaction."""

    def run():
        with session_scope(engine) as session:
            return action(session, user(session, name))

    return run


def file_transactional(engine, by="alice", domain="acme.example") -> int:
    return as_user(
        engine,
        by,
        lambda s, actor: (
            filing.request_transactional(
                s, actor, domain, justification=JUSTIFICATION, confirmation=domain
            ).subject.id
        ),
    )()


def test_roles(world):
    with Session(world) as session:
        assert not is_staff(user(session, "alice"))
        assert is_staff(user(session, "sam"))
        assert is_staff(user(session, "root"))
        require_staff(user(session, "root"))
        with pytest.raises(PermissionDenied, match="alice is an owner"):
            require_staff(user(session, "alice"), "review requests")
        acme = get_account(session, "acme").id
        bolt = get_account(session, "bolt").id
        require_account_access(user(session, "alice"), acme)
        require_account_access(user(session, "sam"), bolt)
        with pytest.raises(PermissionDenied, match="alice may only act on their own account"):
            require_account_access(user(session, "alice"), bolt)


@pytest.mark.parametrize("typed", ["  alice ", "alice ", "alice\n", "ALICE", "ali\x00ce"])
def test_only_the_exact_name_finds_the_user(world, typed):
    """A name typed with spaces around it is not the user: a slip must not act as someone."""
    with Session(world) as session, pytest.raises(NotFound, match="^There is no user named "):
        get_user(session, typed)


def test_unknown_user_is_named(world):
    with Session(world) as session, pytest.raises(NotFound, match="no user named 'mallory'"):
        get_user(session, "mallory")


def test_an_owner_without_an_account_acts_on_none(world):
    ghost = User(name="ghost", role="owner", account_id=None, created_at=clock.now())
    with Session(world) as session:
        with pytest.raises(PermissionDenied):
            require_account_access(ghost, get_account(session, "acme").id)
    with pytest.raises(PermissionDenied):
        require_account_access(ghost, None)


@pytest.mark.parametrize("owner", ["bruno", "carla"])
def test_owners_file_only_for_their_own_account(world, owner):
    refused_without_change(
        world,
        lambda: file_transactional(world, by=owner),
        match="^There is no sending domain named 'acme.example'.$",
        error=NotFound,
    )
    refused_without_change(
        world,
        as_user(
            world,
            owner,
            lambda s, actor: (
                filing.request_dedicated(s, actor, ["acme.example"], weekly_volume=80_000).subject
            ),
        ),
        match="^There is no sending domain named 'acme.example'.$",
        error=NotFound,
    )


def test_agents_may_file_on_an_accounts_behalf(world):
    request_id = file_transactional(world, by="sam")
    with Session(world) as session:
        assert listing.get_request(session, request_id).requester_id == user(session, "sam").id


@pytest.mark.parametrize("owner", ["alice", "bruno"])
@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_owners_never_review_requests_even_their_own(world, owner, decision):
    request_id = file_transactional(world)

    def decide(session, actor):
        if decision == "approve":
            return decisions.approve(session, actor, request_id)
        return decisions.deny(session, actor, request_id, reason="No.")

    refused_without_change(
        world,
        as_user(world, owner, decide),
        match=f"Only support agents and admins may review requests; {owner} is an owner",
    )


@pytest.mark.parametrize("staff", ["sam", "root"])
@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_nobody_reviews_their_own_request(world, staff, decision):
    request_id = file_transactional(world, by=staff)

    def decide(session, actor):
        if decision == "approve":
            return decisions.approve(session, actor, request_id)
        return decisions.deny(session, actor, request_id, reason="No.")

    refused_without_change(
        world,
        as_user(world, staff, decide),
        match="Nobody reviews their own request",
        error=MailpoolsError,
    )
    # Somebody else may.
    reviewer = "tess" if staff == "sam" else "sam"
    assert as_user(world, reviewer, decide)().subject.status in ("approved", "denied")


def test_admins_review_like_agents(world):
    request_id = file_transactional(world)
    approved = as_user(world, "root", lambda s, a: decisions.approve(s, a, request_id))()
    assert approved.subject.status == "approved"


def test_owners_see_only_their_accounts_requests(world):
    acme_request = file_transactional(world)
    bolt_request = file_transactional(world, by="bruno", domain="bolt.example")
    with Session(world) as session:
        seen = {
            name: [v.id for v in listing.list_requests(session, user(session, name))]
            for name in ("alice", "bruno", "carla", "sam")
        }
        # To an owner another account does not exist: naming it is refused as an unknown one.
        refusals = []
        for account_name in ("bolt", "nosuch"):
            with pytest.raises(NotFound) as refused:
                listing.list_requests(session, user(session, "alice"), account_name=account_name)
            refusals.append(refused.value.message)
    assert seen == {
        "alice": [acme_request],
        "bruno": [bolt_request],
        "carla": [],
        "sam": [acme_request, bolt_request],
    }
    assert refusals == ["There is no account named 'bolt'.", "There is no account named 'nosuch'."]


@pytest.mark.parametrize("owner", ["alice", "bruno"])
def test_owners_may_not_remove_or_reinstate_domains(world, owner):
    refused_without_change(
        world,
        as_user(
            world,
            owner,
            lambda s, a: pools.remove_domain(s, a, "acme.example", reason="Bounces."),
        ),
        match=f"Only support agents and admins may remove domains from pools; {owner} is an owner",
    )
    as_user(
        world, "sam", lambda s, a: pools.remove_domain(s, a, "acme.example", reason="Bounces.")
    )()
    refused_without_change(
        world,
        as_user(world, owner, lambda s, a: pools.reinstate_domain(s, a, "acme.example")),
        match=f"Only support agents and admins may reinstate domains; {owner} is an owner",
    )


def test_owners_may_not_change_the_inventory(world):
    entries = parse({"accounts": [{"name": "dodo", "plan": "premium"}]}, "inventory.toml")
    refused_without_change(
        world,
        as_user(world, "alice", lambda s, a: apply_inventory(s, a, entries)),
        match="Only support agents and admins may change the inventory",
    )
    report = as_user(world, "root", lambda s, a: apply_inventory(s, a, entries))()
    assert report.created == ["account dodo"]


def test_owners_read_and_mark_only_their_own_notifications(world):
    request_id = file_transactional(world)
    as_user(world, "sam", lambda s, a: decisions.deny(s, a, request_id, reason="Too vague."))()
    with session_scope(world) as session:
        alice, bruno = user(session, "alice"), user(session, "bruno")
        mine = notifications.list_notifications(session, alice)
        assert [n.kind for n in mine] == ["request_denied"]
        assert notifications.list_notifications(session, bruno) == []
        with pytest.raises(PermissionDenied):
            notifications.list_notifications(session, bruno, account_id=alice.account_id)
        # Another account's notification is refused as if it did not exist.
        with pytest.raises(NotFound, match=f"^There is no notification #{mine[0].id}.$"):
            notifications.mark_read(session, bruno, [mine[0].id])
        with pytest.raises(NotFound, match="^There is no notification #999999.$"):
            notifications.mark_read(session, alice, [999999])
        assert notifications.mark_read(session, alice, [mine[0].id]) == 1
        assert notifications.mark_read(session, alice, [mine[0].id]) == 0
        # Agents read any account's notifications.
        assert notifications.list_notifications(
            session, user(session, "sam"), account_id=alice.account_id
        )


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_an_owner_is_refused_before_learning_anything_about_a_request(world, decision):
    def decide(session, actor):
        if decision == "approve":
            return decisions.approve(session, actor, 999)
        return decisions.deny(session, actor, 999, reason="")

    refused_without_change(
        world, as_user(world, "alice", decide), match="Only support agents and admins may review"
    )
