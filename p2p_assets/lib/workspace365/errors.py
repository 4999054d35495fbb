"""Workspace 365 errors: they name the vendor, the environment, the Business App and the status,
never the token."""

from collections.abc import Mapping


class Workspace365Error(Exception):
    """Anything that went wrong talking to the Workspace 365 Business App API."""


class Workspace365ConfigError(Workspace365Error, ValueError):
    pass


class Workspace365AuthError(Workspace365Error):
    """401 (header, scheme or token wrong for the environment) or 403 (API not enabled)."""


class Workspace365AppUnavailableError(Workspace365Error):
    """The Business App cannot take records now, whatever the record: 403 with a `globalError`
    ("Business App isn't enabled") or 404 (no such app, or not installed, or not enabled).
    Nothing was created; once an administrator enables the app the same record can be sent."""

    def __init__(self, message: str, vendor_message: str | None) -> None:
        super().__init__(message)
        self.vendor_message = vendor_message


class Workspace365NotFoundError(Workspace365AppUnavailableError):
    """404: no such Business App, or it is not installed or not enabled."""


class Workspace365RejectedError(Workspace365Error):
    """The record was refused (400): nothing was created."""

    def __init__(
        self, message: str, global_error: str | None, field_errors: Mapping[str, str]
    ) -> None:
        super().__init__(message)
        self.global_error = global_error
        self.field_errors = dict(field_errors)


class Workspace365UncertainError(Workspace365Error):
    """The request was sent and no answer came back (cut connection, read timeout, 5xx):
    Workspace 365 may or may not have created the record, and offers no way to look it up."""
