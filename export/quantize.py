"""QUANTIZE=dynamic: int8 artifacts beside the float32 ones, for edge and CPU users.

model.int8.onnx: a graph whose GRU and LSTM nodes read `sequence_lens` instead of the hold column that
freezes padded steps in model.onnx (that column's +-1e4 weights would set the int8 scale of every gate
row they sit in, and round the real weights of those rows to zero), quantised by ONNX Runtime's dynamic
quantisation where it has integer kernels (`quantize_dynamic`: LSTM, MatMul, embeddings; int8 weights,
activations quantised per call). The weights it leaves (GRU and RNN nodes, onnxruntime issue 9796;
convolutions; a decoder's nodes inside its Loop) are stored as int8 too and computed in float32 after
a DequantizeLinear. The graph needs ONNX Runtime (DynamicQuantizeLSTM is its own operator).
model.int8.tflite: LiteRT's dynamic-range quantisation (int8 weights, float activations) of the same
function model.tflite holds, every cell's weights included.

Each is checked against the Keras model on the held-out examples: numbers within QUANTIZED_TOLERANCE of
the answer's magnitude, and the class (or generated tokens) Keras picks in at least MIN_AGREEMENT of the
rows; `make bench-export` measures the task metric on whole test splits.
"""

import tempfile
from pathlib import Path

import numpy as np
import onnx
import tensorflow as tf
from onnx import numpy_helper

from export.fused import Unsupported, all_nodes, fused_onnx
from export.fused_decoder import greedy_decoder_onnx
from zoo.data import Vocabulary
from zoo.errors import ZooError

MODES = ("none", "dynamic")
ONNX_FILE, LITERT_FILE = "model.int8.onnx", "model.int8.tflite"
QUANTIZED_TOLERANCE = 0.1  # of the largest answer's magnitude (at least 1): probabilities within 0.1
MIN_AGREEMENT = 0.9
# The node types quantize_dynamic computes in int8 (ONNX Runtime's own integer kernels). It does not
# quantise GRU or RNN nodes (onnxruntime issue 9796), and its ConvInteger was 3.7x slower than the float
# Conv here (ArrowHead's LSTM-FCN branch) and lost 3 points of accuracy.
INTEGER_OPS = ["LSTM", "MatMul", "Gather"]
# Weights that stay float32 in compute but are stored as int8, one scale per output channel, read through
# a DequantizeLinear (`_weights_only`): the node's inputs that are weights, and their channel axis.
WEIGHT_ONLY = {"GRU": ((1, 1), (2, 1)), "RNN": ((1, 1), (2, 1)), "LSTM": ((1, 1), (2, 1)),
               "Conv": ((1, 0),), "MatMul": ((1, 1),)}
SMALLEST_WEIGHT = 256  # elements: smaller ones stay float32 (LiteRT's converter keeps those below 1,024)


def check_mode(mode):
    if mode not in MODES:
        raise ZooError(f"Unknown QUANTIZE={mode!r}; choose one of {', '.join(MODES)}.")
    return mode


def onnx_int8(model, contract, generates, opset, path):
    """Writes model.int8.onnx; returns what metadata.json says of it (its operators, what stayed float)."""
    try:
        if generates:
            vocab = Vocabulary(tuple(contract["output_vocabulary"]))
            graph, _ = greedy_decoder_onnx(model, vocab, contract["spec"]["max_output_len"], opset,
                                           reads_lengths=True)
        else:
            graph, _ = fused_onnx(model, opset, reads_lengths=True)
    except Unsupported as error:
        return {"file": None, "unsupported": f"the fused writer does not write it: {error}"}
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as folder:
        float_path = Path(folder) / "float.onnx"
        onnx.save(graph, float_path)
        # Not EnableSubgraph: ONNX Runtime 1.32 then writes a decoder's Loop body out of order (a
        # DynamicQuantizeLSTM before the Gather it reads), which it refuses to load; the decoder's
        # nodes in the loop keep float32 weights.
        quantize_dynamic(float_path, path, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=INTEGER_OPS)
    quantized = onnx.load(path)
    stored = _weights_only(quantized.graph)
    onnx.save(quantized, path)
    ops = {node.op_type for node in all_nodes(quantized.graph)}
    return {"file": path.name, "operators": sorted(ops), "int8_weights_float_compute": sorted(stored)}


