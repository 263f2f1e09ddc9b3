"""The console over SSH: from the OpenSSH client's start to the first full paint of the
owner's Home at 80x24 with 10,000 domains, against the local cold start of a minimal
Textual app (a header, a 20-row table, a footer), side by side in one run.

Targets: one login at most 1.0x the minimal app; twenty logins at once, their median at
most 3x the single login's; and twenty open sessions using at most half the memory
(PSS, summed over the server, its session parent and the consoles) of twenty consoles
started as separate processes.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from bench._console_world import DOMAINS, NOW, OWNER, ensure_world
from bench.console_start import one_start

ROUNDS = 7
CROWD = 20
SIZE = (80, 24)
SINGLE_TARGET = 1.0
CROWD_TARGET = 3.0
MEMORY_TARGET = 0.5
ROOT = Path(__file__).resolve().parent.parent
# What Home shows once it is painted whole: the count of the account's domains, the first
# of them (its name cut short at 80 columns) and the footer.
PAINTED = (f"of {DOMAINS:,}".encode(), b"d00000.bulk", b"palette")
WAIT = 300.0


class Terminal:
    """A program in a pseudo-terminal of 80x24, read until its first full paint."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.primary, secondary = pty.openpty()
        width, height = SIZE
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            args,
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        os.close(secondary)
        self.screen = b""
        self.painted_after: float | None = None

    def read(self) -> None:
        try:
            self.screen += os.read(self.primary, 65536)
        except OSError:
            if self.painted_after is None:
                raise RuntimeError(f"ended before painting: {self.screen[-1500:]!r}") from None
            return
        if self.painted_after is None and all(mark in self.screen for mark in PAINTED):
            self.painted_after = time.monotonic() - self.started

    def quit(self) -> None:
        os.write(self.primary, b"q")
        deadline = time.monotonic() + WAIT
        while self.process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.primary], [], [], 0.5)
            if ready:
                try:
                    os.read(self.primary, 65536)
                except OSError:
                    break
        self.process.wait(WAIT)
        os.close(self.primary)


def wait_for_paint(terminals: list[Terminal]) -> list[float]:
    """Seconds from each terminal's start to its first full paint."""
    deadline = time.monotonic() + WAIT
    while any(t.painted_after is None for t in terminals):
        if time.monotonic() > deadline:
            stuck = next(t for t in terminals if t.painted_after is None)
            raise RuntimeError(f"no full paint; the terminal showed {stuck.screen[-1500:]!r}")
        waiting = [t for t in terminals if t.painted_after is None]
        ready, _, _ = select.select([t.primary for t in waiting], [], [], 0.5)
        for terminal in waiting:
            if terminal.primary in ready:
                terminal.read()
    return [t.painted_after for t in terminals if t.painted_after is not None]


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Pss line for process {pid}")


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """CPU time (user and system) process PID has used; with REAPED, also what its ended
    and waited-for children used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command's name: utime, stime, cutime, cstime are the 12th to 15th fields.
    ticks = sum(int(value) for value in fields[11 : 15 if reaped else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def door_cpu(server_pid: int) -> float:
    """CPU used so far by the server, its session parent and every console, ended or not
    (an ended console's time moves into the parent's count of its reaped children)."""
    total = 0.0
    for pid in (server_pid, *descendants(server_pid)):
        try:
            total += cpu_seconds(pid, reaped=True)
        except FileNotFoundError:  # a console that ended between the listing and the read
            continue
    return total


def logins_with_cpu(
    server_pid: int, port: int, key: Path, count: int
) -> tuple[list[float], list[Terminal], float]:
    """As `logins`, and the CPU seconds the door and the clients used until the last paint."""
    before = door_cpu(server_pid)
    times, terminals = logins(port, key, count)
    clients = sum(cpu_seconds(t.process.pid) for t in terminals)
    return times, terminals, door_cpu(server_pid) - before + clients


def private_copy(directory: Path, public_key: str) -> str:
    """The bench's database copied (the cached one is shared), OWNER given the key."""
    copy = directory / "console.db"
    source = sqlite3.connect(ensure_world().removeprefix("sqlite:///"))
    target = sqlite3.connect(copy)
    with target:
        source.backup(target)
        target.execute("UPDATE users SET ssh_keys = ? WHERE name = ?", (public_key, OWNER))
    source.close()
    target.close()
    return f"sqlite:///{copy}"


class Server:
    def __init__(self, url: str, directory: Path) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "ssh-server",
                "--port",
                "0",
                "--host-key",
                str(directory / "host_key"),
                "--max-sessions-per-user",
                str(CROWD),
            ],
            env=dict(os.environ, MAILPOOLS_DATABASE_URL=url, MAILPOOLS_NOW=NOW),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"the SSH server did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(WAIT)


