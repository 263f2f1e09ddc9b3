"""What receivers said, where people look: the domain's Activity tab shows its bounces,
complaints and unsubscribes, and the agents' Flags count the reports no one could read."""

from __future__ import annotations

from rich.text import Text
from sqlmodel import select
from textual.widgets import Static

from app import clock
from app.feedback.reports import FailedRecipient, Report, ReportKind
from app.rules.return_path import MessageToken, TokenPurpose
from app.rules.status_codes import Severity
from app.services import feedback, outbox
from data.db import session_scope
from data.models import Message, MessageStatus, saved_id
from screens.flags import FlagsScreen
from tests.factories import user
from tests.pilot import settle
from tests.ui.conftest import TERMINAL, make_console
from widgets.feedback_table import FeedbackTable


def sent(engine, to_addr: str) -> int:
    """A message of acme.example's, queued through the outbox and taken as sent (reports
    about mail never sent are kept for agents, not counted): the sender's part is not
    what these screens are about."""
    with session_scope(engine) as session:
        [header_id] = outbox.enqueue(
            session,
            user(session, "alice"),
            from_addr="news@acme.example",
            to_addr=to_addr,
            kind="campaign",
        ).message_ids
        message = session.exec(select(Message).where(Message.message_id == header_id)).one()
        message.status = MessageStatus.SENT
        message.finished_at = clock.now()
        session.add(message)
        session.flush()
        return saved_id(message)


def heard(engine, message_id: int, report: Report, purpose=TokenPurpose.BOUNCE) -> str:
    with session_scope(engine) as session:
        return feedback.record_mail(
            session.connection(),
            MessageToken(purpose, message_id),
            report,
            raw=b"Subject: a report\r\n\r\nbody\r\n",
            mail_from="mailer-daemon@dest.test",
            rcpt_to=f"bounce-{message_id}@acme.example",
        ).outcome


def bounce(address: str, status: str, severity: Severity, words: str) -> Report:
    return Report(ReportKind.BOUNCE, failed=(FailedRecipient(address, status, severity, words),))


def plain_cells(table, row: int) -> list[str]:
    return [cell.plain if isinstance(cell, Text) else str(cell) for cell in table.get_row_at(row)]


async def test_the_activity_tab_shows_what_receivers_said_about_the_domains_mail(world):
    gone, full, angry, done = (
        sent(world, f"{who}@dest.test") for who in ("gone", "full", "angry", "done")
    )
    assert (
        heard(world, gone, bounce("gone@dest.test", "5.1.1", Severity.HARD, "no such user"))
        == "bounce"
    )
    assert (
        heard(world, full, bounce("full@dest.test", "4.2.2", Severity.SOFT, "mailbox full"))
        == "bounce"
    )
    complaint = Report(ReportKind.COMPLAINT, feedback_type="abuse", reason="Marked as spam.")
    assert heard(world, angry, complaint) == "complaint"
    unsubscribe = Report(ReportKind.UNSUBSCRIBE, reason="Asked to stop.")
    assert heard(world, done, unsubscribe, TokenPurpose.UNSUBSCRIBE) == "unsubscribe"

    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("acme.example", "activity")
        await settle(pilot)
        table = app.screen.query_one(FeedbackTable)
        rows = {
            plain_cells(table, row)[3]: plain_cells(table, row) for row in range(table.row_count)
        }
        assert {address: row[1:3] for address, row in rows.items()} == {
            "gone@dest.test": ["hard bounce", "5.1.1"],
            "full@dest.test": ["soft bounce", "4.2.2"],
            "angry@dest.test": ["complaint", "abuse"],
            "done@dest.test": ["unsubscribe", "—"],
        }
        assert rows["gone@dest.test"][5] == "no such user"
        assert rows["angry@dest.test"][5] == "Marked as spam."
        title = str(app.screen.query_one("#activity-feedback-title", Static).content)
        assert title == (
            "What receivers said: 1 hard bounce, 1 soft bounce, 1 complaint, 1 unsubscribe request"
        )


async def test_the_activity_tab_says_when_receivers_reported_nothing(world):
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("acme.example", "activity")
        await settle(pilot)
        table = app.screen.query_one(FeedbackTable)
        assert plain_cells(table, 0)[1] == "nothing reported"
        title = str(app.screen.query_one("#activity-feedback-title", Static).content)
        assert "no bounces, complaints or unsubscribes reported" in title


async def test_flags_count_the_reports_kept_unread(world):
    app = make_console(world, "sam")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        assert isinstance(app.screen, FlagsScreen)
        kept = app.screen.query_one("#kept-reports", Static)
        assert str(kept.content) == "Reports from receivers kept unread: none"

        message = sent(world, "someone@dest.test")
        unreadable = Report(ReportKind.UNPARSED, reason="No delivery status part was found.")
        for _ in range(2):
            assert heard(world, message, unreadable) == "unparsed"
        await pilot.press("ctrl+r")
        await settle(pilot)
        told = str(kept.content)
        assert told.startswith("Reports from receivers kept unread: 2 · the newest now, to bounce-")
        assert "No delivery status part was found." in told
        assert "mailpools events --unparsed" in told


async def test_the_receivers_words_are_shown_as_written_never_read_as_markup(world):
    message = sent(world, "odd@dest.test")
    words = "[/bold] 550 [red]no such user[/]"
    assert heard(world, message, bounce("odd@dest.test", "5.1.1", Severity.HARD, words)) == "bounce"
    app = make_console(world, "alice")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot)
        app.open_domain("acme.example", "activity")
        await settle(pilot)
        table = app.screen.query_one(FeedbackTable)
        assert plain_cells(table, 0)[5] == words
