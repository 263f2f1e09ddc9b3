"""The one error type services raise: its message is fit to show a person."""


class MailpoolsError(Exception):
    """A refused or impossible action, explained in one sentence."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The form field the message belongs next to, when there is one.
        self.field = field

    def __str__(self) -> str:
        return self.message


class NotFound(MailpoolsError):
    pass


class PermissionDenied(MailpoolsError):
    pass


class AlreadyDecided(MailpoolsError):
    pass
