"""Submission credentials: the secret shown once and stored hashed, who sees and revokes what."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from app.errors import MailpoolsError, NotFound, PermissionDenied
from app.services import credentials
from data.db import session_scope
from data.models import AuditEvent, SubmissionCredential
from tests.factories import build_world, user


@pytest.fixture
def world(engine):
    build_world(engine)
    return engine


def create(engine, owner: str, kind: str = "transactional") -> credentials.NewCredential:
    with session_scope(engine) as session:
        return credentials.create_credential(session, user(session, owner), kind=kind).subject


def test_the_secret_is_returned_once_and_stored_only_as_a_salted_scrypt_hash(world):
    first = create(world, "alice")
    second = create(world, "alice")
    assert first.credential.username.startswith("acme-transactional-")
    assert first.secret != second.secret and len(first.secret) >= 32
    with session_scope(world) as session:
        stored = session.exec(select(SubmissionCredential)).all()
        hashes = [row.secret_hash for row in stored]
        assert all(h.startswith("scrypt$16384$8$1$") for h in hashes)
        assert first.secret not in " ".join(hashes)
        # The same kind of hash, salted differently, even for equal inputs.
        assert credentials.hash_secret("same") != credentials.hash_secret("same")
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "credential.create")
            .order_by(AuditEvent.id)
        ).all()
        assert [event.actor for event in events] == ["alice", "alice"]
        assert all(first.secret not in (event.after or "") for event in events)
        assert json.loads(events[0].after or "{}") == {
            "username": first.credential.username,
            "kind": "transactional",
        }


def test_a_login_works_with_its_secret_only_and_stops_when_revoked(world):
    created = create(world, "bruno", "campaign")
    username = created.credential.username
    with session_scope(world) as session:
        login = credentials.authenticate(session, username, created.secret)
        assert login is not None
        assert (login.account, login.kind, login.username) == ("bolt", "campaign", username)
        assert credentials.authenticate(session, username, created.secret + "x") is None
        assert credentials.authenticate(session, "nobody-at-all", created.secret) is None
    with session_scope(world) as session:
        outcome = credentials.revoke_credential(
            session, user(session, "bruno"), created.credential.id
        )
        assert "can no longer log in" in outcome.summary
    with session_scope(world) as session:
        assert credentials.authenticate(session, username, created.secret) is None
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "credential.revoke")
        ).one()
        assert event.actor == "bruno"


def test_owners_see_their_own_account_and_agents_see_all_without_secrets(world):
    acme = create(world, "alice")
    bolt = create(world, "bruno", "broadcast")
    with session_scope(world) as session:
        seen_by_alice = credentials.list_credentials(session, user(session, "alice"))
        seen_by_sam = credentials.list_credentials(session, user(session, "sam"))
    assert [view.username for view in seen_by_alice] == [acme.credential.username]
    assert {view.username for view in seen_by_sam} == {
        acme.credential.username,
        bolt.credential.username,
    }
    for view in seen_by_sam:
        assert acme.secret not in json.dumps(view.as_json(), default=str)
        assert bolt.secret not in json.dumps(view.as_json(), default=str)


@pytest.mark.parametrize(
    ("actor", "target_owner", "error", "words"),
    [
        ("bruno", "alice", PermissionDenied, "own account"),
        ("carla", "alice", PermissionDenied, "own account"),
    ],
)
def test_owners_cannot_revoke_another_accounts_credential(world, actor, target_owner, error, words):
    created = create(world, target_owner)
    with pytest.raises(error, match=words):
        with session_scope(world) as session:
            credentials.revoke_credential(session, user(session, actor), created.credential.id)
    with session_scope(world) as session:
        assert session.get(SubmissionCredential, created.credential.id).revoked_at is None


def test_an_agent_may_revoke_any_credential_but_not_create_one(world):
    created = create(world, "alice")
    with session_scope(world) as session:
        credentials.revoke_credential(session, user(session, "sam"), created.credential.id)
    with pytest.raises(MailpoolsError, match="already revoked by sam"):
        with session_scope(world) as session:
            credentials.revoke_credential(session, user(session, "alice"), created.credential.id)
    with pytest.raises(PermissionDenied, match="no account"):
        with session_scope(world) as session:
            credentials.create_credential(session, user(session, "sam"), kind="campaign")
    with pytest.raises(NotFound):
        with session_scope(world) as session:
            credentials.revoke_credential(session, user(session, "sam"), 999)


def test_a_kind_that_is_not_a_stream_is_refused(world):
    with pytest.raises(MailpoolsError, match="not a message kind"):
        with session_scope(world) as session:
            credentials.create_credential(session, user(session, "alice"), kind="newsletter")
    with session_scope(world) as session:
        assert session.exec(select(SubmissionCredential)).first() is None
