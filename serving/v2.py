"""The KServe V2 / Open Inference Protocol side: model metadata through KServe, inference here.

KServe's own endpoints (/v2/health/*, /v2/models/{name}, .../ready) read an ExportModel per
model. Inference has its own routes: the request is read, checked, run and written in a worker
thread, with every field checked against the protocol before it is used, so that a malformed
request is a 400 naming the field and a large one never holds up the event loop.
"""

import math
import re
import struct
from importlib.metadata import version as package_version

import numpy as np
from fastapi import APIRouter, Request
from kserve import Model
from kserve.errors import InvalidInput
from starlette.concurrency import run_in_threadpool

from serving.batching import lane
from serving.encoding import CHUNK_BYTES, as_array, json_chunks, json_response, loads_object, streamed
from serving.openapi import (
    ARRAY,
    OBJECT,
    STRING,
    V2_ANSWER,
    V2_METADATA,
    V2_READY,
    V2_SERVER,
    operation,
    segments,
)
from serving.repository import version_number

V2_DATATYPES = {"float32": "FP32", "int32": "INT32", "string": "BYTES"}
# What a client may send for each input dtype; values are checked and cast by the runtime.
ACCEPTED = {
    "float32": {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64"},
    "int32": {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"},
}
# A text model's input takes BYTES (strings, tokenised by the server) or token ids.
ACCEPTED["string"] = {"BYTES", *ACCEPTED["int32"]}
NUMPY_TYPES = {"BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
               "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
               "FP16": "float16", "FP32": "float32", "FP64": "float64", "BYTES": "object"}
HEADER_LENGTH = "inference-header-content-length"
# The inference request, as /openapi.json describes it.
V2_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {"name": STRING, "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                   "datatype": {"enum": list(NUMPY_TYPES)}, "parameters": OBJECT, "data": ARRAY},
}
V2_INFER = {
    "type": "object",
    "description": "Open Inference Protocol request, in JSON or the binary tensor extension",
    "required": ["inputs"],
    "properties": {"id": STRING, "parameters": OBJECT,
                   "inputs": {"type": "array", "minItems": 1, "items": V2_TENSOR},
                   "outputs": {"type": "array", "items": {
                       "type": "object", "required": ["name"],
                       "properties": {"name": STRING, "parameters": OBJECT}}}},
}


PLATFORMS = {"onnx": "onnxruntime_onnx", "savedmodel": "tensorflow_savedmodel"}


def _tensor_type(spec):
    return {"name": spec["name"], "datatype": V2_DATATYPES[spec["dtype"]],
            "shape": [-1 if size is None else size for size in spec["shape"]]}


class ExportModel(Model):
    """A served model as KServe's registry knows it, for /v2/health/ready and the list of models."""

    def __init__(self, name):
        super().__init__(name)
        self.ready = True


def router(repository):
    """Server and model metadata, readiness and inference, versioned or not; include it before KServe's."""
    routes = APIRouter(prefix="/v2")

    def served(request):
        path = request.path_params
        return repository.get(path["name"], version_number(path["version"]) if "version" in path else None)

    async def server_metadata():
        return {"name": "rnn-zoo", "version": package_version("rnn-zoo"),
                "extensions": ["binary_tensor_data"]}

    async def model_metadata(request: Request):
        model, name = served(request), request.path_params["name"]
        return {"name": name, "versions": [str(v) for v in repository.version_states(name)],
                "platform": PLATFORMS[model.runtime], "inputs": [_tensor_type(s) for s in model.inputs],
                "outputs": [_tensor_type(s) for s in model.outputs]}

    async def model_ready(request: Request):
        served(request)  # 404 unless served
        return {"name": request.path_params["name"], "ready": True}

    async def infer(request: Request):
        model = served(request)
        body = await request.body()
        return await run_in_threadpool(_infer, model, body, request.headers.get(HEADER_LENGTH))

    routes.add_api_route("", server_metadata, methods=["GET"], openapi_extra=operation("", errors=(),
                                                                                        answer=V2_SERVER))
    for path in ("/models/{name}", "/models/{name}/versions/{version}"):
        routes.add_api_route(segments(path), model_metadata, methods=["GET"],
                             openapi_extra=operation(path, answer=V2_METADATA))
        routes.add_api_route(segments(path + "/ready"), model_ready, methods=["GET"],
                             openapi_extra=operation(path, answer=V2_READY))
        routes.add_api_route(segments(path + "/infer"), infer, methods=["POST"],
                             openapi_extra=operation(path + "/infer", V2_INFER, (400, 404, 413, 415, 503),
                                                     V2_ANSWER))
    return routes


def _infer(served, body, header_length):
    with lane(len(body)):
        return _answer(served, body, header_length)


def _answer(served, body, header_length):
    request, binary = _split(body, header_length)
    specs = {spec["name"]: spec for spec in served.inputs}
    arrays = {}
    for tensor in _inputs(request, binary, served.check_size):
        name, datatype = tensor["name"], tensor["datatype"]
        spec = specs.get(name)
        if spec is None:
            raise InvalidInput(f"Model {served.name} has no input {name!r}; it has {sorted(specs)}.")
        if datatype not in ACCEPTED[spec["dtype"]]:
            raise InvalidInput(f"Input {name!r} takes {V2_DATATYPES[spec['dtype']]}, "
                               f"got datatype {datatype}.")
        arrays[name] = served.input_array(spec, tensor["array"])
    outputs = served.predict(arrays)
    answer = {"model_name": served.name, "model_version": str(served.version), "outputs": []}
    if "id" in request:
        answer["id"] = request["id"]
    specs = {spec["name"]: spec for spec in served.outputs}
    blobs = []
    for name, binary in _requested(request, served):
        array = outputs[name]
        tensor = {"name": name, "datatype": V2_DATATYPES[specs[name]["dtype"]], "shape": list(array.shape)}
        if binary:
            blobs.append(_binary(array))
            tensor["parameters"] = {"binary_data_size": len(blobs[-1])}
        else:
            tensor["data"] = array.ravel()
        answer["outputs"].append(tensor)
    if not blobs:
        return json_response(answer)
    header = b"".join(json_chunks(answer))
    pieces = [blob[i:i + CHUNK_BYTES] for blob in blobs for i in range(0, len(blob), CHUNK_BYTES)]
    return streamed([header, *pieces], "application/octet-stream", {HEADER_LENGTH: str(len(header))})


def _binary(array):
    """The binary tensor extension's bytes: the raw values, or each string's uint32 length and UTF-8."""
    if array.dtype.kind != "O":
        return memoryview(np.ascontiguousarray(array)).cast("B")
    parts = [text.encode() for text in array.ravel()]
    return b"".join(struct.pack("<I", len(part)) + part for part in parts)


def _split(body, header_length):
    """The JSON request and the binary data after it (the protocol's binary tensor extension)."""
    if header_length is None:
        return _object(body), b""
    if not re.fullmatch(r"[0-9]{1,12}", header_length) or not 0 < int(header_length) <= len(body):
        raise InvalidInput(f"Inference-Header-Content-Length must be the byte length of the JSON part, "
                           f"1..{len(body)} for this body, got {header_length[:40]!r}.")
    return _object(body[:int(header_length)]), body[int(header_length):]


def _object(text):
    request = loads_object(text)
    if "id" in request and not isinstance(request["id"], str):
        raise InvalidInput("'id' must be a string.")
    return request


def _inputs(request, binary, check_size):
    """Each input as {name, datatype, shape, array}, every field checked; the binary parts used whole.

    check_size(name, values) raises if the shape asks for more values than the server takes.
    """
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, dict) for i in inputs):
        raise InvalidInput("'inputs' must be a non-empty list of tensors, each an object with name, "
                           "shape, datatype and data.")
    offset = 0
    for tensor in inputs:
        name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
        if not isinstance(name, str):
            raise InvalidInput("Every input needs a 'name' string.")
        if not isinstance(shape, list) or not all(type(size) is int and size >= 0 for size in shape):
            raise InvalidInput(f"Input {name!r}: 'shape' must be a list of sizes >= 0, "
                               f"got {str(shape)[:80]}.")
        if not isinstance(datatype, str) or datatype not in NUMPY_TYPES:
            raise InvalidInput(f"Input {name!r}: datatype {str(datatype)[:40]!r} is not one of "
                               f"{', '.join(NUMPY_TYPES)}.")
        check_size(name, math.prod(shape))
        parameters = tensor.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise InvalidInput(f"Input {name!r}: 'parameters' must be an object.")
        size = parameters.get("binary_data_size")
        if "data" in tensor:
            array = _json_data(name, datatype, tensor["data"])
        elif type(size) is int and 0 <= size <= len(binary) - offset:
            array = _binary_data(name, datatype, binary[offset:offset + size])
            offset += size
        else:
            raise InvalidInput(f"Input {name!r} has no 'data' and no 'binary_data_size' within the "
                               f"{len(binary) - offset} bytes of binary data left.")
        if array.size != math.prod(shape):
            raise InvalidInput(f"Input {name!r}: {array.size} values do not fill shape {shape}.")
        yield {"name": name, "datatype": datatype, "shape": shape, "array": array.reshape(shape)}
    if offset != len(binary):
        raise InvalidInput(f"{len(binary) - offset} bytes of binary data after the inputs' binary_data_size.")


