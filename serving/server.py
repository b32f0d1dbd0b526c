"""KServe's ModelServer serving every export under a folder: TF Serving REST on /v1, Open Inference on /v2.

KServe provides the HTTP server, health and model metadata; serving.tfserving (/v1) and
serving.v2 (inference) answer the routes that carry tensors, and serving.repository keeps the
served versions in step with the folder. What is served follows the export folder alone, so
KServe's repository load/unload routes are off. gRPC stays off, and the server binds to loopback
unless told.
"""

import ctypes
import zlib

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from kserve import ModelServer
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.errors import InvalidInput
from kserve.logging import logger
from kserve.model_server import app
from kserve.protocol.rest.server import RESTServer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from serving import tfserving, v2
from serving.connections import DEFAULT_MAX_HEADER_BYTES, DEFAULT_REQUEST_TIMEOUT, guarded_protocol
from serving.errors import STATUS, CatchAll, Refused, TooLarge, UnsupportedEncoding, answer, handle, status_of
from serving.openapi import document, operation, segments
from serving.repository import ExportRepository
from serving.runtimes import DEFAULT_MAX_ELEMENTS

DEFAULT_MAX_BODY_BYTES = 32 << 20
TRIM_AFTER_BYTES = 1 << 20
try:
    _LIBC = ctypes.CDLL("libc.so.6")
except OSError:  # not glibc: nothing to trim
    _LIBC = None
IDLE_SECONDS = 65  # KServe's keep-alive: longer than the 60 s of most load balancers in front
# KServe's routes that serving.tfserving and serving.v2 answer instead, or that are off.
REPLACED = {"/v1/models/{model_name}", "/v1/models/{model_name}:predict", "/v1/models/{model_name}:explain",
            "/v2",
            *(f"/v2/models/{{model_name}}{version}{route}" for version in ("", "/versions/{model_version}")
              for route in ("", "/ready", "/infer")),
            "/v2/repository/models/{model_name}/load", "/v2/repository/models/{model_name}/unload"}


class BodyLimit:
    """ASGI middleware that reads each request body whole: a body over max_bytes gets 413 {"error"}
    and is never held in memory; a gzip or deflate body is inflated (within max_bytes too) before
    the routes see it; after a large one the C heap is trimmed.

    The body is read through to its end even when too large (and dropped), so the client always
    gets the answer instead of a connection reset in the middle of its upload.
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
        request_line = f"{scope['method']} {scope['path']}"
        if size > self.max_bytes:
            message = f"Request body of {size} bytes is over the server's limit of {self.max_bytes} bytes " \
                      "(--max-body-mb)."
            return await answer(413, message, request_line)(scope, receive, send)
        body = b"".join(chunks)
        encoding = dict(scope["headers"]).get(b"content-encoding", b"identity").strip().lower()
        if encoding != b"identity":
            try:
                body = await run_in_threadpool(_inflated, body, encoding, self.max_bytes)
            except InvalidInput as error:
                return await answer(status_of(error), str(error), request_line)(scope, receive, send)
            kept = [(k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")]
            scope = {**scope, "headers": [*kept, (b"content-length", str(len(body)).encode())]}
        body = {"type": "http.request", "body": body, "more_body": False}

        async def replay():
            nonlocal body
            if body is None:
                return await receive()
            message, body = body, None
            return message

        await self.app(scope, replay, send)
        if size >= TRIM_AFTER_BYTES:
            await run_in_threadpool(_trim_memory)


def _inflated(body, encoding, max_bytes):
    """A gzip or deflate body (Content-Encoding, as tritonclient sends them) as sent, within max_bytes."""
    if encoding not in (b"gzip", b"deflate"):
        raise UnsupportedEncoding(f"Content-Encoding {encoding.decode(errors='replace')!r} is not taken; "
                                  "send gzip, deflate or none.")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # either header: gzip's or zlib's
    try:
        inflated = inflater.decompress(body, max_bytes + 1)
    except zlib.error as error:
        raise InvalidInput(f"The body is not valid {encoding.decode()} data: {error}") from error
    if len(inflated) > max_bytes:
        raise TooLarge(f"The request body inflates to over the server's limit of {max_bytes} bytes "
                       "(--max-body-mb).")
    return inflated


def _limit_malloc_arenas(count=2):
    """glibc gives each thread that allocates at once an arena of its own (up to 8 per core), and
    memory freed into one is seldom given back: after mixed load with large requests the ONNX
    server stayed at 1.7-1.8x its size before, and at 1.25-1.3x with two arenas, its latency the
    same (make bench-serve, mixed-load table). Nothing to do where the C library is not glibc."""
    if _LIBC is not None:
        _LIBC.mallopt(-8, count)  # M_ARENA_MAX


def _trim_memory():
    """Hands the C heap's free pages back to the system (glibc): after a large request they are many."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _repository_routes():
    """The V2 model repository extension: refused (403), as the folder alone decides what is served."""
    routes = APIRouter(prefix="/v2/repository")

    async def refused(request: Request):
        raise Refused(f"Models are not loaded or unloaded by request here: the server serves what the "
                           f"export folder holds. Add or remove <export-dir>/{request.path_params['name']}"
                           "/<version> instead.")

    for path in ("/models/{name}/load", "/models/{name}/unload"):
        routes.add_api_route(segments(path), refused, methods=["POST"],
                             openapi_extra=operation(path, errors=(403, 404), refuses=True))
    return routes


