"""Database work for an SMTP server, a batch per transaction.

Each DATA waits for its reply while its work is written; work that arrives while a
transaction is being written waits for the next one, which takes it all. With a few
clients that each wait for their answer, this shares one transaction's cost (the
begin, the commit, the connection) between them without delaying anyone.

The batches are written by one thread of the writer's own, not the event loop's
pool: a batch is handed over with a put on a queue and its results come back in one
call on the loop, where the pool's hand-off (a work item, two chained futures and
their callbacks) cost the loop about as much as a short transaction. The thread
ends after a while with nothing to write, and the next batch starts another.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")

MAX_BATCH = 64
# How long the writing thread waits for another batch before it ends.
IDLE_SECONDS = 5.0

_Batch = list[tuple[Job, asyncio.Future]]


class BatchWriter(Generic[Job, Result]):
    """Runs WRITE (in a thread) on the jobs waiting, one call per batch; WRITE returns one
    result per job, in order, or an exception that job's caller gets raised. If WRITE
    itself raises, every job of that batch gets the error."""

    def __init__(self, write: Callable[[list[Job]], Sequence[Result | Exception]]) -> None:
        self.write = write
        self._waiting: list[tuple[Job, asyncio.Future]] = []
        # A batch is being written: the jobs arriving meanwhile wait for the next.
        self._writing = False
        self._batches: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, list]] = (
            queue.SimpleQueue()
        )
        # Guards starting and ending the thread, so no batch is put where nobody reads it.
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    async def do(self, job: Job) -> Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._waiting.append((job, future))
        if not self._writing:
            self._hand_over(loop)
        return await future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
        self._writing = True
        with self._lock:
            self._batches.put((loop, batch))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._write_batches, name="batch-writer", daemon=True
                )
                self._thread.start()

    def _write_batches(self) -> None:
        """The writing thread: each batch in turn, its results handed back to its loop."""
        while True:
            try:
                loop, batch = self._batches.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._batches.empty():
                        self._thread = None
                        return
                continue
            results: Sequence[Result | Exception]
            try:
                results = self.write([job for job, _ in batch])
            except Exception as error:
                results = [error] * len(batch)
            try:
                loop.call_soon_threadsafe(self._finish, loop, batch, results)
            except RuntimeError:
                # The loop was closed meanwhile: nobody is left waiting for these.
                pass

    def _finish(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: _Batch,
        results: Sequence[Result | Exception],
    ) -> None:
        """On the loop: answer the batch's callers, then hand over what waited meanwhile."""
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._writing = False
        if self._waiting:
            self._hand_over(loop)