def _weights_only(graph):
    """Stores each float32 weight left (WEIGHT_ONLY) as int8 with a scale per output channel, read through
    a DequantizeLinear; in subgraphs (a decoder's Loop body) too. Returns the node types it did this for."""
    initializers = {i.name: i for i in graph.initializer}
    dequantized, made, types = {}, [], set()
    for node in graph.node:
        for index, axis in WEIGHT_ONLY.get(node.op_type, ()):
            weight = initializers.get(node.input[index]) if index < len(node.input) else None
            if weight is None or weight.data_type != onnx.TensorProto.FLOAT:
                continue
            values = numpy_helper.to_array(weight)
            if values.size < SMALLEST_WEIGHT:
                continue
            if weight.name not in dequantized:
                channels = np.moveaxis(values, axis, 0).reshape(values.shape[axis], -1)
                scale = (np.maximum(np.abs(channels).max(axis=1), 1e-12) / 127).astype(np.float32)
                shape = [1] * values.ndim
                shape[axis] = -1
                ints = np.clip(np.round(values / scale.reshape(shape)), -127, 127).astype(np.int8)
                names = [f"{weight.name}_{part}" for part in ("int8", "scale", "zero", "dequantized")]
                graph.initializer.remove(weight)
                graph.initializer.extend([numpy_helper.from_array(ints, names[0]),
                                          numpy_helper.from_array(scale, names[1]),
                                          numpy_helper.from_array(np.zeros_like(scale, np.int8), names[2])])
                made.append(onnx.helper.make_node("DequantizeLinear", names[:3], names[3:], axis=axis))
                dequantized[weight.name] = names[3]
            node.input[index] = dequantized[weight.name]
            types.add(node.op_type)
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                types |= _weights_only(attribute.g)
    for dequantize in reversed(made):  # before every node that reads them
        graph.node.insert(0, dequantize)
    return types


def verify_quantized(function, run, batches, classes):
    """Compares `run` ({input: array} -> {output: array}) with `function` (Keras) on `batches`.

    classes: the answers are class probabilities (the argmax is the answer). Raises ValueError where
    numbers differ by more than QUANTIZED_TOLERANCE of their magnitude or fewer than MIN_AGREEMENT of
    the rows (steps, for a per-step answer) get Keras' class or tokens; returns the figures.
    """
    input_names = [spec.name for spec in function.input_signature]
    worst, agreeing, counted = 0.0, 0, 0
    for batch in batches:
        feeds = batch if isinstance(batch, dict) else {input_names[0]: batch}
        expected = {k: v.numpy() for k, v in function(*(tf.constant(feeds[n]) for n in input_names)).items()}
        got = run(feeds)
        for name, want in expected.items():
            have = np.asarray(got[name])
            if want.dtype.kind == "i":  # generated tokens: the whole row
                agreeing += int(np.sum(np.all(have == want, axis=-1)))
                counted += len(want)
                continue
            difference = float(np.max(np.abs(have - want), initial=0.0))
            worst = max(worst, difference)
            magnitude = max(1.0, float(np.max(np.abs(want), initial=0.0)))
            if difference > QUANTIZED_TOLERANCE * magnitude:
                raise ValueError(f"the int8 output {name!r} differs from Keras by {difference:.3g} "
                                 f"(tolerance {QUANTIZED_TOLERANCE} x {magnitude:.3g}).")
            if classes:
                same = np.argmax(have, axis=-1) == np.argmax(want, axis=-1)
                agreeing, counted = agreeing + int(same.sum()), counted + same.size
    agreement = agreeing / counted if counted else None
    if agreement is not None and agreement < MIN_AGREEMENT:
        raise ValueError(f"the int8 artifact gives Keras' answer for {agreement:.1%} of the examples "
                         f"(at least {MIN_AGREEMENT:.0%} required).")
    return {"max_abs_diff": worst, "agreement": agreement, "tolerance": QUANTIZED_TOLERANCE,
            "min_agreement": MIN_AGREEMENT}


def describe(path, float_path, notes, verification):
    """metadata.json's entry for one quantised artifact."""
    size, float_size = path.stat().st_size, float_path.stat().st_size
    return {**notes, "kb": round(size / 1024, 1), "size_to_float32": round(size / float_size, 3),
            "verification": verification}
