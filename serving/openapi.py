"""What /openapi.json says of the routes this project answers: path parameters, bodies and errors.

The routes read their bodies as bytes (any content type, V2's binary extension) and their
parameters from the path, so FastAPI cannot infer either; each route states them here.
"""

import re

STRING, OBJECT, ARRAY = {"type": "string"}, {"type": "object"}, {"type": "array"}
ERROR = {"type": "object", "properties": {"error": STRING}, "required": ["error"]}
TF_PREDICT = {
    "type": "object",
    "description": "TF Serving's predict request: exactly one of instances (rows) or inputs (columns)",
    "properties": {"signature_name": STRING, "instances": ARRAY, "inputs": {}},
}
V2_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {"name": STRING, "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                   "datatype": STRING, "parameters": OBJECT, "data": ARRAY},
}
V2_INFER = {
    "type": "object",
    "description": "Open Inference Protocol request, in JSON or the binary tensor extension",
    "required": ["inputs"],
    "properties": {"id": STRING, "parameters": OBJECT, "inputs": {"type": "array", "items": V2_TENSOR},
                   "outputs": {"type": "array", "items": {"type": "object", "properties": {
                       "name": STRING, "parameters": OBJECT}}}},
}
REASONS = {400: "Malformed request, or values the model does not take", 404: "No such model or version",
           413: "Over a size limit of the server", 415: "Content-Encoding not taken"}


def operation(path, body=None, errors=(400, 404)):
    """The openapi_extra of a route: its path parameters, its JSON body if any, its error answers."""
    extra = {
        "parameters": [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                       for name in re.findall(r"{(\w+)}", path)],
        "responses": {str(status): {"description": REASONS[status],
                                    "content": {"application/json": {"schema": ERROR}}} for status in errors},
    }
    if body is not None:
        extra["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return extra
