"""KServe's ModelServer serving every export under a folder: TF Serving REST on /v1, Open Inference on /v2.

KServe provides the HTTP server, the V2 protocol and its error handling; serving.tfserving adds
TensorFlow Serving's /v1 routes in front of KServe's own, and serving.repository keeps the served
versions in step with the folder. gRPC stays off, and the server binds to loopback unless told.
"""

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kserve import ModelServer
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.logging import logger
from kserve.model_server import app
from kserve.protocol.rest.server import RESTServer
from starlette.exceptions import HTTPException

from serving import tfserving
from serving.repository import ExportRepository
from serving.v2 import ExportModel

DEFAULT_MAX_BODY_BYTES = 32 << 20


class BodyLimit:
    """ASGI middleware: a request body over max_bytes gets 413 {"error"} and is never held in memory.

    The body is read through to its end even then (and dropped), so the client always gets the
    answer instead of a connection reset in the middle of its upload.
    """

    def __init__(self, app, max_bytes):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if size <= self.max_bytes:
                chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        if size > self.max_bytes:
            message = f"Request body of {size} bytes is over the server's limit of {self.max_bytes} bytes."
            return await _error(413, message)(scope, receive, send)
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        async def replay():
            nonlocal body
            if body is None:
                return await receive()
            message, body = body, None
            return message

        await self.app(scope, replay, send)


class JsonByDefault:
    """ASGI middleware: a body sent without a JSON content type is read as JSON, as TF Serving does.

    Left alone: requests that use the V2 binary tensor extension, which declares its JSON part's length.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            binary = b"inference-header-content-length" in headers
            if not binary and b"json" not in headers.get(b"content-type", b""):
                headers[b"content-type"] = b"application/json"
                scope = {**scope, "headers": list(headers.items())}
        await self.app(scope, receive, send)


def _error(status, message):
    return JSONResponse(status_code=status, content={"error": message})


async def _unparsable(_, error):
    # FastAPI answers 422 with its own body shape; TF Serving's clients expect 400 {"error"}.
    details = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in error.errors())
    return _error(400, f"Malformed request: {details}")


async def _http_error(_, error):
    return _error(error.status_code, str(error.detail))


def serve(export_dir="exports", runtime="onnx", host="127.0.0.1", port=8501, all_versions=False,
          poll_seconds=1.0, max_body_bytes=DEFAULT_MAX_BODY_BYTES):
    """Serves every model under export_dir until interrupted; new versions are picked up while it runs."""
    server = ModelServer(http_port=port, enable_grpc=False, workers=1)

    def on_change(added, removed):
        # Called from the watcher thread while requests read the registry: swap in a new dict
        # rather than change the one they may be iterating.
        models = {name: model for name, model in server.registered_models.get_models().items()
                  if name not in removed}
        models.update({name: ExportModel(name, repository) for name in added})
        server.registered_models.models = models

    repository = ExportRepository(export_dir, runtime, all_versions=all_versions, on_change=on_change)
    repository.scan()
    if not repository.model_names():
        logger.warning("No loadable model under %s yet; watching it for exports.", export_dir)
    repository.watch(poll_seconds)

    app.include_router(tfserving.router(repository))
    app.add_middleware(JsonByDefault)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_exception_handler(RequestValidationError, _unparsable)
    app.add_exception_handler(HTTPException, _http_error)
    rest = RESTServer(FASTAPI_APP_IMPORT_STRING, server.dataplane, server.model_repository_extension, port)
    rest.config.host = host  # KServe binds 0.0.0.0; a model server should not be public by surprise
    names = ", ".join(repository.model_names()) or "nothing yet"
    logger.info("Serving %s from %s with %s on http://%s:%d", names, export_dir, runtime, host, port)
    rest.run()
