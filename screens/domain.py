"""One domain: Overview, Mail Servers, DNS and Activity tabs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Header, Static
from textual.worker import Worker

from app.console.views import (
    RECENT_FEEDBACK_LIMIT,
    ActivityView,
    DomainView,
    RequestSummary,
    removed_advice,
)
from app.errors import MailpoolsError
from app.rules.formatting import age, plural, sentence_date, table_time, whole_percent
from app.services.outcomes import Outcome
from screens.failures import FailureAware
from screens.messages import NotificationsArrived
from widgets.choice_strip import ChoiceStrip
from widgets.dedicated_form import DedicatedForm
from widgets.dns_checks_panel import DnsChecksPanel
from widgets.feedback_table import FeedbackTable, feedback_rows, summary
from widgets.fitted_table import FittedTable
from widgets.key_footer import KeyFooter
from widgets.mail_servers import MailServersPanel, pending_text
from widgets.rate_gauge import RateGauge
from widgets.request_form import RequestForm
from widgets.transactional_form import TransactionalForm

if TYPE_CHECKING:
    from app.console.app import MailpoolsConsole

TAB_LABELS = {
    "overview": "Overview",
    "mail-servers": "Mail Servers",
    "dns": "DNS",
    "activity": "Activity",
}
# How often the Activity tab reads the domain's messages and changes again while it is shown.
ACTIVITY_REFRESH_SECONDS = 5.0
MODE_WORDS = {
    "shared": "a shared pool",
    "transactional": "the transactional pool",
    "dedicated": "dedicated IPs",
}


class DomainScreen(FailureAware, Screen):
    app: MailpoolsConsole

    DEFAULT_CSS = """
    DomainScreen #domain-title { padding: 0 1; height: auto; text-style: bold; }
    DomainScreen #domain-tabs { border-bottom: solid $primary; height: 2; }
    DomainScreen #domain-panes { height: 1fr; }
    DomainScreen .pane { height: 1fr; }
    DomainScreen .tab-body { height: 1fr; padding: 0 1; }
    DomainScreen .tab-body > Static { height: auto; }
    DomainScreen #activity-messages, DomainScreen #activity-events { height: auto; max-height: 50%; }
    DomainScreen #activity-feedback { height: auto; max-height: 50%; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to your domains", id="back"),
        Binding("1", "tab('overview')", "Overview", show=False),
        Binding("2", "tab('mail-servers')", "Mail Servers", show=False),
        Binding("3", "tab('dns')", "DNS", show=False),
        Binding("4", "tab('activity')", "Activity", show=False),
        Binding("r", "reload", "Reload", tooltip="Read the domain again", id="reload"),
        Binding("k", "recheck", "Check DNS", tooltip="Check this domain's DNS records now"),
    ]

    def __init__(
        self, domain: str, *, tab: str = "overview", view: DomainView | None = None
    ) -> None:
        super().__init__()
        self.domain = domain
        self.initial_tab = tab if tab in TAB_LABELS else "overview"
        # Given the domain's data already, the first tab is built with the screen in one pass.
        self.view = view
        self.activity: ActivityView | None = None
        self.filled: set[str] = set()
        # The form whose request is being filed, told if filing breaks.
        self.filing_form: RequestForm | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        view = self.view
        yield Static(self.title_text(view) if view else self.domain, id="domain-title")
        # A light tab bar (one widget) over a switcher: a domain opens quickly.
        yield ChoiceStrip(list(TAB_LABELS.items()), selected=self.initial_tab, id="domain-tabs")
        # Only the first tab's pane is built with the screen; the others when first chosen.
        with ContentSwitcher(initial=self.initial_tab, id="domain-panes"):
            tab = self.initial_tab
            with Container(id=tab, classes="pane"):
                if view is not None and tab != "activity":
                    self.filled.add(tab)
                    yield from self.tab_widgets(tab, view)
                else:
                    yield Static("Loading…", classes="loading-note")
        yield KeyFooter()

    async def on_mount(self) -> None:
        self.set_interval(ACTIVITY_REFRESH_SECONDS, self.refresh_activity)
        if self.view is None:
            self.load_domain()
        elif self.initial_tab == "activity":
            await self.fill("activity")
        self.focus_ways()

    def focus_ways(self) -> None:
        """On Mail Servers the arrows move between the ways of sending, as the help says."""
        if self.query_one("#domain-tabs", ChoiceStrip).selected != "mail-servers":
            return
        ways = self.query("#ways")
        focused = self.app.focused
        pane = self.query_one("#mail-servers", Container)
        if ways and (focused is None or pane not in focused.ancestors):
            ways.first(ChoiceStrip).focus()

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="domain", name="reading the domain"
    )
    def load_domain(self) -> None:
        try:
            view = self.app.backend.domain(self.domain)
        except MailpoolsError as error:
            self.app.call_from_thread(self.show_error, error.message)
            return
        # Textual types the callback as returning `T | Awaitable[T]`, which mypy cannot
        # solve for a coroutine function; the call itself awaits show_domain as intended.
        self.app.call_from_thread(self.show_domain, view)  # type: ignore[arg-type]

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="activity",
        name="reading the domain's activity",
    )
    def load_activity(self) -> None:
        try:
            activity = self.app.backend.activity(self.domain)
        except MailpoolsError as error:
            self.app.call_from_thread(self.show_error, error.message)
            return
        self.app.call_from_thread(self.show_activity, activity)

    def refresh_activity(self) -> None:
        """Keep the Activity tab live while it is the one shown."""
        shown = self.query_one("#domain-tabs", ChoiceStrip).selected == "activity"
        if self.is_current and shown and "activity" in self.filled:
            self.load_activity()

    def show_error(self, message: str) -> None:
        self.query_one("#domain-title", Static).update(Text(message, style="bold red"))

    def show_failure(self, worker: Worker, message: str) -> None:
        if worker.group == "file-request" and self.filing_form is not None:
            self.filing_form.failed(message)
            return
        loading = self.query(".loading-note")
        if not loading:
            super().show_failure(worker, message)
        for note in loading.results(Static):
            note.update(Text(message, style="bold red"))

    async def show_domain(self, view: DomainView) -> None:
        self.view = view
        self.query_one("#domain-title", Static).update(self.title_text(view))
        # Tabs are built when first shown, so a domain opens as fast on any tab.
        self.filled.clear()
        await self.fill(self.query_one("#domain-tabs", ChoiceStrip).selected)

    async def fill(self, tab: str) -> None:
        if tab in self.filled:
            return
        if tab == "activity":
            self.filled.add(tab)
            await self.build_activity()
            self.load_activity()
            return
        if self.view is None:
            return
        self.filled.add(tab)
        pane = self.query_one(f"#{tab}", Container)
        previous = pane.query(MailServersPanel)
        way = previous.first().shown if previous else None
        await pane.remove_children()
        await pane.mount_all(self.tab_widgets(tab, self.view, way))
        self.focus_ways()

    def tab_widgets(self, tab: str, view: DomainView, way: str | None = None) -> list:
        if tab == "overview":
            return [
                VerticalScroll(
                    *self.overview_widgets(view),
                    id="overview-body",
                    classes="tab-body",
                    can_focus=False,
                )
            ]
        if tab == "mail-servers":
            return [MailServersPanel(view, way=way, id="mail-servers-panel")]
        return [DnsChecksPanel(view.dns, id="dns-body")]

    async def build_activity(self) -> None:
        pane = self.query_one("#activity", Container)
        if pane.query("#activity-body"):
            return
        messages: DataTable[str] = DataTable(
            id="activity-messages", cursor_type="row", zebra_stripes=True
        )
        messages.add_columns("When", "To", "Kind", "Status", "IP", "TLS", "SMTP reply")
        # Only when the screen is too narrow is anything cut, the details first.
        events = FittedTable(
            [("When", "when"), ("Who", "who"), ("What", "what"), ("Details", "details")],
            cut_first=["details"],
            id="activity-events",
            cursor_type="row",
            zebra_stripes=True,
        )
        await pane.remove_children()
        await pane.mount(
            VerticalScroll(
                Static("Recent messages", classes="section-title"),
                messages,
                Static("", id="activity-feedback-title", classes="section-title"),
                FeedbackTable(id="activity-feedback"),
                Static("Changes to this domain", classes="section-title"),
                events,
                id="activity-body",
                classes="tab-body",
                can_focus=False,
            )
        )

    @staticmethod
    def title_text(view: DomainView) -> str:
        status = " · REMOVED from its pool" if view.status == "removed" else ""
        return f"{view.name} — sends from {MODE_WORDS.get(view.mode, view.mode)}{status}"

    def overview_widgets(self, view: DomainView) -> list:
        pool = view.sending_pool
        lines = [
            f"Account {view.account} ({view.plan} plan) · added {sentence_date(view.created_at)}",
            f"Sends from {MODE_WORDS.get(view.mode, view.mode)}"
            + (f": {pool.name}, {plural(len(pool.ips), 'IP')}" if pool else ""),
            f"Status: {view.status}",
        ]
        if view.transactional_service:
            lines.append("Used with the transactional service.")
        widgets: list = [Static("\n".join(lines), id="overview-facts")]
        if view.status == "removed":
            widgets.append(
                Static(
                    f"Removed {age(view.removed_at) if view.removed_at else ''}: "
                    f"{view.removed_reason}\n{removed_advice(view)}",
                    classes="refusal",
                )
            )
        rates = view.rates_7d
        widgets.append(
            Static(
                f"Last 7 days: {rates.sent:,} sent · {rates.bounced:,} bounced · "
                f"{rates.complaints:,} complaints · {rates.deferred:,} deferred",
                classes="section-title",
            )
        )
        widgets.append(RateGauge("Bounces", view.rates_7d.bounce))
        widgets.append(RateGauge("Complaints", view.rates_7d.complaint))
        if view.pending:
            widgets.append(Static(pending_text(view.pending), classes="pending-note"))
        if view.warmup:
            warmup = view.warmup
            if warmup.state == "complete":
                text = f"Warm-up of {warmup.pool} complete: all sending uses the dedicated IPs."
            else:
                text = (
                    f"Warm-up of {warmup.pool}: day {warmup.current_day} of about "
                    f"{warmup.planned_days}, {whole_percent(warmup.today_share)} dedicated today."
                )
            widgets.append(Static(text, classes="section-title"))
        widgets.append(
            Static(
                "Press 2 for Mail Servers, where you choose how this domain sends.", classes="hint"
            )
        )
        return widgets

    def show_activity(self, activity: ActivityView) -> None:
        if activity == self.activity:
            return  # a refresh that found nothing new leaves the tables as they are
        self.activity = activity
        message_rows: list[list[str | Text]] = [
            [
                table_time(line.created_at),
                line.to_addr,
                line.kind,
                line.status,
                line.ip or "—",
                line.tls,
                # Text, not str: a table reads a str as markup, and the reply is the receiver's.
                Text((line.reply or "")[:60]),
            ]
            for line in activity.messages
        ] or [["—", "no messages yet", "", "", "", "", ""]]
        event_rows: list[list[str | Text]] = [
            [table_time(event.at), event.actor, event.action, event.details[:80]]
            for event in activity.events
        ] or [["—", "", "no changes recorded", ""]]
        refill(self.query_one("#activity-messages", DataTable), message_rows)
        refill(self.query_one(FeedbackTable), feedback_rows(activity.feedback))
        self.query_one("#activity-feedback-title", Static).update(
            summary(activity.feedback, RECENT_FEEDBACK_LIMIT)
        )
        self.query_one("#activity-events", FittedTable).fill(
            ((row, None) for row in event_rows), keep_place=True
        )

    @on(ChoiceStrip.Chosen, "#domain-tabs")
    async def tab_chosen(self, event: ChoiceStrip.Chosen) -> None:
        tab = event.choice
        switcher = self.query_one("#domain-panes", ContentSwitcher)
        if not switcher.query_children(f"#{tab}"):
            await switcher.mount(Container(id=tab, classes="pane"))
        switcher.current = tab
        focused = self.app.focused
        if focused is not None and switcher in focused.ancestors:
            if switcher.get_child_by_id(tab) not in focused.ancestors_with_self:
                # Focus was in the pane just hidden: keep the keyboard on the tabs,
                # from where Tab leads into the new pane.
                event.strip.focus()
        if tab == "activity" and "activity" in self.filled:
            self.load_activity()
        else:
            await self.fill(tab)
        self.focus_ways()
        self.refresh_bindings()

    @on(TransactionalForm.Submitted)
    def transactional_submitted(self, event: TransactionalForm.Submitted) -> None:
        backend = self.app.backend
        self.filing_form = event.form
        self.file_request(
            event.form,
            lambda: backend.file_transactional(
                self.domain,
                justification=event.justification,
                confirmation=event.confirmation,
                acknowledged=event.acknowledged,
            ),
        )

    @on(DedicatedForm.Submitted)
    def dedicated_submitted(self, event: DedicatedForm.Submitted) -> None:
        backend = self.app.backend
        self.filing_form = event.form
        self.file_request(
            event.form,
            lambda: backend.file_dedicated(
                self.domain,
                weekly_volume=event.weekly_volume,
                ip_count=event.ip_count,
                sharing=event.sharing,
                join_pool=event.join_pool,
            ),
        )

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="file-request",
        name="filing the request",
    )
    def file_request(self, form: RequestForm, file: Callable[[], Outcome[RequestSummary]]) -> None:
        try:
            outcome = file()
        except MailpoolsError as error:
            self.app.call_from_thread(form.refused, error)
            return
        self.app.call_from_thread(self.request_filed, form, outcome)

    def request_filed(self, form: RequestForm, outcome: Outcome[RequestSummary]) -> None:
        form.filed(outcome.subject)
        self.app.notify(outcome.summary, title="Request filed")
        self.load_domain()

    def on_notifications_arrived(self, message: NotificationsArrived) -> None:
        if any(self.domain in n.domains or not n.domains for n in message.notifications):
            self.load_domain()

    def action_tab(self, tab: str) -> None:
        self.query_one("#domain-tabs", ChoiceStrip).choose(tab)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.load_domain()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "recheck":
            # The key belongs to the DNS tab: elsewhere it is neither shown nor taken.
            tabs = self.query("#domain-tabs")
            return bool(tabs) and tabs.first(ChoiceStrip).selected == "dns"
        return True

    def action_recheck(self) -> None:
        pane = self.query_one("#dns", Container)
        for heading in pane.query("#dns-heading, #dns-status").results(Static):
            heading.update(Text("Checking the DNS records now…", style="bold"))
        self.recheck_dns()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="dns-check",
        name="checking the domain's DNS",
    )
    def recheck_dns(self) -> None:
        try:
            self.app.backend.recheck_dns(self.domain)
        except MailpoolsError as error:
            self.app.call_from_thread(self.show_error, error.message)
            return
        self.app.call_from_thread(self.load_domain)


def refill(table: DataTable, rows: Sequence[Sequence[str | Text]]) -> None:
    """Put ROWS in TABLE, its cursor and scroll where the reader left them."""
    cursor = table.cursor_coordinate
    scroll_x, scroll_y = table.scroll_x, table.scroll_y
    table.clear()
    for row in rows:
        table.add_row(*row)
    table.move_cursor(row=min(cursor.row, len(rows) - 1), column=cursor.column, scroll=False)
    # The table knows its new height only after the next refresh.
    table.call_after_refresh(table.scroll_to, scroll_x, scroll_y, animate=False)
