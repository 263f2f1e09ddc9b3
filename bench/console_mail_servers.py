"""Opening a domain's Mail Servers tab, against opening an empty screen in the same app.

Both are timed inside one running console (10,000 domains, 1,000,000 messages),
from the request to open to the frame that shows the screen complete: for the
Mail Servers tab that includes reading the domain's data in a worker.
Target: at most 2×."""

from __future__ import annotations

import asyncio
import statistics
import time

from app import clock
from bench._console_world import DOMAINS, MESSAGES, NOW, OWNER, SAMPLE_DOMAIN, ensure_world

ROUNDS = 15
TARGET = 2.0
SIZE = (120, 40)


async def _until(pilot, condition) -> None:
    # Wait on the workers rather than polling on a timer: a busy poll would
    # contend for the GIL with the very worker thread being measured.
    while not condition():
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


@clock.frozen_at(NOW)
def run() -> list[str]:
    url = ensure_world()
    from textual.screen import Screen

    from app.console.app import MailpoolsConsole
    from data.db import make_engine
    from screens.domain import DomainScreen
    from screens.home import HomeScreen

    empty_times: list[tuple[float, float]] = []
    tab_times: list[tuple[float, float]] = []

    async def open_and_close(pilot, open_screen, ready) -> tuple[float, float]:
        """Wall-clock and process CPU seconds from the request to open to the painted screen."""
        app = pilot.app
        started, cpu = time.perf_counter(), time.process_time()
        await open_screen()
        await _until(pilot, ready)
        await pilot.pause()
        elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
        await app.pop_screen()
        await pilot.pause()
        return elapsed, cpu_used

    async def auto_pilot(pilot) -> None:
        app = pilot.app
        await _until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.page)
        for round_number in range(ROUNDS + 1):
            empty = await open_and_close(pilot, lambda: app.push_screen(Screen()), lambda: True)

            async def open_domain() -> None:
                # What Enter on the home screen does: read in a worker, then show.
                app.open_domain(SAMPLE_DOMAIN, "mail-servers")

            tab = await open_and_close(
                pilot,
                open_domain,
                lambda: (
                    isinstance(app.screen, DomainScreen)
                    and bool(app.screen.query("#mail-servers-panel"))
                ),
            )
            if round_number:  # the first round warms caches on both sides
                empty_times.append(empty)
                tab_times.append(tab)
        app.exit()

    engine = make_engine(url)
    MailpoolsConsole(engine, OWNER).run(headless=True, size=SIZE, auto_pilot=auto_pilot)
    engine.dispose()
    asyncio.set_event_loop(asyncio.new_event_loop())
    baseline = statistics.median(wall for wall, _ in empty_times)
    measured = statistics.median(wall for wall, _ in tab_times)
    baseline_cpu = statistics.median(cpu for _, cpu in empty_times)
    measured_cpu = statistics.median(cpu for _, cpu in tab_times)
    ratio = measured / baseline
    return [
        f"database: {DOMAINS:,} domains, {MESSAGES:,} messages; medians of {ROUNDS} alternating opens",
        f"empty screen:                {baseline * 1000:.1f} ms to painted",
        f"domain's Mail Servers tab:   {measured * 1000:.1f} ms to painted",
        f"ratio {ratio:.2f}x (target at most {TARGET}x): {'met' if ratio <= TARGET else 'NOT met'}",
        # What the process itself spent, which a busy machine disturbs less than the wall clock.
        f"CPU of the console process: empty screen {baseline_cpu * 1000:.1f} ms, "
        f"Mail Servers tab {measured_cpu * 1000:.1f} ms (ratio {measured_cpu / baseline_cpu:.2f}x)",
    ]
