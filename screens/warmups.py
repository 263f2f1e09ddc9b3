"""Warm-ups: every dedicated IP group still warming, with its day, today's share and held days."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static

from app.errors import MailpoolsError
from app.rules.formatting import sentence_date, whole_percent
from app.services.warmups import WarmupView
from screens.staff_screen import StaffScreen
from widgets.fitted_table import FittedTable
from widgets.key_footer import KeyFooter
from widgets.staff_nav import StaffNav


class WarmupsScreen(StaffScreen):
    SECTION = "warmups"
    DEFAULT_CSS = """
    WarmupsScreen #warmups-table { height: 1fr; }
    WarmupsScreen #warmup-detail { height: auto; padding: 0 1; border-top: solid $primary; }
    """
    BINDINGS = [
        Binding(
            "p",
            "pause",
            "Pause",
            tooltip="Hold the highlighted warm-up at its day",
            id="pause-warmup",
        ),
        Binding(
            "u",
            "resume",
            "Resume",
            tooltip="Let the highlighted warm-up advance again",
            id="resume-warmup",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.warmups: list[WarmupView] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield StaffNav(self.SECTION)
        yield FittedTable(
            [
                ("Group", "pool"),
                ("Domains", "domains"),
                ("State", "state"),
                (Text("Day", justify="right"), "day"),
                (Text("Share", justify="right"), "share"),
                (Text("Held", justify="right"), "held"),
                ("IPs", "ips"),
            ],
            id="warmups-table",
            cursor_type="row",
            zebra_stripes=True,
        )
        yield Static("Loading warm-ups…", id="warmup-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()

    def reload(self) -> None:
        self.fetch_warmups()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="warmups",
        name="reading the warm-ups",
    )
    def fetch_warmups(self) -> None:
        try:
            warmups = self.agent.warmups()
        except MailpoolsError as error:
            self.app.call_from_thread(self.show_error, error.message)
            return
        self.app.call_from_thread(self.show_warmups, warmups)

    def show_error(self, message: str) -> None:
        self.query_one("#warmup-detail", Static).update(Text(message, style="bold red"))

    def show_warmups(self, warmups: list[WarmupView]) -> None:
        table = self.query_one(FittedTable)
        row = table.cursor_row
        self.warmups = warmups
        table.fill((self.cells(warmup), str(warmup.id)) for warmup in warmups)
        if warmups:
            table.move_cursor(row=min(row, len(warmups) - 1))
        self.show_detail()

    @staticmethod
    def cells(warmup: WarmupView) -> list[str | Text]:
        domains = warmup.domains[0] + (
            f" +{len(warmup.domains) - 1}" if len(warmup.domains) > 1 else ""
        )
        return [
            warmup.pool,
            domains if warmup.domains else "—",
            Text(warmup.state, style="bold yellow" if warmup.state == "paused" else "green"),
            Text(f"{warmup.day}/{warmup.planned_days}", justify="right"),
            Text(whole_percent(warmup.today_share), justify="right"),
            Text(
                str(warmup.held_days),
                justify="right",
                style="yellow" if warmup.held_days else "",
            ),
            ", ".join(warmup.ips),
        ]

    def selected(self) -> WarmupView | None:
        table = self.query_one(DataTable)
        if not self.warmups:
            return None
        return self.warmups[min(table.cursor_row, len(self.warmups) - 1)]

    @on(DataTable.RowHighlighted)
    def show_detail(self) -> None:
        warmup = self.selected()
        detail = self.query_one("#warmup-detail", Static)
        if warmup is None:
            detail.update(Text("No warm-up is in progress.", style="dim"))
            return
        text = Text.assemble(
            (warmup.pool, "bold"),
            f" · {warmup.account} · expects {warmup.expected_weekly_volume:,}/week · started "
            f"{sentence_date(warmup.started_on)} · domains: {', '.join(warmup.domains) or '—'}",
        )
        if warmup.last_hold_reason:
            text.append(f"\nLast held: {warmup.last_hold_reason}", style="yellow")
        detail.update(text)

    def acting_domain(self) -> str | None:
        warmup = self.selected()
        if warmup is None:
            self.notify("No warm-up is in progress.", severity="warning")
            return None
        if not warmup.domains:
            self.notify(f"{warmup.pool} has no domains to act through.", severity="warning")
            return None
        return warmup.domains[0]

    def action_pause(self) -> None:
        domain = self.acting_domain()
        if domain:
            self.run_change(lambda: self.agent.pause_warmup(domain))

    def action_resume(self) -> None:
        domain = self.acting_domain()
        if domain:
            self.run_change(lambda: self.agent.resume_warmup(domain))
