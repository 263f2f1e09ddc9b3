"""The console over SSH, reached with the real OpenSSH client."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from sqlmodel import col
from sqlmodel import select as select_rows

from app.services.auth import get_user
from data.db import make_engine, session_scope
from data.models import AuditEvent
from tests.command_line import Cli
from tests.factories import build_world

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("ssh") is None or shutil.which("ssh-keygen") is None,
    reason="the OpenSSH client (ssh, ssh-keygen) is not installed",
)


def _keypair(directory: Path, name: str) -> tuple[Path, str]:
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True
    )
    return path, path.with_suffix(".pub").read_text().strip()


# Refused logins are answered a step later each time; short steps keep the tests quick.
FAILURE_STEP = 0.1


class SshServer:
    """`mailpools ssh-server` as its own process, its log kept in a file."""

    def __init__(self, url: str, directory: Path, *options: str):
        self.log = directory / "server.log"
        self.host_key = directory / "host_key"
        env = {
            **os.environ,
            "MAILPOOLS_DATABASE_URL": url,
            "MAILPOOLS_AUTH_FAILURE_DELAY": str(FAILURE_STEP),
        }
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app.cli",
                    "ssh-server",
                    "--port",
                    "0",
                    "--host-key",
                    str(self.host_key),
                    *options,
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        line = self.process.stdout.readline()
        assert "listening on" in line, line + self.log.read_text()
        self.port = int(line.rsplit(":", 1)[1])
        self.fingerprint_line = self.process.stdout.readline()

    def session_parent_or_none(self) -> int | None:
        """The warm session parent's process id (the server's one running child without a
        terminal: consoles it adopts have theirs); None while one is being replaced."""
        running = [
            pid
            for pid in _children(self.process.pid)
            if _running(pid) and _stat(pid)[TTY_FIELD] == "0"
        ]
        return running[0] if len(running) == 1 else None

    def session_parent(self) -> int:
        pid = self.session_parent_or_none()
        assert pid is not None
        return pid

    def consoles(self) -> set[int]:
        return _children(self.session_parent())

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(60)


# In /proc/PID/stat, after the command's name: the state, and the controlling terminal.
STATE_FIELD = 0
TTY_FIELD = 4


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _running(pid: int) -> bool:
    """Whether PID is a process that has not ended (a zombie has ended)."""
    try:
        return _stat(pid)[STATE_FIELD] != "Z"
    except FileNotFoundError:
        return False


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


@pytest.fixture
def ssh_keys(sqlite_url, tmp_path, monkeypatch):
    """The demo world, alice holding one key and bruno another."""
    build_world(make_engine(sqlite_url))
    alice_key, alice_public = _keypair(tmp_path, "alice")
    bruno_key, bruno_public = _keypair(tmp_path, "bruno")
    stranger_key, _ = _keypair(tmp_path, "stranger")
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text(
        f'[[users]]\nname = "alice"\nrole = "owner"\naccount = "acme"\nkeys = ["{alice_public}"]\n'
        f'[[users]]\nname = "bruno"\nrole = "owner"\naccount = "bolt"\nkeys = ["{bruno_public}"]\n'
    )
    Cli(sqlite_url, monkeypatch).ok("inventory", "apply", str(keys_file))
    return {
        "url": sqlite_url,
        "alice": alice_key,
        "alice_public": alice_public,
        "bruno": bruno_key,
        "stranger": stranger_key,
    }


@pytest.fixture
def ssh_world(ssh_keys, tmp_path):
    """The demo world's keys and a running server with the default limits."""
    server = SshServer(ssh_keys["url"], tmp_path)
    yield {**ssh_keys, "port": server.port, "server": server}
    server.stop()


