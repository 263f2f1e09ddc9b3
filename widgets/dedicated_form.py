"""The dedicated-IP request: weekly volume, number of IPs, the domains that share them,
or this domain onto the account's existing dedicated IPs. Eligibility and the monthly
cost update as the owner types, by the same rules the service applies."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, Input, Label, Select, SelectionList, Static

from app.console.estimate import dedicated_estimate
from app.rules.formatting import short_count
from widgets.request_form import RequestForm
from widgets.text_field import TextField
from widgets.tick_list import TickList

NEW_IPS = "new"


class DedicatedForm(RequestForm):
    """Files a dedicated-IP request, with eligibility and the monthly cost updated as typed."""

    class Submitted(RequestForm.Submitted):
        def __init__(
            self,
            form: DedicatedForm,
            *,
            weekly_volume: str,
            ip_count: str,
            sharing: list[str],
            join_pool: str | None,
        ) -> None:
            super().__init__(form)
            self.weekly_volume = weekly_volume
            self.ip_count = ip_count
            self.sharing = sharing
            self.join_pool = join_pool

    KIND = "dedicated"
    FIELDS = ("volume", "ips", "domains", "pool")
    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit", tooltip="File the request", id="submit-dedicated")
    ]

    def compose(self) -> ComposeResult:
        view = self.view
        if view.dedicated_groups:
            options = [("New dedicated IPs", NEW_IPS)]
            for group in view.dedicated_groups:
                addresses = ", ".join(ip.address for ip in group.ips) or "no IPs"
                options.append(
                    (
                        f"Put {view.name} on {group.pool} ({addresses}; "
                        f"{len(group.domains)} domains, {short_count(group.measured_weekly)}/week)",
                        group.pool,
                    )
                )
            yield Label("Where should this domain send from?")
            yield Select(options, value=NEW_IPS, allow_blank=False, id="pool")
            yield Static("", id="pool-error", classes="field-note")
        yield Label("Expected weekly volume (e.g. 80000, 80,000 or 80k)")
        yield TextField(placeholder="80k", id="volume")
        yield Static("", id="volume-error", classes="field-note")
        with Vertical(id="new-ips-fields"):
            yield Label(f"Number of dedicated IPs (1–{view.max_ips_per_request})")
            yield TextField(value="1", id="ips", type="integer", max_length=3)
            yield Static("", id="ips-error", classes="field-note")
        if view.share_candidates:
            yield Label("Other domains of the account that will share them (space to tick)")
            yield TickList(
                *[
                    (f"{c.name} · {short_count(c.measured_weekly)}/week measured", c.name)
                    for c in view.share_candidates
                ],
                id="domains",
            )
            if view.candidates_truncated:
                yield Static(
                    f"Showing the first {len(view.share_candidates)} eligible domains by name; "
                    "file the others from the command line.",
                    classes="hint",
                )
        yield Static("", id="domains-error", classes="field-note")
        yield Static("", id="eligibility")
        yield Static("", id="cost")
        yield Button("Request dedicated IPs", id="submit-dedicated", variant="primary")
        yield Static("", id="dedicated-form-error", classes="field-note")

    def on_mount(self) -> None:
        self.update_estimate()

    def join_pool(self) -> str | None:
        selects = self.query("#pool")
        if not selects:
            return None
        value = selects.first(Select).value
        return None if value in (NEW_IPS, Select.NULL) else str(value)

    def sharing(self) -> list[str]:
        lists = self.query("#domains")
        return list(lists.first(SelectionList).selected) if lists else []

    @on(Input.Changed)
    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    def update_estimate(self) -> None:
        joining = self.join_pool()
        self.query_one("#new-ips-fields").display = joining is None
        self.query_one("#submit-dedicated", Button).label = (
            f"Request to join {joining}" if joining else "Request dedicated IPs"
        )
        volume_text = self.query_one("#volume", Input).value
        estimate = dedicated_estimate(
            self.view, volume_text, self.query_one("#ips", Input).value, self.sharing(), joining
        )
        self.note("volume", (estimate.volume_error or "") if volume_text.strip() else "")
        self.note("ips", estimate.ip_error or "")
        eligibility = self.query_one("#eligibility", Static)
        eligibility.update(estimate.eligibility)
        eligibility.set_class(estimate.volume is not None and not estimate.eligible, "refusal")
        eligibility.set_class(estimate.eligible, "accepted")
        self.query_one("#cost", Static).update(f"Monthly cost: {estimate.cost}")

    def action_submit(self) -> None:
        for field in self.FIELDS:
            if self.query(f"#{field}-error"):
                self.note(field, "")
        self.submit(
            self.Submitted(
                self,
                weekly_volume=self.query_one("#volume", Input).value,
                ip_count=self.query_one("#ips", Input).value,
                sharing=self.sharing(),
                join_pool=self.join_pool(),
            )
        )
