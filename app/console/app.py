"""The Textual console: one App for account owners and for support staff.

`MailpoolsConsole(engine, user_name)` opens on the screen that fits the user:
owners on their domains, agents and admins on the triage screen, each of the
staff sections being a Textual mode of its own (`staff_modes`). Every database
call runs in a thread worker through `ConsoleBackend`; the interface never waits
on the database.

A worker that fails with anything but a `MailpoolsError` reaches one handler
(`worker_failed`): its traceback goes to the log file (`console_log_path`), and
the screen that started it says what failed, where the details are and what to
try, and gives its controls back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path

from platformdirs import user_downloads_path, user_log_dir
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from app.console.owner_backend import ConsoleBackend
from app.console.views import DomainView, NotificationView, Startup, Viewer
from app.errors import MailpoolsError
from screens.failures import FailureAware, WorkFailed

# Themes that draw with the terminal's own palette: over ssh COLORTERM is not
# forwarded, and these look right whatever the client's colours are.
TERMINAL_THEMES = ("ansi-dark", "ansi-light")
DEFAULT_THEME = "ansi-dark"
NOTIFICATION_POLL_SECONDS = 5.0
# Words of the command's own title, which say nothing about the domain wanted.
PALETTE_WORDS = frozenset({"go", "to", "domain", "open"})
PALETTE_CANDIDATES = 200

log = logging.getLogger("mailpools.console")
# Tracebacks go to the log file only: never to the terminal the console draws on.
log.propagate = False


def console_log_path() -> Path:
    """Where the console writes what went wrong, for whoever looks into it later."""
    return Path(user_log_dir("mailpools")) / "console.log"


def screenshot_directory() -> Path:
    """Where a screenshot goes: the Downloads folder, else the home folder, else the
    temporary folder (a server often has no Downloads folder, or no writable home)."""
    for candidate in (user_downloads_path(), Path.home(), Path(tempfile.gettempdir())):
        if candidate.is_dir() and os.access(candidate, os.W_OK):
            return candidate
    return Path.cwd()


def write_to_log(path: Path, what: str, error: BaseException) -> None:
    """Append WHAT failed and ERROR's traceback to the log file at PATH."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    try:
        log.error("%s failed", what, exc_info=error)
    finally:
        log.removeHandler(handler)
        handler.close()


def failure_message(what: str, error: BaseException, log_path: Path) -> str:
    """One paragraph for a person: what failed, that it is logged, and what to try."""
    if isinstance(error, MailpoolsError):
        return error.message
    if isinstance(error, (DBAPIError, PoolTimeout)):
        cause = "the database did not answer (it may be locked, stopped or out of reach)"
        advice = "Try again in a moment; if it keeps failing, check that the database is running."
    else:
        cause = f"something unexpected went wrong ({type(error).__name__})"
        advice = "Try again; if it keeps failing, send the log file to whoever runs mailpools."
    return f"{what[:1].upper()}{what[1:]} failed: {cause}. The details are in {log_path}. {advice}"


def staff_modes() -> dict[str, type[Screen]]:
    """The support staff's sections, by the mode names the section keys switch to.

    Imported when a staff member signs in, so owners' start-up does not pay for them.
    """
    from screens.audit_log import AuditLogScreen
    from screens.flags import FlagsScreen
    from screens.pools import PoolsScreen
    from screens.triage import TriageScreen
    from screens.warmups import WarmupsScreen

    return {
        "triage": TriageScreen,
        "pools": PoolsScreen,
        "warmups": WarmupsScreen,
        "flags": FlagsScreen,
        "audit": AuditLogScreen,
    }


def key_commands(app: App, screen: Screen) -> Iterator[SystemCommand]:
    """Each action SCREEN has a key for, as a command of the palette: the screen's own and
    the console's, and those of our widgets that name their action (a form's submit).
    Textual's widgets' keys, which move a cursor or scroll, are left out."""
    offered: set[tuple[DOMNode, str]] = set()
    for active in screen.active_bindings.values():
        node, binding = active.node, active.binding
        ours = (
            node is screen
            or node is app
            or (binding.id is not None and type(node).__module__.startswith("widgets."))
        )
        if not ours or not active.enabled or (node, binding.action) in offered:
            continue
        offered.add((node, binding.action))
        what = binding.tooltip or binding.description
        yield SystemCommand(
            binding.description,
            f"{what} (key: {app.get_key_display(binding)})",
            partial(app.run_action, binding.action, node),
        )


