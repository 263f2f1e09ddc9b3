"""Failed logins counted per client address, so that guessing is slowed down: each
failure in a row from one address is answered a step later than the one before."""

from __future__ import annotations

# The most a failed login is made to wait, in multiples of the configured delay.
MAX_DELAY_STEPS = 10
# Addresses remembered for their failed logins, so a scan cannot grow the table without end.
MAX_REMEMBERED_ADDRESSES = 10_000


class FailedLogins:
    """Consecutive failed logins per source address, and how long the next reply waits."""

    def __init__(self, step_seconds: float) -> None:
        self.step_seconds = step_seconds
        self._failures: dict[str, int] = {}

    def failed(self, address: str) -> float:
        """Count a failure from ADDRESS; the delay before saying so grows with each one."""
        if len(self._failures) >= MAX_REMEMBERED_ADDRESSES and address not in self._failures:
            self._failures.clear()
        delay = self.next_delay(address)
        self._failures[address] = self._failures.get(address, 0) + 1
        return delay

    def next_delay(self, address: str) -> float:
        """How long the next failure from ADDRESS will be made to wait."""
        return self.step_seconds * min(self._failures.get(address, 0) + 1, MAX_DELAY_STEPS)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def count(self, address: str) -> int:
        return self._failures.get(address, 0)
