"""A request as a reviewer reads it: what was asked, what the domains really do, and their history."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from app.rules.formatting import percent, sentence_date
from app.rules.rates import Level, RateReading
from app.services.triage import TriageItem
from widgets.rate_gauge import LEVEL_MARKS, LEVEL_STYLES, LEVEL_WORDS


def rate_style(reading: RateReading) -> str:
    return LEVEL_STYLES[reading.level]


HEALTH_WORDS = {
    Level.OK: "ok",
    Level.NEAR: "near",
    Level.OVER: "over",
    Level.UNJUDGED: "too few",
    Level.IDLE: "no mail",
}


def health_word(item: TriageItem) -> Text:
    """The worst of the request's domains, in one word for the queue."""
    readings = [d.rates for d in item.domains if d.rates.volume]
    if not readings:
        return Text("no mail", style="dim")
    worst = max(readings, key=lambda r: (r.judged, r.closeness))
    return Text(HEALTH_WORDS[worst.level], style=LEVEL_STYLES[worst.level])


class RequestDetails(Static):
    DEFAULT_CSS = """
    RequestDetails {
        height: auto;
        padding: 0 1;
    }
    """

    def show(self, item: TriageItem | None, *, empty: str = "") -> None:
        self.update(self.describe(item) if item else Text(empty, style="dim"))

    @staticmethod
    def describe(item: TriageItem) -> Text:
        request = item.request
        text = Text()
        text.append(f"#{request.id} {request.kind}", style="bold")
        text.append(f" · {request.account} ({request.plan}) · {item.age} by {request.requester}")
        if request.status != "pending":
            text.append(f" · {request.status}", style="bold")
            if request.reviewer:
                text.append(f" by {request.reviewer}")
        text.append("\n")
        if request.kind == "dedicated":
            text.append(f"Asks for {item.asked}, expecting ")
            text.append(f"{request.expected_weekly_volume or 0:,}/week", style="bold")
            text.append("; measured ")
            text.append(f"{item.measured_weekly_volume:,}", style="bold")
            text.append(" over the last 7 days\n")
        else:
            text.append("Justification: ", style="bold")
            text.append(f"{request.justification or ''}\n")
            text.append(f"Measured {item.measured_weekly_volume:,} over the last 7 days\n")
        for domain in item.domains:
            rates = domain.rates
            text.append(f"{domain.name}", style="bold")
            text.append(f" {domain.sending_mode} · {domain.pool or 'no pool'}")
            if domain.status != "active":
                text.append(f" · {domain.status}", style="bold red")
            if rates.thresholds is None or rates.volume == 0:
                text.append(" · nothing sent lately\n", style="dim")
                continue
            limits = rates.thresholds
            style = rate_style(rates)
            text.append(" · bounce ")
            text.append(percent(rates.bounce_rate), style=style)
            text.append(f"/{percent(limits.max_bounce_rate)} · complaints ")
            text.append(percent(rates.complaint_rate), style=style)
            text.append(f"/{percent(limits.max_complaint_rate)} · {rates.sent:,} sent")
            if rates.judged:
                text.append(
                    f" · {LEVEL_MARKS[rates.level]} {LEVEL_WORDS[rates.level]}", style=style
                )
            else:
                text.append(f" (under {limits.min_sample:,}: too few to judge)", style="dim")
            text.append("\n")
        if item.history:
            text.append("History:\n", style="bold")
            for entry in item.history:
                text.append(f"  {sentence_date(entry.at)} {entry.text}\n")
        else:
            text.append("No earlier requests or removals for these domains.\n", style="dim")
        text.rstrip()
        return text