@pytest.fixture
def start_server(ssh_keys, tmp_path):
    """Start a server with the given options, stopped after the test."""
    started: list[SshServer] = []

    def start(*options: str) -> SshServer:
        directory = tmp_path / f"server{len(started)}"
        directory.mkdir()
        started.append(SshServer(ssh_keys["url"], directory, *options))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def _ssh_args(port: int, key: Path, login: str, *extra: str) -> list[str]:
    return [
        "ssh",
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
        *extra,
        f"{login}@127.0.0.1",
    ]


class Terminal:
    """The ssh client in a pseudo-terminal of 100x30, as a person would run it."""

    def __init__(self, args: list[str]):
        self.primary, secondary = pty.openpty()
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.process = subprocess.Popen(
            args, stdin=secondary, stdout=secondary, stderr=secondary, start_new_session=True
        )
        os.close(secondary)
        self.screen = b""

    def wait_for(self, text: str, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while text.encode() not in self.screen:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{text!r} never appeared; the terminal showed {self.screen[-2000:]!r}"
                )
            ready, _, _ = select.select([self.primary], [], [], 0.5)
            if ready:
                try:
                    self.screen += os.read(self.primary, 65536)
                except OSError:
                    break
        assert text.encode() in self.screen

    def type(self, keys: str) -> None:
        os.write(self.primary, keys.encode())

    def close(self, seconds: float = 60) -> int:
        """Wait for ssh to exit, reading what it still shows so that it is never held up
        writing to a full terminal; its exit code."""
        deadline = time.monotonic() + seconds
        try:
            while self.process.poll() is None:
                if time.monotonic() > deadline:
                    raise AssertionError(f"ssh did not exit; it showed {self.screen[-2000:]!r}")
                ready, _, _ = select.select([self.primary], [], [], 0.5)
                if ready:
                    try:
                        self.screen += os.read(self.primary, 65536)
                    except OSError:
                        break
            code = self.process.wait(seconds)
        finally:
            os.close(self.primary)
        return code


def test_owner_gets_their_own_console_over_ssh(ssh_world):
    terminal = Terminal(_ssh_args(ssh_world["port"], ssh_world["alice"], "alice", "-tt"))
    terminal.wait_for("news.acme.example")
    assert b"bolt.example" not in terminal.screen
    terminal.type("q")
    assert terminal.close() == 0


