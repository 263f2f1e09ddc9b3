"""A domain's or an IP's rates over a window, read against its pool's limits.

Words mean one thing everywhere (the daily stats, the sender's counters, these
readings, the console and the command line):

- `sent`: accepted by the receiving server. A bounce is not sent.
- `volume`: sent plus bounced, every message that got a final answer. Bounce
  rates and the minimum sample count against the volume; complaint rates
  against what was sent, since only delivered mail can be complained about.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.rules.formatting import percent

# A rate at this fraction of its limit or more is near the limit, for owners and agents alike.
NEAR_LIMIT_FRACTION = 0.8


@dataclass(frozen=True)
class Rates:
    """Counts over a window of days."""

    sent: int = 0
    deferred: int = 0
    bounced: int = 0
    complaints: int = 0
    campaign_sent: int = 0
    broadcast_sent: int = 0

    @property
    def volume(self) -> int:
        """Messages that got a final answer: sent plus bounced."""
        return self.sent + self.bounced

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.volume if self.volume else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    def __add__(self, other: Rates) -> Rates:
        return Rates(
            sent=self.sent + other.sent,
            deferred=self.deferred + other.deferred,
            bounced=self.bounced + other.bounced,
            complaints=self.complaints + other.complaints,
            campaign_sent=self.campaign_sent + other.campaign_sent,
            broadcast_sent=self.broadcast_sent + other.broadcast_sent,
        )


@dataclass(frozen=True)
class Thresholds:
    """A pool's limits: the rates it allows, judged once a window holds the minimum sample."""

    max_bounce_rate: float
    max_complaint_rate: float
    min_sample: int
    window_days: int

    @classmethod
    def of(cls, pool) -> Thresholds:
        """The thresholds of a pool (anything with the four fields, such as a Pool row)."""
        return cls(pool.max_bounce_rate, pool.max_complaint_rate, pool.min_sample, pool.window_days)


# What a pool gets when nothing else says: the inventory's defaults and a new dedicated
# group with no shared pool to copy.
DEFAULT_THRESHOLDS = Thresholds(
    max_bounce_rate=0.05, max_complaint_rate=0.001, min_sample=500, window_days=7
)


class Level(StrEnum):
    IDLE = "idle"  # nothing sent
    UNJUDGED = "unjudged"  # too few messages to judge
    OK = "ok"
    NEAR = "near"
    OVER = "over"


def _level(volume: int, min_sample: int | None, closeness: float) -> Level:
    if volume == 0:
        return Level.IDLE
    if min_sample is None or volume < min_sample:
        return Level.UNJUDGED
    if closeness > 1.0:
        return Level.OVER
    if closeness >= NEAR_LIMIT_FRACTION:
        return Level.NEAR
    return Level.OK


@dataclass(frozen=True)
class RateAgainstLimit:
    """One of a reading's two rates beside its limit, as a gauge or a table cell shows it."""

    value: float
    limit: float | None
    volume: int
    min_sample: int | None

    @property
    def closeness(self) -> float:
        return self.value / self.limit if self.limit else 0.0

    @property
    def level(self) -> Level:
        return _level(self.volume, self.min_sample, self.closeness)

    @property
    def text(self) -> str:
        return percent(self.value) if self.volume else "—"


@dataclass(frozen=True)
class RateReading:
    """RATES beside the THRESHOLDS that judge them (None when there is no pool to judge by)."""

    rates: Rates
    thresholds: Thresholds | None

    @property
    def sent(self) -> int:
        return self.rates.sent

    @property
    def deferred(self) -> int:
        return self.rates.deferred

    @property
    def bounced(self) -> int:
        return self.rates.bounced

    @property
    def complaints(self) -> int:
        return self.rates.complaints

    @property
    def volume(self) -> int:
        return self.rates.volume

    @property
    def bounce_rate(self) -> float:
        return self.rates.bounce_rate

    @property
    def complaint_rate(self) -> float:
        return self.rates.complaint_rate

    @property
    def bounce(self) -> RateAgainstLimit:
        limits = self.thresholds
        return RateAgainstLimit(
            self.bounce_rate,
            limits.max_bounce_rate if limits else None,
            self.volume,
            limits.min_sample if limits else None,
        )

    @property
    def complaint(self) -> RateAgainstLimit:
        limits = self.thresholds
        return RateAgainstLimit(
            self.complaint_rate,
            limits.max_complaint_rate if limits else None,
            self.volume,
            limits.min_sample if limits else None,
        )

    @property
    def judged(self) -> bool:
        """Rates count only once the window holds the minimum sample."""
        return self.thresholds is not None and self.volume >= self.thresholds.min_sample

    @property
    def closeness(self) -> float:
        """The larger of the two rates as a fraction of its limit (1.0 = at the limit)."""
        return max(self.bounce.closeness, self.complaint.closeness)

    @property
    def worst(self) -> str:
        """Which rate is closest to its limit: 'bounce' or 'complaint'."""
        return "bounce" if self.bounce.closeness >= self.complaint.closeness else "complaint"

    @property
    def over(self) -> bool:
        return self.judged and self.closeness > 1.0

    @property
    def level(self) -> Level:
        """The worse of the two rates' levels."""
        limits = self.thresholds
        return _level(self.volume, limits.min_sample if limits else None, self.closeness)
