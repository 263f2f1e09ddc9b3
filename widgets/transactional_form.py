"""The transactional-pool request: what will be sent, the domain typed to confirm,
and the acknowledgement that campaigns and broadcasts stop."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Button, Checkbox, Input, Label, Static, TextArea

from app.errors import MailpoolsError
from app.rules import policy
from widgets.request_form import RequestForm
from widgets.text_box import TextBox
from widgets.text_field import TextField


class TransactionalForm(RequestForm):
    """Files a transactional-pool request for one domain, checking each field as it is typed."""

    class Submitted(RequestForm.Submitted):
        def __init__(
            self,
            form: TransactionalForm,
            *,
            justification: str,
            confirmation: str,
            acknowledged: bool,
        ) -> None:
            super().__init__(form)
            self.justification = justification
            self.confirmation = confirmation
            self.acknowledged = acknowledged

    KIND = "transactional"
    FIELDS = ("justification", "confirmation", "acknowledge")
    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit", tooltip="File the request", id="submit-transactional")
    ]

    def compose(self) -> ComposeResult:
        view = self.view
        sent = []
        if view.campaign_30d:
            sent.append(f"{view.campaign_30d:,} campaign")
        if view.broadcast_30d:
            sent.append(f"{view.broadcast_30d:,} broadcast")
        if sent:
            history = (
                f"In the last 30 days {view.name} sent {' and '.join(sent)} emails: "
                "those would be refused from now on."
            )
        else:
            history = f"{view.name} sent no campaigns or broadcasts in the last 30 days."
        yield Static(
            f"[b]Once {view.name} joins, campaigns and broadcasts from it stop working:[/b] "
            f"the sender refuses them. {history}",
            id="transactional-warning",
            classes="warning-note",
        )
        yield Label("What will this domain send, and to whom?")
        yield TextBox(id="justification", soft_wrap=True, show_line_numbers=False)
        yield Static("", id="justification-error", classes="field-note")
        yield Label(f"Type the domain name to confirm: {view.name}")
        yield TextField(placeholder=view.name, id="confirmation")
        yield Static("", id="confirmation-error", classes="field-note")
        yield Checkbox(
            "I understand its campaigns and broadcasts will stop working",
            id="acknowledge",
        )
        yield Static("", id="acknowledge-error", classes="field-note")
        yield Button("Request the transactional pool", id="submit-transactional", variant="primary")
        yield Static("", id="transactional-form-error", classes="field-note")

    @on(TextArea.Changed, "#justification")
    def check_justification(self, event: TextArea.Changed) -> None:
        text = event.text_area.text
        if not text.strip():
            self.note("justification", "")
            return
        try:
            policy.validate_justification(text)
        except MailpoolsError as error:
            self.note("justification", error.message)
        else:
            self.note("justification", "✓ A clear description.", good=True)

    @on(Input.Changed, "#confirmation")
    def check_confirmation(self, event: Input.Changed) -> None:
        if not event.value.strip():
            self.note("confirmation", "")
        elif policy.domain_names_match(event.value, self.view.name):
            self.note("confirmation", "✓ Matches.", good=True)
        else:
            self.note("confirmation", f"Does not match {self.view.name} yet.")

    @on(Checkbox.Changed, "#acknowledge")
    def check_acknowledgement(self, event: Checkbox.Changed) -> None:
        if event.value:
            self.note("acknowledge", "")

    def action_submit(self) -> None:
        self.submit(
            self.Submitted(
                self,
                justification=self.query_one("#justification", TextArea).text,
                confirmation=self.query_one("#confirmation", Input).value,
                acknowledged=self.query_one("#acknowledge", Checkbox).value,
            )
        )
