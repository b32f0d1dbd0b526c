"""The KServe V2 / Open Inference Protocol side: one KServe model per export, serving its highest version.

KServe's own endpoints (/v2/health/*, /v2/models/{name}, /v2/models/{name}/infer) call these.
"""

import uuid

import numpy as np
from kserve import Model
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from starlette.concurrency import run_in_threadpool

V2_DATATYPES = {"float32": "FP32", "int32": "INT32", "string": "BYTES"}
# What a client may send for each input dtype; values are checked and cast by the runtime.
ACCEPTED = {
    "float32": {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64"},
    "int32": {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"},
}
# A text model's input takes BYTES (strings, tokenised by the server) or token ids.
ACCEPTED["string"] = {"BYTES", *ACCEPTED["int32"]}


def _tensor_type(spec):
    return {"name": spec["name"], "datatype": V2_DATATYPES[spec["dtype"]],
            "shape": [-1 if size is None else size for size in spec["shape"]]}


class ExportModel(Model):
    """Answers V2 requests for the model `name` with whatever version the repository serves now."""

    def __init__(self, name, repository):
        super().__init__(name)
        self.repository = repository
        self.ready = True

    def get_input_types(self):
        return [_tensor_type(spec) for spec in self.repository.get(self.name).inputs]

    def get_output_types(self):
        return [_tensor_type(spec) for spec in self.repository.get(self.name).outputs]

    async def predict(self, payload: InferRequest, headers=None, response_headers=None):
        served = self.repository.get(self.name)
        specs = {spec["name"]: spec for spec in served.inputs}
        arrays = {}
        for tensor in payload.inputs:
            spec = specs.get(tensor.name)
            if spec is None:
                raise InvalidInput(f"Model {self.name} has no input {tensor.name!r}; it has {sorted(specs)}.")
            if tensor.datatype not in ACCEPTED[spec["dtype"]]:
                raise InvalidInput(f"Input {tensor.name!r} takes {V2_DATATYPES[spec['dtype']]}, "
                                   f"got datatype {tensor.datatype}.")
            arrays[tensor.name] = served.input_array(spec, _shaped(tensor))
        outputs = await run_in_threadpool(served.predict, arrays)
        return InferResponse(
            # The protocol echoes a request's id; KServe's response model needs one even when none came.
            response_id=payload.id or str(uuid.uuid4()),
            model_name=self.name, model_version=str(served.version),
            infer_outputs=[_output(spec, outputs[spec["name"]]) for spec in served.outputs],
        )


def _output(spec, array):
    return InferOutput(name=spec["name"], shape=list(array.shape), datatype=V2_DATATYPES[spec["dtype"]],
                       data=array.ravel().tolist())


def _shaped(tensor):
    """The tensor's `data` laid out in its declared `shape`; InvalidInput if they disagree."""
    try:
        return np.asarray(tensor.data).reshape(tensor.shape)
    except (ValueError, TypeError) as error:
        raise InvalidInput(f"Input {tensor.name!r}: data does not fill shape {tensor.shape} ({error}).") \
            from error
