"""The console over SSH: account owners and agents connect with a plain `ssh` client.

Authentication is by public key only, against the keys in the users table;
the login name must be the key's owner, and that user is who the console runs
as. Logins, refused logins and the end of each session are audited with the
client's address and the key's fingerprint, and repeated failures from one
address are answered more and more slowly.

Each session gets a pseudo-terminal with the console running in it as a
process of its own, forked from the warm session parent (app/ssh/parent_process.py),
so a session starts without importing anything and one that crashes disturbs
no other. Window resizes reach the console as they would locally. Only
interactive sessions are offered: commands, subsystems (sftp), port
forwarding, X11 and agent forwarding are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pty
import signal
import struct
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncssh
from sqlalchemy.engine import Engine

from app.errors import MailpoolsError
from app.rules.failed_logins import FailedLogins
from app.services import ssh_access
from app.settings import Settings
from app.ssh.warm_parent import WarmParent, become_subreaper
from data.db import session_scope

log = logging.getLogger("mailpools.ssh")
Result = TypeVar("Result")

DEFAULT_SIZE = (80, 24)
# Over SSH COLORTERM is not forwarded: a theme drawn with the terminal's own palette.
SSH_THEME = "ansi-dark"
# How long a session's end waits to hear from the session parent how its console ended.
ENDING_REPORT_WAIT = 5.0
# How long an ended session waits for its client to close the channel.
CHANNEL_CLOSE_WAIT = 5.0
# Put the client's terminal back as it was before the console took it over (the main
# screen, a visible cursor, no mouse reporting, plain text) when the console could not.
RESTORE_TERMINAL = b"\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[0m"


@dataclass(frozen=True)
class DoorLimits:
    """Seconds without input before a session is closed, and the sessions open at once."""

    idle_timeout: float
    max_sessions_per_user: int
    max_sessions: int


def load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    if path.exists():
        return asyncssh.read_private_key(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    path.chmod(0o600)
    log.info("created host key %s", path)
    return key


def host_key_fingerprint(key: asyncssh.SSHKey) -> str:
    """As `ssh` shows it on first connect: the key's type and its SHA256 fingerprint."""
    return f"{key.get_algorithm()} {key.get_fingerprint('sha256')}"


