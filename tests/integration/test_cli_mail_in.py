"""Mail in from the command line: credentials, `enqueue --eml`, `content purge`, `submit`."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from datetime import timedelta

import aiosmtplib
import pytest
from sqlmodel import select

from app import clock
from app.demo.sink import LoopbackSink
from data.db import session_scope
from data.models import AuditEvent, Message, MessageContent, MessageStatus
from tests.clock_moves import move_clock
from tests.command_line import ROOT, Cli
from tests.sending_world import make_transactional, messages, world

EML = (
    b"From: Bolt <deals@offers.bolt.example>\n"
    b"To: dana@dest.test, Eli <eli@dest.test>\n"
    b"Bcc: hidden@dest.test\n"
    b"Subject: Winter sale\n"
    b"\n"
    b"Everything must go.\n"
)


@pytest.fixture
def cli(engine, database_url, monkeypatch):
    world(engine)
    return Cli(database_url, monkeypatch)


def test_an_owner_creates_lists_and_revokes_credentials(cli, engine):
    created = cli.json("credentials", "create", "--kind", "campaign", "--as", "bruno")
    assert created["username"].startswith("bolt-campaign-") and len(created["secret"]) >= 32
    printed = cli.ok("credentials", "create", "--kind", "transactional", "--as", "bruno")
    assert "shown only this once" in printed and "secret:" in printed

    listed = cli.json("credentials", "list", "--as", "bruno")
    assert [c["kind"] for c in listed] == ["transactional", "campaign"]
    assert all("secret" not in c for c in listed)
    assert cli.json("credentials", "list", "--as", "alice") == []
    seen_by_agent = cli.ok("credentials", "list", "--as", "sam")
    assert created["username"] in seen_by_agent and created["secret"] not in seen_by_agent

    assert "own account" in cli.refused(
        "credentials", "revoke", str(created["id"]), "--as", "alice"
    )
    assert "can no longer log in" in cli.ok(
        "credentials", "revoke", str(created["id"]), "--as", "bruno"
    )
    [revoked] = [c for c in cli.json("credentials", "list") if c["id"] == created["id"]]
    assert revoked["revoked_by"] == "bruno"
    assert "no account" in cli.refused("credentials", "create", "--kind", "campaign", "--as", "sam")
    with session_scope(engine) as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.id))
        actions = [e.action for e in events if "credential" in e.action]
    assert actions == ["credential.create", "credential.create", "credential.revoke"]


def test_enqueue_eml_queues_one_copy_per_header_recipient_and_sends_the_message(
    cli, engine, tmp_path
):
    path = tmp_path / "sale.eml"
    path.write_bytes(EML)
    queued = cli.json("enqueue", "--eml", str(path), "--kind", "campaign", "--as", "bruno")
    assert queued["count"] == 3
    rows = messages(engine)
    assert [m.to_addr for m in rows] == ["dana@dest.test", "eli@dest.test", "hidden@dest.test"]
    assert {m.subject for m in rows} == {"Winter sale"}
    with LoopbackSink(keep_content=True) as sink:
        cli.ok("sender", "--until-empty", "--relay", f"127.0.0.1:{sink.port}", "--quiet")
        arrived = sink.handler.snapshot()
    assert len(arrived) == 3
    for delivery in arrived:
        assert delivery.content.endswith(b"\r\n\r\nEverything must go.\r\n")
        assert b"Bcc" not in delivery.content and b"hidden@" not in delivery.content
        assert b"\r\nMessage-ID: <" in b"\r\n" + delivery.content


def test_enqueue_eml_reads_standard_input(cli, engine, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(EML)))
    queued = cli.json("enqueue", "--eml", "-", "--kind", "campaign", "--as", "bruno")
    assert queued["count"] == 3


@pytest.mark.parametrize(
    ("eml", "options", "words"),
    [
        (
            EML,
            ["--kind", "campaign", "--as", "alice"],
            "There is no sending domain named 'offers.bolt.example'.",
        ),
        (b"no headers here\n", ["--kind", "campaign", "--as", "bruno"], "malformed"),
        (
            EML.replace(b"offers.bolt.example", b"acme.example"),
            ["--kind", "campaign", "--as", "alice"],
            "transactional pool",
        ),
        (EML, ["--kind", "campaign", "--subject", "x", "--as", "bruno"], "leave out --subject"),
        (
            EML.replace(b"Subject:", b"X-Mailpools-Stream: broadcast\nSubject:"),
            ["--kind", "campaign", "--as", "bruno"],
            "broadcast",
        ),
    ],
    ids=["another-account", "malformed", "transactional-pool", "mixed-options", "stream-header"],
)
def test_enqueue_eml_refusals_write_nothing(cli, engine, tmp_path, eml, options, words):
    make_transactional(engine, "acme.example")
    path = tmp_path / "message.eml"
    path.write_bytes(eml)
    assert words in cli.refused("enqueue", "--eml", str(path), *options)
    with session_scope(engine) as session:
        assert session.exec(select(Message)).first() is None
        assert session.exec(select(MessageContent)).first() is None


def test_enqueue_eml_over_the_size_limit_is_refused(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MAILPOOLS_SUBMISSION_MAX_BYTES", "100")
    path = tmp_path / "big.eml"
    path.write_bytes(EML + b"x" * 200)
    assert "over this server's limit of 100 bytes" in cli.refused(
        "enqueue", "--eml", str(path), "--kind", "campaign", "--as", "bruno"
    )


def test_content_purge_deletes_content_days_after_its_last_message_finished(cli, engine, tmp_path):
    path = tmp_path / "sale.eml"
    path.write_bytes(EML)
    cli.ok("enqueue", "--eml", str(path), "--kind", "campaign", "--as", "bruno")
    with LoopbackSink(keep_content=True) as sink:
        cli.ok("sender", "--until-empty", "--relay", f"127.0.0.1:{sink.port}", "--quiet")
    cli.ok("enqueue", "--eml", str(path), "--kind", "campaign", "--as", "bruno")
    assert "content of 0 submissions" in cli.ok("content", "purge")
    move_clock(clock.now() + timedelta(days=8))
    # The first submission finished eight days ago; the second is still queued.
    assert "content of 1 submission finished more than 7 days" in cli.ok("content", "purge")
    with session_scope(engine) as session:
        [kept] = session.exec(select(MessageContent)).all()
        rows = session.exec(select(Message).order_by(Message.id)).all()
    assert [m.content_id for m in rows if m.status == MessageStatus.SENT] == [None] * 3
    assert {m.content_id for m in rows if m.status == MessageStatus.QUEUED} == {kept.id}
    assert "content of 0 submissions" in cli.ok("content", "purge", "--days", "30")


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "implicit-tls"])
async def test_submit_makes_a_self_signed_certificate_and_takes_mail(
    engine, database_url, tmp_path, monkeypatch, implicit_tls
):
    world(engine)
    created = Cli(database_url, monkeypatch).json(
        "credentials", "create", "--kind", "campaign", "--as", "bruno"
    )
    environment = {
        **os.environ,
        "MAILPOOLS_DATABASE_URL": database_url,
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "submit", "--port", "0"]
        + (["--implicit-tls"] if implicit_tls else []),
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        told = process.stdout.readline()
        assert "Created a self-signed certificate" in told
        assert str(tmp_path / "data" / "mailpools" / "submission-cert.pem") in told
        listening = process.stdout.readline()
        assert ("(implicit TLS)" if implicit_tls else "(STARTTLS)") in listening
        port = int(listening.rsplit(":", 1)[1].split()[0])
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1",
            port=port,
            use_tls=implicit_tls,
            start_tls=False,
            validate_certs=False,
            timeout=30,
        )
        await client.connect()
        if not implicit_tls:
            await client.starttls()
        await client.login(created["username"], created["secret"])
        errors, reply = await client.sendmail("deals@offers.bolt.example", ["dana@dest.test"], EML)
        await client.quit()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert errors == {} and "Queued as <" in reply
    assert process.returncode == 0
    assert [m.to_addr for m in messages(engine)] == ["dana@dest.test"]
