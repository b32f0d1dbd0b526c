"""QUANTIZE=dynamic (export.quantize): int8 ONNX and LiteRT artifacts beside the float32 ones, their
int8 scales kept clear of the hold columns, each checked against Keras before it is published."""

import json

import numpy as np
import onnxruntime
import pytest
from onnxruntime.quantization import QuantType, quantize_dynamic

import zoo
from export import ExportError, export_model
from export import quantize as quantization
from tests.tiny import TINY
from zoo.data import PAD_VALUE
from zoo.errors import ZooError

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it


def _model(task_name, rng, **architecture):
    """A tiny task's model of 64 units with weights large enough that its classes are clear."""
    spec, make_inputs, _ = TINY[task_name]
    model = zoo.get_task(task_name).build_model(spec, units=64, **architecture)
    for weight in model.weights:
        weight.assign(rng.normal(scale=0.3, size=weight.shape))
    source = make_inputs(rng, 32, 12)
    if source.ndim == 3:
        source[1::2, 5:] = PAD_VALUE  # every other row padded after 5 steps
    else:
        source[1::2, 5:] = 0
    contract = {"spec": {"kind": "classification"}, "output_vocabulary": None, "labels": None}
    return zoo.get_task(task_name), model, contract, source


def test_int8_lstm_graph_quantises_every_node_and_keeps_hold_columns_out_of_its_scales(rng, tmp_path):
    task, model, contract, source = _model("many_to_one", rng, cell="lstm", bidirectional=True)
    version = export_model(model, task, contract, source, tmp_path, "m", quantize="dynamic")
    quantized = json.loads((version / "metadata.json").read_text())["quantized"]
    onnx_int8, lite_int8 = quantized["onnx"], quantized["litert"]
    assert "DynamicQuantizeLSTM" in onnx_int8["operators"] and "LSTM" not in onnx_int8["operators"]
    assert onnx_int8["int8_weights_float_compute"] == []  # every weight in an integer kernel
    # LiteRT's converter keeps weights under 1,024 elements in float32 (here the input kernels, 64 x 4 x 3).
    assert onnx_int8["size_to_float32"] < 0.4 and lite_int8["size_to_float32"] < 0.6
    assert onnx_int8["verification"]["agreement"] >= 0.9 and lite_int8["verification"]["agreement"] >= 0.9

    # model.onnx quantised as it is: its hold columns (+-1e4) take the int8 scale of their gates' rows.
    quantize_dynamic(version / "model.onnx", tmp_path / "held.onnx", weight_type=QuantType.QInt8,
                     per_channel=True)
    feeds = {"sequence": source}
    keras_answer = model(source, training=False).numpy()
    ours = onnxruntime.InferenceSession(version / "model.int8.onnx").run(None, feeds)[0]
    held = onnxruntime.InferenceSession(tmp_path / "held.onnx").run(None, feeds)[0]
    assert np.abs(held - keras_answer).max() > 5 * np.abs(ours - keras_answer).max()


def test_gru_weights_are_stored_as_int8_and_computed_in_float32(rng, tmp_path):
    task, model, contract, source = _model("tagging", rng, cell="gru")
    version = export_model(model, task, contract, source, tmp_path, "t", quantize="dynamic")
    quantized = json.loads((version / "metadata.json").read_text())["quantized"]
    # ONNX Runtime has no int8 GRU kernel (onnxruntime issue 9796): int8 weights, dequantised.
    assert quantized["onnx"]["int8_weights_float_compute"] == ["GRU"]
    assert "GRU" in quantized["onnx"]["operators"] and "DequantizeLinear" in quantized["onnx"]["operators"]
    # LiteRT's converter keeps weights under 1,024 elements in float32 (the embedding, the head).
    assert quantized["onnx"]["size_to_float32"] < 0.4 and quantized["litert"]["size_to_float32"] < 0.6
    assert sorted(p.name for p in version.glob("*.int8.*")) == ["model.int8.onnx", "model.int8.tflite"]


def test_an_int8_artifact_that_disagrees_is_not_published_and_bad_modes_are_refused(rng, tmp_path,
                                                                                     monkeypatch):
    task, model, contract, source = _model("many_to_one", rng, cell="lstm")
    with pytest.raises(ZooError, match="QUANTIZE='int4'.*none, dynamic"):
        export_model(model, task, contract, source, tmp_path, "bad", quantize="int4")
    monkeypatch.setattr(quantization, "MIN_AGREEMENT", 1.01)
    with pytest.raises(ExportError, match="int8 artifact gives Keras' answer"):
        export_model(model, task, contract, source, tmp_path, "strict", quantize="dynamic")
    assert not (tmp_path / "bad").exists() and not (tmp_path / "strict").exists()


@pytest.mark.parametrize(("task_name", "cell", "bidirectional"), [
    ("many_to_one", "gru", True), ("tagging", "lstm", False), ("tagging", "gru", True)])
def test_the_graph_that_reads_lengths_answers_as_keras_on_padded_rows(task_name, cell, bidirectional, rng):
    from export.fused import fused_onnx
    from tests.tiny import tiny_trained

    _, model, _, source = tiny_trained(task_name, rng, cell=cell, bidirectional=bidirectional, layers=2)
    graph, _ = fused_onnx(model, 17, reads_lengths=True)
    assert all(node.input[4] for node in graph.graph.node if node.op_type in ("GRU", "LSTM"))
    session = onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    (answer,) = session.run(None, {model.inputs[0].name: source})  # rows 1 and 2 padded
    np.testing.assert_allclose(answer, model(source, training=False).numpy(), rtol=1e-5, atol=1e-5)
