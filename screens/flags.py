"""Flags: dedicated IPs under the weekly minimum, and domains close to their pool's thresholds."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Header, Static

from app.console.agent_backend import FlagsView
from app.errors import MailpoolsError
from app.rules.formatting import percent, short_count, whole_percent
from app.rules.policy import DEDICATED_WEEKLY_MINIMUM
from screens.staff_screen import StaffScreen
from widgets.staff_nav import StaffNav


class FlagsScreen(StaffScreen):
    SECTION = "flags"
    DEFAULT_CSS = """
    FlagsScreen .flags-title { height: 1; padding: 0 1; text-style: bold; background: $boost; }
    FlagsScreen DataTable { height: 1fr; min-height: 3; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield StaffNav(self.SECTION)
        yield Static(
            f"Dedicated IPs under {DEDICATED_WEEKLY_MINIMUM:,} a week across their domains",
            id="low-volume-title",
            classes="flags-title",
        )
        low: DataTable[str | Text] = DataTable(id="low-volume", cursor_type="row")
        low.add_column("IP", key="address", width=15)
        low.add_column("Group", key="pool", width=20)
        low.add_column("Account", key="account", width=10)
        low.add_column(Text("Sent 7d", justify="right"), key="volume", width=8)
        low.add_column("State", key="state", width=9)
        low.add_column("Domains", key="domains", width=40)
        yield low
        yield Static(
            "Domains close to their pool's thresholds", id="near-title", classes="flags-title"
        )
        near: DataTable[str | Text] = DataTable(id="near-thresholds", cursor_type="row")
        near.add_column("Domain", key="domain", width=22)
        near.add_column(Text("Of limit", justify="right"), key="closeness", width=8)
        near.add_column(Text("Bounce", justify="right"), key="bounce", width=11)
        near.add_column(Text("Complaint", justify="right"), key="complaint", width=11)
        near.add_column(Text("Sent", justify="right"), key="sent", width=8)
        near.add_column("Pool", key="pool", width=14)
        near.add_column("Account", key="account", width=10)
        yield near
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#low-volume", DataTable).focus()

    def reload(self) -> None:
        self.fetch_flags()

    @work(thread=True, exclusive=True, exit_on_error=False, group="flags", name="reading the flags")
    def fetch_flags(self) -> None:
        try:
            flags = self.agent.flags()
        except MailpoolsError as error:
            self.app.call_from_thread(self.show_error, error.message)
            return
        self.app.call_from_thread(self.show_flags, flags)

    def show_flags(self, flags: FlagsView) -> None:
        low = self.query_one("#low-volume", DataTable)
        low.clear()
        for flag in flags.low_volume_ips:
            low.add_row(
                flag.address,
                flag.pool,
                flag.account,
                Text(short_count(flag.weekly_volume), justify="right", style="yellow"),
                flag.state,
                ", ".join(flag.domains) or "—",
                key=flag.address,
            )
        self.query_one("#low-volume-title", Static).update(
            f"Dedicated IPs under {DEDICATED_WEEKLY_MINIMUM:,} a week across their domains: "
            f"{len(flags.low_volume_ips) or 'none'}"
        )
        near = self.query_one("#near-thresholds", DataTable)
        near.clear()
        for domain in flags.near_thresholds:
            rates = domain.rates
            limits = rates.thresholds
            assert limits is not None, "a domain is flagged only against its pool's thresholds"
            style = "bold red" if rates.closeness > 1 else "yellow"
            near.add_row(
                domain.name,
                Text(whole_percent(rates.closeness), style=style, justify="right"),
                Text(
                    f"{percent(rates.bounce_rate)}/{percent(limits.max_bounce_rate)}",
                    style=style if domain.worst == "bounce" else "",
                    justify="right",
                ),
                Text(
                    f"{percent(rates.complaint_rate)}/{percent(limits.max_complaint_rate)}",
                    style=style if domain.worst == "complaint" else "",
                    justify="right",
                ),
                Text(short_count(rates.sent) + ("" if rates.judged else " (few)"), justify="right"),
                domain.pool,
                domain.account,
                key=domain.name,
            )
        self.query_one("#near-title", Static).update(
            f"Domains close to their pool's thresholds: {len(flags.near_thresholds) or 'none'}"
        )
