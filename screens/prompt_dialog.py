"""A small dialog asking one value (an IP's weight, a removal reason) and acting on it.

The action runs in a thread worker; a refusal stays in the dialog beside the
field so the agent can correct it, and success closes the dialog with the
sentence to tell. The value is first checked as the action would check it
(CHECK), and the question the check returns is confirmed before the action runs.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static
from textual.worker import Worker

from app.errors import MailpoolsError
from screens.confirm_dialog import ConfirmDialog
from screens.failures import FailureAware
from widgets.text_field import TextField


class PromptDialog(FailureAware, ModalScreen[str | None]):
    DEFAULT_CSS = """
    PromptDialog { align: center middle; }
    PromptDialog > Vertical {
        width: 90%;
        max-width: 72;
        height: auto;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    PromptDialog #prompt-error { color: $text-error; height: auto; }
    PromptDialog #prompt-buttons { height: auto; margin-top: 1; }
    PromptDialog Button { margin-right: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-prompt")]

    def __init__(
        self,
        title: str,
        question: str,
        action: Callable[[str], str],
        *,
        check: Callable[[str], str],
        value: str = "",
        placeholder: str = "",
        submit_label: str = "Save",
    ) -> None:
        super().__init__()
        self.check = check
        self.title_text = title
        self.question = question
        self.action = action
        self.initial = value
        self.placeholder = placeholder
        self.submit_label = submit_label

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            yield Static(self.question, id="prompt-question")
            yield TextField(self.initial, placeholder=self.placeholder, id="prompt-value")
            yield Static("", id="prompt-error")
            with Horizontal(id="prompt-buttons"):
                yield Button(self.submit_label, variant="primary", id="prompt-submit")
                yield Button("Cancel", id="prompt-cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#prompt-submit")
    def submit(self) -> None:
        self.query_one("#prompt-submit", Button).disabled = True
        self.run(self.query_one(Input).value)

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="prompt", name="checking the change"
    )
    def run(self, value: str) -> None:
        try:
            question = self.check(value)
        except MailpoolsError as error:
            self.app.call_from_thread(self.refused, error.message)
            return
        self.app.call_from_thread(self.ask_to_confirm, value, question)

    def ask_to_confirm(self, value: str, question: str) -> None:
        self.query_one("#prompt-error", Static).update("")

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.make_change(value)
            else:
                self.query_one("#prompt-submit", Button).disabled = False
                self.query_one(Input).focus()

        self.app.push_screen(
            ConfirmDialog(self.title_text, question, confirm_label=self.submit_label), answered
        )

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="prompt", name="making the change"
    )
    def make_change(self, value: str) -> None:
        try:
            message = self.action(value)
        except MailpoolsError as error:
            self.app.call_from_thread(self.refused, error.message)
            return
        self.app.call_from_thread(self.dismiss, message)

    def show_failure(self, worker: Worker, message: str) -> None:
        self.refused(message)

    def refused(self, message: str) -> None:
        self.query_one("#prompt-error", Static).update(message)
        self.query_one("#prompt-submit", Button).disabled = False
        self.query_one(Input).focus()

    @on(Button.Pressed, "#prompt-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
