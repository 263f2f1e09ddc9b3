"""The form that puts an address on a suppression list by hand, with the reason for it.

Agents also choose whose list (they belong to no account); owners change their own.
The form posts `Submitted`; the screen runs the change and answers with `refused`,
which shows the service's sentence under the form and puts the cursor in the field
it is about, or `added`, which empties the form for the next address.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Select, Static

from widgets.text_field import TextField


class SuppressionForm(Vertical):
    DEFAULT_CSS = """
    SuppressionForm { height: auto; padding: 0 1; }
    SuppressionForm Horizontal { height: auto; }
    SuppressionForm #suppress-account { width: 18; margin-right: 1; }
    SuppressionForm #suppress-address { width: 2fr; margin-right: 1; }
    SuppressionForm #suppress-reason { width: 3fr; margin-right: 1; }
    SuppressionForm #suppress-add { min-width: 7; }
    SuppressionForm #suppress-error { height: auto; }
    """

    class Submitted(Message):
        def __init__(self, form: SuppressionForm, address: str, reason: str, account: str | None):
            super().__init__()
            self.form = form
            self.address = address
            self.reason = reason
            self.account = account

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.accounts: list[str] | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield TextField(placeholder="Address to suppress", id="suppress-address", compact=True)
            yield TextField(
                placeholder="Why no mail should go there", id="suppress-reason", compact=True
            )
            yield Button("Add", id="suppress-add", compact=True, variant="primary")
        yield Static("", id="suppress-error", classes="refusal")

    async def choose_accounts(self, names: list[str], chosen: str | None) -> None:
        """For agents: whose list an address goes on, CHOSEN first if it is one of NAMES."""
        if self.accounts is None:
            self.accounts = names
            await self.query_one(Horizontal).mount(
                Select(
                    [(name, name) for name in names],
                    allow_blank=False,
                    prompt="Account",
                    id="suppress-account",
                    compact=True,
                ),
                before=0,
            )
        if chosen in names:
            self.query_one(Select).value = chosen

    @property
    def account(self) -> str | None:
        if self.accounts is None:
            return None
        value = self.query_one(Select).value
        return value if isinstance(value, str) else None

    @on(Input.Submitted)
    @on(Button.Pressed, "#suppress-add")
    def submit(self) -> None:
        self.query_one(Button).disabled = True
        self.post_message(
            self.Submitted(
                self,
                self.query_one("#suppress-address", Input).value,
                self.query_one("#suppress-reason", Input).value,
                self.account,
            )
        )

    def refused(self, message: str, field: str | None = None) -> None:
        # Text, not str: the sentence may quote what was typed, which is not markup.
        self.query_one("#suppress-error", Static).update(Text(message))
        self.query_one(Button).disabled = False
        wanted = {"address": "#suppress-address", "reason": "#suppress-reason"}.get(field or "")
        if wanted is not None:
            self.query_one(wanted, Input).focus()
        elif field == "account" and self.accounts is not None:
            self.query_one(Select).focus()

    def added(self) -> None:
        self.query_one("#suppress-error", Static).update("")
        self.query_one(Button).disabled = False
        self.query_one("#suppress-address", Input).value = ""
        self.query_one("#suppress-reason", Input).value = ""
        self.query_one("#suppress-address", Input).focus()