class DomainCommands(Provider):
    """The command palette's "go to domain": every domain of the owner's account."""

    app: MailpoolsConsole

    async def startup(self) -> None:
        app = self.app
        self.names: list[str] = []
        if app.viewer and not app.viewer.is_staff:
            self.names = await asyncio.to_thread(app.backend.domain_names)

    async def discover(self) -> Hits:
        for name in self.names[:20]:
            yield DiscoveryHit(
                f"Go to domain: {name}",
                partial(self.app.open_domain, name),
                help="Open the domain's overview",
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name in self.candidates(query):
            title = f"Go to domain: {name}"
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(title),
                    partial(self.app.open_domain, name),
                    help="Open the domain's overview",
                )

    def candidates(self, query: str) -> list[str]:
        """Names worth scoring: fuzzy matching all of a 10,000-domain account on every
        keystroke would stall the palette, so the words typed narrow the list first."""
        words = [w for w in query.lower().replace(":", " ").split() if w not in PALETTE_WORDS]
        if not words:
            return self.names[:PALETTE_CANDIDATES]
        longest = max(words, key=len)
        return [name for name in self.names if longest in name][:PALETTE_CANDIDATES]


class MailpoolsConsole(App):
    """The console, for the user named USER_NAME."""

    TITLE = "mailpools"
    CSS_PATH = ["console.tcss", "../../widgets/forms.tcss", "../../widgets/mail_servers.tcss"]
    COMMANDS = App.COMMANDS | {DomainCommands}
    BINDINGS = [
        Binding("question_mark,f1", "help", "Help", tooltip="List the keys", id="help"),
        Binding("i", "notifications", "Inbox", tooltip="Your notifications", id="inbox"),
        Binding("h", "home", "Domains", tooltip="Back to your domains", id="home"),
        Binding(
            "c",
            "credentials",
            "Credentials",
            show=False,
            tooltip="Logins for the SMTP submission server",
            id="credentials",
        ),
        Binding(
            "s",
            "suppressions",
            "Suppressed addresses",
            show=False,
            tooltip="Addresses mail no longer goes to",
            id="suppressions",
        ),
        Binding(
            "ctrl+t",
            "toggle_theme",
            "Light or dark theme",
            show=False,
            tooltip="Switch between the light and the dark theme",
            id="theme",
        ),
        Binding("q", "quit", "Quit", tooltip="Leave the console", id="quit"),
    ]

    def __init__(
        self,
        engine: Engine,
        user_name: str,
        *,
        theme: str | None = None,
        poll_seconds: float = NOTIFICATION_POLL_SECONDS,
        startup: Startup | None = None,
        log_path: Path | None = None,
    ) -> None:
        """STARTUP, when the caller has already read it (the command line does, before the
        terminal is taken over), lets the first screen paint without waiting on a worker.
        LOG_PATH is where failures are written; by default the user's log directory."""
        super().__init__()
        self.engine = engine
        self.user_name = user_name
        self.backend = ConsoleBackend(engine, user_name)
        self.viewer: Viewer | None = None
        self.poll_seconds = poll_seconds
        self.last_notification_id = 0
        self.theme = theme or DEFAULT_THEME
        self.startup = startup
        self.log_path = log_path or console_log_path()
        # While polling fails, one report is enough: not one every few seconds.
        self.polling_failed = False

    def on_mount(self) -> None:
        self.sub_title = self.user_name
        if self.startup is not None:
            self.start(self.startup)
        else:
            self.load_viewer()

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="viewer", name="reading who you are"
    )
    def load_viewer(self) -> None:
        try:
            startup = self.backend.startup()
        except MailpoolsError as error:
            self.call_from_thread(self.refuse_to_start, error.message)
            return
        self.call_from_thread(self.start, startup)

    def refuse_to_start(self, message: str) -> None:
        self.exit(return_code=1, message=message)

    def start(self, startup: Startup) -> None:
        self.viewer = startup.viewer
        self.last_notification_id = startup.latest_notification_id
        self.show_unread(startup.unread)
        if startup.viewer.is_staff:
            for name, screen in staff_modes().items():
                self.add_mode(name, screen)
            self.switch_mode("triage")
            return
        from screens.home import HomeScreen

        self.push_screen(HomeScreen(first_page=startup.home))
        self.set_interval(self.poll_seconds, self.poll_notifications)

    def show_unread(self, unread: int) -> None:
        viewer = self.viewer
        who = self.user_name
        if viewer and viewer.account:
            who = f"{viewer.name} · {viewer.account} ({viewer.plan})"
        self.sub_title = f"{who} · {unread} unread" if unread else who

    def poll_notifications(self) -> None:
        self.check_notifications()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="notifications",
        name="checking for new notifications",
    )
    def check_notifications(self) -> None:
        try:
            arrived = self.backend.notifications_after(self.last_notification_id)
            unread = self.backend.unread_count() if arrived else None
        except MailpoolsError:
            return
        self.polling_failed = False
        if arrived:
            self.call_from_thread(self.announce, arrived, unread)

    def announce(self, arrived: list[NotificationView], unread: int | None) -> None:
        """Toast each new notification and tell the open screen to refresh."""
        from screens.messages import NotificationsArrived

        # A check still running when the next one starts reports the same rows again.
        arrived = [n for n in arrived if n.id > self.last_notification_id]
        if not arrived:
            return
        for notification in arrived:
            self.last_notification_id = max(self.last_notification_id, notification.id)
            severity: SeverityLevel = (
                "warning"
                if notification.kind in ("request_denied", "domain_removed")
                else "information"
            )
            self.notify(
                notification.body or " ", title=notification.title, severity=severity, timeout=10
            )
        if unread is not None:
            self.show_unread(unread)
        self.screen.post_message(NotificationsArrived(arrived))

    def open_domain(self, name: str, tab: str = "overview") -> None:
        """Read the domain, then show it: the screen appears complete, in one paint."""
        self.fetch_domain(name, tab)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="open-domain",
        name="opening the domain",
    )
    def fetch_domain(self, name: str, tab: str) -> None:
        try:
            view = self.backend.domain(name)
        except MailpoolsError as error:
            self.call_from_thread(self.notify, error.message, title="Cannot open", severity="error")
            return
        self.call_from_thread(self.show_domain, view, tab)

    def show_domain(self, view: DomainView, tab: str) -> None:
        from screens.domain import DomainScreen

        self.push_screen(DomainScreen(view.name, tab=tab, view=view))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.worker_failed(event.worker, None)

    @on(WorkFailed)
    def screen_work_failed(self, event: WorkFailed) -> None:
        self.worker_failed(event.worker, event.screen)

    def worker_failed(self, worker: Worker, screen: FailureAware | None) -> None:
        """The one place unexpected failures surface: logged, then told on SCREEN
        (or, for the App's own workers, wherever fits)."""
        error = worker.error
        if error is None:
            return
        if worker.group == "notifications":
            if self.polling_failed:
                return
            self.polling_failed = True
        if not isinstance(error, MailpoolsError):
            write_to_log(self.log_path, worker.name, error)
        message = failure_message(worker.name, error, self.log_path)
        if screen is not None:
            screen.show_failure(worker, message)
        elif worker.group == "viewer":
            self.exit(return_code=1, message=message)
        else:
            self.notify(message, title="Something went wrong", severity="error", timeout=30)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's commands, then every action of SCREEN that a key does."""
        offered = set()
        for command in (*super().get_system_commands(screen), *key_commands(self, screen)):
            if command.title not in offered:
                offered.add(command.title)
                yield command

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Staff have no inbox and no domains home: hide those keys from their footer.
        if action in ("home", "notifications") and self.viewer is not None and self.viewer.is_staff:
            return False
        if action == "home":
            from screens.home import HomeScreen

            # On the domains already: the footer's room goes to keys that lead somewhere.
            return not isinstance(self.screen, HomeScreen)
        return True

    def action_home(self) -> None:
        from screens.home import HomeScreen

        if self.viewer is None or self.viewer.is_staff:
            return
        while len(self.screen_stack) > 2 and not isinstance(self.screen, HomeScreen):
            self.pop_screen()

    def action_notifications(self) -> None:
        from screens.notifications import NotificationsScreen

        if (
            self.viewer is None
            or self.viewer.is_staff
            or isinstance(self.screen, NotificationsScreen)
        ):
            return
        self.push_screen(NotificationsScreen())

    def action_credentials(self) -> None:
        from screens.credentials import CredentialsScreen

        if self.viewer is None or isinstance(self.screen, CredentialsScreen):
            return
        self.push_screen(CredentialsScreen())

    def action_suppressions(self) -> None:
        from screens.suppressions import SuppressionsScreen

        if self.viewer is None or isinstance(self.screen, SuppressionsScreen):
            return
        self.push_screen(SuppressionsScreen())

    def action_help(self) -> None:
        from screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def deliver_screenshot(
        self,
        filename: str | None = None,
        path: str | None = None,
        time_format: str | None = None,
    ) -> str | None:
        """Save a screenshot where it can, and say where (or why it could not)."""
        directory = Path(path) if path else screenshot_directory()
        try:
            saved = self.save_screenshot(filename, str(directory), time_format)
        except OSError as error:
            self.notify(
                f"Could not save the screenshot in {directory}: {error.strerror or error}.",
                title="Screenshot",
                severity="error",
            )
            return None
        self.notify(f"Saved to {saved}", title="Screenshot")
        return None

    def action_toggle_theme(self) -> None:
        light = {"ansi-dark": "ansi-light", "textual-dark": "textual-light"}
        dark = {value: key for key, value in light.items()}
        self.theme = light.get(self.theme) or dark.get(self.theme) or DEFAULT_THEME
