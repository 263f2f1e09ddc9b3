"""The tables. Persistence only: no rules live here, only shapes and indexes.

Times are aware datetimes in UTC (the column type refuses naive ones, so a
local time can never slip in); days are `date`s in UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import Column, Index, LargeBinary, Table, Text, inspect, text
from sqlmodel import Field, SQLModel


class Plan(StrEnum):
    PREMIUM = "premium"
    STANDARD = "standard"


class Role(StrEnum):
    OWNER = "owner"
    AGENT = "agent"
    ADMIN = "admin"


class PoolKind(StrEnum):
    SHARED = "shared"
    TRANSACTIONAL = "transactional"
    DEDICATED = "dedicated"


class SendingMode(StrEnum):
    SHARED = "shared"
    TRANSACTIONAL = "transactional"
    DEDICATED = "dedicated"


class DomainStatus(StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"  # taken out of its pool for poor performance


class IpState(StrEnum):
    ACTIVE = "active"
    WARMING = "warming"
    PAUSED = "paused"
    BLOCKLISTED = "blocklisted"


class RequestKind(StrEnum):
    TRANSACTIONAL = "transactional"
    DEDICATED = "dedicated"


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


class WarmupState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETE = "complete"


class MessageKind(StrEnum):
    TRANSACTIONAL = "transactional"
    CAMPAIGN = "campaign"
    BROADCAST = "broadcast"


class DkimKeyState(StrEnum):
    ACTIVE = "active"  # the key the sender signs with; one per domain
    PENDING = "pending"  # made by a rotation, waiting for its DNS record to be published
    RETIRED = "retired"  # replaced; kept so its record can be withdrawn knowingly


class MessageStatus(StrEnum):
    QUEUED = "queued"  # waiting to be claimed; retries are queued with a later next_attempt_at
    SENDING = "sending"  # claimed under a lease by one worker
    SENT = "sent"
    BOUNCED = "bounced"
    REJECTED = "rejected"  # refused by policy, never sent
    HELD = "held"  # domain removed from its pool; released on reinstatement
    SUPPRESSED = "suppressed"  # its recipient is on the account's suppression list; never sent


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=200)
    plan: str = Field(default=Plan.STANDARD, max_length=20)
    created_at: datetime


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=200)
    role: str = Field(max_length=20)
    account_id: int | None = Field(default=None, foreign_key="accounts.id", index=True)
    # OpenSSH public keys, one per line.
    ssh_keys: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime


class Pool(SQLModel, table=True):
    __tablename__ = "pools"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=200)
    kind: str = Field(max_length=20)
    max_bounce_rate: float
    max_complaint_rate: float
    # Rates are judged only once the window holds this many messages (sent plus bounced).
    min_sample: int
    window_days: int
    # Dedicated pools belong to one account; shared and transactional pools to nobody.
    account_id: int | None = Field(default=None, foreign_key="accounts.id", index=True)
    created_at: datetime


class IpAddress(SQLModel, table=True):
    __tablename__ = "ip_addresses"

    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(unique=True, index=True, max_length=64)
    hostname: str = Field(max_length=255)
    # No pool and no account: free dedicated inventory.
    pool_id: int | None = Field(default=None, foreign_key="pools.id", index=True)
    account_id: int | None = Field(default=None, foreign_key="accounts.id", index=True)
    state: str = Field(default=IpState.ACTIVE, max_length=20)
    weight: int = 1
    # Whether the sending host last found this address bound locally (None: never checked).
    bound: bool | None = None
    bound_checked_at: datetime | None = None
    created_at: datetime


class Domain(SQLModel, table=True):
    __tablename__ = "domains"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=255)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    transactional_service: bool = False
    sending_mode: str = Field(default=SendingMode.SHARED, max_length=20)
    # The shared pool the domain falls back to (and warms up beside).
    shared_pool_id: int | None = Field(default=None, foreign_key="pools.id", index=True)
    transactional_pool_id: int | None = Field(default=None, foreign_key="pools.id")
    dedicated_pool_id: int | None = Field(default=None, foreign_key="pools.id", index=True)
    status: str = Field(default=DomainStatus.ACTIVE, max_length=20)
    removed_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    removed_at: datetime | None = None
    created_at: datetime


class PoolRequest(SQLModel, table=True):
    """A transactional-pool or dedicated-IP request; one table so every request has one id."""

    __tablename__ = "pool_requests"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20, index=True)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    status: str = Field(default=RequestStatus.PENDING, max_length=20, index=True)
    requester_id: int = Field(foreign_key="users.id")
    reviewer_id: int | None = Field(default=None, foreign_key="users.id")
    decision_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime
    decided_at: datetime | None = None
    # Transactional requests.
    justification: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    confirmation: str | None = Field(default=None, max_length=255)
    # Dedicated requests.
    expected_weekly_volume: int | None = None
    ip_count: int | None = None
    monthly_cost_cents: int | None = None
    # Set when the request asks to join the account's existing dedicated IPs,
    # and on approval of a new-IP request (the group that was allocated).
    dedicated_pool_id: int | None = Field(default=None, foreign_key="pools.id")


class RequestDomain(SQLModel, table=True):
    """The domains a request covers (one for transactional, one or more for dedicated)."""

    __tablename__ = "request_domains"

    request_id: int = Field(foreign_key="pool_requests.id", primary_key=True)
    domain_id: int = Field(foreign_key="domains.id", primary_key=True, index=True)


class Warmup(SQLModel, table=True):
    """The warm-up of one group of dedicated IPs (one dedicated pool)."""

    __tablename__ = "warmups"

    id: int | None = Field(default=None, primary_key=True)
    pool_id: int = Field(foreign_key="pools.id", index=True)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    request_id: int | None = Field(default=None, foreign_key="pool_requests.id")
    expected_weekly_volume: int
    started_on: date
    planned_days: int
    # Plan day reached (1-based); a held day does not advance it.
    current_day: int = 1
    held_days: int = 0
    # The last calendar day already judged, so each day counts exactly once.
    evaluated_through: date | None = None
    state: str = Field(default=WarmupState.RUNNING, max_length=20)
    completed_at: datetime | None = None


class WarmupHold(SQLModel, table=True):
    """A day on which a warm-up did not advance, and why."""

    __tablename__ = "warmup_holds"

    id: int | None = Field(default=None, primary_key=True)
    warmup_id: int = Field(foreign_key="warmups.id", index=True)
    day: date
    reason: str = Field(sa_column=Column(Text, nullable=False))


class SubmissionCredential(SQLModel, table=True):
    """A login for SMTP submission: an account's, for one message kind (stream)."""

    __tablename__ = "submission_credentials"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    kind: str = Field(max_length=20)
    username: str = Field(unique=True, index=True, max_length=100)
    # The secret only as a salted scrypt hash, in the form app.services.credentials writes.
    secret_hash: str = Field(max_length=300)
    created_at: datetime
    created_by: str = Field(max_length=200)
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=200)


