"""The sender rides out a full disk under its SQLite database: a real, small filesystem
is filled up mid-run and emptied again."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections import Counter

import pytest

from app.demo.sink import LoopbackSink
from data.db import make_engine, upgrade
from data.models import MessageStatus
from tests.clock_moves import let_clock_run
from tests.integration.test_sender_process import SENDER, start_sender, wait_for
from tests.sending_world import enqueue, messages, statuses, world

DISK_BYTES = 32 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path):
    """A 32 MiB filesystem of the test's own (a tmpfs: mounting needs root)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a small filesystem here: {mounted.stderr.strip() or 'not root'}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; in CI the full-disk drill must run.")
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(path) -> None:
    """Write zeros to PATH until the filesystem has no room left."""
    block = b"\0" * 65536
    # Unbuffered: a buffered file would try the last block again when closed, and fail there.
    with open(path, "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(block)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error


async def test_a_full_disk_mid_run_leaves_the_sender_up_and_loses_nothing(small_disk):
    let_clock_run()
    url = f"sqlite:///{small_disk / 'mailpools.db'}"
    upgrade(url)
    engine = make_engine(url)
    world(engine)
    count = 600
    enqueue(engine, by="bruno", from_addr=SENDER, count=count)
    ids = {message.message_id for message in messages(engine)}
    filler = small_disk / "filler"
    with LoopbackSink() as sink:
        worker = start_sender(url, sink, "--until-empty", lease=3)
        try:
            wait_for(lambda: sink.handler.received() >= count // 6)
            fill(filler)
            # Full for longer than a lease: results cannot be recorded meanwhile.
            time.sleep(4)
            assert worker.poll() is None, "the sender exited when the disk filled"
            filler.unlink()
            _, errors = worker.communicate(timeout=600)
        finally:
            if worker.poll() is None:
                worker.kill()
            filler.unlink(missing_ok=True)
        delivered = Counter(d.message_id for d in sink.handler.snapshot())
    assert worker.returncode == 0, errors
    assert "database or disk is full" in errors and "works again" in errors
    assert set(delivered) == ids
    assert statuses(engine) == {MessageStatus.SENT: count}
    engine.dispose()
