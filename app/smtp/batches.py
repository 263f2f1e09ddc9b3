"""Database work for an SMTP server, a batch per transaction.

Each DATA waits for its reply while its work is written; work that arrives while a
transaction is being written waits for the next one, which takes it all. With a few
clients that each wait for their answer, this shares one transaction's cost (the
begin, the commit, the connection) between them.

A server also says how many jobs are on their way (its connections in the middle
of a mail transaction): while some are, a batch waits for them, up to LINGER
seconds, rather than leaving with the first job and the rest one transaction
later. Four clients that each send a message and wait for the answer are then
written four at a time, where they fell into two groups written one and three at
a time (1.7 a transaction on average), and the transactions' fixed cost shrinks
with their number. Once every connection in a transaction has its job given,
nothing is left to wait for and the batch leaves at once.

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
# The longest a batch waits for jobs still on their way.
LINGER = 0.002
# How long the writing thread waits for another batch before it ends.
IDLE_SECONDS = 5.0

_Batch = list[tuple[Job, asyncio.Future]]


class BatchWriter(Generic[Job, Result]):
    """Runs WRITE (in a thread) on the jobs waiting, one call per batch; WRITE returns one
    result per job, in order, or an exception that job's caller gets raised. If WRITE
    itself raises, every job of that batch gets the error."""

    def __init__(
        self,
        write: Callable[[list[Job]], Sequence[Result | Exception]],
        *,
        coming: Callable[[], int] | None = None,
        linger: float = LINGER,
    ) -> None:
        self.write = write
        self.linger = linger
        # How many jobs are on their way now, counting those already given and not yet
        # answered; None: never wait for more.
        self.coming = coming
        self._waiting: list[tuple[Job, asyncio.Future]] = []
        # The jobs of the batch being written; those arriving meanwhile wait for the next.
        self._in_flight = 0
        self._linger: asyncio.TimerHandle | None = None
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
        self._consider(loop)
        return await future

    def _consider(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand over the waiting jobs now, or after a short wait for those on their way."""
        if self._in_flight or not self._waiting:
            return
        given = len(self._waiting)
        if self.coming is None or given >= MAX_BATCH or given >= self.coming():
            self._hand_over(loop)
        elif self._linger is None:
            self._linger = loop.call_later(self.linger, self._linger_over, loop)

    def _linger_over(self, loop: asyncio.AbstractEventLoop) -> None:
        self._linger = None
        if not self._in_flight and self._waiting:
            self._hand_over(loop)

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
        self._in_flight = len(batch)
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
        self._in_flight = 0
        # After the answered callers have run on (and closed their transactions), so
        # they are not counted among the jobs on their way.
        loop.call_soon(self._consider, loop)
