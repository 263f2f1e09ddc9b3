"""One cold start, in its own process: print the wall-clock time of the first full paint.

`python -m bench._console_child minimal` starts a minimal Textual app (a header,
a 20-row table, a footer); `... console URL USER` starts the console. Both run
headless at the same size and stop once their first screen is painted.
"""

from __future__ import annotations

import sys
import time

SIZE = (120, 40)


def painted(started: float) -> None:
    print(f"{time.time() - started:.6f}", flush=True)


def run_minimal() -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, Footer, Header

    class Minimal(App):
        def compose(self) -> ComposeResult:
            yield Header()
            yield DataTable()
            yield Footer()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("Domain", "Volume")
            for n in range(20):
                table.add_row(f"d{n:05}.example", str(n))

    async def auto_pilot(pilot) -> None:
        await pilot.pause()
        painted(STARTED)
        pilot.app.exit()

    Minimal().run(headless=True, size=SIZE, auto_pilot=auto_pilot)


def run_console(url: str, user: str) -> None:
    from app.console.app import MailpoolsConsole
    from app.console.owner_backend import ConsoleBackend
    from data.db import make_engine
    from screens.home import HomeScreen

    async def auto_pilot(pilot) -> None:
        app = pilot.app
        # Wait on the workers, not a timer: polling would contend for the GIL with them.
        while not (isinstance(app.screen, HomeScreen) and app.screen.page is not None):
            await app.workers.wait_for_complete()
            await pilot.pause()
        await pilot.pause()
        painted(STARTED)
        app.exit()

    # As `mailpools console` does: the first screen's data is read before the app starts.
    engine = make_engine(url)
    startup = ConsoleBackend(engine, user).startup()
    MailpoolsConsole(engine, user, startup=startup).run(
        headless=True, size=SIZE, auto_pilot=auto_pilot
    )


if __name__ == "__main__":
    STARTED = float(sys.argv[1])
    if sys.argv[2] == "minimal":
        run_minimal()
    else:
        from app import settings
        from app.settings import Settings

        # An entry point like `mailpools console`: MAILPOOLS_NOW stands it on the bench's day.
        with settings.in_force(Settings.load()):
            run_console(sys.argv[3], sys.argv[4])
