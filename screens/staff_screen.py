"""What every support agents' screen shares: the section keys, the backend, and running actions.

Each screen loads its data in a thread worker and gets plain dataclasses back;
actions run in a worker too, and their outcome (or the refusal) is told with
a toast, then the screen reloads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.console import RenderableType
from textual import work
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker

from app.console.agent_backend import AgentBackend
from app.errors import MailpoolsError
from screens.confirm_dialog import ConfirmDialog
from screens.failures import FailureAware
from widgets.staff_nav import STAFF_SECTIONS

if TYPE_CHECKING:
    from app.console.app import MailpoolsConsole


class StaffScreen(FailureAware, Screen):
    """Base of the agents' section screens; SECTION names the one this screen is."""

    app: MailpoolsConsole
    SECTION = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"section('{name}')", label, show=False, id=f"go-{name}")
            for key, name, label in STAFF_SECTIONS
        ),
        Binding("ctrl+r", "reload", "Reload", show=False, id="reload"),
    ]

    _agent: AgentBackend | None = None

    @property
    def agent(self) -> AgentBackend:
        if self._agent is None:
            self._agent = AgentBackend(self.app.engine, self.app.user_name)
        return self._agent

    def action_section(self, name: str) -> None:
        """Each section is a mode of the App (`staff_modes`): its screen, filters
        included, waits while the agent looks at another section."""
        if name != self.SECTION:
            self.app.switch_mode(name)

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Fetch the screen's data again (each screen starts its own worker)."""

    def show_error(self, message: str) -> None:
        """Say why the screen's data could not be read; screens with a status line put it there."""
        self.notify(message, title="Refused", severity="error")

    def show_failure(self, worker: Worker, message: str) -> None:
        if worker.group == "staff-action":
            super().show_failure(worker, message)
        else:
            self.show_error(message)

    def on_screen_resume(self) -> None:
        # Textual resumes a mode's screen twice as it first shows it: one read is enough.
        if not self.reading():
            self.reload()

    def reading(self) -> bool:
        """Whether one of this screen's reads is under way."""
        return any(
            worker.node is self and worker.is_running and worker.group != "staff-action"
            for worker in self.workers
        )

    @work(thread=True, exit_on_error=False, group="staff-action", name="making the change")
    def run_change(self, call: Callable[[], str]) -> None:
        """Run one state change; toast what happened or why it was refused, then reload."""
        try:
            message = call()
        except MailpoolsError as error:
            self.app.call_from_thread(self.notify, error.message, title="Refused", severity="error")
            return
        self.app.call_from_thread(self.tell_result, message)

    @work(thread=True, exit_on_error=False, group="staff-action", name="checking the change")
    def confirm_change(
        self,
        title: str,
        check: Callable[[], RenderableType],
        change: Callable[[], str],
        *,
        confirm_label: str,
    ) -> None:
        """Check a change as it would be made; if it would be refused, say why, otherwise
        ask to confirm it, then make it."""
        try:
            question = check()
        except MailpoolsError as error:
            self.app.call_from_thread(self.notify, error.message, title="Refused", severity="error")
            return

        def confirmed(answer: bool | None) -> None:
            if answer:
                self.run_change(change)

        self.app.call_from_thread(
            self.app.push_screen,
            ConfirmDialog(title, question, confirm_label=confirm_label),
            confirmed,
        )

    def tell_result(self, message: str) -> None:
        self.notify(message)
        self.reload()
