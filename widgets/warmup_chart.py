"""The planned dedicated share over the whole warm-up, one column per day, today marked."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from app.services.warmups import WarmupStatus

BLOCKS = " ▁▂▃▄▅▆▇█"
CHART_ROWS = 6


class WarmupChart(Widget):
    DEFAULT_CSS = """
    WarmupChart { height: 9; width: 1fr; }
    """

    def __init__(self, warmup: WarmupStatus, **kwargs) -> None:
        super().__init__(**kwargs)
        self.warmup = warmup

    def _days_shown(self, width: int) -> list[int]:
        """Plan days to draw, one per column; long plans are sampled to fit."""
        total = len(self.warmup.shares)
        columns = max(1, min(total, width - 6))
        if columns >= total:
            return list(range(1, total + 1))
        return sorted({1 + round(i * (total - 1) / (columns - 1)) for i in range(columns)})

    def render(self) -> Text:
        warmup = self.warmup
        days = self._days_shown(self.size.width)
        today = warmup.current_day if warmup.state != "complete" else warmup.planned_days
        today_column = min(range(len(days)), key=lambda i: abs(days[i] - today))
        text = Text()
        for row in range(CHART_ROWS, 0, -1):
            label = {CHART_ROWS: "100%", 1: "  0%"}.get(row, "    ")
            text.append(f"{label} ", style="dim")
            for index, day in enumerate(days):
                share = warmup.shares[day - 1]
                eighths = round(share * CHART_ROWS * 8) - (row - 1) * 8
                block = BLOCKS[max(0, min(8, eighths))]
                if index == today_column:
                    style = "bold yellow" if block != " " else ""
                elif day < today:
                    style = "cyan"
                else:
                    style = "dim"
                text.append(block, style=style)
            text.append("\n")
        axis = [" "] * len(days)
        axis[today_column] = "▲"
        text.append("     " + "".join(axis) + "\n", style="bold yellow")
        marker = f"today: day {today}"
        start = max(0, min(today_column - len(marker) // 2, len(days) - len(marker)))
        text.append("     " + " " * start + marker + "\n", style="yellow")
        text.append(
            f"     day 1{' ' * max(1, len(days) - 6 - len(str(days[-1])))}day {days[-1]}",
            style="dim",
        )
        return text
