"""What the two request forms share: a note beside each field, and a refusal shown
next to the field it concerns.

A form files nothing itself: it posts its `Submitted` message with what was typed,
and the screen hosting it files the request in a worker, then answers with
`filed`, `refused` (placed by field) or `failed`."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, Static

from app.console.views import DomainView, RequestSummary
from app.errors import MailpoolsError


class RequestForm(Vertical):
    # "transactional" or "dedicated": names the submit button (#submit-KIND) and
    # the note under it (#KIND-form-error).
    KIND: ClassVar[str]
    # Fields that have a note of their own (#FIELD-error), matched to MailpoolsError.field.
    FIELDS: ClassVar[tuple[str, ...]]

    class Submitted(Message):
        """The owner asked to file the request of FORM; each form's own subclass carries the fields."""

        def __init__(self, form: RequestForm) -> None:
            super().__init__()
            self.form = form

        @property
        def control(self) -> RequestForm:
            return self.form

    def __init__(self, view: DomainView, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view = view

    @property
    def form_note(self) -> str:
        return f"{self.KIND}-form"

    @property
    def submit_button(self) -> Button:
        return self.query_one(f"#submit-{self.KIND}", Button)

    def note(self, field: str, message: str, *, good: bool = False) -> None:
        target = self.query_one(f"#{field}-error", Static)
        target.update(message)
        target.display = bool(message)
        target.set_class(bool(message) and not good, "refusal")
        target.set_class(bool(message) and good, "accepted")

    @on(Button.Pressed)
    def submit_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == f"submit-{self.KIND}":
            event.stop()
            self.action_submit()

    def action_submit(self) -> None:
        raise NotImplementedError

    def submit(self, message: Submitted) -> None:
        """Say the request is on its way, keep it from being sent twice, and hand it over."""
        self.note(self.form_note, "Filing the request…", good=True)
        self.submit_button.disabled = True
        self.post_message(message)

    def filed(self, request: RequestSummary) -> None:
        self.note(self.form_note, f"Request #{request.id} filed.", good=True)

    def failed(self, message: str) -> None:
        """Filing broke for a reason that is not the owner's: say so, and let them try again."""
        self.submit_button.disabled = False
        self.note(self.form_note, message)

    def refused(self, error: MailpoolsError) -> None:
        self.submit_button.disabled = False
        self.note(self.form_note, "")
        # The field named by the refusal, if this form shows errors next to it.
        field = (
            error.field
            if error.field in self.FIELDS and self.query(f"#{error.field}-error")
            else None
        )
        self.note(field or self.form_note, error.message)
        if field and self.query(f"#{field}"):
            self.query_one(f"#{field}").focus()