def _json_data(name, datatype, data):
    if datatype == "BYTES":
        array = np.asarray(data, dtype=object).ravel()
        if not all(isinstance(value, str) for value in array):
            raise InvalidInput(f"Input {name!r}: BYTES data must be strings.")
        return array
    array = as_array(name, data).ravel()
    kind = np.dtype(NUMPY_TYPES[datatype]).kind
    if array.size and array.dtype.kind not in {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}[kind]:
        got = {"f": "fractions", "b": "true or false", "U": "strings"}.get(array.dtype.kind, "other values")
        raise InvalidInput(f"Input {name!r}: datatype {datatype} does not hold {got}.")
    if kind in "iu" and array.size:
        limits = np.iinfo(NUMPY_TYPES[datatype])
        if array.min() < limits.min or array.max() > limits.max:
            raise InvalidInput(f"Input {name!r}: values outside {datatype}'s range.")
    return array.astype(NUMPY_TYPES[datatype])


def _binary_data(name, datatype, raw):
    if datatype != "BYTES":
        itemsize = np.dtype(NUMPY_TYPES[datatype]).itemsize
        if len(raw) % itemsize:
            raise InvalidInput(f"Input {name!r}: {len(raw)} bytes are not whole {datatype} values.")
        return np.frombuffer(raw, dtype=NUMPY_TYPES[datatype])
    strings, offset = [], 0
    while offset < len(raw):  # each string: its byte length as a little-endian uint32, then the bytes
        if offset + 4 > len(raw) or offset + 4 + struct.unpack_from("<I", raw, offset)[0] > len(raw):
            raise InvalidInput(f"Input {name!r}: BYTES data is cut short at byte {offset}.")
        (length,) = struct.unpack_from("<I", raw, offset)
        try:
            strings.append(raw[offset + 4:offset + 4 + length].decode("utf-8"))
        except UnicodeDecodeError as error:
            raise InvalidInput(f"Input {name!r}: BYTES data is not UTF-8 text: {error}") from error
        offset += 4 + length
    return np.asarray(strings, dtype=object)


def _requested(request, served):
    """(name, binary) of each output asked for: all when the request names none, binary as asked."""
    outputs = request.get("outputs")
    names = [spec["name"] for spec in served.outputs]
    parameters = request.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInput("'parameters' must be an object.")
    binary = parameters.get("binary_data_output") is True
    if outputs is None:
        return [(name, binary) for name in names]
    if not isinstance(outputs, list) or not all(_is_output_request(o) for o in outputs):
        raise InvalidInput("'outputs' must be a list of objects, each with a 'name'.")
    unknown = sorted({o["name"] for o in outputs} - set(names))
    if unknown:
        raise InvalidInput(f"Model {served.name} has no output {unknown[0]!r}; it has {names}.")
    return [(o["name"], (o.get("parameters") or {}).get("binary_data", binary) is True) for o in outputs]


def _is_output_request(output):
    return (isinstance(output, dict) and isinstance(output.get("name"), str)
            and isinstance(output.get("parameters") or {}, dict))