def ssh_args(port: int, key: Path) -> list[str]:
    return [
        "ssh",
        "-tt",
        "-p",
        str(port),
        "-i",
        str(key),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
        f"{OWNER}@127.0.0.1",
    ]


def logins(port: int, key: Path, count: int) -> tuple[list[float], list[Terminal]]:
    """COUNT clients started at once; their times to paint and their terminals, open."""
    env = dict(os.environ, TERM="xterm-256color")
    terminals = [Terminal(ssh_args(port, key), env) for _ in range(count)]
    return wait_for_paint(terminals), terminals


def local_consoles(url: str, count: int) -> list[Terminal]:
    env = dict(os.environ, MAILPOOLS_DATABASE_URL=url, MAILPOOLS_NOW=NOW, TERM="xterm-256color")
    terminals = [
        Terminal([sys.executable, "-m", "app.cli", "console", "--as", OWNER], env)
        for _ in range(count)
    ]
    wait_for_paint(terminals)
    return terminals


def run() -> list[str]:
    if shutil.which("ssh") is None:
        return ["skipped: the OpenSSH client (ssh) is not installed"]
    with tempfile.TemporaryDirectory(prefix="mailpools-bench-ssh-") as scratch:
        directory = Path(scratch)
        key = directory / "owner"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
            check=True,
        )
        url = private_copy(directory, key.with_suffix(".pub").read_text().strip())
        server = Server(url, directory)
        try:
            return measure(url, server, key)
        finally:
            server.stop()


def measure(url: str, server: Server, key: Path) -> list[str]:
    # Warm the file cache and bytecode so neither side pays for the first read.
    one_start("minimal")
    _, warm = logins(server.port, key, 1)
    warm[0].quit()
    minimal, single, single_cpu = [], [], []
    for _ in range(ROUNDS):
        minimal.append(one_start("minimal"))
        times, terminals, cpu = logins_with_cpu(server.process.pid, server.port, key, 1)
        single += times
        single_cpu.append(cpu)
        terminals[0].quit()
    baseline, one_login = statistics.median(minimal), statistics.median(single)
    login_cpu = statistics.median(single_cpu)
    crowd_times, crowd, crowd_cpu = logins_with_cpu(server.process.pid, server.port, key, CROWD)
    crowd_median = statistics.median(crowd_times)
    # However the work is ordered, the first half of the crowd to paint needed half the
    # crowd's CPU, done on this machine's cores: the median can be no earlier than that.
    cores = os.cpu_count() or 1
    median_floor = (CROWD / 2) * login_cpu / cores
    door = [server.process.pid, *descendants(server.process.pid)]
    door_memory = sum(pss_kib(pid) for pid in door)
    for terminal in crowd:
        terminal.quit()
    separate = local_consoles(url, CROWD)
    separate_memory = sum(pss_kib(t.process.pid) for t in separate)
    for terminal in separate:
        terminal.quit()
    single_ratio = one_login / baseline
    crowd_ratio = crowd_median / one_login
    memory_ratio = door_memory / separate_memory
    load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())

    def verdict(ratio: float, target: float) -> str:
        return "met" if ratio <= target else "NOT met"

    return [
        f"database: {DOMAINS:,} domains; 80x24; medians of {ROUNDS} alternating runs; "
        f"load average {load}",
        f"minimal app, local cold start:        {baseline:.3f} s to first paint",
        f"ssh login to Home's first full paint: {one_login:.3f} s",
        f"ratio {single_ratio:.2f}x (target at most {SINGLE_TARGET}x): "
        f"{verdict(single_ratio, SINGLE_TARGET)}",
        f"{CROWD} logins at once: median {crowd_median:.3f} s, slowest {max(crowd_times):.3f} s; "
        f"{crowd_ratio:.2f}x the single login (target at most {CROWD_TARGET}x): "
        f"{verdict(crowd_ratio, CROWD_TARGET)}",
        f"CPU to first paint (server, session parent, console and ssh client): "
        f"{login_cpu:.3f} s for one login, {crowd_cpu / CROWD:.3f} s each in the crowd; "
        f"on {cores} cores no order of work brings the crowd's median below "
        f"{median_floor:.3f} s, {median_floor / one_login:.2f}x the single login",
        f"memory (PSS) of {CROWD} sessions, server and session parent included: "
        f"{door_memory / 1024:.0f} MiB; {CROWD} separate consoles: "
        f"{separate_memory / 1024:.0f} MiB; ratio {memory_ratio:.2f} "
        f"(target at most {MEMORY_TARGET}): {verdict(memory_ratio, MEMORY_TARGET)}",
    ]
