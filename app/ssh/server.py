"""The console over SSH: account owners and agents connect with a plain `ssh` client.

Authentication is by public key only, against the keys in the users table;
the login name must be the key's owner, and that user is who the console runs
as. Each session gets a pseudo-terminal with the console running in it as a
child process, so one misbehaving session cannot disturb the others, and
window resizes reach the console as they would locally.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

import asyncssh
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.services.auth import user_for_key
from app.settings import Settings

log = logging.getLogger("mailpools.ssh")

DEFAULT_SIZE = (80, 24)
# Over SSH COLORTERM is not forwarded: a theme drawn with the terminal's own palette.
SSH_THEME = "ansi-dark"


def load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    if path.exists():
        return asyncssh.read_private_key(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    path.chmod(0o600)
    log.info("created host key %s", path)
    return key


class ConsoleSshServer(asyncssh.SSHServer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        presented = key.export_public_key("openssh").decode()
        with Session(self.engine) as session:
            accepted = user_for_key(session, username, presented) is not None
        if not accepted:
            log.warning("refused key %s for %r", key.get_fingerprint(), username)
        return accepted


def _set_window(fd: int, width: int, height: int) -> None:
    width, height = (width, height) if width > 0 and height > 0 else DEFAULT_SIZE
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def take_terminal() -> None:
    """In the console's child, just started in a session of its own: make its standard
    input, the session's pseudo-terminal, the session's controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def console_environment(configured: Settings, term: str) -> dict[str, str]:
    """What a session's console process starts with: the server's environment and settings,
    less who the server runs as (the console runs as the session's user), COLORTERM, and
    COLUMNS and LINES: they describe the server's terminal, and the console would take
    them over its session's real size."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in ("COLORTERM", "MAILPOOLS_USER", "COLUMNS", "LINES")
    }
    passed = {
        key: value for key, value in configured.as_environment().items() if key != "MAILPOOLS_USER"
    }
    return {**inherited, **passed, "TERM": term, "MAILPOOLS_THEME": configured.theme or SSH_THEME}


async def run_console_session(
    process: asyncssh.SSHServerProcess, console_command: list[str], configured: Settings
) -> None:
    """Run the console for the authenticated user in a pseudo-terminal and relay it."""
    user = process.get_extra_info("username")
    term = process.get_terminal_type()
    if process.command:
        process.stderr.write(
            f"mailpools: this server offers only the interactive console, not commands such "
            f"as `{process.command}`; connect with `ssh -t` and no command.\r\n".encode()
        )
        process.exit(2)
        return
    if not term:
        process.stderr.write(b"mailpools: the console needs a terminal; connect with `ssh -t`.\r\n")
        process.exit(2)
        return
    width, height, *_ = process.get_terminal_size()
    primary, secondary = pty.openpty()
    _set_window(primary, width, height)
    child = subprocess.Popen(
        [*console_command, "--as", user],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=console_environment(configured, term),
        start_new_session=True,
        # The pseudo-terminal becomes the console's controlling terminal, so the kernel
        # tells it of each window change (SIGWINCH) and it redraws at the new size.
        preexec_fn=take_terminal,
        close_fds=True,
    )
    os.close(secondary)
    log.info("console for %s started (pid %s, %sx%s, %s)", user, child.pid, width, height, term)
    loop = asyncio.get_running_loop()
    output_done = loop.create_future()

    def forward_output() -> None:
        try:
            data = os.read(primary, 65536)
        except OSError:
            data = b""
        if data:
            process.stdout.write(data)
        else:
            loop.remove_reader(primary)
            if not output_done.done():
                output_done.set_result(None)

    loop.add_reader(primary, forward_output)

    async def forward_input() -> None:
        while True:
            try:
                data = await process.stdin.read(65536)
            except asyncssh.TerminalSizeChanged as change:
                _set_window(primary, change.width, change.height)
                continue
            except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                continue
            if not data:
                return
            os.write(primary, data)

    input_task = asyncio.create_task(forward_input())
    try:
        await asyncio.wait({input_task, output_done}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        input_task.cancel()
        loop.remove_reader(primary)
        if child.poll() is None:
            # The client went away: end the console as a closed terminal would.
            os.killpg(child.pid, signal.SIGHUP)
        code = await asyncio.to_thread(child.wait)
        os.close(primary)
        log.info("console for %s ended (%s)", user, code)
        process.exit(code if code >= 0 else 1)


async def serve(
    engine: Engine,
    host: str,
    port: int,
    host_key_path: Path,
    console_command: list[str] | None = None,
    configured: Settings | None = None,
) -> asyncssh.SSHAcceptor:
    """CONFIGURED are the settings each session's console is started with."""
    configured = configured or Settings()
    command = console_command or [sys.executable, "-m", "app.cli", "console"]
    return await asyncssh.create_server(
        lambda: ConsoleSshServer(engine),
        host,
        port,
        server_host_keys=[load_or_create_host_key(host_key_path)],
        process_factory=lambda process: run_console_session(process, command, configured),
        encoding=None,
        line_editor=False,
    )
