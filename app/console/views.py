"""What the owner's console shows, as plain dataclasses without SQL.

Pools, IPs and rates are the services' own read models (app.services.pools,
app.rules.rates), so the console and `--json` describe them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from app.rules.eligibility import DomainStanding
from app.rules.rates import RateReading
from app.services.domains import DomainSummary, WarmupProgress
from app.services.pools import IpView, PoolView
from app.services.warmups import WarmupStatus
from data.models import DomainStatus, WarmupState

if TYPE_CHECKING:
    from app.services.dns_checks import SubjectChecks
    from app.services.feedback import EventView


@dataclass(frozen=True)
class Viewer:
    name: str
    role: str
    account: str | None
    plan: str | None
    is_staff: bool


@dataclass(frozen=True)
class HomePage:
    rows: list[DomainSummary]
    total: int
    offset: int
    limit: int
    filter_text: str

    @property
    def first(self) -> int:
        return self.offset + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.offset + len(self.rows)


@dataclass(frozen=True)
class RequestSummary:
    id: int
    kind: str
    status: str
    created_at: datetime
    decided_at: datetime | None
    reason: str | None
    expected_weekly_volume: int | None
    ip_count: int | None
    monthly_cost_cents: int | None
    joins_pool: str | None


@dataclass(frozen=True)
class DedicatedGroup:
    pool: str
    ips: list[IpView]
    domains: list[str]
    measured_weekly: int


@dataclass(frozen=True)
class ShareCandidate:
    name: str
    measured_weekly: int


@dataclass(frozen=True)
class DomainView:
    name: str
    account: str
    plan: str
    mode: str
    status: str
    removed_reason: str | None
    removed_at: datetime | None
    transactional_service: bool
    standing: DomainStanding
    created_at: datetime
    shared_pool: PoolView | None
    transactional_pool: PoolView | None
    dedicated_pool: PoolView | None
    sending_pool: PoolView | None
    # The last seven days against the limits of the pool the domain sends from.
    rates_7d: RateReading
    campaign_30d: int
    broadcast_30d: int
    measured_weekly: int
    pending: RequestSummary | None
    last_decision: RequestSummary | None
    warmup: WarmupStatus | None
    dedicated_groups: list[DedicatedGroup]
    share_candidates: list[ShareCandidate]
    candidates_truncated: bool
    dedicated_ips_in_use: int
    max_ips_per_request: int
    # The DNS checks as last run (none yet: no checks).
    dns: SubjectChecks | None = None


@dataclass(frozen=True)
class MessageLine:
    created_at: datetime
    to_addr: str
    kind: str
    status: str
    ip: str | None
    reply: str | None
    # None until the message is sent; then whether it left over TLS, and which version.
    sent_over_tls: bool | None = None
    tls_version: str | None = None

    @property
    def tls(self) -> str:
        if self.sent_over_tls is None:
            return "—"
        return (self.tls_version or "TLS") if self.sent_over_tls else "none"


@dataclass(frozen=True)
class EventLine:
    at: datetime
    actor: str
    action: str
    details: str


# Enough to see why a domain's mail is held; `mailpools events` lists more.
RECENT_FEEDBACK_LIMIT = 300


@dataclass(frozen=True)
class ActivityView:
    messages: list[MessageLine]
    events: list[EventLine]
    # What receivers said about the domain's mail: bounces, complaints, unsubscribes.
    feedback: list[EventView] = field(default_factory=list)


@dataclass(frozen=True)
class NotificationView:
    id: int
    kind: str
    title: str
    body: str
    created_at: datetime
    read: bool
    # The domains it covers, by name: the inbox opens one, or offers the choice.
    domains: list[str]


@dataclass(frozen=True)
class DedicatedEstimate:
    """What the dedicated form shows live, computed without the database."""

    volume: int | None
    volume_error: str | None
    ip_count: int | None
    ip_error: str | None
    measured_weekly: int
    eligible: bool
    eligibility: str
    cost: str
    monthly_cents: int = 0
    domains: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Startup:
    """Everything the console needs for its first screen, read in one transaction."""

    viewer: Viewer
    latest_notification_id: int
    unread: int
    home: HomePage | None


def removed_advice(view: DomainView) -> str | None:
    """What the owner of a removed domain should do next."""
    if view.status != DomainStatus.REMOVED:
        return None
    return (
        "Messages from this domain are held, not sent. Find the cause (old or bought "
        "lists, missing unsubscribe links, a compromised form), clean the list, then "
        "ask support to reinstate the domain: held messages go out once it is back."
    )


def warmup_label(progress: WarmupProgress | None) -> str | None:
    """A warm-up's progress in a few words for the home table: 'day 3 of 30 (paused)'."""
    if progress is None:
        return None
    if progress.state == WarmupState.COMPLETE:
        return "complete"
    label = f"day {progress.day} of {progress.planned_days}"
    return label + (" (paused)" if progress.state == WarmupState.PAUSED else "")