def _drop_routes(router, paths, keep):
    """Removes the routes of these paths from the router and the routers included in it, except
    from the routers in keep (KServe includes its routers without a prefix of their own, so a path
    there is the full path)."""
    for route in router.routes:
        included = getattr(route, "original_router", None)  # FastAPI keeps an included router whole
        if included is not None and included not in keep:
            _drop_routes(included, paths, keep)
    router.routes = [route for route in router.routes if getattr(route, "path", None) not in paths]
    router._mark_routes_changed()


class _RESTServer(RESTServer):
    """KServe's REST server with `routers` answering first, and the KServe routes they replace gone."""

    def __init__(self, routers, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.routers = routers
        for router in routers:
            app.include_router(router)

    def create_application(self):
        super().create_application()
        _drop_routes(app.router, REPLACED, self.routers)
        # KServe logs a traceback for every error, a client's included: these log one line each.
        app.exception_handlers = {kind: handle for kind in (*STATUS, HTTPException, RequestValidationError)}
        document(app)


def check_options(port, poll_seconds, max_body_bytes, max_elements, request_timeout):
    """ZooError naming the first option out of range; the server starts only with sane limits."""
    from zoo.errors import ZooError

    checks = [(0 < port < 65536, f"--port must be 1..65535, got {port}"),
              (poll_seconds > 0, f"--poll-seconds must be above 0, got {poll_seconds:g}"),
              (max_body_bytes > 0, f"--max-body-mb must be above 0, got {max_body_bytes / (1 << 20):g}"),
              (max_elements > 0, f"--max-elements must be above 0, got {max_elements}"),
              (request_timeout > 0, f"--request-timeout must be above 0, got {request_timeout:g}")]
    for ok, message in checks:
        if not ok:
            raise ZooError(message + ".")


def serve(export_dir="exports", runtime="onnx", host="127.0.0.1", port=8501, all_versions=False,
          poll_seconds=1.0, max_body_bytes=DEFAULT_MAX_BODY_BYTES, max_elements=DEFAULT_MAX_ELEMENTS,
          request_timeout=DEFAULT_REQUEST_TIMEOUT, batching=None):
    """Serves every model under export_dir until interrupted; new versions are picked up while it runs.

    batching: a serving.settings.Batching to merge concurrent requests into model calls, None for one
    call per request."""
    check_options(port, poll_seconds, max_body_bytes, max_elements, request_timeout)
    _limit_malloc_arenas()  # before the threads that would each take an arena start
    server = ModelServer(http_port=port, enable_grpc=False, workers=1)

    def on_change(added, removed):
        # Called from the watcher thread while requests read the registry: swap in a new dict
        # rather than change the one they may be iterating.
        models = {name: model for name, model in server.registered_models.get_models().items()
                  if name not in removed}
        models.update({name: v2.ExportModel(name) for name in added})
        server.registered_models.models = models

    repository = ExportRepository(export_dir, runtime, all_versions=all_versions, on_change=on_change,
                                  max_elements=max_elements, batching=batching)
    repository.scan()
    if not repository.model_names():
        logger.warning("No loadable model under %s yet; watching it for exports.", export_dir)
    repository.watch(poll_seconds)

    app.add_middleware(CatchAll)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    routers = [tfserving.router(repository), v2.router(repository),
               _repository_routes()]
    rest = _RESTServer(routers, FASTAPI_APP_IMPORT_STRING, server.dataplane,
                       server.model_repository_extension, port, timeout_keep_alive=IDLE_SECONDS)
    rest.config.host = host  # KServe binds 0.0.0.0; a model server should not be public by surprise
    rest.config.http = guarded_protocol(DEFAULT_MAX_HEADER_BYTES, request_timeout)
    names = ", ".join(repository.model_names()) or "nothing yet"
    logger.info("Serving %s from %s with %s on http://%s:%d", names, export_dir, runtime, host, port)
    rest.run()

