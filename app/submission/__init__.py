"""SMTP submission: customers hand whole messages to mailpools over authenticated SMTP."""

from app.submission.server import SubmissionHandler, serve_submission

__all__ = ["SubmissionHandler", "serve_submission"]
