"""TensorFlow Serving's REST API (model status, metadata, predict) over the served exports.

Shapes of requests and answers follow TF Serving's REST documentation: `instances` (row format)
answers `predictions`, `inputs` (columnar) answers `outputs`, errors are {"error": message}.
"""


from fastapi import APIRouter, Request
from kserve.errors import InvalidInput
from starlette.concurrency import run_in_threadpool

from serving.batching import lane
from serving.encoding import json_response, loads_object
from serving.openapi import TF_ANSWER, TF_METADATA, TF_PREDICT, TF_STATUS, operation, segments
from serving.repository import ServableNotFound, version_number
from serving.runtimes import SIGNATURE_NAME

TF_DTYPES = {"float32": "DT_FLOAT", "int32": "DT_INT32", "string": "DT_STRING"}


def _status(states, changed):
    """TF Serving's status: AVAILABLE, or END with why it is not served; a served version whose files
    changed on disk is AVAILABLE with DATA_LOSS and what changed (it serves what it loaded)."""
    def entry(version, error):
        if error is not None:
            return "END", "UNKNOWN", error
        if version in changed:
            return "AVAILABLE", "DATA_LOSS", changed[version]
        return "AVAILABLE", "OK", ""

    return {"model_version_status": [
        {"version": str(version), "state": state, "status": {"error_code": code, "error_message": message}}
        for version, (state, code, message) in ((v, entry(v, e)) for v, e in states.items())
    ]}


def _tensor_info(spec):
    dims = [{"size": str(-1 if size is None else size), "name": ""} for size in spec["shape"]]
    return {"dtype": TF_DTYPES[spec["dtype"]], "tensor_shape": {"dim": dims, "unknown_rank": False},
            "name": f"{SIGNATURE_NAME}_{spec['name']}:0"}


def _metadata(served):
    signature = {
        "inputs": {spec["name"]: _tensor_info(spec) for spec in served.inputs},
        "outputs": {spec["name"]: _tensor_info(spec) for spec in served.outputs},
        "method_name": "tensorflow/serving/predict",
        "defaults": {},
    }
    return {
        "model_spec": {"name": served.name, "signature_name": "", "version": str(served.version)},
        "metadata": {"signature_def": {"signature_def": {SIGNATURE_NAME: signature}}},
    }


def _named_arrays(served, columns):
    names = [spec["name"] for spec in served.inputs]
    if set(columns) != set(names):
        raise InvalidInput(f"Inputs are named {names}, got {sorted(columns)}.")
    return {spec["name"]: served.input_array(spec, columns[spec["name"]]) for spec in served.inputs}


def _rows(served, instances):
    """`instances`: one entry per example, an object of named inputs or, for one input, its value."""
    if not isinstance(instances, list) or not instances:
        raise InvalidInput("'instances' must be a non-empty list with one entry per example.")
    names = [spec["name"] for spec in served.inputs]
    if all(isinstance(instance, dict) for instance in instances):
        for instance in instances:
            if set(instance) != set(names):
                raise InvalidInput(f"Every instance must name the inputs {names}, got {sorted(instance)}.")
        return _named_arrays(served, {name: [instance[name] for instance in instances] for name in names})
    if len(names) == 1 and not any(isinstance(instance, dict) for instance in instances):
        return _named_arrays(served, {names[0]: instances})
    raise InvalidInput(f"Instances must all be objects naming the inputs {names}"
                       + (", or all plain values." if len(names) == 1 else "."))


def columns(served, inputs):
    """`inputs`: an object of named inputs, or, for a model with one input, its value."""
    names = [spec["name"] for spec in served.inputs]
    if isinstance(inputs, dict):
        return _named_arrays(served, inputs)
    if len(names) == 1:
        return _named_arrays(served, {names[0]: inputs})
    raise InvalidInput(f"'inputs' must be an object naming the inputs {names}.")


def predict_body(served, body):
    """The answer's key ("predictions" for rows, "outputs" for columns) and the inputs as arrays."""
    signature = body.get("signature_name", SIGNATURE_NAME)
    if signature != SIGNATURE_NAME:
        raise InvalidInput(f"Serving signature name: {signature!r} not found in signature def; "
                           f"this model has {SIGNATURE_NAME!r}.")
    if ("instances" in body) == ("inputs" in body):
        raise InvalidInput("Send exactly one of 'instances' (row format) or 'inputs' (columnar format).")
    if "instances" in body:
        return "predictions", _rows(served, body["instances"])
    return "outputs", columns(served, body["inputs"])


def _answer(key, outputs):
    names = sorted(outputs)
    if len(names) == 1:
        return {key: outputs[names[0]]}
    if key == "outputs":
        return {key: {name: outputs[name] for name in names}}
    return {key: [{name: outputs[name][i] for name in names} for i in range(len(outputs[names[0]]))]}


def _predict(served, body):
    """The whole of a predict request, run in a worker thread: JSON in, inference, JSON out."""
    with lane(len(body)):
        key, arrays = predict_body(served, loads_object(body))
        return json_response(_answer(key, served.predict(arrays)))


def router(repository):
    """The /v1 routes; include them before KServe's own /v1 routes so these answer.

    Each takes the model's highest version, a version (/versions/{version}) or a version label
    (/labels/{label}, from the model folder's labels.json).
    """
    routes = APIRouter(prefix="/v1/models")

    def served_number(request):
        name, path = request.path_params["name"], request.path_params
        if "label" in path:
            repository.version_states(name)  # an unknown model is 404 before its label is looked at
            return name, repository.version_for_label(name, path["label"])
        return name, version_number(path["version"]) if "version" in path else None

    async def status(request: Request):
        name, wanted = served_number(request)
        states = repository.version_states(name)
        if wanted is not None:
            if wanted not in states:
                raise ServableNotFound(name, wanted)
            states = {wanted: states[wanted]}
        return _status(states, repository.changed(name))

    async def metadata(request: Request):
        return _metadata(repository.get(*served_number(request)))

    async def predict(request: Request):
        served = repository.get(*served_number(request))
        return await run_in_threadpool(_predict, served, await request.body())

    async def classify_or_regress(request: Request):
        repository.get(*served_number(request))
        raise InvalidInput("Expected classification or regression signature method_name, was "
                           "tensorflow/serving/predict: this model's only signature, serving_default, takes "
                           "tensors, not tf.Example; send them to :predict.")

    for path in ("/{name}", "/{name}/versions/{version}", "/{name}/labels/{label}"):
        routes.add_api_route(segments(path), status, methods=["GET"],
                             openapi_extra=operation(path, answer=TF_STATUS))
        routes.add_api_route(segments(path + "/metadata"), metadata, methods=["GET"],
                             openapi_extra=operation(path, answer=TF_METADATA))
        routes.add_api_route(segments(path + ":predict"), predict, methods=["POST"],
                             openapi_extra=operation(path, TF_PREDICT, (400, 404, 413, 415, 503), TF_ANSWER))
        for method in (":classify", ":regress"):
            routes.add_api_route(segments(path + method), classify_or_regress, methods=["POST"],
                                 openapi_extra=operation(path, {"type": "object"}, refuses=True))
    return routes
