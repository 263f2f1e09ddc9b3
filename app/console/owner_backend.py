"""The owner's console backend: the one entry point its screens call.

The screens call `ConsoleBackend` from thread workers; every method opens its
own transaction and checks access through the services, so the console can
never show or change more than the acting user may. Volumes and rates come
from the daily stats; only the Activity tab reads messages, one domain's most
recent few through the (domain_id, created_at) index. What each page reads is
in its own module: home, domain_page, activity; the shapes are in views.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.console import activity as activity_reads
from app.console import home
from app.console.domain_page import domain_view, request_summary
from app.console.views import (
    ActivityView,
    DomainView,
    HomePage,
    NotificationView,
    RequestSummary,
    Startup,
    Viewer,
)
from app.errors import MailpoolsError
from app.rules import policy
from app.rules.formatting import one_line
from app.rules.numbers import whole_number_or_none
from app.services import credentials
from app.services.auth import get_user
from app.services.credentials import CredentialView, NewCredential
from app.services.lookups import get_domain_for
from app.services.notifications import list_notifications, mark_read
from app.services.outcomes import Outcome
from app.services.requests import filing
from data.db import session_scope
from data.models import User, saved_id

if TYPE_CHECKING:
    from app.services.dns_checks import SubjectChecks
    from app.services.suppressions import SuppressionView


class ConsoleBackend:
    """The console's reads and actions for one acting user; each call is one transaction."""

    def __init__(self, engine: Engine, user_name: str) -> None:
        self.engine = engine
        self.user_name = user_name

    def _run(self, read, *args, **kwargs):
        with session_scope(self.engine) as session:
            actor = get_user(session, self.user_name)
            return read(session, actor, *args, **kwargs)

    def viewer(self) -> Viewer:
        return self._run(home.viewer)

    def startup(self) -> Startup:
        def read(session: Session, actor: User) -> Startup:
            seen = home.viewer(session, actor)
            return Startup(
                viewer=seen,
                latest_notification_id=activity_reads.latest_notification_id(session, actor),
                unread=activity_reads.unread_count(session, actor),
                # Owners open on their domains: read the first page now, not one round trip later.
                home=None
                if seen.is_staff or actor.account_id is None
                else home.home_page(session, actor),
            )

        return self._run(read)

    def home_page(self, **kwargs) -> HomePage:
        return self._run(home.home_page, **kwargs)

    def domain_names(self) -> list[str]:
        return self._run(home.domain_names)

    def domain(self, name: str) -> DomainView:
        return self._run(domain_view, name)

    def recheck_dns(self, name: str) -> SubjectChecks:
        """Check domain NAME's DNS now and store the results; the lookups hold no
        transaction, and this runs in a worker's thread, never on the console's loop."""
        from app.services import dns_checks

        targets = self._run(dns_checks.domain_targets, name)
        dns_checks.run_checks(self.engine, targets)
        return self._run(dns_checks.domain_checks, targets.domains[0].name)

    def activity(self, name: str) -> ActivityView:
        return self._run(activity_reads.activity, name)

    def inbox(self) -> list[NotificationView]:
        return self._run(activity_reads.inbox)

    def notifications_after(self, last_seen_id: int) -> list[NotificationView]:
        return self._run(activity_reads.notifications_after, last_seen_id)

    def latest_notification_id(self) -> int:
        return self._run(activity_reads.latest_notification_id)

    def unread_count(self) -> int:
        return self._run(activity_reads.unread_count)

    def read_notification(self, notification_id: int) -> int:
        """Mark one notification read (it was shown or opened); return how many are unread."""

        def read(session: Session, actor: User) -> int:
            mark_read(session, actor, [notification_id])
            return activity_reads.unread_count(session, actor)

        return self._run(read)

    def mark_all_read(self) -> int:
        def mark(session: Session, actor: User) -> int:
            unread = [saved_id(n) for n in list_notifications(session, actor) if n.read_at is None]
            return mark_read(session, actor, unread) if unread else 0

        return self._run(mark)

    def file_transactional(
        self, domain: str, *, justification: str, confirmation: str, acknowledged: bool
    ) -> Outcome[RequestSummary]:
        def file(session: Session, actor: User) -> Outcome[RequestSummary]:
            # Checked in form order so the first problem shows next to its field.
            policy.validate_justification(justification)
            policy.validate_confirmation(confirmation, get_domain_for(session, actor, domain).name)
            if not acknowledged:
                raise MailpoolsError(
                    "Tick the box to acknowledge that campaigns and broadcasts will stop "
                    "working from this domain.",
                    field="acknowledge",
                )
            outcome = filing.request_transactional(
                session, actor, domain, justification=justification, confirmation=confirmation
            )
            return Outcome(request_summary(outcome.subject, {}), outcome.summary)

        return self._run(file)

    def file_dedicated(
        self,
        domain: str,
        *,
        weekly_volume: str,
        ip_count: str,
        sharing: list[str],
        join_pool: str | None = None,
    ) -> Outcome[RequestSummary]:
        def file(session: Session, actor: User) -> Outcome[RequestSummary]:
            count = 0
            if join_pool is None:
                parsed = whole_number_or_none(str(ip_count))
                if parsed is None:
                    raise MailpoolsError(
                        f"{one_line(repr(str(ip_count)), 40)} is not a number of IPs.", field="ips"
                    )
                count = parsed
            outcome = filing.request_dedicated(
                session,
                actor,
                [domain, *[name for name in sharing if name != domain]],
                weekly_volume=weekly_volume,
                ip_count=count,
                join_pool=join_pool,
            )
            pool_id = outcome.subject.dedicated_pool_id
            names = {pool_id: join_pool} if join_pool and pool_id is not None else {}
            return Outcome(request_summary(outcome.subject, names), outcome.summary)

        return self._run(file)

    # Submission credentials: owners manage their account's, agents read every account's.

    def credentials(self) -> list[CredentialView]:
        return self._run(credentials.list_credentials)

    def create_credential(self, kind: str) -> Outcome[NewCredential]:
        return self._run(credentials.create_credential, kind=kind)

    def revoke_credential(self, credential_id: int) -> Outcome[CredentialView]:
        return self._run(credentials.revoke_credential, credential_id)

    # Suppression lists: owners change their own account's, agents any account's. The
    # service is imported when first used: its address checks slow the console's start.

    def suppressions(
        self, *, account: str | None = None, search: str = ""
    ) -> list[SuppressionView]:
        from app.services import suppressions

        return self._run(suppressions.list_suppressions, account=account, search=search)

    def add_suppression(self, address: str, *, reason: str, account: str | None = None) -> Outcome:
        from app.services import suppressions

        return self._run(suppressions.add_suppression, address, reason=reason, account=account)

    def remove_suppression(self, address: str, *, account: str | None = None) -> Outcome:
        from app.services import suppressions

        return self._run(suppressions.remove_suppression, address, account=account)
