"""Pools: every pool with its IPs, member domains, thresholds and today's rates.

Pick a pool in the top table; act on the highlighted IP (pause, resume,
weight) or member domain (remove with a reason, reinstate). Every change but
resuming is checked as it would be made, then confirmed before it is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static

from app.errors import MailpoolsError
from app.rules.formatting import percent, plural, short_count
from app.services.pools import MemberDomain, PoolReport, ReinstatementCheck
from screens.prompt_dialog import PromptDialog
from screens.staff_screen import StaffScreen
from widgets.fitted_table import FittedTable
from widgets.key_footer import KeyFooter
from widgets.rate_gauge import rate_cell
from widgets.staff_nav import StaffNav

if TYPE_CHECKING:
    from app.services.dns_checks import SubjectChecks

STATE_STYLES = {
    "active": "green",
    "warming": "yellow",
    "paused": "bold yellow",
    "blocklisted": "bold red",
}


def domain_count(pool: PoolReport) -> str:
    """Its own domains, and those warming beside it: "0 + 2"."""
    own = str(len(pool.domains))
    return f"{own} + {len(pool.warming_beside)}" if pool.warming_beside else own


def member_status(domain: MemberDomain, *, warming: bool) -> Text:
    if domain.status == "removed":
        return Text(domain.status, style="bold red")
    return Text("warming", style="yellow") if warming else Text(domain.status)


def reinstatement_question(check: ReinstatementCheck) -> Text:
    """The domain's rates against its pool's limits, then the question, which warns in
    words (and in red) when it is still over them."""
    if check.still_over:
        question = Text(f"⚠ {check.question}", style="bold red")
    else:
        question = Text(check.question)
    return Text("\n").join([Text(check.standing.summary), question])


def dns_cell(checks: SubjectChecks | None) -> Text:
    """An IP's reverse DNS and blocklists at their last check, in a few words."""
    if checks is None or checks.state is None:
        return Text("not checked", style="dim")
    style = {"ok": "green", "warning": "yellow", "error": "yellow"}.get(checks.state, "bold red")
    return Text("ok" if checks.state == "ok" else checks.summary, style=style)


def yes_no(value: bool | None, *, bad: bool) -> Text:
    if value is None:
        return Text("?", style="dim")
    style = "bold red" if value == bad else ""
    return Text("yes" if value else "no", style=style)


