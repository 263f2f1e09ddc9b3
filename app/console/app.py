"""The Textual console: one App for account owners and for support staff.

`MailpoolsConsole(engine, user_name)` opens on the screen that fits the user
(`start_screen_for`): owners on their domains, agents and admins on the triage
screen. Every database call runs in a thread worker through `ConsoleBackend`;
the interface never waits on the database.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from functools import partial

from sqlalchemy.engine import Engine
from textual import work
from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from app.console.owner_backend import ConsoleBackend
from app.console.views import DomainView, HomePage, NotificationView, Startup, Viewer
from app.errors import MailpoolsError

# Themes that draw with the terminal's own palette: over ssh COLORTERM is not
# forwarded, and these look right whatever the client's colours are.
TERMINAL_THEMES = ("ansi-dark", "ansi-light")
DEFAULT_THEME = "ansi-dark"
NOTIFICATION_POLL_SECONDS = 5.0
TRIAGE_MODULE = "screens.triage"
# Words of the command's own title, which say nothing about the domain wanted.
PALETTE_WORDS = frozenset({"go", "to", "domain", "open"})
PALETTE_CANDIDATES = 200


def start_screen_for(viewer: Viewer, home: HomePage | None = None) -> Screen:
    """The first screen for this user: the triage screen for staff, the domains for owners.

    The triage screen (issue of the support agents) is `screens.triage.TriageScreen()`,
    built without arguments; it reaches the database through `app.backend`,
    `app.engine` and `app.user_name`. Until that module exists staff see a placeholder.
    """
    if viewer.is_staff:
        try:
            module = importlib.import_module(TRIAGE_MODULE)
        except ModuleNotFoundError as error:
            if error.name != TRIAGE_MODULE:
                raise
            from screens.staff_placeholder import StaffPlaceholderScreen

            return StaffPlaceholderScreen(viewer)
        return module.TriageScreen()
    from screens.home import HomeScreen

    return HomeScreen(first_page=home)


class DomainCommands(Provider):
    """The command palette's "go to domain": every domain of the owner's account."""

    async def startup(self) -> None:
        app = self.app
        self.names: list[str] = []
        if isinstance(app, MailpoolsConsole) and app.viewer and not app.viewer.is_staff:
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
        Binding("ctrl+t", "toggle_theme", "Theme", show=False, tooltip="Light or dark", id="theme"),
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
    ) -> None:
        """STARTUP, when the caller has already read it (the command line does, before the
        terminal is taken over), lets the first screen paint without waiting on a worker."""
        super().__init__()
        self.engine = engine
        self.user_name = user_name
        self.backend = ConsoleBackend(engine, user_name)
        self.viewer: Viewer | None = None
        self.poll_seconds = poll_seconds
        self.last_notification_id = 0
        self.theme = theme or os.environ.get("MAILPOOLS_THEME") or DEFAULT_THEME
        self.startup = startup

    def on_mount(self) -> None:
        self.sub_title = self.user_name
        if self.startup is not None:
            self.start(self.startup)
        else:
            self.load_viewer()

    @work(thread=True, exclusive=True, exit_on_error=False, group="viewer")
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
        self.push_screen(start_screen_for(startup.viewer, startup.home))
        if not startup.viewer.is_staff:
            self.set_interval(self.poll_seconds, self.poll_notifications)

    def show_unread(self, unread: int) -> None:
        viewer = self.viewer
        who = self.user_name
        if viewer and viewer.account:
            who = f"{viewer.name} · {viewer.account} ({viewer.plan})"
        self.sub_title = f"{who} · {unread} unread" if unread else who

    def poll_notifications(self) -> None:
        self.check_notifications()

    @work(thread=True, exclusive=True, exit_on_error=False, group="notifications")
    def check_notifications(self) -> None:
        try:
            arrived = self.backend.notifications_after(self.last_notification_id)
            unread = self.backend.unread_count() if arrived else None
        except MailpoolsError:
            return
        if arrived:
            self.call_from_thread(self.announce, arrived, unread)

    def announce(self, arrived: list[NotificationView], unread: int | None) -> None:
        """Toast each new notification and tell the open screen to refresh."""
        from screens.messages import NotificationsArrived

        for notification in arrived:
            self.last_notification_id = max(self.last_notification_id, notification.id)
            severity = (
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

    @work(thread=True, exclusive=True, exit_on_error=False, group="open-domain")
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Staff have no inbox and no domains home: hide those keys from their footer.
        if action in ("home", "notifications") and self.viewer is not None and self.viewer.is_staff:
            return False
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

    def action_help(self) -> None:
        from screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        light = {"ansi-dark": "ansi-light", "textual-dark": "textual-light"}
        dark = {value: key for key, value in light.items()}
        self.theme = light.get(self.theme) or dark.get(self.theme) or DEFAULT_THEME
