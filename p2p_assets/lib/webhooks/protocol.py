"""Uvicorn's h11 protocol with a deadline for the request headers.

Uvicorn times out only a connection idle between two requests (`timeout_keep_alive`). A client that
connects and sends nothing, or sends half a request line and stops (slowloris), would keep its
connection, and its file descriptor, for ever. Being async, such connections cost no worker, but
enough of them exhaust the descriptors. This protocol closes a connection that has not sent its
request headers within `header_timeout` seconds of connecting (or of its previous answer). Once the
headers are in, the application owns the request and bounds the body read itself.

h11 rather than httptools: h11 bounds the size of the request line and headers
(`h11_max_incomplete_event_size`), so a client cannot fill memory with an endless header either.
"""

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


class DeadlineH11Protocol(H11Protocol):
    header_timeout: float = 10.0
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        if not self.transport.is_closing():
            self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered: the application's own deadline applies
        self.transport.close()  # silently, as a keep-alive timeout does: no request to answer


def with_header_timeout(seconds: float) -> type[DeadlineH11Protocol]:
    """The protocol class for uvicorn's `Config(http=...)`, closing connections whose headers take
    longer than `seconds`."""
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), {"header_timeout": seconds})
