"""The sizes of the batches an SMTP server's batch writer writes."""

from __future__ import annotations

from app.smtp.batches import BatchWriter


def record_batches(writer: BatchWriter) -> list[int]:
    """A list that gets the size of each batch WRITER writes from now on."""
    sizes: list[int] = []
    write = writer.write

    def recorded(jobs):
        sizes.append(len(jobs))
        return write(jobs)

    writer.write = recorded
    return sizes
