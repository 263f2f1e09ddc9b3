"""Deciding one request: approve, or deny with a reason, after a confirmation step.

For new dedicated IPs the free inventory is listed with the suggested IPs
ticked (change them freely) and the quoted monthly cost beside. Nothing
changes until the agent confirms; if another agent decided first, the screen
says who, and offers nothing more to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Header, Input, Label, SelectionList, Static
from textual.worker import Worker

from app.console.agent_backend import AgentBackend
from app.errors import AlreadyDecided, MailpoolsError
from app.services.triage import DecisionContext
from screens.failures import FailureAware
from widgets.key_footer import KeyFooter
from widgets.request_details import RequestDetails
from widgets.text_field import TextField
from widgets.tick_list import TickList

if TYPE_CHECKING:
    from app.console.app import MailpoolsConsole


class DecideRequestScreen(FailureAware, Screen):
    app: MailpoolsConsole

    DEFAULT_CSS = """
    DecideRequestScreen #decide-body { height: 1fr; }
    DecideRequestScreen #decide-ips-box { height: auto; padding: 0 1; }
    DecideRequestScreen #decide-ips { height: auto; max-height: 8; }
    DecideRequestScreen #decide-cost { padding: 0 1; }
    DecideRequestScreen #decide-reason { margin: 0 1; }
    DecideRequestScreen .field-error { color: $text-error; padding: 0 1; height: auto; }
    DecideRequestScreen #decide-buttons, DecideRequestScreen #confirm-buttons {
        height: auto; padding: 0 1;
    }
    DecideRequestScreen Button { margin-right: 1; }
    DecideRequestScreen #decide-confirm {
        height: auto; border: round $warning; padding: 0 1; margin: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to the queue", id="back"),
    ]

    def __init__(self, request_id: int) -> None:
        super().__init__()
        self.request_id = request_id
        self.context: DecisionContext | None = None
        # The decision waiting for confirmation: (approve?, chosen IPs, reason).
        self.pending: tuple[bool, list[str] | None, str] | None = None

    @property
    def agent(self) -> AgentBackend:
        return AgentBackend(self.app.engine, self.app.user_name)

    def compose(self) -> ComposeResult:
        yield Header()
        # The scroll takes no focus, which it could not show; its fields and buttons do.
        with VerticalScroll(id="decide-body", can_focus=False):
            yield RequestDetails(id="decide-details")
            with Vertical(id="decide-ips-box"):
                yield Label("Free dedicated IPs (space toggles; the suggested ones are ticked):")
                yield TickList(id="decide-ips")
                yield Static("", id="decide-ips-error", classes="field-error")
            yield Static("", id="decide-cost")
            yield TextField(
                placeholder="Reason for a denial (the owner reads it)", id="decide-reason"
            )
            yield Static("", id="decide-reason-error", classes="field-error")
        # Below the scroll, so the decision stays in sight however long the request is.
        yield Static("", id="decide-error", classes="field-error")
        with Vertical(id="decide-confirm"):
            yield Static("", id="confirm-text")
            with Horizontal(id="confirm-buttons"):
                yield Button("Confirm", variant="warning", id="confirm")
                yield Button("Cancel", id="cancel")
        with Horizontal(id="decide-buttons"):
            yield Button("Approve…", variant="success", id="approve")
            yield Button("Deny…", variant="error", id="deny")
            yield Button("Back", id="back")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#decide-ips-box").display = False
        self.query_one("#decide-confirm").display = False
        self.query_one(RequestDetails).show(None, empty=f"Loading request #{self.request_id}…")
        self.load()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="decide-load",
        name="reading the request",
    )
    def load(self) -> None:
        try:
            context = self.agent.decision(self.request_id)
        except MailpoolsError as error:
            self.app.call_from_thread(self.show_refusal, error.message)
            return
        self.app.call_from_thread(self.show_context, context)

    def show_context(self, context: DecisionContext) -> None:
        self.context = context
        self.query_one(RequestDetails).show(context.item)
        request = context.item.request
        if request.status != "pending":
            who = f" by {request.reviewer}" if request.reviewer else ""
            self.show_decided(f"Request #{request.id} was already {request.status}{who}.")
            return
        if context.needs_ips:
            box = self.query_one("#decide-ips-box")
            box.display = True
            choices = self.query_one(SelectionList)
            choices.clear_options()
            choices.add_options(
                [
                    (address, address, address in context.suggested_ips)
                    for address in context.free_ips
                ]
            )
            count = request.ip_count or 0
            self.query_one("#decide-cost", Static).update(
                Text.assemble(
                    ("Quoted: ", "bold"),
                    f"{count} IP{'s' if count != 1 else ''} · {context.cost_text}",
                )
            )
            if not context.free_ips:
                self.query_one("#decide-ips-error", Static).update(
                    "No free dedicated IPs are left: add IPs to the inventory, or deny."
                )
        # Focus on the first thing to decide (the IPs, else the reason), once the new
        # content is laid out, so scrolling to it uses its real place.
        first = "#decide-ips" if context.needs_ips else "#decide-reason"
        self.call_after_refresh(self.query_one(first).focus)

    def show_refusal(self, message: str) -> None:
        self.query_one("#decide-error", Static).update(message)
        self.disable_decisions()

    def show_decided(self, message: str) -> None:
        """Someone else decided: say who, and leave nothing to press but Back."""
        self.query_one("#decide-confirm").display = False
        self.query_one("#decide-error", Static).update(message)
        self.disable_decisions()

    def disable_decisions(self) -> None:
        for selector in ("#approve", "#deny", "#decide-reason", "#decide-ips"):
            self.query_one(selector).disabled = True
        self.query_one("#back", Button).focus()

    def clear_errors(self) -> None:
        for selector in ("#decide-ips-error", "#decide-reason-error", "#decide-error"):
            self.query_one(selector, Static).update("")

    @on(Button.Pressed, "#approve")
    def approve_pressed(self) -> None:
        self.ask_confirmation(True)

    @on(Button.Pressed, "#deny")
    def deny_pressed(self) -> None:
        self.ask_confirmation(False)

    @on(Input.Submitted, "#decide-reason")
    def reason_submitted(self) -> None:
        self.ask_confirmation(False)

    def ask_confirmation(self, approve: bool) -> None:
        if self.context is None:
            return
        self.clear_errors()
        chosen = list(self.query_one(SelectionList).selected) if self.context.needs_ips else None
        reason = self.query_one("#decide-reason", Input).value
        self.check(approve, chosen, reason)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="decide-check",
        name="checking the decision",
    )
    def check(self, approve: bool, chosen: list[str] | None, reason: str) -> None:
        try:
            question = self.agent.check_decision(
                self.request_id, approve=approve, ip_addresses=chosen, reason=reason
            )
        except AlreadyDecided as error:
            self.app.call_from_thread(self.show_decided, error.message)
            return
        except MailpoolsError as error:
            self.app.call_from_thread(self.show_field_error, error)
            return
        self.app.call_from_thread(self.show_confirmation, approve, chosen, reason, question)

    def show_field_error(self, error: MailpoolsError) -> None:
        target = {"ips": "#decide-ips-error", "reason": "#decide-reason-error"}.get(
            error.field or "", "#decide-error"
        )
        self.query_one(target, Static).update(error.message)
        if error.field == "reason":
            self.query_one("#decide-reason", Input).focus()

    def show_confirmation(
        self, approve: bool, chosen: list[str] | None, reason: str, question: str
    ) -> None:
        self.pending = (approve, chosen, reason)
        self.query_one("#confirm-text", Static).update(question)
        confirm = self.query_one("#decide-confirm")
        confirm.display = True
        confirm.border_title = "Approve" if approve else "Deny"
        self.query_one("#confirm", Button).focus()

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.pending = None
        self.query_one("#decide-confirm").display = False
        self.query_one("#approve", Button).focus()

    @on(Button.Pressed, "#confirm")
    def confirm_pressed(self) -> None:
        if self.pending is None:
            return
        self.query_one("#confirm", Button).disabled = True
        approve, chosen, reason = self.pending
        self.decide(approve, chosen, reason)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="decide",
        name="recording the decision",
    )
    def decide(self, approve: bool, chosen: list[str] | None, reason: str) -> None:
        try:
            if approve:
                summary = self.agent.approve(self.request_id, chosen)
            else:
                summary = self.agent.deny(self.request_id, reason)
        except AlreadyDecided as error:
            self.app.call_from_thread(self.show_decided, error.message)
            return
        except MailpoolsError as error:
            self.app.call_from_thread(self.decision_refused, error)
            return
        self.app.call_from_thread(self.decided, summary)

    def decision_refused(self, error: MailpoolsError) -> None:
        self.pending = None
        self.query_one("#decide-confirm").display = False
        self.query_one("#confirm", Button).disabled = False
        self.show_field_error(error)

    def show_failure(self, worker: Worker, message: str) -> None:
        """Nothing was decided: give back the buttons, and say what broke."""
        self.pending = None
        self.query_one("#decide-confirm").display = False
        self.query_one("#confirm", Button).disabled = False
        if self.context is None:
            self.query_one(RequestDetails).show(
                None, empty=f"Request #{self.request_id} could not be read."
            )
        self.query_one("#decide-error", Static).update(message)

    def decided(self, message: str) -> None:
        self.app.notify(message, title="Decided")
        self.dismiss(message)

    @on(Button.Pressed, "#back")
    def back_pressed(self) -> None:
        self.action_back()

    def action_back(self) -> None:
        if self.pending is not None and self.query_one("#decide-confirm").display:
            self.cancel_pressed()
            return
        self.dismiss(None)
