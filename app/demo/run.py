"""`make demo`: the whole product alive in one terminal.

A fresh demo database (never the user's own) is seeded with accounts, a month
of history and requests waiting for review; a local SMTP sink listens on
127.0.0.1; the real sender runs in relay mode to it; a little traffic
generator queues messages every second; a loopback DNS server answers the
demo's DNS checks. Then the console opens, as whichever
demo user you pick; quitting the console brings the picker back.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from platformdirs import user_data_dir
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from textual.app import App

from app import settings
from app.demo import dns_zones
from app.demo.dns_server import LoopbackDns
from app.demo.seed import CastMember, demo_cast, seed_demo
from app.demo.sink import LoopbackSink
from app.errors import MailpoolsError
from app.services import outbox
from app.services.auth import get_user
from app.settings import Settings
from data.db import make_engine, session_scope, upgrade
from data.models import Account, Domain, DomainStatus, Role, User

TRAFFIC_INTERVAL_SECONDS = 1.0
# How often the demo checks that its terminal is still there.
HANGUP_CHECK_SECONDS = 1.0
MESSAGES_PER_TICK = 6


def demo_database_path() -> Path:
    directory = Path(user_data_dir("mailpools")) / "demo"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / "demo.db"


def fresh_demo_database() -> tuple[str, Engine]:
    path = demo_database_path()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    seed_demo(engine)
    return url, engine


class TrafficGenerator(threading.Thread):
    """Queues a few messages a second from the demo's active domains, as their owners."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(name="demo-traffic", daemon=True)
        self.engine = engine
        self.stopped = threading.Event()
        self.queued = 0
        self.refused = 0
        self.randomness = random.Random(11)

    def run(self) -> None:
        while not self.stopped.wait(TRAFFIC_INTERVAL_SECONDS):
            try:
                self._tick()
            except MailpoolsError:
                self.refused += 1

    def _tick(self) -> None:
        with session_scope(self.engine) as session:
            senders = session.exec(
                select(Domain, User)
                .join(Account, col(Account.id) == Domain.account_id)
                .join(User, col(User.account_id) == Account.id)
                .where(User.role == Role.OWNER)
                .where(Domain.status == DomainStatus.ACTIVE)
            ).all()
            for _ in range(MESSAGES_PER_TICK):
                domain, owner = self.randomness.choice(senders)
                kind = (
                    "transactional"
                    if domain.sending_mode == "transactional"
                    else self.randomness.choice(
                        ["transactional", "transactional", "campaign", "broadcast"]
                    )
                )
                # About one message in a hundred goes to an address the sink refuses.
                local = (
                    "bounce"
                    if self.randomness.random() < 0.01
                    else f"reader{self.randomness.randint(1, 999)}"
                )
                outbox.enqueue(
                    session,
                    get_user(session, owner.name),
                    from_addr=f"hello@{domain.name}",
                    to_addr=f"{local}@inbox.example",
                    kind=kind,
                    subject="Your order has shipped"
                    if kind == "transactional"
                    else "This week's news",
                )
                self.queued += 1


def start_sender(configured: Settings, sink_port: int, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, **configured.as_environment()}
    log = open(log_path, "w")  # noqa: SIM115 (kept open for the child's lifetime)
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "sender", "--relay", f"127.0.0.1:{sink_port}"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


class DemoLauncher(App[str]):
    """Shows the picker and exits with the chosen user's name (None to end the demo)."""

    TITLE = "mailpools demo"

    def __init__(
        self, cast: list[CastMember], traffic: Callable[[], str], theme: str | None
    ) -> None:
        super().__init__()
        self.cast = cast
        self.traffic = traffic
        self.theme = theme or "ansi-dark"

    def on_mount(self) -> None:
        from screens.demo_picker import DemoPickerScreen

        self.push_screen(DemoPickerScreen(self.cast, self.traffic), callback=self.exit)


def print_overview(configured: Settings) -> None:
    from app.cli import main as cli

    cli(["domains", "list"], configured)
    print()
    cli(["requests", "list", "--status", "pending"], configured)


def main() -> int:
    try:
        configured = Settings.load()
    except MailpoolsError as error:
        print(f"mailpools demo: {error.message}", file=sys.stderr)
        return 1
    print("mailpools demo: seeding a fresh demo database…", flush=True)
    with settings.in_force(configured):
        url, engine = fresh_demo_database()
    # The demo never touches the user's own database, whatever the settings name, and
    # asks its own DNS server, so its checks (and the DNS tab's k) never leave the machine.
    with LoopbackDns(dns_zones.demo_records(engine)) as dns_server:
        configured = dns_zones.with_demo_dns(replace(configured, database_url=url), dns_server.port)
        with settings.in_force(configured):
            return run_demo(configured, engine)


def _leave_when_hung_up(sender: subprocess.Popen, stopped: threading.Event) -> None:
    """End the demo when its terminal is gone.

    Closing the terminal of `make demo` hangs up make, not the demo under it: the
    demo would keep its sender and traffic running for ever, spinning on a
    terminal that no longer answers. Once the terminal is hung up, this process
    has no controlling terminal left to open.
    """
    while not stopped.wait(HANGUP_CHECK_SECONDS):
        try:
            os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
        except OSError:
            sender.terminate()
            os.kill(os.getpid(), signal.SIGTERM)
            return


def run_demo(configured: Settings, engine: Engine) -> int:
    sink = LoopbackSink(record=False).start()
    log_path = demo_database_path().with_name("sender.log")
    sender = start_sender(configured, sink.port, log_path)
    traffic = TrafficGenerator(engine)
    traffic.start()

    def traffic_summary() -> str:
        state = "running" if sender.poll() is None else f"stopped (see {log_path})"
        return (
            f"Queued {traffic.queued:,} · delivered to the sink {sink.handler.received():,} · "
            f"sender {state} · SMTP sink 127.0.0.1:{sink.port}"
        )

    try:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            print_overview(configured)
            print("\n(not a terminal: the console needs one; run `make demo` in a terminal)")
            return 0
        from app.console.app import MailpoolsConsole

        threading.Thread(
            target=_leave_when_hung_up, args=(sender, traffic.stopped), daemon=True
        ).start()
        while True:
            chosen = DemoLauncher(demo_cast(engine), traffic_summary, configured.theme).run()
            if not chosen:
                break
            MailpoolsConsole(engine, chosen, theme=configured.theme).run()
        print(traffic_summary())
        return 0
    finally:
        traffic.stopped.set()
        sender.terminate()
        try:
            sender.wait(10)
        except subprocess.TimeoutExpired:
            sender.kill()
        sink.stop()


if __name__ == "__main__":
    sys.exit(main())