class MessageContent(SQLModel, table=True):
    """A submitted message's bytes, stored once however many recipients share it."""

    __tablename__ = "message_contents"

    id: int | None = Field(default=None, primary_key=True)
    # zlib-compressed RFC 5322 message as submitted (plus any Message-ID or Date added).
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int
    created_at: datetime = Field(index=True)


class Message(SQLModel, table=True):
    """The outbox."""

    __tablename__ = "messages"
    __table_args__ = (
        # A host claims the due messages routed to its own IPs and those not routed yet,
        # each in due order: one bounded range of these indexes per IP and one for the
        # unrouted, so however much mail waits for other hosts' IPs a claim never reads it.
        # Partial, so claimed and finished messages are not in them at all.
        Index(
            "ix_messages_routed_due",
            "routed_ip_id",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        # The unrouted apart: IS NULL is no equality, so PostgreSQL would not read the
        # index above in due order for them.
        Index(
            "ix_messages_unrouted_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'queued' AND routed_ip_id IS NULL"),
            sqlite_where=text("status = 'queued' AND routed_ip_id IS NULL"),
        ),
        Index("ix_messages_domain_created", "domain_id", "created_at"),
        # Whether a recipient's soft bounces came in a row; and support's "what went to x?".
        Index("ix_messages_to_addr", "to_addr"),
        # Retention deletes the oldest finished messages first.
        Index("ix_messages_finished_at", "finished_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(unique=True, max_length=255)
    domain_id: int = Field(foreign_key="domains.id")
    from_addr: str = Field(max_length=320)
    to_addr: str = Field(max_length=320)
    subject: str = Field(default="", max_length=998)
    kind: str = Field(max_length=20)
    status: str = Field(default=MessageStatus.QUEUED, max_length=20, index=True)
    attempts: int = 0
    created_at: datetime
    next_attempt_at: datetime
    finished_at: datetime | None = None
    pool_id: int | None = Field(default=None, foreign_key="pools.id")
    ip_id: int | None = Field(default=None, foreign_key="ip_addresses.id")
    last_reply: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = None
    # The IP chosen when the message was first routed: only the host that owns it sends it.
    # None until then; chosen again when the IP leaves its pool's rotation.
    routed_ip_id: int | None = Field(default=None, foreign_key="ip_addresses.id")
    # How the accepted copy left: None until sent; the TLS version, or no TLS at all.
    sent_over_tls: bool | None = None
    tls_version: str | None = Field(default=None, max_length=20)
    # The submitted content; None for messages queued by subject alone, which get a generated body.
    content_id: int | None = Field(default=None, foreign_key="message_contents.id", index=True)


class DkimKey(SQLModel, table=True):
    """A domain's DKIM key pair, published at <selector>._domainkey.<domain>."""

    __tablename__ = "dkim_keys"
    __table_args__ = (Index("ix_dkim_keys_domain_selector", "domain_id", "selector", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    domain_id: int = Field(foreign_key="domains.id", index=True)
    selector: str = Field(max_length=63)
    # PKCS#8 PEM, unencrypted: the sender must sign without a person present.
    private_key_pem: str = Field(sa_column=Column(Text, nullable=False))
    # The base64 DER SubjectPublicKeyInfo, as the TXT record's p= carries it.
    public_key: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default=DkimKeyState.ACTIVE, max_length=20, index=True)
    created_at: datetime
    # When the sender began signing with it (for a rotated key: when its record was found).
    activated_at: datetime | None = None
    retired_at: datetime | None = None


class DnsCheck(SQLModel, table=True):
    """The latest result of one DNS check of a domain or a sending IP; each run replaces it."""

    __tablename__ = "dns_checks"
    __table_args__ = (
        Index("ix_dns_checks_subject_name", "subject_kind", "subject", "name", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject_kind: str = Field(max_length=10)  # "domain" or "ip"
    subject: str = Field(max_length=255)  # the domain's name or the IP's address
    # spf, dkim, dkim-pending, dmarc, return-path, mx; ptr, dnsbl:<zone>.
    name: str = Field(max_length=300)
    state: str = Field(max_length=20, index=True)  # ok, warning, failing, error
    summary: str = Field(sa_column=Column(Text, nullable=False))
    found: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    expected: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    fix: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # JSON: facts scripts read (a blocklist's zone, answer and reason; forward confirmation).
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    checked_at: datetime


class ServerSecret(SQLModel, table=True):
    """Secrets the program makes for itself on first use, shared by all its processes."""

    __tablename__ = "server_secrets"

    name: str = Field(primary_key=True, max_length=100)
    value: str = Field(max_length=200)
    created_at: datetime


class DomainDailyStat(SQLModel, table=True):
    __tablename__ = "domain_daily_stats"

    domain_id: int = Field(foreign_key="domains.id", primary_key=True)
    day: date = Field(primary_key=True, index=True)
    # Each running sender adds to a row of its own (its sender_hosts shard), so senders
    # never wait for each other's row; everything else adds to shard 0. Readers add the
    # rows of a day up.
    shard: int = Field(default=0, primary_key=True)
    sent: int = 0
    deferred: int = 0
    bounced: int = 0
    complaints: int = 0
    rejected: int = 0
    # Sent campaigns and broadcasts, so the console can warn before a transactional move.
    campaign_sent: int = 0
    broadcast_sent: int = 0
    # Bounces that say "try later" (mailbox full, 4.x.x): counted apart from `bounced`,
    # which holds the hard bounces the pool's limit is about.
    soft_bounced: int = 0
    unsubscribes: int = 0


class IpDailyStat(SQLModel, table=True):
    __tablename__ = "ip_daily_stats"

    ip_id: int = Field(foreign_key="ip_addresses.id", primary_key=True)
    day: date = Field(primary_key=True, index=True)
    # Each running sender adds to a row of its own (its sender_hosts shard), so senders
    # never wait for each other's row; everything else adds to shard 0. Readers add the
    # rows of a day up.
    shard: int = Field(default=0, primary_key=True)
    sent: int = 0
    deferred: int = 0
    bounced: int = 0
    complaints: int = 0
    soft_bounced: int = 0


class AccountHourlyCount(SQLModel, table=True):
    """Messages an account queued in one clock hour, for its sending rate."""

    __tablename__ = "account_hourly_counts"

    account_id: int = Field(foreign_key="accounts.id", primary_key=True)
    hour: datetime = Field(primary_key=True)
    queued: int = 0


class Notification(SQLModel, table=True):
    """Told to every owner of an account."""

    __tablename__ = "notifications"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    # The domain it is about when it is about one; every domain it covers is a
    # NotificationDomain (a warm-up's or a request's group has several).
    domain_id: int | None = Field(default=None, foreign_key="domains.id")
    kind: str = Field(max_length=50)
    title: str = Field(max_length=300)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime
    read_at: datetime | None = None


class NotificationDomain(SQLModel, table=True):
    """A domain a notification covers, which the inbox can open from it."""

    __tablename__ = "notification_domains"

    notification_id: int = Field(foreign_key="notifications.id", primary_key=True)
    domain_id: int = Field(foreign_key="domains.id", primary_key=True)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    # The acting user's name; "system" for the sender and health checks.
    actor: str = Field(max_length=200, index=True)
    action: str = Field(max_length=100, index=True)
    entity: str = Field(max_length=50)
    entity_id: str = Field(max_length=255)
    account_id: int | None = Field(default=None, foreign_key="accounts.id", index=True)
    domain_id: int | None = Field(default=None, foreign_key="domains.id", index=True)
    before: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    after: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class FeedbackKind(StrEnum):
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"


class FeedbackEvent(SQLModel, table=True):
    """What a receiver said about one sent message: in its SMTP reply or later, by mail."""

    __tablename__ = "feedback_events"
    __table_args__ = (
        Index("ix_feedback_events_domain_at", "domain_id", "at"),
        # A message is judged once per kind: a report sent twice is counted once.
        Index("ix_feedback_events_message_kind", "message_id", "kind", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    kind: str = Field(max_length=20, index=True)
    # Bounces: "hard" or "soft"; None for the other kinds.
    severity: str | None = Field(default=None, max_length=10)
    # "reply" when the receiving server said it during the SMTP conversation, "report" when
    # it came back as mail (a delivery status notification, a feedback report, a request),
    # "manual" when an agent passed on a complaint that reached them another way.
    source: str = Field(max_length=10)
    message_id: int = Field(foreign_key="messages.id")
    account_id: int = Field(foreign_key="accounts.id", index=True)
    domain_id: int = Field(foreign_key="domains.id")
    pool_id: int | None = Field(default=None, foreign_key="pools.id")
    ip_id: int | None = Field(default=None, foreign_key="ip_addresses.id")
    message_kind: str = Field(max_length=20)
    recipient: str = Field(max_length=320)
    # The enhanced status code (RFC 3463) of a bounce, or a feedback report's type.
    code: str | None = Field(default=None, max_length=40)
    # The receiver's own words, shortened.
    text: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class UnparsedReport(SQLModel, table=True):
    """Mail to a return-path or unsubscribe address that could not be understood, kept for
    an agent to read instead of being dropped."""

    __tablename__ = "unparsed_reports"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    # The message its signed address names, if the address was valid.
    message_id: int | None = Field(default=None, foreign_key="messages.id")
    account_id: int | None = Field(default=None, foreign_key="accounts.id", index=True)
    mail_from: str = Field(default="", max_length=320)
    rcpt_to: str = Field(max_length=320)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    size: int
    # The mail as it came, zlib-compressed, cut at the listener's size limit.
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SuppressionReason(StrEnum):
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCES = "soft_bounces"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    MANUAL = "manual"


class Suppression(SQLModel, table=True):
    """An address an account's mail no longer goes to."""

    __tablename__ = "suppressions"
    __table_args__ = (
        Index("ix_suppressions_account_address", "account_id", "address", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id")
    # Lowercased whole: receivers treat local parts without regard to case.
    address: str = Field(max_length=320)
    reason: str = Field(max_length=20)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # The message whose bounce, complaint or unsubscribe put it here.
    message_id: int | None = Field(default=None, foreign_key="messages.id")
    created_at: datetime
    created_by: str = Field(max_length=200)


class SoftBounceStreak(SQLModel, table=True):
    """Soft bounces in a row for one account's recipient; enough of them suppress it."""

    __tablename__ = "soft_bounce_streaks"

    account_id: int = Field(foreign_key="accounts.id", primary_key=True)
    address: str = Field(max_length=320, primary_key=True)
    count: int = 0
    last_message_id: int = Field(foreign_key="messages.id")
    updated_at: datetime


class SenderHost(SQLModel, table=True):
    """A running sender as it last announced itself: the messages routed to its IPs are its
    to send, so one that stops announcing leaves them waiting, and agents see it."""

    __tablename__ = "sender_hosts"

    worker_id: str = Field(primary_key=True, max_length=200)
    hostname: str = Field(max_length=255)
    # The addresses it sends from, separated by spaces.
    addresses: str = Field(sa_column=Column(Text, nullable=False))
    started_at: datetime
    last_seen_at: datetime
    # Finishing what it holds and claiming nothing new.
    draining: bool = False
    # The rows of the daily stats it adds to: the lowest number no other sender holds.
    shard: int = Field(default=1, unique=True)


class UpkeepRun(SQLModel, table=True):
    """When a periodic task shared by all senders last started, so that one sender at a
    time runs it, however many there are."""

    __tablename__ = "upkeep_runs"

    name: str = Field(primary_key=True, max_length=100)
    started_at: datetime


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def saved_id(row: _Row) -> int:
    """The id of a row that is in the database.

    SQLModel types every id as optional, because a new object has none until its
    insert is flushed; past that point this says so once instead of at every use.
    """
    if row.id is None:
        raise ValueError(f"This {type(row).__name__} has no id: it was never flushed.")
    return row.id


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a table model, for statements that touch many rows at once.

    Every `table=True` class has it as `__table__`, but SQLModel's types do not say so.
    """
    table = inspect(model).local_table
    assert isinstance(table, Table), f"{model.__name__} is not a table model"
    return table
