"""A dedicated IP group's warm-up: where it stands, the planned ramp, held days."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from app.rules.formatting import plural, sentence_date, whole_percent
from app.services.warmups import WarmupStatus
from widgets.warmup_chart import WarmupChart


def when(days: int) -> str:
    if days <= 0:
        return "today"
    if days == 1:
        return "tomorrow"
    return f"in {days} days"


class WarmupPanel(Vertical):
    DEFAULT_CSS = """
    WarmupPanel { height: auto; }
    WarmupPanel > Static { height: auto; }
    """

    def __init__(self, warmup: WarmupStatus, shared_pool: str | None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.warmup = warmup
        self.shared_pool = shared_pool or "its shared pool"

    def compose(self) -> ComposeResult:
        warmup = self.warmup
        if warmup.state == "complete":
            finished = sentence_date(warmup.completed_at) if warmup.completed_at else "recently"
            yield Static(
                f"[b]Warm-up complete[/b] ({finished}, after {warmup.planned_days} planned days): "
                f"all sending now uses the dedicated IPs of {warmup.pool}.",
                id="warmup-status",
            )
        else:
            paused = " The warm-up is paused by support." if warmup.state == "paused" else ""
            finish = warmup.expected_completion
            yield Static(
                f"[b]Warming up {warmup.pool}: day {warmup.current_day} of about "
                f"{warmup.planned_days}.[/b]{paused}\n"
                f"Today {whole_percent(warmup.today_share)} of messages go out from the dedicated IPs, the rest from "
                f"{self.shared_pool}; the share rises a little each good day.\n"
                f"Expected completion: {when(warmup.days_left)}"
                f"{f' ({sentence_date(finish)})' if finish else ''}, if no day is held. "
                f"Started {sentence_date(warmup.started_on)}.",
                id="warmup-status",
            )
        yield WarmupChart(warmup, id="warmup-chart")
        if warmup.held:
            lines = [
                f"Held {plural(len(warmup.held), 'day')} — the warm-up does not advance on a bad day:"
            ]
            for hold in warmup.held[-8:]:
                lines.append(f"  {hold.day:%-d %b}: {hold.reason}")
            yield Static("\n".join(lines), id="warmup-holds")
        else:
            yield Static("No held days so far.", id="warmup-holds", classes="hint")