class PoolsScreen(StaffScreen):
    SECTION = "pools"
    DEFAULT_CSS = """
    PoolsScreen #pools-table { height: 7; }
    PoolsScreen #pool-summary { height: auto; padding: 0 1; background: $boost; }
    PoolsScreen #pool-ips { height: 1fr; min-height: 3; }
    PoolsScreen #pool-domains { height: 1fr; min-height: 3; }
    """
    BINDINGS = [
        Binding(
            "p",
            "pause_ip",
            "Pause IP",
            tooltip="Stop sending from the highlighted IP",
            id="pause-ip",
        ),
        Binding(
            "u",
            "resume_ip",
            "Resume IP",
            tooltip="Let the highlighted IP send again",
            id="resume-ip",
        ),
        Binding(
            "w", "weight", "Weight", tooltip="Change the highlighted IP's weight", id="ip-weight"
        ),
        Binding(
            "d",
            "remove_domain",
            "Remove",
            tooltip="Remove the highlighted domain from its pool",
            id="remove-domain",
        ),
        Binding(
            "r",
            "reinstate_domain",
            "Reinstate",
            tooltip="Reinstate the highlighted domain",
            id="reinstate-domain",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.pools: list[PoolReport] = []
        self.ip_dns: dict[str, SubjectChecks] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield StaffNav(self.SECTION)
        pools: DataTable[str | Text] = DataTable(
            id="pools-table", cursor_type="row", zebra_stripes=True
        )
        pools.add_column("Pool", key="pool", width=18)
        pools.add_column("Kind", key="kind", width=13)
        pools.add_column(Text("IPs", justify="right"), key="ips", width=3)
        pools.add_column(Text("Domains", justify="right"), key="domains", width=7)
        pools.add_column(Text("Today", justify="right"), key="sent", width=7)
        pools.add_column(Text("Bounce", justify="right"), key="bounce", width=7)
        pools.add_column(Text("Complaint", justify="right"), key="complaint", width=9)
        yield pools
        yield Static("Loading pools…", id="pool-summary")
        # Sized to their content, so a narrow screen cuts a hostname or a domain's name
        # with an ellipsis instead of scrolling the table sideways.
        yield FittedTable(
            [
                ("IP", "address"),
                ("State", "state"),
                (Text("Weight", justify="right"), "weight"),
                ("Bound", "bound"),
                ("Blocklisted", "blocklisted"),
                ("DNS", "dns"),
                (Text("Sent today", justify="right"), "sent"),
                ("Hostname", "hostname"),
            ],
            cut_first=["hostname"],
            id="pool-ips",
            cursor_type="row",
        )
        yield FittedTable(
            [
                ("Domain", "domain"),
                ("Account", "account"),
                ("Status", "status"),
                (Text("Sent", justify="right"), "sent"),
                (Text("Bounce", justify="right"), "bounce"),
                (Text("Complaint", justify="right"), "complaint"),
            ],
            keep_whole=["status", "sent", "bounce", "complaint"],
            id="pool-domains",
            cursor_type="row",
        )
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#pools-table", DataTable).focus()

    def reload(self) -> None:
        self.fetch_pools()

    @work(thread=True, exclusive=True, exit_on_error=False, group="pools", name="reading the pools")
    def fetch_pools(self) -> None:
        try:
            pools = self.agent.pools()
            ip_dns = self.agent.ip_checks()
        except MailpoolsError as error:
            self.app.call_from_thread(self.show_error, error.message)
            return
        self.app.call_from_thread(self.show_pools, pools, ip_dns)

    def show_error(self, message: str) -> None:
        self.query_one("#pool-summary", Static).update(Text(message, style="bold red"))

    def show_pools(
        self, pools: list[PoolReport], ip_dns: dict[str, SubjectChecks] | None = None
    ) -> None:
        if ip_dns is not None:
            self.ip_dns = ip_dns
        table = self.query_one("#pools-table", DataTable)
        selected = self.selected_pool()
        table.clear()
        self.pools = pools
        for pool in pools:
            today = pool.today
            table.add_row(
                pool.name,
                pool.kind,
                Text(str(len(pool.ips)), justify="right"),
                Text(domain_count(pool), justify="right"),
                Text(short_count(today.sent), justify="right"),
                Text(today.bounce.text, justify="right"),
                Text(today.complaint.text, justify="right"),
                key=pool.name,
            )
        names = [pool.name for pool in pools]
        if selected and selected.name in names:
            table.move_cursor(row=names.index(selected.name))
        self.show_members()

    def selected_pool(self) -> PoolReport | None:
        table = self.query_one("#pools-table", DataTable)
        if not self.pools or table.row_count == 0:
            return None
        return self.pools[min(table.cursor_row, len(self.pools) - 1)]

    @on(DataTable.RowHighlighted, "#pools-table")
    def pool_highlighted(self) -> None:
        self.show_members()

    def show_members(self) -> None:
        pool = self.selected_pool()
        summary = self.query_one("#pool-summary", Static)
        ip_table = self.query_one("#pool-ips", FittedTable)
        domain_table = self.query_one("#pool-domains", FittedTable)
        ip_row, domain_row = ip_table.cursor_row, domain_table.cursor_row
        if pool is None:
            ip_table.fill([])
            domain_table.fill([])
            summary.update("There are no pools yet: add them to the inventory.")
            return
        limits = pool.thresholds
        warming_note = ""
        if pool.warming_beside:
            warming_note = (
                f" · + {plural(len(pool.warming_beside), 'domain')} warming beside it, "
                "sending part of their mail here"
            )
        summary.update(
            Text.assemble(
                (pool.name, "bold"),
                f" · limits: bounce {percent(limits.max_bounce_rate)}, complaints "
                f"{percent(limits.max_complaint_rate)} over {limits.window_days} days "
                f"(min {limits.min_sample:,} messages)",
                warming_note,
            )
        )
        ip_table.fill(
            (
                [
                    ip.address,
                    Text(ip.state, style=STATE_STYLES.get(ip.state, "")),
                    Text(str(ip.weight), justify="right"),
                    yes_no(ip.bound, bad=False),
                    yes_no(ip.blocklisted, bad=True),
                    dns_cell(self.ip_dns.get(ip.address)),
                    Text(short_count(ip.sent_today), justify="right"),
                    ip.hostname,
                ],
                ip.address,
            )
            for ip in pool.ips
        )
        domain_table.fill(
            (
                [
                    domain.name,
                    domain.account,
                    member_status(domain, warming=domain in pool.warming_beside),
                    Text(short_count(domain.rates.sent), justify="right"),
                    rate_cell(domain.rates.bounce),
                    rate_cell(domain.rates.complaint),
                ],
                domain.name,
            )
            for domain in pool.domains + pool.warming_beside
        )
        if ip_table.row_count:
            ip_table.move_cursor(row=min(ip_row, ip_table.row_count - 1))
        if domain_table.row_count:
            domain_table.move_cursor(row=min(domain_row, domain_table.row_count - 1))

    def highlighted(self, table_id: str, what: str) -> str | None:
        table = self.query_one(table_id, DataTable)
        if table.row_count == 0:
            self.notify(f"This pool has no {what}.", severity="warning")
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def action_pause_ip(self) -> None:
        address = self.highlighted("#pool-ips", "IPs")
        if address:
            self.confirm_change(
                f"Pause {address}",
                lambda: self.agent.check_pause_ip(address),
                lambda: self.agent.pause_ip(address),
                confirm_label="Pause",
            )

    def action_resume_ip(self) -> None:
        address = self.highlighted("#pool-ips", "IPs")
        if address:
            self.run_change(lambda: self.agent.resume_ip(address))

    def action_weight(self) -> None:
        address = self.highlighted("#pool-ips", "IPs")
        pool = self.selected_pool()
        if address is None or pool is None:
            return
        current = next(ip.weight for ip in pool.ips if ip.address == address)
        self.app.push_screen(
            PromptDialog(
                f"Weight of {address}",
                "Its share of the pool's traffic is its weight over the pool's total (0 takes none):",
                lambda value: self.agent.set_ip_weight(address, value),
                check=lambda value: self.agent.check_ip_weight(address, value),
                value=str(current),
            ),
            self.prompt_closed,
        )

    def action_remove_domain(self) -> None:
        name = self.highlighted("#pool-domains", "member domains")
        if name is None:
            return
        self.app.push_screen(
            PromptDialog(
                f"Remove {name} from its pool",
                "Why? The owner reads this; the domain's mail is held until it is reinstated.",
                lambda reason: self.agent.remove_domain(name, reason),
                check=lambda reason: self.agent.check_removal(name, reason),
                placeholder="e.g. Bounce rate over 7% for a week: clean the list",
                submit_label="Remove",
            ),
            self.prompt_closed,
        )

    def action_reinstate_domain(self) -> None:
        name = self.highlighted("#pool-domains", "member domains")
        if name:
            self.confirm_change(
                f"Reinstate {name}",
                lambda: reinstatement_question(self.agent.check_reinstatement(name)),
                lambda: self.agent.reinstate_domain(name),
                confirm_label="Reinstate",
            )

    def prompt_closed(self, message: str | None) -> None:
        if message:
            self.tell_result(message)
