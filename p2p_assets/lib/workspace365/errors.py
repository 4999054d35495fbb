"""Workspace 365 errors: they name the vendor, the environment, the Business App and the status,
never the token."""

from collections.abc import Mapping


class Workspace365Error(Exception):
    """Anything that went wrong talking to the Workspace 365 Business App API."""


class Workspace365ConfigError(Workspace365Error, ValueError):
    pass


class Workspace365AuthError(Workspace365Error):
    """401 (header, scheme or token wrong for the environment) or 403 (API not enabled)."""


class Workspace365NotFoundError(Workspace365Error):
    """404: no such Business App, or it is not installed or not enabled."""


class Workspace365RejectedError(Workspace365Error):
    """The record was refused (400, or 403 with a `globalError`): nothing was created."""

    def __init__(
        self, message: str, global_error: str | None, field_errors: Mapping[str, str]
    ) -> None:
        super().__init__(message)
        self.global_error = global_error
        self.field_errors = dict(field_errors)


class Workspace365UncertainError(Workspace365Error):
    """The request was sent and no answer came back (cut connection, read timeout, 5xx):
    Workspace 365 may or may not have created the record, and offers no way to look it up."""
