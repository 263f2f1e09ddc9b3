"""Database work for an SMTP server, a batch per transaction.

Each DATA waits for its reply while its work is written; work that arrives while a
transaction is being written waits for the next one, which takes it all. With a few
clients that each wait for their answer, this shares one transaction's cost (the
begin, the commit, the connection) between them without delaying anyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")

MAX_BATCH = 64


class BatchWriter(Generic[Job, Result]):
    """Runs WRITE (in a thread) on the jobs waiting, one call per batch; WRITE returns one
    result per job, in order, or an exception that job's caller gets raised. If WRITE
    itself raises, every job of that batch gets the error."""

    def __init__(self, write: Callable[[list[Job]], Sequence[Result | Exception]]) -> None:
        self.write = write
        self._waiting: list[tuple[Job, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def do(self, job: Job) -> Result:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting.append((job, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_while_waiting())
        return await future

    async def _write_while_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                results: Sequence[Result | Exception]
                try:
                    results = await asyncio.to_thread(self.write, [job for job, _ in batch])
                except Exception as error:
                    results = [error] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._writer = None
