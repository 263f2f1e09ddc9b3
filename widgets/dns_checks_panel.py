"""The DNS tab's body: each check of a domain with its state, what was found, what is
expected and the fix to paste into a DNS provider, and when the checks ran."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from app.rules.formatting import age, one_line, table_time

if TYPE_CHECKING:
    from app.services.dns_checks import StoredCheck, SubjectChecks

NAMES = {
    "spf": "SPF",
    "dkim": "DKIM",
    "dkim-pending": "DKIM (new key)",
    "dmarc": "DMARC",
    "return-path": "Return path",
    "mx": "MX",
}
STATE_STYLES = {
    "ok": "green",
    "warning": "yellow",
    "failing": "bold red",
    "error": "magenta",
}
STATE_WORDS = {"ok": "ok", "warning": "warning", "failing": "failing", "error": "not checked"}
# Characters of a passing check's record shown: enough to recognise it, not a whole key.
FOUND_WHEN_OK = 60
NEVER_CHECKED = (
    "No DNS check has run for this domain yet. Press k to check its SPF, DKIM, DMARC, "
    "return-path and MX records now."
)


def check_body(check: StoredCheck) -> Text:
    """What the check found and, unless it passes, what to publish instead."""
    # Text, not markup: records hold brackets and other characters markup would read.
    text = Text(check.summary)
    if check.state == "ok":
        # Nothing to do: the record on one line is enough to recognise it.
        if check.found:
            text.append("\nfound: ", style="dim")
            text.append(one_line(check.found, FOUND_WHEN_OK))
        return text
    for label, value in (("found", check.found), ("expected", check.expected), ("fix", check.fix)):
        if value:
            text.append(f"\n{label}: ", style="dim")
            text.append(value)
    return text


def heading(checks: SubjectChecks) -> Text:
    when = checks.checked_at
    text = Text()
    if when is not None:
        text.append(f"Checked {table_time(when)} UTC ({age(when)}): ", style="bold")
    text.append(checks.summary + " ")
    text.append(" · press k to check again", style="dim")
    return text


class DnsChecksPanel(VerticalScroll):
    DEFAULT_CSS = """
    DnsChecksPanel { height: 1fr; padding: 0 1; }
    DnsChecksPanel > Static { height: auto; margin-bottom: 1; }
    DnsChecksPanel .dns-check { height: auto; margin-bottom: 1; }
    DnsChecksPanel .dns-name { width: 15; text-style: bold; }
    DnsChecksPanel .dns-state { width: 9; }
    DnsChecksPanel .dns-body { width: 1fr; height: auto; }
    """

    def __init__(self, checks: SubjectChecks | None, **kwargs) -> None:
        super().__init__(can_focus=False, **kwargs)
        self.checks = checks

    def compose(self) -> ComposeResult:
        checks = self.checks
        if checks is None or not checks.checks:
            yield Static(NEVER_CHECKED, id="dns-status")
            return
        yield Static(heading(checks), id="dns-heading")
        for check in checks.checks:
            yield Horizontal(
                Static(NAMES.get(check.name, check.name), classes="dns-name"),
                Static(
                    Text(STATE_WORDS.get(check.state, check.state), STATE_STYLES[check.state]),
                    classes="dns-state",
                ),
                Static(check_body(check), classes="dns-body"),
                classes="dns-check",
            )
