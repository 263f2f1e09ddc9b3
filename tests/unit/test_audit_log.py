import pytest
from sqlmodel import Session

from app.errors import MailpoolsError, PermissionDenied
from app.services.audit_log import MESSAGE_KINDS, browse_events, event_actors, event_kinds
from app.services.outbox import enqueue
from app.services.pools import pause_ip, reinstate_domain, remove_domain
from data.db import session_scope
from tests.factories import build_world, user


def _activity(engine) -> None:
    build_world(engine)
    with session_scope(engine) as session:
        remove_domain(
            session, user(session, "sam"), "bolt.example", reason="Bounces over the limit."
        )
    with session_scope(engine) as session:
        reinstate_domain(session, user(session, "tess"), "bolt.example")
    with session_scope(engine) as session:
        pause_ip(session, user(session, "tess"), "127.0.0.2")


def test_events_filter_by_account_domain_user_and_kind(engine):
    _activity(engine)
    with Session(engine) as session:
        sam = user(session, "sam")
        by_tess = browse_events(session, sam, user="tess")
        assert [e.action for e in by_tess] == ["ip.pause", "domain.reinstate"]
        on_domain = browse_events(session, sam, domain="bolt.example", kind="domain")
        assert [(e.action, e.actor) for e in on_domain] == [
            ("domain.reinstate", "tess"),
            ("domain.remove", "sam"),
        ]
        assert on_domain[1].after == {"status": "removed", "reason": "Bounces over the limit."}
        assert on_domain[0].before == {"status": "removed", "reason": "Bounces over the limit."}
        bolt = browse_events(session, sam, account="bolt", kind="domain.")
        assert {e.account for e in bolt} == {"bolt"} and len(bolt) == 2
        assert browse_events(session, sam, kind="ip.weight") == []
        assert len(browse_events(session, sam, account=" ", domain="", user=None)) > 30
        with pytest.raises(MailpoolsError, match="no account named 'nobody'"):
            browse_events(session, sam, account="nobody")


def test_kinds_and_actors_to_filter_by(engine):
    _activity(engine)
    with Session(engine) as session:
        root = user(session, "root")
        kinds = event_kinds(session, root)
        actors = event_actors(session, root)
    assert kinds[:4] == ["dkim", "domain", "inventory", "ip"]
    assert {"domain.remove", "domain.reinstate", "ip.pause"} <= set(kinds)
    assert actors == ["operator", "sam", "tess"]


def test_owners_are_refused(sqlite_engine):
    _activity(sqlite_engine)
    with Session(sqlite_engine) as session:
        bruno = user(session, "bruno")
        for browse in (browse_events, event_kinds, event_actors):
            with pytest.raises(PermissionDenied, match="bruno is an owner"):
                browse(session, bruno)


def test_kinds_can_be_left_out(engine):
    _activity(engine)
    with session_scope(engine) as session:
        enqueue(
            session,
            user(session, "alice"),
            from_addr="news@news.acme.example",
            to_addr="reader@example.org",
            kind="campaign",
        )
    with Session(engine) as session:
        sam = user(session, "sam")
        everything = browse_events(session, sam)
        assert everything[0].action == "message.enqueue"
        without_messages = browse_events(session, sam, exclude=MESSAGE_KINDS)
        assert len(without_messages) == len(everything) - 1
        assert not any(e.action.startswith("message") for e in without_messages)
        neither = browse_events(session, sam, exclude=[*MESSAGE_KINDS, "domain", " "])
        assert {e.action.split(".")[0] for e in neither} & {"message", "domain"} == set()
        assert "ip.pause" in [e.action for e in neither]
