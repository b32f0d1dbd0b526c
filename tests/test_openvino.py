"""OpenVINO against Keras, padded rows included: model.onnx through `read_model` for every task x cell
x direction, step.onnx fed one step at a time wherever a model streams, and the SavedModel through
`convert_model` for one model.

OpenVINO is a dev dependency, so `make test` runs these; without the package they are skipped.
OpenVINO's CPU plugin computes in bfloat16 where the processor has it unless told otherwise: the
exports are checked, and the README tells users to compile, with INFERENCE_PRECISION_HINT f32.
"""

import json

import numpy as np
import pytest

from export.verify import onnx_runner, real_length
from tests.architectures import MATRIX
from tests.served import keras_outputs
from zoo.data import PAD_ID, PAD_VALUE

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it

ov = pytest.importorskip("openvino")


def _compiled(model):
    return ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


def _assert_keras_answer(exported, ov_model, how):
    source = exported.source
    if source.ndim == 3 or source.dtype.kind == "i":  # a sequence: rows 1 and 2 end early (tests.tiny)
        assert (source[1:3, -1] == (PAD_VALUE if source.ndim == 3 else PAD_ID)).all()
    expected = keras_outputs(exported.task, exported.model, exported.contract, source)
    ((output_name, want),) = expected.items()
    got = {output.get_any_name(): value for output, value in _compiled(ov_model)(source).items()}
    assert got[output_name].shape == want.shape, how
    if want.dtype.kind == "i":
        np.testing.assert_array_equal(got[output_name], want, err_msg=how)
    else:
        np.testing.assert_allclose(got[output_name], want, rtol=1e-5, atol=1e-5, err_msg=how)


# Two layers deep: the first layer's padded steps reach the second, as the first's states reach the decoder.
@pytest.mark.parametrize(("task_name", "cell", "bidirectional", "layers"), [c for c in MATRIX if c[3] == 2])
def test_openvino_reads_every_onnx_graph_and_gives_keras_answer(task_name, cell, bidirectional, layers,
                                                                architecture_exports):
    exported = architecture_exports.get(task_name, cell, bidirectional, layers)
    _assert_keras_answer(exported, ov.Core().read_model(exported.version_dir / "model.onnx"), "read_model")


@pytest.mark.parametrize(("task_name", "cell", "bidirectional", "layers"),
                         [c for c in MATRIX if c[0] in ("many_to_one", "tagging") and not c[2]])
def test_openvino_streams_step_onnx_as_onnx_runtime_does(task_name, cell, bidirectional, layers,
                                                        architecture_exports):
    exported = architecture_exports.get(task_name, cell, bidirectional, layers)
    streaming = json.loads((exported.version_dir / "metadata.json").read_text())["streaming"]
    step = exported.version_dir / streaming["onnx"]
    compiled, onnx_runtime = _compiled(ov.Core().read_model(step)), onnx_runner(step)  # the export checked it
    example = exported.source[1][: real_length(exported.source[1])]
    states = {name: np.zeros((1, size), np.float32)
              for name, size in zip(streaming["state_inputs"], streaming["state_sizes"])}
    for t in range(len(example)):
        feeds = {streaming["input"]: example[None, t:t + 1], **states}
        want = onnx_runtime(feeds)
        got = {name: value for output, value in compiled(feeds).items() for name in output.get_names()}
        for name, value in want.items():
            np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-5, err_msg=f"step {t}, {name}")
        states = {name: want[name + "_next"] for name in states}


# Compiling a converted SavedModel took OpenVINO 35-55 s a model inside this test session (its
# recurrent loops become TensorIterators): one model here, bidirectional, two layers, padded rows.
# Every task x cell x direction was checked so once by hand (README, Deploy).
def test_openvino_converts_the_savedmodel_and_gives_keras_answer(architecture_exports):
    exported = architecture_exports.get("tagging", "gru", True, 2)
    _assert_keras_answer(exported, ov.convert_model(exported.version_dir), "convert_model")
