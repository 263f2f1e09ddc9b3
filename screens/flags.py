"""Flags: dedicated IPs under the weekly minimum, domains close to their pool's thresholds,
domains failing a DNS check and IPs on a blocklist, reports from receivers that were kept
because they could not be understood, and mail waiting for a sender that has its IP (with the
senders that are running)."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Header, Static

from app.console.agent_backend import FlagsView, KeptReports
from app.errors import MailpoolsError
from app.rules.formatting import (
    age,
    one_line,
    percent,
    plural,
    short_count,
    table_time,
    whole_percent,
)
from app.rules.policy import DEDICATED_WEEKLY_MINIMUM
from app.rules.rates import Level
from screens.staff_screen import StaffScreen
from widgets.fitted_table import FittedTable
from widgets.key_footer import KeyFooter
from widgets.rate_gauge import LEVEL_MARKS
from widgets.staff_nav import StaffNav


class FlagsScreen(StaffScreen):
    SECTION = "flags"
    DEFAULT_CSS = """
    FlagsScreen .flags-title { height: 1; padding: 0 1; text-style: bold; background: $boost; }
    FlagsScreen DataTable { height: 1fr; min-height: 3; }
    FlagsScreen #kept-reports, FlagsScreen #senders { height: auto; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield StaffNav(self.SECTION)
        yield Static(
            f"Dedicated IPs under {DEDICATED_WEEKLY_MINIMUM:,} a week across their domains",
            id="low-volume-title",
            classes="flags-title",
        )
        # Sized to their content: a narrow screen cuts names with an ellipsis rather than
        # scrolling the tables sideways.
        yield FittedTable(
            [
                ("IP", "address"),
                ("Group", "pool"),
                ("Account", "account"),
                (Text("Sent 7d", justify="right"), "volume"),
                ("State", "state"),
                ("Domains", "domains"),
            ],
            keep_whole=["address", "volume", "state"],
            id="low-volume",
            cursor_type="row",
        )
        yield Static(
            "Domains close to their pool's thresholds", id="near-title", classes="flags-title"
        )
        yield FittedTable(
            [
                ("Domain", "domain"),
                (Text("Of limit", justify="right"), "closeness"),
                (Text("Bounce", justify="right"), "bounce"),
                (Text("Complaint", justify="right"), "complaint"),
                (Text("Sent", justify="right"), "sent"),
                ("Pool", "pool"),
                ("Account", "account"),
            ],
            cut_first=["pool", "account"],
            keep_whole=["closeness", "bounce", "complaint", "sent"],
            id="near-thresholds",
            cursor_type="row",
        )
        yield Static(
            "Domains failing a DNS check and IPs on a blocklist",
            id="dns-title",
            classes="flags-title",
        )
        yield FittedTable(
            [("Domain or IP", "subject"), ("What is wrong", "trouble"), ("Checked", "checked")],
            cut_first=["trouble"],
            keep_whole=["checked"],
            id="dns-flags",
            cursor_type="row",
        )
        yield Static("", id="kept-reports")
        yield Static("", id="senders")
        yield KeyFooter()

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
        self.query_one("#low-volume", FittedTable).fill(
            (
                [
                    flag.address,
                    flag.pool,
                    flag.account,
                    Text(short_count(flag.weekly_volume), justify="right", style="yellow"),
                    flag.state,
                    ", ".join(flag.domains) or "—",
                ],
                flag.address,
            )
            for flag in flags.low_volume_ips
        )
        self.query_one("#low-volume-title", Static).update(
            f"Dedicated IPs under {DEDICATED_WEEKLY_MINIMUM:,} a week across their domains: "
            f"{len(flags.low_volume_ips) or 'none'}"
        )
        rows: list[tuple[list[str | Text], str]] = []
        for domain in flags.near_thresholds:
            rates = domain.rates
            limits = rates.thresholds
            assert limits is not None, "a domain is flagged only against its pool's thresholds"
            level = Level.OVER if rates.closeness > 1 else Level.NEAR
            style = "bold red" if level is Level.OVER else "yellow"
            closeness = f"{whole_percent(rates.closeness)} {LEVEL_MARKS[level]}"
            cells: list[str | Text] = [
                domain.name,
                Text(closeness, style=style, justify="right"),
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
            ]
            rows.append((cells, domain.name))
        self.query_one("#near-thresholds", FittedTable).fill(rows)
        self.query_one("#near-title", Static).update(
            f"Domains close to their pool's thresholds: {len(flags.near_thresholds) or 'none'}"
        )
        dns_rows: list[tuple[list[str | Text], str]] = [
            (
                [
                    checks.subject,
                    Text(checks.summary, style="bold red"),
                    table_time(checks.checked_at) if checks.checked_at else "—",
                ],
                checks.subject,
            )
            for checks in flags.failing_domains + flags.listed_ips
        ]
        self.query_one("#dns-flags", FittedTable).fill(dns_rows)
        self.query_one("#dns-title", Static).update(
            f"Domains failing a DNS check: {len(flags.failing_domains) or 'none'} · "
            f"IPs on a blocklist: {len(flags.listed_ips) or 'none'}"
        )
        self.query_one("#kept-reports", Static).update(self.kept_text(flags.kept_reports))
        self.query_one("#senders", Static).update(self.senders_text(flags))

    @staticmethod
    def senders_text(flags: FlagsView) -> Text:
        """Mail that no running sender can send waits rather than leave from another IP:
        each IP with such mail, how much and since when; then the senders running."""
        if flags.waiting:
            text = Text("Mail waiting for a sender with its IP: ", style="bold yellow")
            text.append(
                " · ".join(f"{w.address} {w.count:,} since {age(w.since)}" for w in flags.waiting),
                style="",
            )
        else:
            text = Text("Mail waiting for a sender with its IP: none", style="dim")
        running = ", ".join(
            f"{s.hostname} ({plural(len(s.addresses), 'IP')}{', draining' if s.draining else ''})"
            for s in flags.running
        )
        text.append(f"\nSenders running: {running or 'none'}", style="" if running else "dim")
        return text

    @staticmethod
    def kept_text(kept: KeptReports) -> Text:
        """However busy the tables, a report no one could read is not left unnoticed."""
        if kept.newest is None:
            return Text("Reports from receivers kept unread: none", style="dim")
        text = Text(f"Reports from receivers kept unread: {kept.count:,}", style="bold yellow")
        text.append(
            f" · the newest {age(kept.newest.at)}, to {kept.newest.rcpt_to}: "
            f"{one_line(kept.newest.reason, 120)} · read them with mailpools events --unparsed",
            style="",
        )
        return text
