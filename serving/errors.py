"""What a failed request is answered and how it is logged: {"error": message}, one log line each.

A client's mistake (4xx) is logged as one line naming the request; a server fault (5xx) as one
line with an id that its answer carries too, so a user's report can be matched to the log. The
traceback of a fault is logged at debug level only.
"""

import uuid

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady, ServerNotLive, ServerNotReady
from kserve.logging import logger
from starlette.exceptions import HTTPException


class TooLarge(InvalidInput):
    """413: a request over one of the server's size limits, which the message names."""


class UnsupportedEncoding(InvalidInput):
    """415: a body in a Content-Encoding the server does not read."""


class Refused(Exception):
    """403: a well-formed request for something this server never does (loading models by request)."""


class Overloaded(Exception):
    """503 with Retry-After: the model's queue is full (serving.batching), or it is being unloaded."""

    retry_after_seconds = 1


STATUS = {
    Refused: 403,
    Overloaded: 503,
    TooLarge: 413,
    UnsupportedEncoding: 415,
    InvalidInput: 400,
    RequestValidationError: 400,
    ModelNotFound: 404,
    ModelNotReady: 503,
    ServerNotReady: 503,
    ServerNotLive: 503,
    NotImplementedError: 501,
}


def status_of(error):
    if isinstance(error, HTTPException):
        return error.status_code
    return next((status for kind, status in STATUS.items() if isinstance(error, kind)), 500)


def message_of(error):
    if isinstance(error, RequestValidationError):
        # FastAPI's own answer is 422 with another shape; TF Serving's clients expect 400 {"error"}.
        details = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in error.errors())
        return f"Malformed request: {details}"
    if isinstance(error, HTTPException):
        return str(error.detail)
    return str(error)


def headers_of(error):
    """The headers an error's answer must carry: Allow on a 405 (HTTP requires it), Retry-After when
    the server sheds load."""
    if isinstance(error, Overloaded):
        return {"Retry-After": str(error.retry_after_seconds)}
    if isinstance(error, HTTPException):
        return dict(error.headers or {})
    return None


def answer(status, message, request_line, headers=None):
    if status >= 500 and status != 503:
        incident = uuid.uuid4().hex[:12]
        logger.error("%d %s: error %s: %s", status, request_line, incident, _one_line(message))
        message = f"Internal server error {incident}: {message}"
    else:
        logger.warning("%d %s: %s", status, request_line, _one_line(message))
    return JSONResponse(status_code=status, content={"error": message}, headers=headers)


async def handle(request, error):
    """FastAPI exception handler for every error a route may raise."""
    status, message = status_of(error), message_of(error)
    if status >= 500 and not isinstance(error, NotImplementedError | Overloaded):
        logger.debug("Traceback of the error below", exc_info=error)
        message = f"{type(error).__name__}: {message}"
    return answer(status, message, f"{request.method} {request.url.path}", headers_of(error))


class CatchAll:
    """ASGI middleware: an error no handler took becomes a 500 answer, not a dropped connection.

    Starlette's last-resort handler answers 500 and then re-raises, and the server then closes the
    connection and logs the whole traceback; this one answers and the connection stays open.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as error:
            if started:
                raise
            logger.debug("Traceback of the error below", exc_info=error)
            response = answer(500, f"{type(error).__name__}: {error}", f"{scope['method']} {scope['path']}")
            await response(scope, receive, send)


def _one_line(text, limit=500):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."