def console_environment(configured: Settings) -> dict[str, str]:
    """What the session parent, and so each console, starts with: the server's environment
    and settings, less who the server runs as (the console runs as the session's user),
    COLORTERM, and COLUMNS and LINES: they describe the server's terminal, and the console
    would take them over its session's real size. Each console sets TERM for its client."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in ("COLORTERM", "MAILPOOLS_USER", "COLUMNS", "LINES")
    }
    passed = {
        key: value for key, value in configured.as_environment().items() if key != "MAILPOOLS_USER"
    }
    return {**inherited, **passed, "MAILPOOLS_THEME": configured.theme or SSH_THEME}


def _set_window(fd: int, width: int, height: int) -> None:
    width, height = (width, height) if width > 0 and height > 0 else DEFAULT_SIZE
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def _address(connection: asyncssh.SSHServerConnection) -> str:
    peer = connection.get_extra_info("peername")
    return str(peer[0]) if peer else "unknown"


def _sessions_word(count: int) -> str:
    return f"{count} session{'s' if count != 1 else ''}"


class ConsoleSshServer(asyncssh.SSHServer):
    """One client connection: public-key login against the users' keys, audited."""

    def __init__(self, door: ConsoleDoor) -> None:
        self.door = door
        self.address = "unknown"
        self.connection: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.connection = conn
        self.address = _address(conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        presented = key.export_public_key("openssh").decode()
        fingerprint = key.get_fingerprint("sha256")
        delay = self.door.failed_logins.next_delay(self.address)
        user = await asyncio.to_thread(
            self.door.in_transaction,
            ssh_access.check_login,
            username,
            presented,
            self.address,
            fingerprint,
            delay,
        )
        if user is None:
            self.door.failed_logins.failed(self.address)
            log.warning(
                "refused key %s for %r from %s; answering in %.1fs",
                fingerprint,
                username,
                self.address,
                delay,
            )
            await asyncio.sleep(delay)
            return False
        if self.connection is not None:
            self.connection.set_extra_info(key_fingerprint=fingerprint)
        return True

    async def auth_completed(self) -> None:
        if self.connection is None:
            return
        user = self.connection.get_extra_info("username")
        fingerprint = self.connection.get_extra_info("key_fingerprint")
        self.door.failed_logins.succeeded(self.address)
        await asyncio.to_thread(
            self.door.in_transaction, ssh_access.record_login, user, self.address, fingerprint
        )
        log.info("%s logged in from %s with key %s", user, self.address, fingerprint)


class ConsoleSession:
    """One interactive session: the console in a pseudo-terminal, relayed to the client."""

    def __init__(self, door: ConsoleDoor, process: asyncssh.SSHServerProcess) -> None:
        self.door = door
        self.process = process
        self.user: str = process.get_extra_info("username")
        # Sessions without a terminal type are refused before they get here.
        self.term = process.get_terminal_type() or "xterm"
        self.address = _address(process.get_extra_info("connection"))
        self.fingerprint: str = process.get_extra_info("key_fingerprint") or "unknown"
        self.stopping: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        self.last_input = time.monotonic()
        self.pid: int | None = None

    def stop(self, how: str, message: str) -> None:
        """End the session: HOW for the audit, MESSAGE for the person at the terminal."""
        if not self.stopping.done():
            self.stopping.set_result((how, message))

    async def run(self) -> None:
        process = self.process
        width, height, *_ = process.get_terminal_size()
        primary, secondary = pty.openpty()
        try:
            _set_window(primary, width, height)
            try:
                self.pid = await self.door.parent.open_console(self.user, self.term, secondary)
            except MailpoolsError as error:
                process.stderr.write(f"mailpools: {error.message}\r\n".encode())
                process.exit(1)
                return
        finally:
            os.close(secondary)
        started = time.monotonic()
        log.info("console for %s started (pid %s, %sx%s)", self.user, self.pid, width, height)
        try:
            how, message = await self._relay(primary)
        finally:
            os.close(primary)
        code = await self._ending(how)
        if code is not None and code < 0 and how == "closed":
            how = f"stopped by signal {signal.Signals(-code).name}"
            message = (
                f"mailpools: the console stopped unexpectedly ({signal.Signals(-code).name}); "
                "no other session was affected. Connect again to carry on."
            )
        if message:
            try:
                process.stdout.write(RESTORE_TERMINAL + f"\r\n{message}\r\n".encode())
            except (asyncssh.Error, OSError):
                how = f"{how}; the client had gone"
        log.info("console for %s ended (%s)", self.user, how)
        await asyncio.to_thread(
            self.door.in_transaction,
            ssh_access.record_session_end,
            self.user,
            self.address,
            self.fingerprint,
            how,
            time.monotonic() - started,
        )
        process.exit(code if code is not None and code >= 0 else 1)
        # Until the client has closed the channel too, the message may still sit in the
        # connection's buffer; a server that is stopping would exit with it unsent.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait_closed(), CHANNEL_CLOSE_WAIT)

    async def _relay(self, primary: int) -> tuple[str, str]:
        """Copy between the client and the terminal until the session ends; how it ended."""
        loop = asyncio.get_running_loop()
        process = self.process

        def forward_output() -> None:
            try:
                data = os.read(primary, 65536)
            except OSError:
                data = b""
            if data:
                try:
                    process.stdout.write(data)
                except (asyncssh.Error, OSError):
                    self.stop("client left", "")
            else:
                loop.remove_reader(primary)
                self.stop("closed", "")

        async def forward_input() -> None:
            while True:
                try:
                    data = await process.stdin.read(65536)
                except asyncssh.TerminalSizeChanged as change:
                    _set_window(primary, change.width, change.height)
                    continue
                except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                    continue
                except (asyncssh.Error, OSError):
                    data = b""
                if not data:
                    self.stop("client left", "")
                    return
                self.last_input = time.monotonic()
                os.write(primary, data)

        async def watch_idle() -> None:
            timeout = self.door.limits.idle_timeout
            while True:
                remaining = self.last_input + timeout - time.monotonic()
                if remaining <= 0:
                    self.stop(
                        "idle",
                        f"mailpools: closed after {_duration(timeout)} without input. "
                        "Connect again to carry on.",
                    )
                    return
                await asyncio.sleep(remaining)

        loop.add_reader(primary, forward_output)
        tasks = [asyncio.create_task(forward_input()), asyncio.create_task(watch_idle())]
        try:
            return await self.stopping
        finally:
            loop.remove_reader(primary)
            for task in tasks:
                task.cancel()

    async def _ending(self, how: str) -> int | None:
        """Make sure the console has ended, and how: its exit code, minus a signal's number,
        or None if the session parent could not say (it died meanwhile)."""
        assert self.pid is not None
        if how != "closed":
            # As a closed terminal would: the console's whole session hears SIGHUP.
            try:
                os.killpg(self.pid, signal.SIGHUP)
            except ProcessLookupError:
                pass
        try:
            ending = self.door.parent.ending(self.pid)
        except KeyError:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(ending), ENDING_REPORT_WAIT)
        except TimeoutError:
            return None
        finally:
            self.door.parent.forget(self.pid)


