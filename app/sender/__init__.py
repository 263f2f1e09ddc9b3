"""The background sender: claims queued messages, routes them, and sends them through their pool IPs."""

from app.sender.worker import SenderOptions, SenderStats, run_sender

__all__ = ["SenderOptions", "SenderStats", "run_sender"]
