"""The warm session parent: the process each SSH session's console is forked from.

Forked by the SSH server at its start (see app/ssh/warm_parent.py), or started
again as `python -m app.ssh.parent_process FD` if it dies, it imports
everything a console needs (Textual, the models, the screens and widgets, the
database driver) once, opens no database connection, and then waits on FD, one
end of a Unix socket pair. Each request names the logged-in user and carries
the session's pseudo-terminal; the parent forks a child that makes that
terminal its controlling terminal, opens its own database connection and runs
the console as that user. A fork costs milliseconds where a new Python process
would import for a second or more, and the children share the imported code's
memory with the parent until they change it.

The parent stays single-threaded, so forking is safe. It tells the server each
child's process id and, when a child ends, how it ended.
"""

from __future__ import annotations

import argparse
import fcntl
import gc
import importlib
import json
import os
import pkgutil
import select
import signal
import socket
import sys
import termios
import traceback

# The largest request the server sends: a user's name, a terminal type and an id.
REQUEST_BYTES = 4096


def preload() -> argparse.ArgumentParser:
    """Import what a console needs, so that each forked child starts with it done; and
    the command line's parser, which each child would otherwise build again."""
    from rich.cells import cell_len
    from sqlalchemy.orm import configure_mappers

    import screens
    import widgets
    from app.cli import build_parser
    from app.cli.common import database_url
    from data.db import make_engine

    parser = build_parser()
    for package in (screens, widgets):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    for name in (
        "app.console.app",
        "app.console.owner_backend",
        "app.console.agent_backend",
        # What Textual and Rich import only once a screen is drawn.
        "textual.drivers.linux_driver",
        "textual.layouts.factory",
        "textual.layouts.horizontal",
        "textual.layouts.stream",
        "textual.scrollbar",
        "rich._emoji_codes",
    ):
        importlib.import_module(name)
    # Rich's table of character widths, read on the first measurement of text.
    cell_len("mailpools ✓")
    # Building an engine loads the database's driver and dialect; it connects only when
    # first used, and this one never is.
    make_engine(database_url()).dispose()
    # The models' mappers are otherwise set up at each child's first query.
    configure_mappers()
    # What is imported now stays as it is: the collector need not touch (and so copy)
    # the pages the children share with this process.
    gc.collect()
    gc.freeze()
    return parser


def send(channel: socket.socket, message: dict) -> None:
    channel.send(json.dumps(message).encode())


def reap(channel: socket.socket) -> None:
    """Tell the server of every child that has ended: its exit code, or minus the signal."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        send(channel, {"ended": pid, "code": os.waitstatus_to_exitcode(status)})


def reopen_standard_streams() -> None:
    """Python's standard streams for descriptors 0 to 2, now the session's terminal:
    Textual reads and writes through them (the double-underscore names)."""
    streams = {
        "stdin": open(0, encoding="utf-8", closefd=False),
        "stdout": open(1, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1),
        "stderr": open(2, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1),
    }
    for name, stream in streams.items():
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def run_child(
    request: dict, terminal: int, inherited: list[int], parser: argparse.ArgumentParser
) -> None:
    """In the forked child: become the session's console, then exit with its code."""
    code = 1
    try:
        for fd in inherited:
            os.close(fd)
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        # A session of its own, whose controlling terminal is the session's pseudo-terminal:
        # the kernel then tells the console of each window change (SIGWINCH).
        os.setsid()
        fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)
        for target in (0, 1, 2):
            os.dup2(terminal, target)
        os.close(terminal)
        reopen_standard_streams()
        os.environ["TERM"] = request["term"]

        from app.cli import main
        from app.cli.common import forget_inherited_engine

        forget_inherited_engine()
        code = main(["console", "--as", request["user"]], parser=parser)
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:
                pass
        os._exit(code)


def serve(channel: socket.socket, parser: argparse.ArgumentParser) -> None:
    """Fork a console for each request until the server closes its end."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    # A handler, not SIG_DFL, so that the wakeup descriptor hears of each ended child.
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    send(channel, {"ready": os.getpid()})
    while True:
        ready, _, _ = select.select([channel.fileno(), wake_read], [], [])
        if wake_read in ready:
            while True:
                try:
                    if not os.read(wake_read, 512):
                        break
                except BlockingIOError:
                    break
            reap(channel)
        if channel.fileno() not in ready:
            continue
        data, fds, _, _ = socket.recv_fds(channel, REQUEST_BYTES, 1)
        if not data:
            return
        request = json.loads(data)
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            send(channel, {"id": request["id"], "error": "no terminal came with the request"})
            continue
        pid = os.fork()
        if pid == 0:
            run_child(request, fds[0], [channel.fileno(), wake_read, wake_write], parser)
        os.close(fds[0])
        send(channel, {"id": request["id"], "pid": pid})


def main(fd: int) -> None:
    channel = socket.socket(fileno=fd)
    # The server ends the sessions it is closing itself; a Ctrl-C meant for it is not ours.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from app import settings
    from app.settings import Settings

    with settings.in_force(Settings.load()):
        serve(channel, preload())


if __name__ == "__main__":
    main(int(sys.argv[1]))