def _duration(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{int(seconds // 60)} minutes"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"


class ConsoleDoor:
    """The server's state: its limits, the warm parent, and the sessions open now."""

    def __init__(
        self, engine: Engine, configured: Settings, limits: DoorLimits, parent: WarmParent
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.parent = parent
        self.failed_logins = FailedLogins(configured.auth_failure_delay)
        self.sessions: set[ConsoleSession] = set()
        self.closing = False

    def in_transaction(self, action: Callable[..., Result], *args: object) -> Result:
        with session_scope(self.engine) as session:
            return action(session, *args)

    def _refusal(self, process: asyncssh.SSHServerProcess, user: str) -> tuple[str, int] | None:
        """Why this session is not opened, in a sentence for the person, and the exit code
        the client gets (2 for a request this server never serves, 1 for a limit); None
        when it opens."""
        if process.subsystem:
            return (
                f"this server offers only the interactive console, not the "
                f"{process.subsystem} subsystem.",
                2,
            )
        if process.command:
            return (
                f"this server offers only the interactive console, not commands such "
                f"as `{process.command}`; connect with `ssh -t` and no command.",
                2,
            )
        if not process.get_terminal_type():
            return "the console needs a terminal; connect with `ssh -t`.", 2
        if self.closing:
            return "the server is restarting; connect again in a moment.", 1
        if len(self.sessions) >= self.limits.max_sessions:
            return (
                f"the server already has {_sessions_word(len(self.sessions))} open, "
                "the most it takes; try again later.",
                1,
            )
        mine = sum(1 for session in self.sessions if session.user == user)
        if mine >= self.limits.max_sessions_per_user:
            return (
                f"{user} already has {_sessions_word(mine)} open, the most allowed; "
                "close one and connect again.",
                1,
            )
        return None

    async def run_session(self, process: asyncssh.SSHServerProcess) -> None:
        user = process.get_extra_info("username")
        refused = self._refusal(process, user)
        if refused is not None:
            refusal, code = refused
            process.stderr.write(f"mailpools: {refusal}\r\n".encode())
            await asyncio.to_thread(
                self.in_transaction,
                ssh_access.record_session_refused,
                user,
                _address(process.get_extra_info("connection")),
                process.get_extra_info("key_fingerprint") or "unknown",
                refusal,
            )
            process.exit(code)
            return
        session = ConsoleSession(self, process)
        self.sessions.add(session)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)

    async def close(self) -> None:
        """Tell everyone connected that the server is going, and end their sessions."""
        self.closing = True
        ending = list(self.sessions)
        for session in ending:
            session.stop(
                "server restarting",
                "mailpools: the server is restarting, so this session is closed. "
                "Connect again in a moment.",
            )
        while self.sessions:
            await asyncio.sleep(0.05)
        self.parent.close()


async def serve(
    engine: Engine,
    host: str,
    port: int,
    host_key: asyncssh.SSHKey,
    configured: Settings,
    limits: DoorLimits,
    parent: WarmParent | None = None,
) -> tuple[asyncssh.SSHAcceptor, ConsoleDoor]:
    """Start the warm session parent (PARENT, if the caller has forked it already), then
    listen. CONFIGURED are the settings each session's console is started with."""
    become_subreaper()
    parent = parent or WarmParent(console_environment(configured))
    await parent.start()
    door = ConsoleDoor(engine, configured, limits, parent)
    try:
        acceptor = await asyncssh.create_server(
            lambda: ConsoleSshServer(door),
            host,
            port,
            server_host_keys=[host_key],
            process_factory=door.run_session,
            encoding=None,
            line_editor=False,
            agent_forwarding=False,
            x11_forwarding=False,
        )
    except BaseException:
        parent.close()
        raise
    return acceptor, door
