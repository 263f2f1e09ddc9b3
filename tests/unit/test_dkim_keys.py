"""Each domain's DKIM keys: made with the domain, shown, rotated, and confirmed from DNS."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import select

from app.errors import MailpoolsError, PermissionDenied
from app.services import dkim
from app.services.inventory import apply_inventory, load_file
from app.services.lookups import get_domain
from data.db import session_scope
from data.models import AuditEvent, DkimKey, DkimKeyState, Domain
from tests.clock_moves import move_clock
from tests.factories import DEMO_INVENTORY, build_world, user


def _keys(engine, domain: str) -> list[DkimKey]:
    with session_scope(engine) as session:
        domain_id = get_domain(session, domain).id
        return list(
            session.exec(select(DkimKey).where(DkimKey.domain_id == domain_id).order_by(DkimKey.id))
        )


def test_every_new_domain_gets_its_own_active_key(sqlite_engine, fresh_dkim_keys):
    build_world(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        domains = session.exec(select(Domain)).all()
        keys = session.exec(select(DkimKey)).all()
    assert len(keys) == len(domains) == len({k.domain_id for k in keys})
    assert len({k.public_key for k in keys}) == len(keys)
    for key in keys:
        assert key.state == DkimKeyState.ACTIVE and key.selector == "mp20261126"
        private = serialization.load_pem_private_key(key.private_key_pem.encode(), None)
        assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert base64.b64encode(public).decode() == key.public_key


def test_show_gives_the_record_to_publish_to_owners_and_staff(engine):
    build_world(engine)
    [key] = _keys(engine, "acme.example")
    with session_scope(engine) as session:
        status = dkim.dkim_status(session, user(session, "alice"), "acme.example")
        assert status.as_json()["selector"] == "mp20261126"
        assert status.as_json()["name"] == "mp20261126._domainkey.acme.example"
        assert status.as_json()["record"] == f"v=DKIM1; k=rsa; p={key.public_key}"
        assert "PRIVATE" not in repr(status.as_json())
        dkim.dkim_status(session, user(session, "sam"), "acme.example")
        with pytest.raises(PermissionDenied):
            dkim.dkim_status(session, user(session, "bruno"), "acme.example")


def test_records_longer_than_one_string_are_cut_for_dns():
    record = dkim.record_text("A" * 392)
    strings = dkim.txt_strings(record)
    assert [len(s) for s in strings] == [255, len(record) - 255]
    assert dkim.published_key(strings) == "A" * 392
    assert dkim.published_key(["v=DKIM1; k=rsa; p=AB CD", "EF"]) == "ABCDEF"
    assert dkim.published_key(["v=DKIM1; k=rsa"]) is None


def test_a_rotation_waits_for_its_record_before_signing_with_the_new_key(engine):
    build_world(engine)
    with session_scope(engine) as session:
        with pytest.raises(PermissionDenied):
            dkim.rotate(session, user(session, "alice"), "acme.example")
    with session_scope(engine) as session:
        rotated = dkim.rotate(session, user(session, "sam"), "acme.example")
    pending = rotated.subject.pending
    assert pending is not None and pending.selector == "mp20261126b"
    assert rotated.subject.active.selector == "mp20261126"
    assert "mp20261126b._domainkey.acme.example" in rotated.summary
    with session_scope(engine) as session, pytest.raises(MailpoolsError, match="already has"):
        dkim.rotate(session, user(session, "sam"), "acme.example")

    old_key, new_key = _keys(engine, "acme.example")
    assert (old_key.state, new_key.state) == (DkimKeyState.ACTIVE, DkimKeyState.PENDING)
    assert old_key.public_key != new_key.public_key
    refusals = {
        "nothing published": [],
        "the old key published": [dkim.txt_strings(dkim.record_text(old_key.public_key))],
    }
    for published in refusals.values():
        with session_scope(engine) as session, pytest.raises(MailpoolsError, match="stays signed"):
            dkim.confirm_rotation(session, user(session, "sam"), "acme.example", published)
    assert [k.state for k in _keys(engine, "acme.example")] == ["active", "pending"]

    new_record = dkim.txt_strings(dkim.record_text(new_key.public_key))
    with session_scope(engine) as session:
        with pytest.raises(PermissionDenied):
            dkim.confirm_rotation(session, user(session, "alice"), "acme.example", [new_record])
    with session_scope(engine) as session:
        confirmed = dkim.confirm_rotation(
            session,
            user(session, "sam"),
            "acme.example",
            [["v=spf1 -all"], new_record],
        )
    assert confirmed.subject.active.selector == "mp20261126b" and confirmed.subject.pending is None
    assert [k.state for k in _keys(engine, "acme.example")] == ["retired", "active"]
    with session_scope(engine) as session, pytest.raises(MailpoolsError, match="no new DKIM key"):
        dkim.confirm_rotation(session, user(session, "sam"), "acme.example", [])


def test_key_events_are_audited_without_private_keys(engine):
    build_world(engine)
    with session_scope(engine) as session:
        dkim.rotate(session, user(session, "tess"), "acme.example")
    [_, new_key] = _keys(engine, "acme.example")
    with session_scope(engine) as session:
        dkim.confirm_rotation(
            session,
            user(session, "tess"),
            "acme.example",
            [dkim.txt_strings(dkim.record_text(new_key.public_key))],
        )
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action.like("dkim.%")).order_by(AuditEvent.id)
        ).all()
    acme = [e for e in events if e.entity_id == "acme.example"]
    assert [(e.action, e.actor) for e in acme] == [
        ("dkim.created", "operator"),
        ("dkim.rotated", "tess"),
        ("dkim.confirmed", "tess"),
    ]
    for event in events:
        assert "PRIVATE KEY" not in (event.after or "") + (event.before or "")
        assert new_key.public_key not in (event.after or "")


def test_a_second_rotation_on_a_later_day_takes_that_day_as_selector(sqlite_engine):
    build_world(sqlite_engine)
    move_clock("2026-12-02T08:00:00Z")
    with session_scope(sqlite_engine) as session:
        rotated = dkim.rotate(session, user(session, "sam"), "acme.example")
    assert rotated.subject.pending is not None
    assert rotated.subject.pending.selector == "mp20261202"


def test_domains_without_a_key_get_one_and_only_they(sqlite_engine):
    build_world(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        acme = get_domain(session, "acme.example")
        for key in session.exec(select(DkimKey).where(DkimKey.domain_id == acme.id)):
            session.delete(key)
    with session_scope(sqlite_engine) as session:
        with pytest.raises(MailpoolsError, match="db upgrade"):
            dkim.dkim_status(session, None, "acme.example")
        assert dkim.add_missing_keys(session) == ["acme.example"]
    with session_scope(sqlite_engine) as session:
        assert dkim.add_missing_keys(session) == []
        assert dkim.dkim_status(session, None, "acme.example").active.state == "active"


def test_missing_keys_made_in_worker_processes_are_stored_and_audited_once_each(
    sqlite_engine, fresh_dkim_keys
):
    with session_scope(sqlite_engine) as session:
        report = apply_inventory(session, None, load_file(DEMO_INVENTORY))
    heard: list[tuple[int, int]] = []
    made = dkim.make_missing_keys(
        sqlite_engine, "sam", workers=2, progress=lambda *counts: heard.append(counts)
    )
    assert sorted(made) == sorted(report.keyless) and len(made) > 1
    assert heard == [(n, len(made)) for n in range(1, len(made) + 1)]
    with session_scope(sqlite_engine) as session:
        keys = session.exec(select(DkimKey)).all()
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "dkim.created")).all()
    assert len(keys) == len(made) == len({k.domain_id for k in keys})
    assert {k.state for k in keys} == {"active"}
    assert len({k.private_key_pem for k in keys}) == len(keys)
    assert sorted(e.entity_id for e in events) == sorted(made)
    assert {e.actor for e in events} == {"sam"}
    assert dkim.make_missing_keys(sqlite_engine, "sam", workers=2) == []