def test_the_key_decides_who_you_are(ssh_world):
    """bruno's key cannot open alice's console, and an unknown key opens nothing."""
    for key in ("bruno", "stranger"):
        result = subprocess.run(
            _ssh_args(ssh_world["port"], ssh_world[key], "alice", "-T"),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 255
        assert "Permission denied" in result.stderr


def test_without_a_terminal_the_server_says_how_to_connect(ssh_world):
    result = subprocess.run(
        _ssh_args(ssh_world["port"], ssh_world["bruno"], "bruno", "-T"),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert "needs a terminal" in result.stderr


@pytest.mark.parametrize("terminal", ["-T", "-tt"])
def test_a_command_is_refused_saying_only_the_console_is_offered(ssh_world, terminal):
    result = subprocess.run(
        [
            *_ssh_args(ssh_world["port"], ssh_world["alice"], "alice", terminal),
            "mailpools",
            "domains",
            "list",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    said = result.stderr + result.stdout
    assert "only the interactive console" in said
    assert "`mailpools domains list`" in said


def _login_refused(port: int, key: Path, login: str) -> bool:
    result = subprocess.run(
        _ssh_args(port, key, login, "-T"),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return result.returncode == 255 and "Permission denied" in result.stderr


def test_a_key_held_by_two_users_logs_in_as_neither(ssh_world):
    """A database written before such keys were refused: the shared key proves nobody."""
    engine = make_engine(ssh_world["url"])
    with session_scope(engine) as session:
        sam = get_user(session, "sam")
        sam.ssh_keys = ssh_world["alice_public"].replace(" alice", " sam@desk")
    for login in ("alice", "sam"):
        assert _login_refused(ssh_world["port"], ssh_world["alice"], login), login
    # bruno's own key still opens bruno's door (no terminal: the server says how to connect).
    assert not _login_refused(ssh_world["port"], ssh_world["bruno"], "bruno")


@pytest.mark.parametrize("login", ["alice ", " alice", "ALICE", "nobody"])
def test_only_the_exact_name_of_the_keys_owner_logs_in(ssh_world, login):
    """alice's own key, with a login that is almost alice or no one: refused like a wrong key."""
    assert _login_refused(ssh_world["port"], ssh_world["alice"], login), login


@pytest.mark.parametrize(
    ("make_args", "sentence"),
    [
        (lambda busy, tmp: ["--port", "99999"], "--port must be from 0 to 65,535, not 99999."),
        (lambda busy, tmp: ["--port", str(busy)], "address already in use"),
        (lambda busy, tmp: ["--port", "0", "--host", "999.1.1.1"], "Cannot serve SSH on 999.1.1.1"),
        (lambda busy, tmp: ["--port", "0", "--host-key", "/dev/null"], "Invalid private key"),
        (
            lambda busy, tmp: ["--port", "0", "--idle-timeout", "0"],
            "--idle-timeout must be more than 0 seconds.",
        ),
        (
            lambda busy, tmp: ["--port", "0", "--max-sessions-per-user", "0"],
            "--max-sessions-per-user must be at least 1.",
        ),
        (
            lambda busy, tmp: ["--port", "0", "--max-sessions", "0"],
            "--max-sessions must be at least 1.",
        ),
    ],
    ids=[
        "port-range",
        "port-in-use",
        "no-such-host",
        "bad-host-key",
        "no-idle-time",
        "no-sessions-per-user",
        "no-sessions",
    ],
)
def test_a_server_that_cannot_start_says_why_in_one_sentence(
    sqlite_url, monkeypatch, tmp_path, make_args, sentence
):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        args = make_args(busy.getsockname()[1], tmp_path)
        if "--host-key" not in args:
            args += ["--host-key", str(tmp_path / "host_key")]
        refusal = Cli(sqlite_url, monkeypatch).refused("ssh-server", *args)
    assert refusal.startswith("mailpools: ")
    assert sentence in refusal


class Tmux:
    """A tmux server of its own, running one window: resized and read as a person sees it."""

    def __init__(self, directory: Path, command: list[str], width: int, height: int):
        self.socket = str(directory / "tmux.sock")
        # The command starts only once the window has its size: tmux may size it just
        # after starting it, and a client that misses that change (ssh before it has set
        # up its own handler) would open the session at the wrong size.
        waiting = f'until [ "$(stty size)" = "{height} {width}" ]; do sleep 0.1; done; exec "$@"'
        self.run(
            "new-session",
            "-d",
            "-x",
            str(width),
            "-y",
            str(height),
            "--",
            "sh",
            "-c",
            waiting,
            "sh",
            *command,
        )

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-S", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return result.stdout

    def screen(self) -> list[str]:
        return self.run("capture-pane", "-p").splitlines()

    def wait_until(self, condition, seconds: float = 90) -> list[str]:
        deadline = time.monotonic() + seconds
        while True:
            lines = self.screen()
            if condition(lines):
                return lines
            if time.monotonic() > deadline:
                shown = "\n".join(lines)
                raise AssertionError(f"the terminal never showed the expected screen:\n{shown}")
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=30)


def _drawn_whole(lines: list[str], width: int, height: int) -> bool:
    """One header on the top row and one footer on the bottom row, its palette key at the
    right edge of WIDTH columns, and the domains between them."""
    headers = [number for number, line in enumerate(lines) if "mailpools" in line]
    footers = [number for number, line in enumerate(lines) if "Quit" in line]
    return (
        len(lines) == height
        and headers == [0]
        and footers == [height - 1]
        and lines[-1].rstrip().endswith("palette")
        and width - 2 <= len(lines[-1].rstrip()) <= width
        and "news.acme.example" in "\n".join(lines)
    )


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_console_redraws_whole_when_the_ssh_window_is_resized(ssh_world, tmp_path):
    """The console over ssh follows each change of its window's size, growing and shrinking."""
    tmux = Tmux(
        tmp_path,
        _ssh_args(ssh_world["port"], ssh_world["alice"], "alice", "-tt"),
        width=100,
        height=30,
    )
    try:
        tmux.wait_until(lambda lines: _drawn_whole(lines, 100, 30))
        for width, height in ((120, 40), (80, 24), (110, 34)):
            tmux.run("resize-window", "-x", str(width), "-y", str(height))
            tmux.wait_until(lambda lines, w=width, h=height: _drawn_whole(lines, w, h))
    finally:
        tmux.close()


def _fingerprint(key_file: Path) -> str:
    """The SHA256 fingerprint of a key file, as OpenSSH's own ssh-keygen reads it."""
    listed = subprocess.run(
        ["ssh-keygen", "-lf", str(key_file)], capture_output=True, text=True, check=True
    ).stdout
    return listed.split()[1]


def test_the_host_key_fingerprint_is_shown_at_start_and_on_request(ssh_world, monkeypatch):
    server = ssh_world["server"]
    expected = _fingerprint(server.host_key)
    assert expected in server.fingerprint_line
    shown = Cli(ssh_world["url"], monkeypatch).ok(
        "ssh-server", "--fingerprint", "--host-key", str(server.host_key)
    )
    assert expected in shown


def _run_ssh(port: int, key: Path, login: str, *extra: str, env=None):
    return subprocess.run(
        _ssh_args(port, key, login, *extra),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=env,
    )


@pytest.mark.parametrize(
    ("options", "command", "said"),
    [
        (["-T", "-s"], ["sftp"], "subsystem request failed"),
        (["-W", "127.0.0.1:9"], [], "stdio forwarding failed"),
        (
            ["-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9"],
            [],
            "remote port forwarding failed",
        ),
    ],
    ids=["sftp-subsystem", "local-forwarding", "remote-forwarding"],
)
def test_subsystems_and_port_forwarding_are_refused(ssh_world, options, command, said):
    result = subprocess.run(
        [*_ssh_args(ssh_world["port"], ssh_world["alice"], "alice", *options), *command],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 255
    assert said in result.stderr


def test_the_sftp_client_is_refused(ssh_world):
    result = subprocess.run(
        ["sftp", "-P", str(ssh_world["port"]), *_ssh_args(0, ssh_world["alice"], "alice")[3:]],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "subsystem request failed" in result.stderr


def test_x11_forwarding_is_refused(ssh_world):
    result = _run_ssh(
        ssh_world["port"],
        ssh_world["alice"],
        "alice",
        "-T",
        "-X",
        "-o",
        "LogLevel=INFO",
        env={**os.environ, "DISPLAY": ":99"},
    )
    assert "X11 forwarding request failed" in result.stderr


def test_agent_forwarding_is_refused(ssh_world, tmp_path):
    """OpenSSH asks for agent forwarding without waiting for an answer: the server's log
    says it refused, and the session's console never gets an agent."""
    agent_socket = tmp_path / "agent.sock"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(agent_socket)], stdout=subprocess.DEVNULL
    )
    try:
        while not agent_socket.exists():
            time.sleep(0.1)
        _run_ssh(
            ssh_world["port"],
            ssh_world["alice"],
            "alice",
            "-T",
            "-A",
            env={**os.environ, "SSH_AUTH_SOCK": str(agent_socket)},
        )
    finally:
        agent.terminate()
        agent.wait(10)
    log = ssh_world["server"].log.read_text()
    assert "Agent forwarding request denied" in log


def _ssh_events(url: str) -> list[AuditEvent]:
    with session_scope(make_engine(url)) as session:
        return list(
            session.exec(
                select_rows(AuditEvent)
                .where(col(AuditEvent.action).startswith("ssh."))
                .order_by(col(AuditEvent.id))
            )
        )


def test_logins_refusals_and_session_ends_are_audited_with_address_and_fingerprint(ssh_world):
    port = ssh_world["port"]
    terminal = Terminal(_ssh_args(port, ssh_world["alice"], "alice", "-tt"))
    terminal.wait_for("news.acme.example")
    terminal.type("q")
    assert terminal.close() == 0
    assert _login_refused(port, ssh_world["stranger"], "alice")
    assert _login_refused(port, ssh_world["bruno"], "alice")
    events = _ssh_events(ssh_world["url"])
    alice, stranger, bruno = (
        _fingerprint(ssh_world[name]) for name in ("alice", "stranger", "bruno")
    )
    seen = [(event.action, event.actor, json.loads(event.after)) for event in events]
    assert [(action, actor) for action, actor, _ in seen] == [
        ("ssh.login", "alice"),
        ("ssh.session_ended", "alice"),
        ("ssh.login_refused", "system"),
        ("ssh.login_refused", "system"),
    ]
    assert all(after["address"] == "127.0.0.1" for _, _, after in seen)
    assert [after["fingerprint"] for _, _, after in seen] == [alice, alice, stranger, bruno]
    assert seen[1][2]["how"] == "closed"
    assert [after["reason"] for _, _, after in seen[2:]] == [
        "unknown key",
        "the key belongs to another user",
    ]


def test_repeated_failures_from_one_address_are_answered_later_each_time(ssh_world):
    port = ssh_world["port"]
    for _ in range(3):
        assert _login_refused(port, ssh_world["stranger"], "alice")
    # A login that works starts the count again.
    assert not _login_refused(port, ssh_world["bruno"], "bruno")
    assert _login_refused(port, ssh_world["stranger"], "alice")
    delays = [
        json.loads(event.after)["answered_after_seconds"]
        for event in _ssh_events(ssh_world["url"])
        if event.action == "ssh.login_refused"
    ]
    assert delays == pytest.approx([FAILURE_STEP, 2 * FAILURE_STEP, 3 * FAILURE_STEP, FAILURE_STEP])


def _console(port: int, key: Path, login: str, shows: str) -> Terminal:
    terminal = Terminal(_ssh_args(port, key, login, "-tt"))
    terminal.wait_for(shows)
    return terminal


def _still_usable(terminal: Terminal) -> None:
    """The console answers keys: i opens the inbox, and q leaves the console."""
    terminal.type("i")
    terminal.wait_for("newest first")
    terminal.type("q")
    assert terminal.close() == 0


def test_an_idle_session_is_closed_with_a_message(ssh_keys, start_server):
    server = start_server("--idle-timeout", "3")
    terminal = Terminal(_ssh_args(server.port, ssh_keys["alice"], "alice", "-tt"))
    terminal.wait_for("closed after 3 seconds without input")
    assert terminal.close() != 0
    (ended,) = [e for e in _ssh_events(ssh_keys["url"]) if e.action == "ssh.session_ended"]
    assert json.loads(ended.after)["how"] == "idle"


def test_sessions_over_the_limits_are_refused_saying_why(ssh_keys, start_server):
    server = start_server("--max-sessions-per-user", "1", "--max-sessions", "2")
    alice = _console(server.port, ssh_keys["alice"], "alice", "news.acme.example")
    second = _run_ssh(server.port, ssh_keys["alice"], "alice", "-tt")
    assert second.returncode == 1
    assert "alice already has 1 session open, the most allowed" in second.stdout + second.stderr
    bruno = _console(server.port, ssh_keys["bruno"], "bruno", "offers.bolt.example")
    full = _run_ssh(server.port, ssh_keys["bruno"], "bruno", "-tt")
    assert full.returncode == 1
    assert "the server already has 2 sessions open" in full.stdout + full.stderr
    for terminal in (alice, bruno):
        _still_usable(terminal)
    refused = [e for e in _ssh_events(ssh_keys["url"]) if e.action == "ssh.session_refused"]
    assert [e.actor for e in refused] == ["alice", "bruno"]


def test_a_killed_console_ends_only_its_own_session(ssh_keys, start_server):
    server = start_server()
    victim = _console(server.port, ssh_keys["alice"], "alice", "news.acme.example")
    (victim_pid,) = server.consoles()
    others = [
        _console(server.port, ssh_keys["alice"], "alice", "news.acme.example"),
        _console(server.port, ssh_keys["bruno"], "bruno", "offers.bolt.example"),
    ]
    os.kill(victim_pid, signal.SIGKILL)
    victim.wait_for("the console stopped unexpectedly (SIGKILL)")
    assert victim.close() != 0
    for terminal in others:
        _still_usable(terminal)
    assert server.process.poll() is None


def test_a_new_session_parent_is_started_if_it_dies(ssh_keys, start_server):
    server = start_server()
    before = _console(server.port, ssh_keys["alice"], "alice", "news.acme.example")
    first_parent = server.session_parent()
    os.kill(first_parent, signal.SIGKILL)
    deadline = time.monotonic() + 90
    while server.session_parent_or_none() in (None, first_parent):
        assert time.monotonic() < deadline, "no new session parent was started"
        time.sleep(0.1)
    after = _console(server.port, ssh_keys["bruno"], "bruno", "offers.bolt.example")
    for terminal in (before, after):
        _still_usable(terminal)


def test_stopping_the_server_tells_each_session_and_closes_it(ssh_keys, start_server):
    server = start_server()
    terminals = [
        _console(server.port, ssh_keys["alice"], "alice", "news.acme.example"),
        _console(server.port, ssh_keys["bruno"], "bruno", "offers.bolt.example"),
    ]
    consoles = server.consoles()
    # The terminals are read while the server stops, as a person's are: a terminal left
    # unread fills up, and its client stops taking what the server sends.
    server.process.terminate()
    for terminal in terminals:
        terminal.wait_for("the server is restarting, so this session is closed")
        assert terminal.close() != 0
    assert server.stop() == 0
    assert not any(_running(pid) for pid in consoles)


TEAMS = 20


def test_twenty_sessions_at_once_each_see_only_their_own_accounts_domains(
    ssh_keys, start_server, tmp_path, monkeypatch
):
    inventory = []
    keys = {}
    for n in range(TEAMS):
        name = f"team{n:02}"
        keys[name], public = _keypair(tmp_path, name)
        inventory.append(
            f'[[accounts]]\nname = "{name}"\nplan = "standard"\n'
            f'[[domains]]\nname = "mail.{name}.example"\naccount = "{name}"\n'
            f'[[users]]\nname = "{name}-owner"\nrole = "owner"\naccount = "{name}"\n'
            f'keys = ["{public}"]\n'
        )
    teams_file = tmp_path / "teams.toml"
    teams_file.write_text("".join(inventory))
    Cli(ssh_keys["url"], monkeypatch).ok("inventory", "apply", str(teams_file))
    server = start_server("--max-sessions-per-user", "1")
    terminals = {
        name: Terminal(_ssh_args(server.port, key, f"{name}-owner", "-tt"))
        for name, key in keys.items()
    }
    for name, terminal in terminals.items():
        terminal.wait_for(f"mail.{name}.example")
    assert len(server.consoles()) == TEAMS
    for name, terminal in terminals.items():
        others = [other for other in keys if other != name]
        assert not [other for other in others if f"{other}.example".encode() in terminal.screen]
        assert b"acme.example" not in terminal.screen
        terminal.type("q")
    assert all(terminal.close() == 0 for terminal in terminals.values())
