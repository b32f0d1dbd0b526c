"""One tiny export per task, shared by the server tests, with Keras's answers to check against."""

import shutil

import numpy as np
import tensorflow as tf

from export import export_model
from export.serving import serving_function
from tests.tiny import tiny_trained

MODELS = ("one_to_one", "one_to_many", "many_to_one", "seq2seq", "tagging")


def keras_outputs(task, model, contract, batch):
    function = serving_function(model, contract, task.generates)
    return {name: value.numpy() for name, value in function(tf.constant(batch)).items()}


def openvino_answer(onnx_path, source):
    """What OpenVINO's CPU plugin answers for model.onnx, told to compute in float32 (it would use
    bfloat16 where the processor has it); None where OpenVINO is not installed."""
    try:
        import openvino as ov
    except ImportError:
        return None
    core = ov.Core()
    compiled = core.compile_model(core.read_model(onnx_path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    (answer,) = compiled(source).values()
    return answer


def make_exports(root):
    """Exports every task under root, plus `hot` (a copy of many_to_one for tests that add versions)."""
    rng = np.random.default_rng(0)
    models = {}
    for name in MODELS:
        task, model, contract, source = tiny_trained(name, rng)
        export_model(model, task, contract, source, root, name)
        models[name] = {"task": task, "model": model, "contract": contract, "batch": source[:3],
                        "expected": keras_outputs(task, model, contract, source[:3])}
    shutil.copytree(root / "many_to_one", root / "hot")
    return root, models
