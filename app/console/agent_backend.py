"""The support agents' screens' way to the services: one transaction per call.

Screens call these from thread workers and receive plain dataclasses or a
sentence to show; every call names the acting user, and the services check
that it is an agent or an admin, whatever the screen does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.services import (
    audit_log,
    dns_checks,
    flags,
    pools,
    senders,
    triage,
    warmups,
)
from app.services.audit import AuditView
from app.services.auth import get_user
from app.services.pools import ReinstatementCheck
from app.services.requests import decisions
from data.db import session_scope
from data.models import User

if TYPE_CHECKING:
    from app.services.dns_checks import SubjectChecks
    from app.services.feedback import UnparsedView

T = TypeVar("T")


@dataclass(frozen=True)
class KeptReports:
    """Reports the inbound listener could not understand, kept for a person to read."""

    count: int
    newest: UnparsedView | None


@dataclass(frozen=True)
class FlagsView:
    low_volume_ips: list[flags.LowVolumeIp]
    near_thresholds: list[flags.NearThresholdDomain]
    kept_reports: KeptReports
    # The running senders, and the mail routed to IPs none of them sends from.
    running: list[senders.RunningSender]
    waiting: list[senders.WaitingForSender]
    # At their last DNS check: domains with a failing check, IPs on a blocklist.
    failing_domains: list[SubjectChecks] = field(default_factory=list)
    listed_ips: list[SubjectChecks] = field(default_factory=list)


@dataclass(frozen=True)
class AuditFilters:
    accounts: list[str]
    actors: list[str]
    kinds: list[str]


class AgentBackend:
    """The agents' reads and actions for one acting user."""

    def __init__(self, engine: Engine, user_name: str) -> None:
        self.engine = engine
        self.user_name = user_name

    def _run(self, call: Callable[[Session, User], T]) -> T:
        with session_scope(self.engine) as session:
            return call(session, get_user(session, self.user_name))

    # Triage and decisions.

    def queue(
        self, *, kind: str | None = None, account: str | None = None, search: str | None = None
    ) -> list[triage.TriageItem]:
        return self._run(
            lambda s, u: triage.triage_queue(s, u, kind=kind, account=account, domain_search=search)
        )

    def account_names(self) -> list[str]:
        return self._run(triage.account_names)

    def decision(self, request_id: int) -> triage.DecisionContext:
        return self._run(lambda s, u: triage.decision_context(s, u, request_id))

    def check_decision(
        self,
        request_id: int,
        *,
        approve: bool,
        ip_addresses: list[str] | None = None,
        reason: str | None = None,
    ) -> str:
        return self._run(
            lambda s, u: triage.check_decision(
                s, u, request_id, approve=approve, ip_addresses=ip_addresses, reason=reason
            )
        )

    def approve(self, request_id: int, ip_addresses: list[str] | None) -> str:
        return self._run(
            lambda s, u: decisions.approve(s, u, request_id, ip_addresses=ip_addresses).summary
        )

    def deny(self, request_id: int, reason: str) -> str:
        return self._run(lambda s, u: decisions.deny(s, u, request_id, reason=reason).summary)

    # Pools, IPs and member domains.

    def pools(self) -> list[pools.PoolReport]:
        return self._run(pools.list_pools)

    def ip_checks(self) -> dict[str, SubjectChecks]:
        """Every IP's DNS checks as last run, by address."""
        return {checks.subject: checks for checks in self._run(dns_checks.ip_checks)}

    def check_pause_ip(self, address: str) -> str:
        return self._run(lambda s, u: pools.check_pause_ip(s, u, address))

    def check_ip_weight(self, address: str, weight: str) -> str:
        return self._run(lambda s, u: pools.check_ip_weight(s, u, address, weight))

    def check_removal(self, name: str, reason: str) -> str:
        return self._run(lambda s, u: pools.check_removal(s, u, name, reason=reason))

    def check_reinstatement(self, name: str) -> ReinstatementCheck:
        return self._run(lambda s, u: pools.check_reinstatement(s, u, name))

    def pause_ip(self, address: str) -> str:
        return self._run(lambda s, u: pools.pause_ip(s, u, address).summary)

    def resume_ip(self, address: str) -> str:
        return self._run(lambda s, u: pools.resume_ip(s, u, address).summary)

    def set_ip_weight(self, address: str, weight: str) -> str:
        return self._run(lambda s, u: pools.set_ip_weight(s, u, address, weight).summary)

    def remove_domain(self, name: str, reason: str) -> str:
        return self._run(lambda s, u: pools.remove_domain(s, u, name, reason=reason).summary)

    def reinstate_domain(self, name: str) -> str:
        return self._run(lambda s, u: pools.reinstate_domain(s, u, name).summary)

    # Warm-ups.

    def warmups(self) -> list[warmups.WarmupView]:
        return self._run(warmups.list_warmups)

    def pause_warmup(self, domain: str) -> str:
        return self._run(lambda s, u: warmups.pause_warmup(s, u, domain).summary)

    def resume_warmup(self, domain: str) -> str:
        return self._run(lambda s, u: warmups.resume_warmup(s, u, domain).summary)

    # Flags and the audit log.

    def flags(self) -> FlagsView:
        # Imported here: the report reader behind it slows the console's start.
        from app.services import feedback

        def read(session: Session, actor: User) -> FlagsView:
            newest = feedback.list_unparsed(session, actor, limit=1)
            return FlagsView(
                flags.low_volume_dedicated_ips(session, actor),
                flags.domains_near_thresholds(session, actor),
                KeptReports(feedback.count_unparsed(session, actor), newest[0] if newest else None),
                senders.running_senders(session, actor),
                senders.waiting_for_a_sender(session, actor),
                dns_checks.failing_domains(session, actor),
                dns_checks.listed_ips(session, actor),
            )

        return self._run(read)

    def audit_filters(self) -> AuditFilters:
        return self._run(
            lambda s, u: AuditFilters(
                triage.account_names(s, u),
                audit_log.event_actors(s, u),
                audit_log.event_kinds(s, u),
            )
        )

    def audit_events(
        self,
        *,
        account: str | None = None,
        domain: str | None = None,
        user: str | None = None,
        kind: str | None = None,
        exclude: Sequence[str] = (),
    ) -> list[AuditView]:
        return self._run(
            lambda s, u: audit_log.browse_events(
                s, u, account=account, domain=domain, user=user, kind=kind, exclude=exclude
            )
        )
