"""The Mail Servers panel: the three ways a domain can send, the current one marked.

Each way says what it means and its limits; the other ways offer their request
form, or say why the domain cannot take them.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import ContentSwitcher, Static

from app.console.views import DomainView, RequestSummary, removed_advice
from app.rules.eligibility import Obstacle, Refusal, dedicated_refusal, transactional_refusal
from app.rules.formatting import age, dollars, percent, plural, short_count
from app.rules.policy import (
    DEDICATED_IP_PRICE,
    DEDICATED_WEEKLY_MINIMUM,
    PREMIUM_FREE_DEDICATED_IPS,
)
from app.services.pools import PoolView
from widgets.choice_strip import ChoiceStrip
from widgets.dedicated_form import DedicatedForm
from widgets.rate_gauge import RateGauge
from widgets.transactional_form import TransactionalForm
from widgets.warmup_panel import WarmupPanel

WAYS = (
    ("shared", "Shared pool"),
    ("transactional", "Transactional pool"),
    ("dedicated", "Dedicated IPs"),
)
EXPLANATIONS = {
    "shared": "The default. The domain sends from IPs it shares with other senders. The "
    "platform watches each domain's bounce and complaint rates and takes a domain that "
    "breaks the pool's limits out of the pool, to protect everyone else's deliverability.",
    "transactional": "A separate shared pool with stricter limits, for receipts, password "
    "resets and other messages people expect. Only domains used with the transactional "
    "service may join, on request. Once in, the domain can no longer send campaigns or "
    "broadcasts.",
    "dedicated": f"IPs used by your account only, so it owns its reputation. They need at "
    f"least {DEDICATED_WEEKLY_MINIMUM:,} emails a week across the domains that use them. "
    f"Premium accounts get {PREMIUM_FREE_DEDICATED_IPS} at no extra cost, every other IP is "
    f"{DEDICATED_IP_PRICE}/month. An agent reviews each request; after approval the IPs warm up over 30–45+ "
    "days, higher volume warming faster.",
}


def pool_lines(pool: PoolView) -> str:
    limits = pool.thresholds
    lines = [
        f"[b]{pool.name}[/b] — limits: bounces {percent(limits.max_bounce_rate)}, complaints "
        f"{percent(limits.max_complaint_rate)} over {limits.window_days} days "
        f"(judged from {limits.min_sample:,} messages)"
    ]
    for ip in pool.ips:
        state = "" if ip.state == "active" else f"  ({ip.state})"
        lines.append(f"  {ip.address:<15} {ip.hostname}{state}")
    if not pool.ips:
        lines.append("  no IPs yet")
    return "\n".join(lines)


def pending_text(request: RequestSummary) -> str:
    what = "the transactional pool" if request.kind == "transactional" else "dedicated IPs"
    if request.joins_pool:
        what = f"to join {request.joins_pool}"
    details = ""
    if request.kind == "dedicated" and request.expected_weekly_volume:
        details = f" — {request.expected_weekly_volume:,}/week"
        if request.ip_count:
            details += f", {request.ip_count} IP{'s' if request.ip_count > 1 else ''}"
        details += f", {dollars(request.monthly_cost_cents or 0)}/month"
    return (
        f"[b]Request #{request.id} for {what} is pending review[/b]{details}: "
        f"filed {age(request.created_at)}. You will get a notification when an agent decides."
    )


class MailServersPanel(Vertical):
    """Everything about where a domain sends from, for the Mail Servers tab."""

    DEFAULT_CSS = """
    MailServersPanel { height: 1fr; }
    """

    def __init__(self, view: DomainView, *, way: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view = view
        # The way shown first: the current one, unless the owner was looking at another.
        self.shown = way if way in dict(WAYS) else view.mode

    def compose(self) -> ComposeResult:
        view = self.view
        checks = view.dns
        if checks is not None and checks.state not in (None, "ok"):
            # Text, not markup: the summary names records, which may hold brackets.
            yield Static(
                Text(f"DNS: {checks.summary}: see the DNS tab (3)", style="bold"),
                id="dns-summary",
                classes=f"dns-{checks.state}",
            )
        yield ChoiceStrip(
            list(WAYS),
            selected=self.shown,
            current=view.mode,
            radio=True,
            id="ways",
            classes="-boxed",
        )
        # Only the way shown is built now; the others when first chosen, so the tab opens fast.
        with ContentSwitcher(initial=f"way-{self.shown}", id="way-details"):
            yield self.way_scroll(self.shown)

    def way_scroll(self, key: str) -> VerticalScroll:
        # The scroll itself takes no focus, which it could not show: Tab goes from
        # the ways straight to the way's first field.
        return VerticalScroll(
            *self.way_widgets(key), id=f"way-{key}", classes="way", can_focus=False
        )

    def way_widgets(self, key: str) -> list:
        """The way's details; its explanation first, or last for the current way, whose state matters most."""
        build = {
            "shared": self.shared,
            "transactional": self.transactional,
            "dedicated": self.dedicated,
        }
        details = list(build[key]())
        explanation = self.explain(key)
        return [*details, explanation] if key == self.view.mode else [explanation, *details]

    @on(ChoiceStrip.Chosen, "#ways")
    async def show_way(self, event: ChoiceStrip.Chosen) -> None:
        key = event.choice
        switcher = self.query_one(ContentSwitcher)
        if not switcher.query(f"#way-{key}"):
            await switcher.mount(self.way_scroll(key))
        self.shown = key
        switcher.current = f"way-{key}"

    def explain(self, key: str) -> Static:
        current = self.view.mode == key
        if current:
            return Static(f"About this way: {EXPLANATIONS[key]}", classes="explanation")
        return Static(EXPLANATIONS[key], classes="explanation")

    def decision(self, kind: str) -> list[Static]:
        last = self.view.last_decision
        if last is None or last.kind != kind or last.status != "denied" or self.view.pending:
            return []
        return [
            Static(
                f"Your last request (#{last.id}) was denied {age(last.decided_at or last.created_at)}: "
                f"{last.reason}",
                classes="refusal",
            )
        ]

    def rates(self) -> list:
        view = self.view
        return [
            Static(
                f"Last 7 days: {view.rates_7d.sent:,} sent, "
                f"{view.rates_7d.bounced:,} bounced, {view.rates_7d.complaints:,} complaints",
                classes="section-title",
            ),
            RateGauge("Bounces", view.rates_7d.bounce, id="gauge-bounce"),
            RateGauge("Complaints", view.rates_7d.complaint, id="gauge-complaint"),
        ]

    def refusal(self, refusal: Refusal, kind: str) -> Static:
        """Why the domain cannot ask for this way, as the filing service would say it."""
        if refusal.obstacle == Obstacle.OPEN_REQUEST and self.view.pending:
            return Static(
                f"{pending_text(self.view.pending)}\nOne request at a time per domain.",
                classes="pending-note",
            )
        if refusal.obstacle == Obstacle.NOT_TRANSACTIONAL_SERVICE:
            return Static(
                f"{refusal.message} The transactional pool is reserved for messages sent "
                "through that service, so its stricter limits protect them.",
                id=f"{kind}-ineligible",
                classes="refusal",
            )
        conflict = refusal.obstacle in (Obstacle.SENDS_DEDICATED, Obstacle.SENDS_TRANSACTIONAL)
        return Static(
            refusal.message, id=f"{kind}-ineligible", classes="hint" if conflict else "refusal"
        )

    def shared(self) -> ComposeResult:
        view = self.view
        if view.status == "removed":
            when = f" {age(view.removed_at)}" if view.removed_at else ""
            yield Static(
                f"[b]Removed from {view.shared_pool.name if view.shared_pool else 'its pool'}{when}[/b] "
                f"for poor performance: {view.removed_reason}\n{removed_advice(view)}",
                id="removed-notice",
                classes="refusal",
            )
        if view.shared_pool is None:
            yield Static("No shared pool is assigned to this domain yet.", classes="hint")
            return
        if view.mode != "shared":
            yield Static(
                f"It keeps {view.shared_pool.name} as its fallback"
                + (" and warms up beside it." if view.mode == "dedicated" else "."),
                classes="hint",
            )
        yield Static(pool_lines(view.shared_pool), id="shared-pool", classes="section-title")
        if view.mode == "shared":
            yield from self.rates()

    def transactional(self) -> ComposeResult:
        view = self.view
        if view.mode == "transactional":
            if view.transactional_pool:
                yield Static(pool_lines(view.transactional_pool), classes="section-title")
            yield Static(
                "Campaigns and broadcasts from this domain are refused by the sender.",
                classes="warning-note",
            )
            yield from self.rates()
            return
        if view.pending and view.pending.kind == "transactional":
            yield Static(
                pending_text(view.pending), id="pending-transactional", classes="pending-note"
            )
            return
        refusal = transactional_refusal(view.standing)
        if refusal is not None:
            yield self.refusal(refusal, "transactional")
            return
        if view.transactional_pool:
            yield Static(pool_lines(view.transactional_pool), classes="section-title")
        yield from self.decision("transactional")
        yield TransactionalForm(view, id="transactional-form")

    def dedicated(self) -> ComposeResult:
        view = self.view
        if view.mode == "dedicated":
            if view.dedicated_pool:
                yield Static(
                    pool_lines(view.dedicated_pool), id="dedicated-pool", classes="section-title"
                )
            if view.warmup:
                yield WarmupPanel(
                    view.warmup, view.shared_pool.name if view.shared_pool else None, id="warmup"
                )
            yield from self.rates()
            return
        if view.pending and view.pending.kind == "dedicated":
            yield Static(pending_text(view.pending), id="pending-dedicated", classes="pending-note")
            return
        refusal = dedicated_refusal(view.standing)
        if refusal is not None:
            yield self.refusal(refusal, "dedicated")
            return
        yield Static(
            f"Measured volume of {view.name}: {short_count(view.measured_weekly)} in the last 7 days. "
            f"{view.account} has {plural(view.dedicated_ips_in_use, 'dedicated IP')} owned or requested.",
            classes="hint",
        )
        yield from self.decision("dedicated")
        yield DedicatedForm(view, id="dedicated-form")
