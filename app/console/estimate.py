"""What the dedicated form shows as the owner types, computed without the database."""

from __future__ import annotations

from app.console.views import DedicatedEstimate, DomainView
from app.errors import MailpoolsError
from app.rules import policy
from app.rules.numbers import whole_number_or_none


def dedicated_estimate(
    view: DomainView,
    volume_text: str,
    ip_count_text: str,
    sharing: list[str],
    join_pool: str | None = None,
) -> DedicatedEstimate:
    """Eligibility and cost as the owner types, by the same rules the service applies on submit."""
    domains = [view.name, *[name for name in sharing if name != view.name]]
    volumes = {c.name: c.measured_weekly for c in view.share_candidates}
    volumes[view.name] = view.measured_weekly
    group = next((g for g in view.dedicated_groups if g.pool == join_pool), None)
    measured = sum(volumes.get(name, 0) for name in domains)
    volume: int | None = None
    volume_error: str | None = None
    try:
        volume = policy.parse_volume(volume_text)
    except MailpoolsError as error:
        volume_error = error.message
    ip_count: int | None = None
    ip_error: str | None = None
    if group is None:
        ip_count = whole_number_or_none(ip_count_text)
        try:
            if ip_count is None:
                ip_error = f"Enter a number of IPs from 1 to {view.max_ips_per_request}."
            else:
                policy.check_ip_count(ip_count, view.max_ips_per_request)
        except MailpoolsError as error:
            ip_error = error.message
            ip_count = None
    counted = (volume or 0) + (group.measured_weekly if group else 0)
    where = f"across {len(domains)} domain{'s' if len(domains) > 1 else ''}"
    if group is not None:
        where = f"with {group.pool}'s {group.measured_weekly:,}/week already on it"
    measured_note = f"measured recently: {measured:,}/week"
    if volume is None:
        eligible = False
        eligibility = f"Enter the expected weekly volume ({measured_note})."
    else:
        try:
            policy.check_dedicated_volume(counted)
            eligible = True
            eligibility = (
                f"Eligible: {counted:,} a week {where} "
                f"(minimum {policy.DEDICATED_WEEKLY_MINIMUM:,}; {measured_note})."
            )
        except MailpoolsError:
            eligible = False
            eligibility = (
                f"Not eligible: {counted:,} a week {where} is under the "
                f"{policy.DEDICATED_WEEKLY_MINIMUM:,} minimum ({measured_note})."
            )
    if group is not None:
        quote = policy.quote_monthly_cost(view.plan, 0, 0)
        cost = "Joining your existing dedicated IPs adds no cost: $0/month."
    elif ip_count is not None:
        quote = policy.quote_monthly_cost(view.plan, view.dedicated_ips_in_use, ip_count)
        cost = quote.describe()
    else:
        quote = policy.quote_monthly_cost(view.plan, view.dedicated_ips_in_use, 0)
        cost = "Enter the number of IPs to see the monthly cost."
    return DedicatedEstimate(
        volume=volume,
        volume_error=volume_error,
        ip_count=ip_count,
        ip_error=ip_error,
        measured_weekly=measured,
        eligible=eligible,
        eligibility=eligibility,
        cost=cost,
        monthly_cents=quote.monthly_cents,
        domains=domains,
    )
