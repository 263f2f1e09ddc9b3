"""The warm-up plan: how long a dedicated IP group warms, and its share each day.

Pure functions of the expected weekly volume, so the console, the command line
and the router all read the same plan.

The length is 45 days at the 50,000/week minimum and shrinks with the log of
the volume, reaching the 30-day floor at eight times the minimum (400,000 a
week): reputation builds with the number of messages mailbox providers see,
so more volume earns trust sooner, but never in under a month.

The dedicated share grows geometrically from 2% on day 1 to 100% on the last
day: each day multiplies the previous share by the same factor (about 1.09
over 45 days), the gentle, steady ramp that mailbox providers reward.
"""

from __future__ import annotations

import math

from app.rules.policy import DEDICATED_WEEKLY_MINIMUM

LONGEST_PLAN_DAYS = 45
SHORTEST_PLAN_DAYS = 30
VOLUME_FOR_SHORTEST = DEDICATED_WEEKLY_MINIMUM * 8
FIRST_DAY_SHARE = 0.02


def planned_days(weekly_volume: int) -> int:
    if weekly_volume <= DEDICATED_WEEKLY_MINIMUM:
        return LONGEST_PLAN_DAYS
    progress = math.log(weekly_volume / DEDICATED_WEEKLY_MINIMUM) / math.log(
        VOLUME_FOR_SHORTEST / DEDICATED_WEEKLY_MINIMUM
    )
    span = LONGEST_PLAN_DAYS - SHORTEST_PLAN_DAYS
    return max(SHORTEST_PLAN_DAYS, round(LONGEST_PLAN_DAYS - span * min(1.0, progress)))


def dedicated_share(day: int, total_days: int) -> float:
    """The fraction of the group's messages sent from the dedicated IPs on plan DAY (1-based)."""
    if day >= total_days:
        return 1.0
    if day <= 1:
        return FIRST_DAY_SHARE
    return FIRST_DAY_SHARE ** (1 - (day - 1) / (total_days - 1))


def schedule(total_days: int) -> list[float]:
    return [dedicated_share(day, total_days) for day in range(1, total_days + 1)]
