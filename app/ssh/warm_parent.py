"""The SSH server's side of the warm session parent (app/ssh/parent_process.py).

The server forks the first parent from itself before it runs any thread or event
loop, so the parent, and every console after it, shares the memory of what the
server has already imported (the database layer, the models) instead of holding
a copy of its own. It then asks the parent over a Unix socket pair to fork a
console for each session, passing the session's pseudo-terminal with the
request. If the parent dies, the server starts another as a new program (fork
and exec at once, so the server's threads by then do not matter); the consoles
already running keep running, as they are tied only to their terminals.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import threading

from app.errors import MailpoolsError
from app.ssh.parent_process import REQUEST_BYTES

log = logging.getLogger("mailpools.ssh")

# Each report from the parent is one small JSON message.
REPORT_BYTES = 4096
# prctl's option that makes orphaned descendants this process's children (linux/prctl.h).
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Have the consoles of a session parent that dies passed to this process rather than
    to init, so that how each one ends can still be told to its session."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log.warning("cannot adopt the consoles of a session parent that dies")


def _adopt(pid: int, ending: asyncio.Future[int | None]) -> None:
    """Hear from the kernel when console PID, now this process's child, ends."""
    loop = asyncio.get_running_loop()
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        ending.set_result(None)
        return

    def ended() -> None:
        loop.remove_reader(handle)
        os.close(handle)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            ending.set_result(None)
            return
        if not ending.done():
            ending.set_result(os.waitstatus_to_exitcode(status))

    loop.add_reader(handle, ended)


class ForkedProcess:
    """A parent forked from the server: what the server needs of a Popen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def wait(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


def _be_the_parent(channel: socket.socket, environment: dict[str, str]) -> None:
    """In the forked child: become the session parent, as `python -m app.ssh.parent_process`
    would, and never return into the server's code."""
    code = 0
    try:
        os.setsid()
        nothing = os.open(os.devnull, os.O_RDONLY)
        os.dup2(nothing, 0)
        os.close(nothing)
        os.environ.clear()
        os.environ.update(environment)
        from app.ssh import parent_process

        parent_process.main(channel.fileno())
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return
        log.exception("the session parent failed")
        code = 1
    finally:
        os._exit(code)


class WarmParent:
    """Starts consoles in children of the warm parent and hears how they end."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment
        self.process: subprocess.Popen | ForkedProcess | None = None
        self.channel: socket.socket | None = None
        self.ready: asyncio.Future[None] | None = None
        self.closing = False
        self._ids = itertools.count(1)
        self._starting: dict[int, asyncio.Future[int]] = {}
        self._endings: dict[int, asyncio.Future[int | None]] = {}

    def fork(self) -> None:
        """Fork the parent from this process, which must not have started a thread yet (a
        forked child would inherit their locks, held by no one). `start` then waits for it."""
        if threading.active_count() != 1:
            raise RuntimeError("the session parent is forked before any thread starts")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            ours.close()
            _be_the_parent(theirs, self.environment)
        theirs.close()
        self.process = ForkedProcess(pid)
        self.channel = ours

    async def start(self) -> None:
        """Spawn the parent, unless `fork` has just forked it, and wait until it has
        imported what a console needs."""
        loop = asyncio.get_running_loop()
        if self.channel is not None:
            ours = self.channel
        else:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.ssh.parent_process", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=self.environment,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            theirs.close()
        ours.setblocking(False)
        self.channel = ours
        self.ready = loop.create_future()
        loop.add_reader(ours, self._read, ours)
        await self.ready

    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def open_console(self, user: str, term: str, terminal: int) -> int:
        """Have the parent fork a console for USER on the pseudo-terminal TERMINAL (a
        descriptor the caller still owns); the console's process id."""
        if self.ready is None or self.channel is None:
            raise MailpoolsError("The console cannot be started: the server is closing.")
        await asyncio.shield(self.ready)
        request_id = next(self._ids)
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._starting[request_id] = started
        message = json.dumps({"id": request_id, "user": user, "term": term}).encode()
        if len(message) > REQUEST_BYTES:
            raise MailpoolsError("The console cannot be started for so long a name.")
        try:
            socket.send_fds(self.channel, [message], [terminal])
        except OSError:
            self._starting.pop(request_id, None)
            raise MailpoolsError("The console cannot be started just now; try again.") from None
        return await started

    def ending(self, pid: int) -> asyncio.Future[int | None]:
        """How console PID ended: its exit code, minus the signal that ended it, or None
        if that could not be learnt."""
        return self._endings[pid]

    def _read(self, channel: socket.socket) -> None:
        try:
            data = channel.recv(REPORT_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost(channel)
            return
        report = json.loads(data)
        if "ready" in report:
            if self.ready is not None and not self.ready.done():
                self.ready.set_result(None)
        elif "ended" in report:
            ending = self._endings.get(report["ended"])
            if ending is not None and not ending.done():
                ending.set_result(report["code"])
        else:
            started = self._starting.pop(report["id"], None)
            if started is None or started.done():
                return
            if "pid" in report:
                self._endings[report["pid"]] = asyncio.get_running_loop().create_future()
                started.set_result(report["pid"])
            else:
                started.set_exception(
                    MailpoolsError(f"The console cannot be started: {report['error']}.")
                )

    def _lost(self, channel: socket.socket) -> None:
        """The parent has gone: refuse what waited on it, and start another unless closing."""
        loop = asyncio.get_running_loop()
        loop.remove_reader(channel)
        channel.close()
        process, self.process, self.channel = self.process, None, None
        # A parent that dies before it is ready would die again: it is not restarted.
        was_ready = self.ready is not None and self.ready.done()
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(MailpoolsError("The session parent did not start."))
        self.ready = None
        for started in self._starting.values():
            if not started.done():
                started.set_exception(
                    MailpoolsError("The console cannot be started just now; try again.")
                )
        self._starting.clear()
        # The consoles it started are now the server's children (the server is their
        # subreaper): their ends are heard from the kernel instead.
        for pid, ending in self._endings.items():
            if not ending.done():
                _adopt(pid, ending)
        if process is not None:
            code = process.wait()
            if not self.closing:
                log.warning("the session parent ended (%s); starting another", code)
        if was_ready and not self.closing:
            loop.create_task(self._restart())

    async def _restart(self) -> None:
        try:
            await self.start()
        except MailpoolsError:
            log.error("the session parent could not be started again")
            return
        log.info("session parent started again (pid %s)", self.pid())

    def forget(self, pid: int) -> None:
        self._endings.pop(pid, None)

    def close(self) -> None:
        """Stop the parent (the consoles it started are ended by their sessions)."""
        self.closing = True
        if self.channel is not None:
            channel, self.channel = self.channel, None
            asyncio.get_running_loop().remove_reader(channel)
            channel.close()
        if self.process is not None:
            self.process.wait()
            self.process = None
