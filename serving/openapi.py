"""What /openapi.json says of every route: path parameters, bodies, answers (200s included) and media.

The routes read their bodies as bytes (any content type, V2's binary extension) and their
parameters from the path, so FastAPI cannot infer either; each of this project's routes states them
here (`operation`), and `document` corrects what FastAPI infers for KServe's own routes (health,
the model list, Prometheus metrics). The document is checked with Schemathesis (`--checks all`)
against both runtimes in the tests.
"""

import re

from starlette.convertors import StringConvertor, register_url_convertor

from export.layout import VERSION_PATTERN
from serving.repository import LABEL_PATTERN

STRING, OBJECT, ARRAY = {"type": "string"}, {"type": "object"}, {"type": "array"}
BOOLEAN = {"type": "boolean"}
ERROR = {"type": "object", "properties": {"error": STRING}, "required": ["error"]}
PARAMETERS = {"name": {"type": "string", "pattern": "^[^/:]+$"},
              "version": {"type": "string", "pattern": VERSION_PATTERN},
              "label": {"type": "string", "pattern": LABEL_PATTERN}}
TF_PREDICT = {
    "type": "object",
    "description": "TF Serving's predict request: exactly one of instances (rows) or inputs (columns)",
    "properties": {"signature_name": STRING, "instances": {"type": "array", "minItems": 1}, "inputs": {}},
    "oneOf": [{"required": ["instances"], "not": {"required": ["inputs"]}},
              {"required": ["inputs"], "not": {"required": ["instances"]}}],
}
# The answers (200) of the routes, as the server writes them.
TF_STATUS = {"type": "object", "required": ["model_version_status"], "properties": {
    "model_version_status": {"type": "array", "items": {"type": "object", "properties": {
        "version": STRING, "state": {"enum": ["AVAILABLE", "END"]},
        "status": {"type": "object", "properties": {"error_code": STRING, "error_message": STRING}}}}}}}
TF_METADATA = {"type": "object", "required": ["model_spec", "metadata"],
               "properties": {"model_spec": OBJECT, "metadata": OBJECT}}
TF_ANSWER = {"type": "object",
             "description": "predictions (rows) for instances, outputs (columns) for inputs",
             "properties": {"predictions": ARRAY, "outputs": {}},
             "oneOf": [{"required": ["predictions"]}, {"required": ["outputs"]}]}
V2_SERVER = {"type": "object", "required": ["name", "version", "extensions"],
             "properties": {"name": STRING, "version": STRING, "extensions": ARRAY}}
V2_METADATA = {"type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"],
               "properties": {"name": STRING, "versions": ARRAY, "platform": STRING, "inputs": ARRAY,
                              "outputs": ARRAY}}
V2_READY = {"type": "object", "required": ["name", "ready"],
            "properties": {"name": STRING, "ready": BOOLEAN}}
V2_ANSWER = {"type": "object", "required": ["model_name", "model_version", "outputs"],
             "properties": {"model_name": STRING, "model_version": STRING, "id": STRING, "outputs": ARRAY}}
REASONS = {400: "Malformed request, or values the model does not take", 404: "No such model or version",
           403: "Never done by request here: the export folder decides what is served",
           413: "Over a size limit of the server", 415: "Content-Encoding not taken",
           503: "The model's queue is full: send again after Retry-After seconds"}
# KServe's own routes: what they answer.
KSERVE_ANSWERS = {
    "/": {"type": "object", "properties": {"status": STRING}},
    "/v1/models": {"type": "object", "required": ["models"], "properties": {"models": ARRAY}},
    "/v2/models": {"type": "object", "required": ["models"], "properties": {"models": ARRAY}},
    "/v2/health/live": {"type": "object", "required": ["live"], "properties": {"live": BOOLEAN}},
    "/v2/health/ready": {"type": "object", "required": ["ready"], "properties": {"ready": BOOLEAN}},
}


class _Segment(StringConvertor):
    """A path parameter without ':' (Starlette's default takes it): `/v1/models/m:predict` is the
    predict route of m, never the status route of a model named `m:predict`, so that a method a route
    does not take is answered 405 with the Allow of the route the path names."""

    regex = "[^/:]+"


register_url_convertor("segment", _Segment())


def segments(path):
    """The route's path with each {parameter} matched as a segment without ':'."""
    return re.sub(r"{(\w+)}", r"{\1:segment}", path)


def _json(schema):
    return {"application/json": {"schema": schema}}


def operation(path, body=None, errors=(400, 404), answer=None, refuses=False):
    """The openapi_extra of a route: its path parameters, its JSON body if any, its answers.

    answer: the 200 answer's JSON schema. refuses: the route answers only errors (no 200).
    """
    responses = {str(status): {"description": REASONS[status], "content": _json(ERROR),
                               **({"headers": {"Retry-After": {"schema": {"type": "integer"}}}}
                                  if status == 503 else {})}
                 for status in errors}
    if answer is not None:
        content = _json(answer)
        if path.endswith("/infer"):  # the binary tensor extension's answer
            content["application/octet-stream"] = {"schema": {"type": "string", "format": "binary"}}
        responses["200"] = {"description": "OK", "content": content}
    extra = {
        "parameters": [{"name": name, "in": "path", "required": True, "schema": PARAMETERS[name]}
                       for name in re.findall(r"{(\w+)}", path)],
        "responses": responses,
    }
    if refuses:
        extra["x-refuses"] = True  # `document` removes FastAPI's default 200
    if body is not None:
        extra["requestBody"] = {"required": True, "content": _json(body)}
    return extra


def document(app):
    """Makes app.openapi() give the corrected document: no 200 where a route only refuses, and
    KServe's routes with their real answers (Prometheus text for /metrics)."""
    generate = app.openapi

    def openapi():
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for path, methods in schema["paths"].items():
            for method in methods.values():
                responses = method.setdefault("responses", {})
                if method.pop("x-refuses", False):
                    responses.pop("200", None)
                elif path == "/metrics":
                    responses["200"] = {"description": "Prometheus metrics",
                                        "content": {"text/plain": {"schema": STRING}}}
                elif path in KSERVE_ANSWERS:
                    responses["200"] = {"description": "OK", "content": _json(KSERVE_ANSWERS[path])}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
