"""Limits on each HTTP connection, enforced before a request reaches the app: header size and time.

uvicorn sets neither: a client may send headers without end, or open connections and send
nothing, or stop halfway through a body, and each such connection is held for good. As nginx
does with large_client_header_buffers and client_header_timeout / client_body_timeout, a request
whose headers exceed max_header_bytes gets 431, and one whose headers take longer than
request_timeout to arrive, or whose body stops for request_timeout, gets 408; both close the
connection. An idle keep-alive connection is closed after uvicorn's timeout_keep_alive.
"""

import json
import select

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_MAX_HEADER_BYTES = 64 << 10
DEFAULT_REQUEST_TIMEOUT = 30.0


class _HeadersTooLarge(Exception):
    pass


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size limit and request timeouts (class attributes)."""

    max_header_bytes = DEFAULT_MAX_HEADER_BYTES
    request_timeout = DEFAULT_REQUEST_TIMEOUT

    def connection_made(self, transport):
        super().connection_made(transport)
        self._header_bytes = 0
        self._timer = None
        self._in_request = False
        self._arm()  # a new connection has request_timeout to send its first request

    def connection_lost(self, exc):
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg):
        # _HeadersTooLarge reaches uvicorn as httptools' parser error, answered here.
        if self._header_bytes > self.max_header_bytes:
            return self._refuse(431, f"The request's headers are over the server's limit of "
                                     f"{self.max_header_bytes} bytes.")
        # uvicorn answers text/plain; every answer of this server is {"error"} JSON (e.g. a request
        # with both Content-Length and Transfer-Encoding, refused as HTTP/1.1 requires).
        self._refuse(400, f"Invalid HTTP request: {msg}")

    def on_message_begin(self):
        super().on_message_begin()
        self._header_bytes = 0
        self._in_request = True
        if self._timer is None:
            self._arm()

    def on_url(self, url):
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name, value):
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self):
        super().on_headers_complete()
        self._arm()  # from here, the body may pause for at most request_timeout at a time

    def on_body(self, body):
        super().on_body(body)
        self._arm()

    def on_message_complete(self):
        super().on_message_complete()
        self._in_request = False
        self._disarm()

    def _count(self, size):
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            raise _HeadersTooLarge

    def _arm(self):
        self._disarm()
        self._timer = self.loop.call_later(self.request_timeout, self._timed_out)

    def _disarm(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self):
        self._timer = None
        if not self._in_request:
            # A loop held up past the deadline (uvloop runs due timers before reading sockets) may
            # not have read a request that came in time: it is read first, then timed anew.
            if self._unread():
                self._arm()
                return
            self.transport.close()  # connected and silent: nothing to answer, as nginx does
            return
        self._refuse(408, f"The request did not arrive within the server's timeout of "
                          f"{self.request_timeout:g} seconds.")

    def _unread(self):
        """Whether bytes (or the client's end) wait on the connection's socket, not yet read."""
        sock = self.transport.get_extra_info("socket")
        try:
            return bool(select.select([sock.fileno()], [], [], 0)[0])
        except (AttributeError, OSError, ValueError):  # no socket to ask: as before, silent
            return False

    def _refuse(self, status, message):
        """Answers status {"error": message} unless an answer has begun, and closes the connection."""
        self._disarm()
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            body = json.dumps({"error": message}).encode()
            reason = {400: "Bad Request", 408: "Request Timeout",
                      431: "Request Header Fields Too Large"}[status]
            self.transport.write(f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
                                 f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
        self.logger.warning("%d from %s: %s", status, ":".join(map(str, self.client or ("?",))), message)
        self.transport.close()


def guarded_protocol(max_header_bytes, request_timeout):
    """The protocol class for uvicorn.Config(http=...), with these limits."""
    return type("GuardedProtocol", (GuardedProtocol,),
                {"max_header_bytes": max_header_bytes, "request_timeout": request_timeout})
